"""The build record: one run, written in the test-history layout, in the order readers need.

    record = BuildRecord.open("gs://bucket/logs/my-job")       # or a folder; writes started.json
    ...run the tests, write <artifacts>/junit_01.xml with upload.junit.write_junit...
    report = record.finish("SUCCESS", metadata={...}, artifacts_dir=artifacts, build_log=log_path)
    # or, on SIGTERM/SIGINT/deadline: record.abort(metadata=..., artifacts_dir=..., build_log=...)

`open` reads the job's latest-build.txt, refuses an id that is not greater, then claims the build by
creating started.json write-once: a duplicate build is refused before anything is written.
`finish`/`abort` lint, scrub and upload artifacts + build-log.txt in parallel, then finished.json, then
latest-build.txt last. Lint findings and failed uploads turn SUCCESS into FAILURE (the verdict must be
true) but never stop the rest from being uploaded. SIGKILL leaves started.json alone: TestGrid shows the
build as running, then failed after 24 h, never green.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from fedtest.errors import one_line
from upload import layout, lint
from upload.errors import ConfigError, DuplicateBuild, SinkError
from upload.latest import LatestBuildUnusable, read_latest, reset_command
from upload.scrub import SECRET_NAME_RE, OpaqueContent, Scrubber, ScrubReport
from upload.sinks import NO_CACHE, GCSSink, LocalSink, ObjectExists, Sink

LINT_REPORT = "fedtest-lint.txt"


class Stop(Protocol):
    """What finish() watches to stop publishing early (fedtest.abort.AbortController fits)."""

    @property
    def aborted(self) -> bool: ...

    reason: str | None


@dataclass(frozen=True)
class ResultsTarget:
    """Where results go: a bucket (`gs`) or a folder (`local`), and the job's directory in it."""

    scheme: str
    location: str
    job_prefix: str

    @property
    def job(self) -> str:
        return self.job_prefix.rsplit("/", 1)[-1]

    @property
    def url(self) -> str:
        base = f"gs://{self.location}" if self.scheme == "gs" else self.location.rstrip("/")
        return f"{base}/{self.job_prefix}"

    def sink(self, deadline: float | None = None) -> Sink:
        """The sink; `deadline` bounds how long any one GCS call keeps retrying (connection refused included)."""
        if self.scheme != "gs":
            return LocalSink(Path(self.location))
        return GCSSink(self.location) if deadline is None else GCSSink(self.location, deadline=deadline)


def parse_results(results: str, job: str | None = None) -> ResultsTarget:
    """`gs://bucket/logs/<job>`, `gs://bucket[/root]` with --job, or a folder (bucket layout under it)."""
    text = (results or "").strip()
    if not text:
        raise ConfigError("no results target", "pass --results gs://bucket/logs/<job> or --results DIR")
    if job is not None:
        layout.check_job_name(job)
    if "://" not in text:
        if not job:
            raise ConfigError("no job name for the results folder", "pass --job NAME (or set JOB_NAME)")
        return ResultsTarget("local", text, f"logs/{job}")
    url = urlparse(text)
    if url.scheme != "gs":
        raise ConfigError(f"unsupported results URL {text!r}", "use gs://bucket/logs/<job> or a local folder")
    if not url.netloc:
        raise ConfigError(f"no bucket in {text!r}", "use gs://<bucket>/logs/<job>")
    path = url.path.strip("/")
    if not path:
        if not job:
            raise ConfigError(f"no job in {text!r}", "use gs://<bucket>/logs/<job> or pass --job NAME")
        return ResultsTarget("gs", url.netloc, f"logs/{job}")
    last = path.rsplit("/", 1)[-1]
    if job and last != job:
        path = f"{path}/{job}"  # gs://bucket/logs plus --job
    layout.check_job_name(path.rsplit("/", 1)[-1])
    return ResultsTarget("gs", url.netloc, path)


@dataclass
class PublishReport:
    """What finish/abort did. `result` is the verdict written to finished.json."""

    url: str
    result: str
    findings: list[lint.Finding] = field(default_factory=list)
    upload_failures: list[tuple[str, str]] = field(default_factory=list)
    scrub: ScrubReport = field(default_factory=ScrubReport)
    uploaded: int = 0
    already_present: int = 0
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.result == "SUCCESS"


