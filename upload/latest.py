"""latest-build.txt, read so that nothing in it can block a job or crash the upload.

TestGrid and Deck take the job's newest build from it, and fedtest refuses ids that are not above it, so a
wrong value (binary junk, a huge file, an id no reader holds exactly, a folder) would refuse every build
after it. Reading it never takes more than MAX_LATEST_BYTES, and a broken one is one line that names
the file and the recovery: `fedtest reset-latest` (upload.recovery) resets it to the newest complete build.
"""

from __future__ import annotations

import re
import shlex
from typing import Protocol

from upload import layout, names
from upload.errors import ConfigError, SinkError
from upload.sinks import GCSSink, LocalSink, Sink

MAX_LATEST_BYTES = 64
_ID = re.compile(rb"[1-9][0-9]*")


class LatestBuildUnusable(ConfigError):
    """latest-build.txt holds no usable build id; the fix is the reset-latest command."""


class ResultsPlace(Protocol):
    """What a results target (upload.record.ResultsTarget) tells about where the job lives."""

    scheme: str
    location: str

    @property
    def job(self) -> str: ...

    @property
    def url(self) -> str: ...


def reset_command(target: ResultsPlace) -> str:
    """The command that repairs this job's latest-build.txt, ready to paste."""
    if target.scheme == "gs":
        return f"fedtest reset-latest --results {shlex.quote(target.url)}"
    return f"fedtest reset-latest --results {shlex.quote(target.location)} --job {shlex.quote(target.job)}"


def read_head(sink: Sink, key: str, limit: int) -> bytes | None:
    """The first `limit` bytes of an object; None when it does not exist. Raises IsADirectoryError for a
    folder in its place, SinkError when the target cannot be read."""
    if isinstance(sink, LocalSink):
        local = sink.local_path(key)
        try:
            return sink.read_bytes(key, limit)
        except SinkError:
            if local is not None and local.is_dir() and not local.is_symlink():
                raise IsADirectoryError(21, "is a folder", str(local)) from None
            raise
    if isinstance(sink, GCSSink):
        from google.api_core import exceptions as api
        from google.auth import exceptions as auth

        try:
            blob = sink.bucket.blob(key)
            return blob.download_as_bytes(start=0, end=limit - 1, retry=sink.retry, timeout=sink.timeout)
        except api.NotFound:
            return None
        except api.RequestRangeNotSatisfiable:
            return b""  # an empty object has no first byte
        except (api.GoogleAPIError, auth.GoogleAuthError, OSError, ValueError) as err:
            raise sink._fail("read", key, err) from err
    text = sink.read_text(key)
    return None if text is None else text.encode("utf-8", "surrogateescape")[:limit]


def latest_problem(raw: bytes) -> str | None:
    """Why these bytes are not a usable latest build id (None when they are, or when empty)."""
    value = raw.strip()
    if not value:
        return None
    if len(raw) > MAX_LATEST_BYTES:
        return f"is over {MAX_LATEST_BYTES} bytes, not a build id"
    if not _ID.fullmatch(value):
        return f"holds {names.printable(value.decode('utf-8', 'surrogateescape'))[:40]!r}, not a build id"
    if len(value) > 16 or int(value) > layout.MAX_BUILD_ID:
        return f"holds {value.decode()}, above 2^53-1, the largest id readers hold exactly"
    return None


def read_latest(sink: Sink, key: str, recovery: str) -> str | None:
    """The build id in latest-build.txt; None when there is none yet. LatestBuildUnusable when broken."""
    where = f"{sink.url.rstrip('/')}/{key}"
    fix = f"reset it to the newest complete build: {recovery}"
    try:
        raw = read_head(sink, key, MAX_LATEST_BYTES + 1)
    except IsADirectoryError as err:
        raise LatestBuildUnusable(f"{where} is a folder, not a file", fix) from err
    if raw is None:
        return None
    problem = latest_problem(raw)
    if problem:
        raise LatestBuildUnusable(f"{where} {problem}", fix)
    return raw.strip().decode() or None
