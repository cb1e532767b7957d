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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from fedtest.errors import one_line
from upload import layout, lint, publish, sealed
from upload.errors import ConfigError, DuplicateBuild
from upload.latest import latest_problem, read_latest, reset_command
from upload.publish import Stop
from upload.scrub import SECRET_NAME_RE, Scrubber, ScrubReport
from upload.sinks import NO_CACHE, GCSSink, LocalSink, ObjectExists, Sink

LINT_REPORT = "fedtest-lint.txt"
__all__ = ["LINT_REPORT", "BuildRecord", "PublishReport", "ResultsTarget", "Stop", "parse_results"]


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
    not_uploaded: int = 0  # dropped when a signal's reserve ran out while publishing
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.result == "SUCCESS"


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
        scrubber = Scrubber(env)
        try:
            sink.create(location.started, sealed.scrub_json(scrubber, started), "application/json")
        except ObjectExists as err:
            raise DuplicateBuild(
                f"build {build} of job {location.job} already exists at {url}",
                "use a new --build-id; builds are write-once",
            ) from err
        log(f"fedtest: results: {url}")
        return cls(sink, location, started, url, scrubber, log)

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
        scrubber = Scrubber(env)
        if not isinstance(started, dict) or not isinstance(started.get("timestamp"), int):
            started = layout.started_document(int(time.time()), node=env.get("NODE_NAME") or socket.gethostname())
            try:
                sink.create(location.started, sealed.scrub_json(scrubber, started), "application/json")
            except ObjectExists:
                started = json.loads(sink.read_text(location.started) or "{}")
        record = cls(sink, location, started, url, scrubber, log)
        record.resuming = True
        return record

    def finish(
        self,
        result: str,
        *,
        metadata: Mapping[str, str] | None = None,
        artifacts_dir: Path | None = None,
        build_log: Path | bytes | None = None,
        budget_seconds: float | None = None,
        stop: Stop | None = None,
        findings: list[lint.Finding] | None = None,
        exclude: Sequence[Path] = (),
    ) -> PublishReport:
        """Lint, scrub and upload; then finished.json; then latest-build.txt. Returns the report.

        finished.json is written on every path that can still write: an unexpected error while
        uploading becomes `publish-error` in its metadata and a FAILURE. `stop` (fedtest.abort's
        controller) is watched: a signal that arrives while publishing drops the uploads its reserve cannot
        fit and finishes the build as ABORTED; one that came before (during the tests) drops nothing.
        `build_log` is a file (its last part never followed) or bytes; `findings` are the caller's own.
        Files and folders under `exclude` (inside artifacts_dir) are not this build's: not uploaded.
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
        interruption = publish.Interruption(stop)
        if budget_seconds is not None:
            self.sink.set_budget(budget_seconds)
        report = PublishReport(url=self.url, result=result, findings=list(findings or []))
        # --metadata api-token=... is a secret like a *TOKEN* environment variable: redacted everywhere.
        self.scrubber.add_values(str(v) for k, v in (metadata or {}).items() if SECRET_NAME_RE.search(str(k)))
        meta = {}
        for key, value in (metadata or {}).items():  # keys and values are public too: scrubbed, counted
            clean_key, found_key = self.scrubber.scrub_text(str(key))
            meta[clean_key], found = self.scrubber.scrub_text(str(value))
            report.scrub.redacted += found_key + found
        try:
            self._publish(report, artifacts_dir, build_log, stop, interruption, exclude)
        except Exception as err:  # never a build without finished.json
            meta["publish-error"] = one_line(err)
            self.log(f"fedtest: error: publishing stopped: {meta['publish-error']}")
        verdict = result
        if interruption.arrived and result != "ABORTED":
            verdict = "ABORTED"
            meta.setdefault("abort-reason", f"{getattr(stop, 'reason', None) or 'signal'} while publishing")
        if verdict == "SUCCESS" and (report.findings or report.upload_failures or "publish-error" in meta):
            verdict = "FAILURE"
        failure = [k for k in meta.get("failure", "").split(",") if k]
        failure += [kind for kind, hit in (("lint", report.findings), ("upload", report.upload_failures),
                                           ("publish", "publish-error" in meta), ("aborted", verdict == "ABORTED"))
                    if hit and kind not in failure]
        if failure:
            meta["failure"] = ",".join(failure)
        meta["redacted-values"] = str(report.scrub.redacted)
        if report.findings:
            meta["lint-findings"] = str(len(report.findings))
        if report.upload_failures:
            meta["upload-failures"] = str(len(report.upload_failures))
        if report.not_uploaded:
            meta["not-uploaded"] = str(report.not_uploaded)
        if report.already_present:
            meta["already-present"] = str(report.already_present)
        meta["upload-seconds"] = f"{time.monotonic() - began:.1f}"
        finished = layout.finished_document(max(int(time.time()), self.started_at), verdict, meta)
        document = sealed.scrub_json(self.scrubber, finished)  # keys and values, like every other byte
        report.scrub.redacted += document.redacted
        try:
            self.sink.create(self.location.finished, document, "application/json")
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

    def _publish(self, report: PublishReport, artifacts_dir: Path | None, build_log: Path | bytes | None,
                 stop: Stop | None, interruption: publish.Interruption, exclude: Sequence[Path] = ()) -> None:
        """Artifacts and the log in parallel, largest first, with lint alongside."""
        files, found = self._artifact_files(artifacts_dir, build_log, exclude)
        report.findings += found
        items: list[publish.Item] = [
            (self.location.artifact(rel), source, layout.content_type(rel)) for rel, source in files
        ]
        if isinstance(build_log, bytes):
            items.append((self.location.build_log, publish.LogSource(data=build_log), "text/plain"))
        elif build_log is not None:
            items.append((self.location.build_log, publish.LogSource(path=Path(build_log)), "text/plain"))
        uploader = publish.Uploader(self.sink, self.scrubber, self.location.build_log, self.resuming, self.log)

        def lint_report() -> list[publish.Item]:
            """Lint while the uploads run: it decides the verdict and adds a report artifact, scrubbed."""
            try:
                report.findings += lint.lint_artifact_files(files) + lint.lint_documents(self.started, None)
            except Exception as err:  # lint is a verdict, not a reason to lose the build
                report.findings.append(lint.Finding("(lint)", f"lint stopped: {one_line(err)}"))
            if not report.findings:
                return []
            text = "".join(f"{f}\n" for f in report.findings)
            self.log(f"fedtest: lint: {len(report.findings)} problems (see artifacts/{LINT_REPORT})")
            return [(self.location.artifact(LINT_REPORT), sealed.scrub_text(self.scrubber, text), "text/plain")]

        try:
            report.not_uploaded = publish.run(uploader, items, lint_report, stop, interruption)
        finally:
            report.uploaded += uploader.uploaded
            report.already_present += uploader.already_present
            report.upload_failures += uploader.failures
            report.scrub.add(uploader.scrub)
            report.findings += uploader.findings

    def abort(self, *, reason: str = "aborted", metadata: Mapping[str, str] | None = None,
              **publish_args: Any) -> PublishReport:
        """finish("ABORTED") with `reason` as abort-reason; `publish_args` takes finish's other keyword arguments."""
        return self.finish("ABORTED", metadata={**(metadata or {}), "abort-reason": reason}, **publish_args)

    def _artifact_files(
        self, artifacts_dir: Path | None, build_log: Path | bytes | None, exclude: Sequence[Path] = ()
    ) -> tuple[list[tuple[str, Any]], list[lint.Finding]]:
        """What lint.plan_artifacts publishes, less the build log and this job's results folder when it
        lies inside the artifacts folder (only that folder: a user's other files under `logs/` go out)."""
        if artifacts_dir is None:
            return [], []
        artifacts_dir = Path(artifacts_dir)
        if not artifacts_dir.is_dir():
            return [], [
                lint.Finding(str(artifacts_dir), "artifacts folder missing: nothing but the log uploaded")
            ]
        job_folder = self.sink.local_path(self.location.job_prefix)
        log_path = build_log if isinstance(build_log, Path) else None
        return lint.plan_artifacts(artifacts_dir, [*publish.exclusions(job_folder, log_path), *exclude])

    def _advance_latest(self) -> None:
        """latest-build.txt last, and never backwards: read, compare and write under the sink's precondition
        (a bucket's generation match, a folder's lock), so a newer build finishing meanwhile always wins. One
        broken since this build was claimed is replaced: this build is complete, so it is a valid latest."""
        build = int(self.build_id)

        def newer(current: bytes | None) -> sealed.Scrubbed | None:
            usable = current is not None and current.strip() and not latest_problem(current)
            if usable and int(current.strip()) >= build:  # type: ignore[union-attr]
                return None
            return sealed.scrub_text(self.scrubber, f"{build}\n")

        self.sink.update(self.location.latest_build, newer, "text/plain", NO_CACHE)