def _size(item: tuple[str, Path | bytes, str]) -> int:
    data = item[1]
    try:
        return data.stat().st_size if isinstance(data, Path) else len(data)
    except OSError:
        return 0  # unreadable: its upload reports the error


def _json_bytes(doc: Mapping) -> bytes:
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode("utf-8")


class BuildRecord:
    """One build in the results target. Create it with `BuildRecord.open`."""

    def __init__(
        self,
        sink: Sink,
        location: layout.BuildLocation,
        started: dict,
        url: str,
        scrubber: Scrubber,
        log: Callable[[str], None],
    ) -> None:
        self.sink = sink
        self.location = location
        self.started = started
        self.url = url
        self.scrubber = scrubber
        self.log = log
        self.closed = False
        self.resuming = False  # taking over a dead run's build: objects already there are its, not failures
        self._lock = threading.Lock()

    @property
    def build_id(self) -> str:
        return self.location.build

    @property
    def started_at(self) -> int:
        return int(self.started["timestamp"])

    @classmethod
    def open(
        cls,
        results: str | ResultsTarget,
        *,
        job: str | None = None,
        build_id: str | None = None,
        env: Mapping[str, str] | None = None,
        started_at: int | None = None,
        node: str | None = None,
        repos: Mapping[str, str] | None = None,
        repo_commit: str | None = None,
        sink: Sink | None = None,
        log: Callable[[str], None] = print,
        sink_deadline: float | None = None,
    ) -> BuildRecord:
        """Claim the build and write started.json. Raises ConfigError, DuplicateBuild or SinkError."""
        env = os.environ if env is None else env
        target = results if isinstance(results, ResultsTarget) else parse_results(results, job)
        start = int(time.time()) if started_at is None else started_at
        build = layout.choose_build_id(build_id, env, start)
        location = layout.BuildLocation(target.job_prefix, build)
        started = layout.started_document(
            start,
            node=node or env.get("NODE_NAME") or socket.gethostname(),
            repos=repos,
            repo_commit=repo_commit,
        )
        sink = sink or target.sink(sink_deadline)
        url = f"{target.url}/{build}"
        recovery = reset_command(target)
        layout.check_newer_than_latest(build, read_latest(sink, location.latest_build, recovery), recovery)
        try:
            sink.create(location.started, _json_bytes(started), "application/json")
        except ObjectExists as err:
            raise DuplicateBuild(
                f"build {build} of job {location.job} already exists at {url}",
                "use a new --build-id; builds are write-once",
            ) from err
        log(f"fedtest: results: {url}")
        return cls(sink, location, started, url, Scrubber(env), log)

    @classmethod
    def resume(
        cls,
        results: str | ResultsTarget,
        *,
        job: str | None = None,
        build_id: str,
        env: Mapping[str, str] | None = None,
        sink: Sink | None = None,
        log: Callable[[str], None] = print,
        sink_deadline: float | None = None,
    ) -> BuildRecord | None:
        """Take over a build whose run died (Jenkins' post-build step after an abort).

        None when the build already has finished.json (the run published it). A missing
        started.json is written now, so the build still shows up, as ABORTED.
        """
        env = os.environ if env is None else env
        target = results if isinstance(results, ResultsTarget) else parse_results(results, job)
        location = layout.BuildLocation(target.job_prefix, layout.check_build_id(build_id))
        sink = sink or target.sink(sink_deadline)
        url = f"{target.url}/{location.build}"
        if sink.read_text(location.finished) is not None:
            return None
        text = sink.read_text(location.started)
        try:
            started = json.loads(text) if text is not None else None
        except ValueError:
            started = None
        if not isinstance(started, dict) or not isinstance(started.get("timestamp"), int):
            started = layout.started_document(int(time.time()), node=env.get("NODE_NAME") or socket.gethostname())
            try:
                sink.create(location.started, _json_bytes(started), "application/json")
            except ObjectExists:
                started = json.loads(sink.read_text(location.started) or "{}")
        record = cls(sink, location, started, url, Scrubber(env), log)
        record.resuming = True
        return record

    def finish(
        self,
        result: str,
        *,
        metadata: Mapping[str, str] | None = None,
        artifacts_dir: Path | None = None,
        build_log: Path | None = None,
        budget_seconds: float | None = None,
        stop: Stop | None = None,
        exclude: Sequence[Path] = (),
    ) -> PublishReport:
        """Lint, scrub and upload; then finished.json; then latest-build.txt. Returns the report.
        Files and folders under `exclude` (inside artifacts_dir) are not this build's: not uploaded.

        finished.json is written on every path that can still write: an unexpected error while
        uploading becomes `publish-error` in its metadata and a FAILURE, and `stop` (SIGTERM or SIGINT
        during publishing) cancels the uploads not yet started and finishes the build as ABORTED.
        """
        if result not in layout.RESULTS:
            raise ConfigError(
                f"result {result!r} is not one of {', '.join(layout.RESULTS)}", "pass one of those"
            )
        with self._lock:
            if self.closed:
                raise ConfigError(
                    f"build {self.build_id} is already finished", "finish or abort a record once"
                )
            self.closed = True
        began = time.monotonic()
        if budget_seconds is not None:
            self.sink.set_budget(budget_seconds)
        report = PublishReport(url=self.url, result=result)
        # --metadata api-token=... is a secret like a *TOKEN* environment variable: redacted everywhere.
        self.scrubber.add_values(str(v) for k, v in (metadata or {}).items() if SECRET_NAME_RE.search(str(k)))
        meta = {}
        for key, value in (metadata or {}).items():  # --metadata values are public too: scrub them
            meta[key], found = self.scrubber.scrub_text(str(value))
            report.scrub.redacted += found
        try:
            self._publish(report, artifacts_dir, build_log, stop, exclude)
        except Exception as err:  # never a build without finished.json
            meta["publish-error"] = one_line(err)
            self.log(f"fedtest: error: publishing stopped: {meta['publish-error']}")
        verdict = result
        if stop is not None and stop.aborted and result != "ABORTED":
            verdict = "ABORTED"
            meta.setdefault("abort-reason", f"{stop.reason or 'signal'} while publishing")
        if verdict == "SUCCESS" and (report.findings or report.upload_failures or "publish-error" in meta):
            verdict = "FAILURE"
        failure = [k for k in meta.get("failure", "").split(",") if k]
        failure += [kind for kind, hit in (("lint", report.findings), ("upload", report.upload_failures),
                                           ("publish", "publish-error" in meta)) if hit and kind not in failure]
        if failure:
            meta["failure"] = ",".join(failure)
        meta["redacted-values"] = str(report.scrub.redacted)
        if report.findings:
            meta["lint-findings"] = str(len(report.findings))
        if report.upload_failures:
            meta["upload-failures"] = str(len(report.upload_failures))
        if report.already_present:
            meta["already-present"] = str(report.already_present)
        meta["upload-seconds"] = f"{time.monotonic() - began:.1f}"
        finished = layout.finished_document(max(int(time.time()), self.started_at), verdict, meta)
        try:
            self.sink.create(self.location.finished, _json_bytes(finished), "application/json")
        except ObjectExists as err:
            raise DuplicateBuild(
                f"{self.url} was finished by another run", "use a new --build-id; builds are write-once"
            ) from err
        self._advance_latest()
        report.result = verdict
        report.seconds = time.monotonic() - began
        self.log(f"fedtest: {report.scrub.summary()}")
        self.log(f"fedtest: published {report.uploaded} objects, result {verdict}: {self.url}")
        return report

    def _publish(
        self, report: PublishReport, artifacts_dir: Path | None, build_log: Path | None, stop: Stop | None,
        exclude: Sequence[Path] = (),
    ) -> None:
        """Artifacts and the log in parallel, largest first, with lint alongside; stops early on `stop`."""
        files, report.findings = self._artifact_files(artifacts_dir, build_log, exclude)
        uploads: list[tuple[str, Path | bytes, str]] = [
            (self.location.artifact(rel), path, layout.content_type(rel)) for rel, path in files
        ]
        if build_log is not None:
            uploads.append((self.location.build_log, build_log, "text/plain"))
        uploads.sort(key=_size, reverse=True)  # largest first: no big file left alone at the end
        uploader = _Uploader(self, report)
        pool = ThreadPoolExecutor(max_workers=max(1, self.sink.workers))
        try:
            futures = [pool.submit(uploader.one, item) for item in uploads]
            # Lint while the uploads run: it only decides the verdict and adds a report artifact.
            try:
                report.findings += lint.lint_artifact_files(files) + lint.lint_documents(self.started, None)
            except Exception as err:  # lint is a verdict, not a reason to lose the build
                report.findings.append(lint.Finding("(lint)", f"lint stopped: {one_line(err)}"))
            if report.findings:
                text = "".join(f"{f}\n" for f in report.findings).encode()
                futures.append(
                    pool.submit(uploader.one, (self.location.artifact(LINT_REPORT), text, "text/plain"))
                )
                self.log(f"fedtest: lint: {len(report.findings)} problems (see artifacts/{LINT_REPORT})")
            pending = set(futures)
            while pending:
                done, pending = wait(pending, timeout=0.2)
                for future in done:
                    future.result()
                if stop is not None and stop.aborted:
                    for future in pending:
                        future.cancel()
                    skipped = sum(1 for f in pending if f.cancelled())
                    if skipped:
                        self.log(f"fedtest: aborted while publishing: {skipped} objects not uploaded")
                    pending = {f for f in pending if not f.cancelled()}
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def abort(self, *, reason: str = "aborted", metadata: Mapping[str, str] | None = None,
              **publish: Any) -> PublishReport:
        """finish("ABORTED") with `reason` as abort-reason; `publish` takes finish's other keyword arguments."""
        return self.finish("ABORTED", metadata={**(metadata or {}), "abort-reason": reason}, **publish)

    def _artifact_files(
        self, artifacts_dir: Path | None, build_log: Path | None, exclude: Sequence[Path] = ()
    ) -> tuple[list[tuple[str, Path]], list[lint.Finding]]:
        """What lint.plan_artifacts publishes, less the build log and results this folder sink holds."""
        if artifacts_dir is None:
            return [], []
        artifacts_dir = Path(artifacts_dir)
        if not artifacts_dir.is_dir():
            return [], [
                lint.Finding(str(artifacts_dir), "artifacts folder missing: nothing but the log uploaded")
            ]
        results_root = self.sink.local_path(self.location.job_prefix.split("/", 1)[0])
        skip = [p for p in (results_root, build_log, *exclude) if p is not None]
        return lint.plan_artifacts(artifacts_dir, skip)

    def _advance_latest(self) -> None:
        """latest-build.txt last, and never backwards (a newer build may have finished meanwhile).
        One broken since this build was claimed is replaced: this build is complete, so it is a valid latest."""
        try:
            current = read_latest(self.sink, self.location.latest_build, "")
        except LatestBuildUnusable:
            current = None
        if current is not None and int(current) > int(self.build_id):
            return
        self.sink.replace(self.location.latest_build, f"{self.build_id}\n".encode(), "text/plain", NO_CACHE)


