"""`fedtest publish|abort|lint`: results made by any tool, a dead run's build, and a check of a folder.

publish gives the guarantees of a fedtest run: started.json first (a duplicate build is refused before
anything is written), scrubbed artifacts and build-log.txt in parallel with bounded retries,
finished.json, then latest-build.txt; SIGTERM or SIGINT while uploading still ends in finished.json
(ABORTED). abort is Jenkins' post-build step: it publishes what a run left behind (log, JUnit,
artifacts), counting objects the run uploaded itself as present, not as failures.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
import time
from pathlib import Path

from fedtest.abort import AbortController
from fedtest.credentials import hand_credentials
from fedtest.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, FedtestError
from providers import ledger as ledger_mod
from upload import files, layout, lint
from upload.errors import ConfigError
from upload.junit import artifacts_verdict
from upload.record import BuildRecord, PublishReport, ResultsTarget, parse_results

RESULTS_HELP = "gs://bucket/logs/<job>, gs://bucket with --job, or a folder (the bucket layout under it)"
DEADLINE_HELP = "seconds any one read or write may keep retrying before it fails (default %(default)s)"
GRACE_SECONDS = 30.0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    job_default = os.environ.get("JOB_NAME") or None
    pub = sub.add_parser("publish", help="publish a folder of JUnit files plus a log as one build")
    pub.add_argument("--results", required=True, help=RESULTS_HELP)
    pub.add_argument("--job", default=job_default, help="job name (default: $JOB_NAME)")
    pub.add_argument("--build-id", help="numeric build id (default: $BUILD_NUMBER, else --started)")
    pub.add_argument("--artifacts", "--junit-dir", dest="artifacts", required=True,
                     help="folder of JUnit files (junit*.xml) and other artifacts")
    pub.add_argument("--log", help="the run's console output, uploaded as build-log.txt (default: none)")
    pub.add_argument("--result", default="auto", choices=["auto", "SUCCESS", "FAILURE", "ABORTED"],
                     help="verdict (default auto: FAILURE when any JUnit case failed or errored)")
    pub.add_argument("--started", type=int, help="run start, Unix seconds (default: now)")
    pub.add_argument("--metadata", action="append", default=[], metavar="KEY=VALUE",
                     help="finished.json metadata, e.g. job-version=v1.31.2 (repeatable)")
    pub.add_argument("--repo-commit", help="started.json repo-commit (default: none)")
    pub.add_argument("--results-deadline", type=float, default=30.0, help=DEADLINE_HELP)
    pub.set_defaults(run=_publish)

    ab = sub.add_parser("abort", help="finish a build whose run died: publish what it left, result ABORTED "
                                      "(nothing to do once finished.json exists)")
    ab.add_argument("--artifacts", default="_artifacts",
                    help="the run's --artifacts folder: its JUnit, build-log.txt and other files are "
                         "published (default: %(default)s)")
    ab.add_argument("--results", help="the run's --results (default: the bucket layout under --artifacts)")
    ab.add_argument("--job", default=job_default, help="job name (default: $JOB_NAME)")
    ab.add_argument("--build-id", default=os.environ.get("BUILD_NUMBER") or None,
                    help="the aborted build (default: $BUILD_NUMBER)")
    ab.add_argument("--log", help="console output to publish as build-log.txt (default: <artifacts>/build-log.txt)")
    ab.add_argument("--reason", default="build aborted before the run published",
                    help="finished.json abort-reason (default: %(default)r)")
    ab.add_argument("--results-deadline", type=float, default=30.0, help=DEADLINE_HELP)
    ab.set_defaults(run=_abort)

    lint_cmd = sub.add_parser("lint", help="check a build folder or an artifacts folder against TestGrid's rules")
    lint_cmd.add_argument("dir", help="a build folder (with started.json) or a folder of artifacts")
    lint_cmd.set_defaults(run=_lint)


def _metadata(pairs: list[str]) -> dict[str, str]:
    result = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"bad --metadata {pair!r}", "use KEY=VALUE, e.g. --metadata job-version=v1.31.2")
        result[key.strip()] = value
    return result


def _folder(path_text: str, what: str) -> Path:
    path = Path(path_text)
    if not path.exists():
        raise ConfigError(f"{what} {path} does not exist", "pass an existing folder")
    if not path.is_dir():
        raise ConfigError(f"{what} {path} is not a folder", "pass a folder")
    try:
        next(iter(os.scandir(path)), None)
    except OSError as err:
        raise ConfigError(f"cannot read {what} {path}: {err.strerror}", "fix its permissions") from err
    return path


def _log_file(path_text: str | None) -> Path | None:
    if path_text is None:
        return None
    path = Path(path_text)
    try:
        os.close(files.open_path(path))  # the last part is never followed; FIFOs and folders are refused
    except files.Refused as err:
        raise ConfigError(f"log {path} is {err.problem}", "pass the run's console output (a file) with --log") from err
    except OSError as err:
        raise ConfigError(f"cannot read log {path}: {err.strerror}", "pass a readable file with --log") from err
    return path


def _deadline(seconds: float) -> float:
    if not seconds > 0:
        raise ConfigError(f"--results-deadline {seconds:g} is not above 0", "pass seconds, e.g. 30")
    return seconds


def _signals() -> AbortController:
    """SIGTERM/SIGINT while publishing: stop starting uploads, then finished.json (ABORTED)."""
    watch = AbortController(reserve_seconds=GRACE_SECONDS, grace_seconds=None).install()
    watch.settle()  # never a KeyboardInterrupt: finishing the build is the point
    return watch


def _outcome(report: PublishReport, watch: AbortController) -> int:
    for finding in report.findings:
        print(f"lint: {finding}")
    if watch.aborted:
        print(f"fedtest: aborted ({watch.reason}) while publishing: finished.json says {report.result}")
        return EXIT_INTERRUPTED
    if report.upload_failures:  # done, and the verdict failed: exit 1, as for any failed verdict
        print(f"fedtest: error: {len(report.upload_failures)} objects failed to upload "
              f"(first: {report.upload_failures[0][0]}); finished.json says {report.result}: check the bucket "
              "and run again with a new --build-id", file=sys.stderr)
        return EXIT_FAILED
    if report.findings:
        print(f"fedtest: error: lint found {len(report.findings)} problem(s) (published anyway, result "
              f"{report.result}): {report.findings[0]}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK if report.passed else EXIT_FAILED


def _publish(args: argparse.Namespace) -> int:
    watch = _signals()  # first: a signal while the folder is planned is handled too, never a bare 143
    try:
        return _publish_watched(args, watch)
    finally:
        watch.uninstall()


def _before_claim(watch: AbortController) -> int | None:
    if not watch.aborted:
        return None
    print(f"fedtest: aborted ({watch.reason}) before the build was claimed: nothing was written")
    return EXIT_INTERRUPTED


def _publish_watched(args: argparse.Namespace, watch: AbortController) -> int:
    target = parse_results(args.results, args.job)
    artifacts = _folder(args.artifacts, "artifacts folder")
    log = _log_file(args.log)
    metadata = _metadata(args.metadata)
    deadline = _deadline(args.results_deadline)
    # What gets published is decided now: an unreadable subfolder fails before anything is written.
    _files, findings = lint.plan_artifacts(artifacts)
    unreadable = [f for f in findings if f.problem.startswith("cannot read")]
    if unreadable:
        raise ConfigError(f"{unreadable[0]} (under {artifacts})", "fix its permissions")
    result = artifacts_verdict(artifacts) if args.result == "auto" else args.result
    started = args.started if args.started is not None else int(time.time())
    if started <= 0:
        raise ConfigError(f"--started {started} is not a Unix time", "pass seconds since 1970")
    listing = layout.build_id_listing_problem(
        layout.choose_build_id(args.build_id, os.environ, started), _existing_builds(target, deadline)
    )
    if listing:
        raise ConfigError(*listing)
    stopped = _before_claim(watch)
    if stopped is not None:
        return stopped
    record = BuildRecord.open(target, build_id=args.build_id, started_at=started, repo_commit=args.repo_commit,
                              sink_deadline=deadline)
    report = record.finish(result, metadata=metadata, artifacts_dir=artifacts, build_log=log, stop=watch)
    return _outcome(report, watch)


def _existing_builds(target: ResultsTarget, deadline: float) -> list[str]:
    """The job's build ids already in the results, as TestGrid lists them; [] when they cannot be listed
    (claiming the build then reports the problem)."""
    try:
        if target.scheme == "local":
            base = Path(target.location) / target.job_prefix
            return [p.name for p in base.iterdir() if p.is_dir()] if base.is_dir() else []
        from upload.sinks import GCSSink

        listing = GCSSink.default_client().list_blobs(
            target.location, prefix=f"{target.job_prefix}/", delimiter="/", timeout=min(deadline, 10.0), retry=None
        )
        for _page in listing.pages:
            pass
        return [prefix.rstrip("/").rsplit("/", 1)[-1] for prefix in listing.prefixes]
    except Exception:  # a listing problem is BuildRecord.open's to report, with its fix
        return []


def _abort(args: argparse.Namespace) -> int:
    watch = _signals()  # first: the build must end ABORTED even when this step is signalled early
    try:
        return _abort_watched(args, watch)
    finally:
        watch.uninstall()


def _abort_watched(args: argparse.Namespace, watch: AbortController) -> int:
    if not args.build_id:
        raise ConfigError("no build id to abort", "pass --build-id N (or set BUILD_NUMBER)")
    artifacts = Path(args.artifacts)
    if not args.job:
        raise ConfigError("no job name for the aborted build", "pass --job NAME (or set JOB_NAME)")
    log, findings = _abort_log(args, artifacts)
    record = BuildRecord.resume(args.results or str(artifacts), job=args.job, build_id=args.build_id,
                                sink_deadline=_deadline(args.results_deadline))
    if record is None:
        print(f"fedtest: build {args.build_id} already has finished.json: nothing to do")
        return EXIT_OK
    hand_credentials(record.scrubber, _ledger_if_any(artifacts))
    report = record.abort(reason=args.reason, artifacts_dir=artifacts if artifacts.is_dir() else None,
                          build_log=log, stop=watch, findings=findings)
    _say_what_is_still_up(artifacts)
    return EXIT_FAILED if report.upload_failures else EXIT_OK


def _ledger_if_any(artifacts: Path) -> ledger_mod.Ledger | None:
    try:
        return ledger_mod.Ledger.load(artifacts)
    except (FedtestError, OSError, KeyError, TypeError):  # no ledger, or a broken one: the environment's only
        return None


def _abort_log(args: argparse.Namespace, artifacts: Path) -> tuple[Path | bytes, list[lint.Finding]]:
    """The log to publish: --log, else the run's build-log.txt when it is a regular file with content, else a
    few lines made here saying why (never written to disk: nothing is left behind, nothing written through a
    link). A build-log.txt that is a link is not followed: a finding, and the made-up log says so."""
    if args.log:
        return _log_file(args.log), []
    default = artifacts / "build-log.txt"
    info = files.lstat_path(default)
    if info is not None and stat.S_ISREG(info.st_mode) and info.st_size > 0:
        return default, []
    findings = []
    why = "it was killed before it wrote a line, or never started"
    if info is not None and not stat.S_ISREG(info.st_mode):
        what = files.kind_of(info.st_mode)
        findings.append(lint.Finding("artifacts/build-log.txt", f"{what}, not a regular file: not followed, "
                                                                "not uploaded"))
        why = f"its build-log.txt is {what}, not followed"
    text = f"fedtest abort: the run left no build log in {artifacts} ({why}); {args.reason}\n"
    return text.encode("utf-8"), findings


def _say_what_is_still_up(artifacts: Path) -> None:
    try:
        ledger = ledger_mod.Ledger.load(artifacts)
    except Exception:  # no ledger (or a broken one): nothing to say
        return
    if ledger.pending_teardown():
        print(f"fedtest: clusters of run {ledger.run_id} may still be up: `fedtest down --artifacts {artifacts}`")


def _lint(args: argparse.Namespace) -> int:
    path = _folder(args.dir, "folder")
    try:
        findings = lint.lint_path(path)
    except OSError as err:
        raise ConfigError(f"cannot read {err.filename}: {err.strerror}", "fix its permissions") from err
    for finding in findings:
        print(finding)
    if findings:
        print(f"fedtest: error: lint found {len(findings)} problem(s) in {path}: {findings[0]}", file=sys.stderr)
        return EXIT_FAILED
    print(f"{path}: ok")
    return EXIT_OK
