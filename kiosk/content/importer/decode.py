"""What the import makes from the pack's files: each audio file decoded in full into the
engine's lossless playback copy (which is also the last check of the audio), the M4A phones
take home where they do not play the original (kiosk.content.phonecopy), and a script PDF
rendered from the cues where the pack ships none."""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from kiosk.audio.loudness import LoudnessMeter
from kiosk.audio.mp3scan import Mp3Info
from kiosk.content.faults import Fault
from kiosk.content.importer.checks import Contents
from kiosk.content.importer.gather import StagedFiles
from kiosk.content.importer.session import Decoded, ImportSession, StagedVariant
from kiosk.content.integrity import fsync_file, read_checksums, sha256_of
from kiosk.content.manifest import PackSpec
from kiosk.content.phonecopy import PHONE_SUFFIX, PhoneCopy, PhoneDecision, decide

__all__ = ["decode", "decode_to_playback_copy", "render_missing_pdfs"]


def decode(session: ImportSession, files: StagedFiles, contents: Contents, pack_id: str) -> Decoded:
    """Decode every audio file that passed its checks into its playback copy, measuring
    its loudness on the way, and make its phone copy from that where one is needed."""
    audio = [*contents.mp3s, *contents.others]
    to_encode = [r for r in audio if decide(contents.formats[r]) is PhoneDecision.MADE]
    session.phases.decode_total = max(1, sum(files.sizes[r] for r in [*audio, *to_encode]))
    installed = _installed_copies(session, pack_id) if to_encode else {}
    decoded = Decoded()
    for rel, info in contents.mp3s.items():
        flac_rel = f"playback/{rel}.flac"
        with LoudnessMeter() as meter:
            try:
                samples = decode_to_playback_copy(files.paths[rel], session.staging / flac_rel,
                                                  session.phases.decoding(files.sizes[rel], rel), info, meter)
            except Exception as exc:  # the decoder's own errors have no common base class
                if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
                    raise
                session.faults.append(Fault(rel, f"cannot be decoded: {getattr(exc, 'fault', exc)}"))
                continue
            low = info.expected_samples - info.samples_per_frame - 4096 * (info.encoder_delay is None)
            if not low <= samples <= info.max_samples:
                session.faults.append(Fault(rel, f"decodes to {samples} samples where its frames hold {info.expected_samples}: the audio is damaged"))
                continue
            decoded.durations[rel] = samples / info.sample_rate
            decoded.playback[rel] = flac_rel
            decoded.loudness[rel] = meter.result()
        _phone_copy(session, files, contents, decoded, rel, installed)
    for rel in contents.others:
        flac_rel = f"playback/{rel}.flac"
        with LoudnessMeter() as meter:
            try:
                decoded.durations[rel] = _copy_other(files.paths[rel], session.staging / flac_rel,
                                                     session.phases.decoding(files.sizes[rel], rel), meter)
            except Exception as exc:  # as above
                if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
                    raise
                session.faults.append(Fault(rel, f"cannot be decoded: {getattr(exc, 'fault', exc)}"))
                continue
            decoded.playback[rel] = flac_rel
            decoded.loudness[rel] = meter.result()
        _phone_copy(session, files, contents, decoded, rel, installed)
    return decoded


# An installed phone copy: where it is, and its SHA-256 as recorded at its import.
_Installed = tuple[Path, str]


def _phone_copy(session: ImportSession, files: StagedFiles, contents: Contents, decoded: Decoded,
                rel: str, installed: dict[str, _Installed]) -> None:
    """What phones download of `rel`: the original where they play it; otherwise an M4A
    encoded from the playback copy just made (exact samples, and no second decoder of the
    original), into staging/phone. A failure is the pack's fault like any other: refused."""
    source, size = contents.formats[rel], files.sizes[rel]
    if decide(source) is PhoneDecision.KEPT:
        decoded.phone[rel] = PhoneCopy(PhoneDecision.KEPT, source, f"pack/{rel}", size, size)
        return
    from kiosk.audio import aac  # PyAV: only when a copy is to be made

    phone_rel = f"phone/{rel}{PHONE_SUFFIX}"
    out = session.staging / phone_rel
    step = session.phases.decoding(size, rel, "making the phone copy of")
    try:
        found = installed.get(sha256_of(files.paths[rel])) if installed else None
        if _link_installed(found, out):
            step(1.0)
            made = out.stat().st_size
        else:
            made = aac.encode_m4a(session.staging / decoded.playback[rel], out, step)
        fsync_file(out)
    except Exception as exc:  # FFmpeg's refusals are AacError; reading the copy raises others
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            raise
        session.faults.append(Fault(rel, f"the M4A that phones take home could not be made from it: {exc}"))
        return
    decoded.phone[rel] = PhoneCopy(PhoneDecision.MADE, source, phone_rel, made, size)