class _Uploader:
    """Scrubs and creates one object per call (from pool threads); failures are recorded, never raised."""

    def __init__(self, record: BuildRecord, report: PublishReport) -> None:
        self.record = record
        self.report = report
        self.lock = threading.Lock()

    def _failed(self, key: str, message: str) -> None:
        with self.lock:
            self.report.upload_failures.append((key, message))
        self.record.log(f"fedtest: upload failed: {key}: {message}")

    def one(self, item: tuple[str, Path | bytes, str]) -> None:
        key, data, content_type = item
        local = ScrubReport()
        try:
            payload = self.record.scrubber.scrub_file(data, local) if isinstance(data, Path) else data
            if key == self.record.location.build_log and isinstance(payload, bytes):
                payload += (
                    f"\nfedtest: build log scrubbed: {local.redacted} secret values redacted\n".encode()
                )
            self.record.sink.create(key, payload, content_type)
            with self.lock:
                self.report.uploaded += 1
        except ObjectExists as err:
            if self.record.resuming:
                with self.lock:  # the dead run uploaded it already: present, not a failure
                    self.report.already_present += 1
            else:
                self._failed(key, str(err))
        except OpaqueContent as err:  # compressed content the scrubber found inside: refused, as lint refuses
            with self.lock:
                self.report.findings.append(lint.Finding(key.removeprefix(f"{self.record.location.build_prefix}/"),
                                                         str(err)))
            self.record.log(f"fedtest: lint: {key}: {err}")
        except (SinkError, OSError) as err:
            self._failed(key, str(err) if isinstance(err, SinkError) else f"cannot read: {err.strerror or err}")
        except Exception as err:  # one odd object must not stop the others
            self._failed(key, one_line(err))
        with self.lock:
            self.report.scrub.add(local)
