"""The Add page's upload: a multipart body streamed to disk, and the import run off the loop.

The body is read part by part (aiohttp's multipart reader), each file written in chunks as it
arrives, so an hour of audio never sits in memory. The form's first part must be its CSRF
token, checked before any file is read. A file past `content.max_file_mb` stops the reading:
what was written is deleted and the caller answers 413. A client's file name is used only
for its last component, made plain, so "../../etc/x.mp3" or "C:\\x\\y.mp3" stays in the
upload's own folder.

The import itself (aligning a long track takes minutes) runs in a worker thread, with its
own database connection; the console keeps answering, and a page that refreshes itself shows
how far it is.
"""

from __future__ import annotations

import re
import secrets
import shutil
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from aiohttp import BodyPartReader, web

CHUNK = 1 << 16
MAX_FIELD_BYTES = 64 * 1024  # one text field: a guidance note is at most 20,000 characters
MAX_FIELDS = 32
UPLOADS = ".console-uploads"  # in the data folder: one file system with the content (links)


class UploadRefused(Exception):
    """The body is not what the Add form sends; `status` is the answer (400, 403, 413)."""

    def __init__(self, status: int, why: str):
        super().__init__(why)
        self.status = status
        self.why = why  # a key of the console's words


def safe_name(sent: str | None, fallback: str) -> str:
    """A client's file name as one plain file name: its last component (either slash), its
    suffix kept, nothing that could be a path, a hidden file or a device."""
    name = PurePosixPath((sent or "").replace("\\", "/")).name
    name = unicodedata.normalize("NFKC", name)
    name = re.sub(r"[^\w.\- ]", "_", name).strip(" .")
    if not name or name in (".", ".."):
        return fallback
    stem, dot, suffix = name.rpartition(".")
    if dot and len(name) > 120:
        name = stem[: 110] + "." + suffix[:9]
    return name[:120]


@dataclass
class Received:
    folder: Path
    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)  # by the form's field name


async def receive(request: web.Request, folder: Path, csrf_ok: Callable[[str], bool],
                  max_file_bytes: int) -> Received:
    """Stream the Add form's body into `folder` (made here, deleted again on any refusal)."""
    if not request.content_type.startswith("multipart/form-data"):
        raise UploadRefused(400, "add.not_multipart")
    reader = await request.multipart()
    got = Received(folder)
    folder.mkdir(parents=True)
    try:
        first = True
        while True:
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                raise UploadRefused(400, "add.not_multipart")
            if first:
                # Nothing of a forged form's files is written, or even read.
                if part.name != "csrf" or not csrf_ok(await _text(part)):
                    raise UploadRefused(403, "error.csrf")
                first = False
                continue
            name = part.name or ""
            if part.filename is None:
                if len(got.fields) >= MAX_FIELDS:
                    raise UploadRefused(400, "add.not_multipart")
                got.fields[name] = await _text(part)
                continue
            if not part.filename or name in got.files:
                await part.release()  # an empty file input: nothing chosen
                continue
            target = folder / re.sub(r"\W", "_", name) / safe_name(part.filename, "upload")
            target.parent.mkdir(exist_ok=True)
            await _save(part, target, max_file_bytes)
            got.files[name] = target
        if first:
            raise UploadRefused(403, "error.csrf")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return got


async def _text(part: BodyPartReader) -> str:
    data = bytearray()
    while chunk := await part.read_chunk(CHUNK):
        data += chunk
        if len(data) > MAX_FIELD_BYTES:
            raise UploadRefused(413, "add.field_too_long")
    return data.decode("utf-8", "replace").replace("\r\n", "\n").strip()


async def _save(part: BodyPartReader, target: Path, limit: int) -> None:
    written = 0
    with open(target, "xb") as out:
        while chunk := await part.read_chunk(CHUNK):
            written += len(chunk)
            if written > limit:
                raise UploadRefused(413, "add.too_large")
            out.write(chunk)


async def drain(request: web.Request, limit: int) -> None:
    """Read (and drop) what is left of a refused body, up to `limit` bytes, so that a browser
    still sending it reads the answer instead of a reset connection."""
    left = limit
    while left > 0:
        chunk = await request.content.read(min(CHUNK, left))
        if not chunk:
            return
        left -= len(chunk)


@dataclass
class Job:
    """One add or import, running in a worker thread; the page polls it."""

    id: str
    kind: str  # "exercise" or "pack"
    fields: dict[str, str]
    fraction: float = 0.0
    what: str = ""
    done: bool = False
    problems: list[str] = field(default_factory=list)
    busy: bool = False
    result: Any = None  # AddResult or ImportResult


class Jobs:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}

    def new(self, kind: str, fields: dict[str, str]) -> Job:
        job = Job(secrets.token_urlsafe(16), kind, fields)
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > 20:  # only the last few are looked at again
                self._jobs.pop(next(iter(self._jobs)))
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def last_added(self, exercise_id: str, lang: str) -> Job | None:
        """The newest finished add of this exercise in this language, if one is still kept."""
        with self._lock:
            jobs = list(self._jobs.values())
        for job in reversed(jobs):
            r = job.result
            if (job.done and job.kind != "pack" and r is not None
                    and (r.exercise_id, r.lang) == (exercise_id, lang)):
                return job
        return None
