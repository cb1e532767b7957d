"""Publishing one build's files: every file streamed from the descriptor upload.files checked, through the
scrubber into a Scrubbed payload (upload.sealed), then into the sink, in parallel, largest first; memory holds
chunks, never a whole file.

A signal that arrived before publishing began (an abort during the tests) cancels nothing: that build's
evidence is what the abort reserve is for. Only a signal that arrives while publishing cuts it short, and
only what the reserve cannot fit: uploads still waiting when the reserve (less the time finished.json and
latest-build.txt need) runs out are dropped, counted, and the build ends ABORTED.
"""

from __future__ import annotations

import io
import math
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from fedtest.errors import one_line
from upload import files, lint
from upload.errors import SinkError
from upload.scrub import OpaqueContent, Scrubbed, Scrubber, ScrubReport
from upload.sinks import ObjectExists, Sink

# What finished.json and latest-build.txt need of the reserve after the uploads are cut.
FINISH_RESERVE_SECONDS = 5.0
POLL_SECONDS = 0.2


class Stop(Protocol):
    """What publishing watches (fedtest.abort.AbortController fits): whether the run was aborted, why,
    how many signals came (so one arriving while publishing is told from one before), and the reserve."""

    @property
    def aborted(self) -> bool: ...

    reason: str | None


@dataclass(frozen=True)
class LogSource:
    """The build log: a file a caller named (read without following its last part) or bytes made here."""

    path: Path | None = None
    data: bytes | None = None

    @property
    def size(self) -> int:
        if self.data is not None:
            return len(self.data)
        info = files.lstat_path(self.path) if self.path is not None else None
        return info.st_size if info is not None else 0

    def reader(self) -> BinaryIO:
        """The log as a binary file: the bytes made here, or the named file read without following its last
        part, no further than its size when reading began. The caller closes it."""
        if self.data is not None:
            return io.BytesIO(self.data)
        assert self.path is not None
        return files.Reader(files.open_path(self.path))  # type: ignore[return-value]


Source = files.Planned | LogSource | Scrubbed
Item = tuple[str, Source, str]  # object key, what to read, content type


def size_of(item: Item) -> int:
    source = item[1]
    return source.size


class Interruption:
    """When publishing must stop starting uploads: a signal counted after `baseline` sets the cut-off to
    its time plus the reserve, less FINISH_RESERVE_SECONDS. Stops without a signal count (any object with
    `aborted`) cut at once when they turn aborted while publishing."""

    def __init__(self, stop: Stop | None) -> None:
        self.stop = stop
        self.baseline = self._count()
        self.was_aborted = bool(stop is not None and stop.aborted)
        self.cutoff = math.inf

    def _count(self) -> int:
        return int(getattr(self.stop, "signal_count", 0)) if self.stop is not None else 0

    @property
    def arrived(self) -> bool:
        """A signal came while publishing."""
        if self.stop is None:
            return False
        if hasattr(self.stop, "signal_count"):
            return self._count() > self.baseline
        return self.stop.aborted and not self.was_aborted

    def expired(self, now: float) -> bool:
        """Whether uploads not yet started must be dropped now."""
        if self.cutoff == math.inf and self.arrived:
            at = float(getattr(self.stop, "last_signal_at", now))
            reserve = float(getattr(self.stop, "reserve_seconds", 0.0))
            self.cutoff = at + max(0.0, reserve - FINISH_RESERVE_SECONDS)
        return now >= self.cutoff


class Uploader:
    """Reads, scrubs and creates one object per call (from pool threads); failures are recorded, never raised."""

    def __init__(self, sink: Sink, scrubber: Scrubber, build_log_key: str, resuming: bool,
                 log: Callable[[str], None]) -> None:
        self.sink = sink
        self.scrubber = scrubber
        self.build_log_key = build_log_key
        self.resuming = resuming
        self.log = log
        self.lock = threading.Lock()
        self.uploaded = 0
        self.already_present = 0
        self.failures: list[tuple[str, str]] = []
        self.findings: list[lint.Finding] = []  # content the scrubber refused (compressed or archived)
        self.scrub = ScrubReport()

    def _failed(self, key: str, message: str) -> None:
        with self.lock:
            self.failures.append((key, message))
        self.log(f"fedtest: upload failed: {key}: {message}")

    def payload(self, key: str, source: Source) -> Scrubbed:
        """The scrubbed payload of one object, streamed from the descriptor the file's checks passed on.
        Compressed or archived content in an artifact refuses it (OpaqueContent); the build log is always
        published, with a closing line that counts what was redacted."""
        if isinstance(source, Scrubbed):
            return source
        local = ScrubReport()
        note = log_note if key == self.build_log_key else None
        with source.reader() as reader:
            payload = self.scrubber.payload(reader, key, local, refuse_opaque=note is None, note=note)
        with self.lock:
            self.scrub.add(local)
        return payload

    def one(self, item: Item) -> None:
        key, source, content_type = item
        try:
            with self.payload(key, source) as payload:
                self.sink.create(key, payload, content_type)
            with self.lock:
                self.uploaded += 1
        except ObjectExists as err:
            if self.resuming:
                with self.lock:  # the dead run uploaded it already: present, not a failure
                    self.already_present += 1
            else:
                self._failed(key, str(err))
        except OpaqueContent as err:  # refused for what it holds, as lint refuses: a finding, not a failure
            name = key.removeprefix(self.build_log_key.rsplit("/", 1)[0] + "/")
            with self.lock:
                self.findings.append(lint.Finding(name, str(err)))
            self.log(f"fedtest: lint: {key}: {err}")
        except files.Refused as err:
            self._failed(key, f"not read: {err.problem}")
        except (SinkError, OSError) as err:
            self._failed(key, str(err) if isinstance(err, SinkError) else f"cannot read: {err.strerror or err}")
        except Exception as err:  # one odd object must not stop the others
            self._failed(key, one_line(err))


def run(uploader: Uploader, items: list[Item], later: Callable[[], list[Item]], stop: Stop | None,
        interruption: Interruption) -> int:
    """Upload `items` largest first, then what `later()` returns (computed while they run: the lint report);
    returns how many objects were dropped because a signal's reserve ran out."""
    items = sorted(items, key=size_of, reverse=True)  # largest first: no big file left alone at the end
    pool = ThreadPoolExecutor(max_workers=max(1, uploader.sink.workers))
    dropped = 0
    try:
        futures: set[Future] = {pool.submit(uploader.one, item) for item in items}
        futures |= {pool.submit(uploader.one, item) for item in later()}
        pending = futures
        while pending:
            done, pending = wait(pending, timeout=POLL_SECONDS)
            for future in done:
                if not future.cancelled():
                    future.result()
            if pending and interruption.expired(time.monotonic()):
                cancelled = {f for f in pending if f.cancel()}
                dropped += len(cancelled)
                pending -= cancelled
                if cancelled:
                    uploader.log(f"fedtest: aborted while publishing: {len(cancelled)} objects not uploaded "
                                 "(the abort reserve ran out)")
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return dropped


def log_note(found: int) -> bytes:
    """The build log's closing line (on a line of its own, so no value spans it and the log)."""
    return f"\nfedtest: build log scrubbed: {found} secret values redacted\n".encode()


def exclusions(results_job_folder: Path | None, build_log: Path | None) -> list[Path]:
    """What plan_artifacts skips silently: the build log when it is a regular file, and this job's folder of
    the results tree when the results lie inside the artifacts folder (nothing else under `logs/`)."""
    found = [p for p in (results_job_folder, build_log) if p is not None]
    return [p for p in found if os.path.lexists(p)]
