"""Talk-back's voice: text in a screen language -> a WAV file, made offline by espeak-ng.

espeak-ng is the engine that is always there (a Debian package, a few hundred kilobytes, no
model to download). Each utterance is kept in the data folder's cache, named by what was
asked (text, language, rate), so a screen heard before is spoken again without waiting for
the synthesiser; the cache is bounded, the least recently used files going first.

This is called from a worker thread, never the UI thread: a first utterance takes espeak-ng
a tenth of a second or more.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
from enum import Enum
from pathlib import Path

log = logging.getLogger(__name__)

# The screen languages and espeak-ng's voices for them.
VOICES = {"en-GB": "en-gb", "en-US": "en-us"}
RATE_RANGE = (80, 300)  # words per minute, as [accessibility] speech_rate allows
CACHE_BYTES = 64 * 1024 * 1024  # ~25 minutes of speech at espeak-ng's 22 kHz, 16 bit
SYNTH_TIMEOUT = 30.0


class SpeechErrorKind(Enum):
    NO_ENGINE = "no-engine"        # espeak-ng is not installed
    NO_VOICE = "no-voice"          # the language has no voice here
    FAILED = "failed"              # espeak-ng ran and gave no sound


class SpeechError(Exception):
    def __init__(self, kind: SpeechErrorKind, detail: str):
        self.kind = kind
        self.detail = detail
        super().__init__(f"{kind.value}: {detail}")


def espeak_path() -> str | None:
    return shutil.which("espeak-ng")


def availability() -> tuple[bool, str]:
    """Whether talk-back can speak here, and what to tell the administrator (kiosk doctor)."""
    exe = espeak_path()
    if exe is None:
        return False, "espeak-ng is not installed (deploy/system-packages.sh run installs it)"
    try:
        done = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"espeak-ng cannot be run: {exc}"
    version = (done.stdout or done.stderr).strip().splitlines()[:1]
    return done.returncode == 0, (version[0] if version else exe)


class Speech:
    """Makes and keeps utterances in `cache_dir`. Safe from one thread at a time (the UI
    worker); a missing engine is logged once, then reported by kind each time."""

    def __init__(self, cache_dir: Path, max_bytes: int = CACHE_BYTES):
        self.cache_dir = cache_dir
        self.max_bytes = max_bytes
        self._warned = False

    def key(self, text: str, lang: str, rate: int) -> str:
        asked = f"{lang}\0{rate}\0{text}".encode()
        return hashlib.sha256(asked).hexdigest()[:32]

    def utterance(self, text: str, lang: str, rate: int) -> Path:
        """The WAV file of `text` spoken in `lang` at `rate` words a minute (made now, or
        from the cache). Raises SpeechError."""
        voice = VOICES.get(lang)
        if voice is None:
            raise SpeechError(SpeechErrorKind.NO_VOICE, f"no voice for {lang}")
        rate = max(RATE_RANGE[0], min(int(rate), RATE_RANGE[1]))
        path = self.cache_dir / f"{self.key(text, lang, rate)}.wav"
        if path.exists():
            os.utime(path)  # recently used: kept longest
            return path
        exe = espeak_path()
        if exe is None:
            if not self._warned:
                log.warning("talk-back cannot speak: espeak-ng is not installed")
                self._warned = True
            raise SpeechError(SpeechErrorKind.NO_ENGINE, "espeak-ng is not installed")
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        # The text goes on stdin: a text starting with "-" is never taken for an option.
        try:
            done = subprocess.run([exe, "-v", voice, "-s", str(rate), "-w", str(tmp), "--stdin"],
                                  input=text.encode("utf-8"), capture_output=True,
                                  timeout=SYNTH_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired) as exc:
            tmp.unlink(missing_ok=True)
            raise SpeechError(SpeechErrorKind.FAILED, f"espeak-ng: {exc}") from None
        if done.returncode != 0 or not tmp.exists() or tmp.stat().st_size <= 44:
            tmp.unlink(missing_ok=True)
            raise SpeechError(SpeechErrorKind.FAILED,
                              f"espeak-ng gave no sound: {done.stderr.decode(errors='replace').strip()}")
        os.replace(tmp, path)
        self._trim(keep=path)
        return path

    def _trim(self, keep: Path) -> None:
        """Oldest used first, down to max_bytes; never the one just made (it is about to be
        heard)."""
        files = []
        for p in self.cache_dir.glob("*.wav"):
            if p == keep:
                continue
            try:
                st = p.stat()
            except OSError:
                continue
            files.append((st.st_mtime, st.st_size, p))
        total = keep.stat().st_size + sum(size for _, size, _ in files)
        for _, size, p in sorted(files):
            if total <= self.max_bytes:
                break
            p.unlink(missing_ok=True)
            total -= size