def _installed_copies(session: ImportSession, pack_id: str) -> dict[str, _Installed]:
    """The phone copies of the installed version of this pack, by their original's SHA-256
    (both from its CHECKSUMS). kiosk add imports its whole pack again at every add: the
    recordings already there keep their copies instead of being encoded again (the encode
    takes about ten times the decode, see bench/results.md)."""
    folder = session.catalogue.pack_folder(pack_id) if pack_id else None
    if folder is None:
        return {}
    base = session.settings.content_dir / folder
    try:
        listed = read_checksums(base)
    except (OSError, ValueError):
        return {}  # no usable listing: every copy is made anew
    copies = {}
    for rel, digest in listed.items():
        if rel.startswith("phone/") and rel.endswith(PHONE_SUFFIX):
            original = listed.get("pack/" + rel.removeprefix("phone/").removesuffix(PHONE_SUFFIX))
            if original is not None:
                copies[original] = (base / rel, digest)
    return copies


def _link_installed(found: _Installed | None, out: Path) -> bool:
    """Puts an installed copy at `out` (a link: the old folder goes after the commit, the
    file stays) if it is still what its import wrote; False where it is not, or is gone."""
    if found is None:
        return False
    path, digest = found
    try:
        if sha256_of(path) != digest:
            return False  # damaged since: made anew
    except OSError:
        return False
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(path, out)
    except OSError:  # another file system, or links not allowed
        shutil.copyfile(path, out)
    return True


def _copy_other(src: Path, flac: Path, progress: Callable[[float], None], meter: LoudnessMeter) -> float:
    """WAV, FLAC or Ogg into the playback copy (libsndfile decodes these exactly); its length."""
    from kiosk.audio.decode import make_playback_copy

    def report(done_seconds: float, total_seconds: float) -> None:
        if total_seconds > 0:
            progress(min(done_seconds / total_seconds, 1.0))

    flac.parent.mkdir(parents=True, exist_ok=True)
    duration = make_playback_copy(src, flac, report, meter=meter)
    fsync_file(flac)
    return duration


def decode_to_playback_copy(mp3: Path, flac: Path, progress: Callable[[float], None], info: Mp3Info,
                            meter: LoudnessMeter | None = None) -> int:
    """Decode the MP3 into the engine's lossless playback copy; return samples per channel.

    The audio engine's own copy (kiosk.audio.decode), so import and playback share one
    decoder: miniaudio streams VBR exactly (soundfile's chunked MP3 reads do not, see the
    stack notes) and it stops at the last whole frame, as the engine expects.
    """
    from kiosk.audio.decode import make_playback_copy

    def report(done_seconds: float, total_seconds: float) -> None:
        if total_seconds > 0:
            progress(min(done_seconds / total_seconds, 1.0))

    flac.parent.mkdir(parents=True, exist_ok=True)
    duration = make_playback_copy(mp3, flac, report, scan=info, meter=meter)  # walked once, by the checks
    fsync_file(flac)
    return round(duration * info.sample_rate)


def render_missing_pdfs(spec: PackSpec, staged: list[StagedVariant], staging: Path) -> None:
    # Imported here: fpdf2 is only needed when a pack ships no PDF, not by every CLI command.
    from kiosk.content.scriptpdf import render_script_pdf

    for item in staged:
        if item.pdf:
            continue
        rel = f"scripts/{item.exercise.id}/{item.variant.lang}.pdf"
        out = staging / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        render_script_pdf(item.variant.title, [c.text for c in item.cues], item.variant.lang,
                          out, subtitle=spec.title)
        item.pdf = rel
        item.pdf_bytes = out.stat().st_size
        item.pdf_rendered = True
