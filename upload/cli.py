"""`python -m upload`: publish results made by any tool as one build, and lint results folders.

    python -m upload publish --results gs://bucket/logs/JOB --artifacts DIR [--log FILE] [--build-id ID]
    python -m upload lint DIR

publish gives the same guarantees as a fedtest run: started.json first (a duplicate build is refused
before anything is written), scrubbed artifacts and build-log.txt in parallel with retries, finished.json,
then latest-build.txt. Exit codes: 0 published and passed, 1 published with a failing verdict or lint
findings, 2 bad input or a refused/failed upload. Errors are one `fedtest: error: ...` line on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from upload import lint
from upload.errors import ConfigError, UploadError
from upload.record import BuildRecord, parse_results


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad arguments as one line instead of usage + error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ConfigError(message, f"see `{self.prog} --help`")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m upload", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="verb", required=True, parser_class=_Parser)
    pub = sub.add_parser("publish", help="publish a folder of JUnit files plus a log as one build")
    pub.add_argument(
        "--results", required=True, help="gs://bucket/logs/<job>, gs://bucket with --job, or a folder"
    )
    pub.add_argument(
        "--job", default=os.environ.get("JOB_NAME") or None, help="job name (default: $JOB_NAME)"
    )
    pub.add_argument("--build-id", help="numeric build id (default: $BUILD_NUMBER, else --started)")
    pub.add_argument(
        "--artifacts",
        "--junit-dir",
        dest="artifacts",
        required=True,
        help="folder of JUnit files (junit*.xml) and other artifacts",
    )
    pub.add_argument("--log", help="the run's console output, uploaded as build-log.txt")
    pub.add_argument(
        "--result",
        default="auto",
        choices=["auto", "SUCCESS", "FAILURE", "ABORTED"],
        help="verdict (auto: FAILURE when any JUnit case failed or errored)",
    )
    pub.add_argument("--started", type=int, help="run start, Unix seconds (default: now)")
    pub.add_argument(
        "--metadata",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="finished.json metadata, e.g. job-version=v1.31.2 (repeatable)",
    )
    pub.add_argument("--repo-commit", help="started.json repo-commit")
    ab = sub.add_parser("abort", help="publish ABORTED for a build whose run could not (no-op once finished)")
    ab.add_argument("--results", required=True, help="gs://bucket/logs/<job>, gs://bucket with --job, or a folder")
    ab.add_argument("--job", default=os.environ.get("JOB_NAME") or None, help="job name (default: $JOB_NAME)")
    ab.add_argument("--build-id", default=os.environ.get("BUILD_NUMBER") or None,
                    help="the aborted build (default: $BUILD_NUMBER)")
    ab.add_argument("--artifacts", help="what the run left, uploaded as artifacts (optional)")
    ab.add_argument("--log", help="console output, uploaded as build-log.txt (optional)")
    ab.add_argument("--reason", default="build aborted before the run published", help="finished.json abort-reason")
    lint_cmd = sub.add_parser(
        "lint", help="check a build folder or an artifacts folder against TestGrid's rules"
    )
    lint_cmd.add_argument("dir")
    return parser


def _metadata(pairs: list[str]) -> dict[str, str]:
    result = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"bad --metadata {pair!r}", "use KEY=VALUE, e.g. --metadata job-version=v1.31.2"
            )
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
    if not path.is_file():
        raise ConfigError(f"log {path} is not a readable file", "pass the run's console output with --log")
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as err:
        raise ConfigError(f"cannot read log {path}: {err.strerror}", "fix its permissions") from err
    return path


def _verdict_from_junit(artifacts: Path) -> str:
    """FAILURE when any case failed or errored (unparsable files are lint findings, not a pass)."""
    for _rel, path in lint.artifact_files(artifacts):
        if not lint.is_junit_name(path.name):
            continue
        try:
            root = ET.parse(path).getroot()
        except (ET.ParseError, OSError):
            return "FAILURE"
        if root.find(".//failure") is not None or root.find(".//error") is not None:
            return "FAILURE"
    return "SUCCESS"


def _publish(args: argparse.Namespace) -> int:
    target = parse_results(args.results, args.job)
    artifacts = _folder(args.artifacts, "artifacts folder")
    log = _log_file(args.log)
    metadata = _metadata(args.metadata)
    try:  # walk once now: an unreadable subfolder fails before anything is written
        lint.artifact_files(artifacts)
    except OSError as err:
        raise ConfigError(f"cannot read {err.filename}: {err.strerror}", "fix its permissions") from err
    result = _verdict_from_junit(artifacts) if args.result == "auto" else args.result
    started = args.started if args.started is not None else int(time.time())
    if started <= 0:
        raise ConfigError(f"--started {started} is not a Unix time", "pass seconds since 1970")
    record = BuildRecord.open(
        target, build_id=args.build_id, started_at=started, repo_commit=args.repo_commit
    )
    report = record.finish(result, metadata=metadata, artifacts_dir=artifacts, build_log=log)
    for finding in report.findings:
        print(f"lint: {finding}")
    if report.upload_failures:
        raise UploadError(
            f"{len(report.upload_failures)} objects failed to upload "
            f"(first: {report.upload_failures[0][0]}); finished.json says {report.result}",
            "check the bucket and run again with a new --build-id",
        )
    if report.findings:
        print(
            f"fedtest: error: lint found {len(report.findings)} problem(s) "
            f"(published anyway, result {report.result}): {report.findings[0]}",
            file=sys.stderr,
        )
        return 1
    return 0 if report.passed else 1


def _abort(args: argparse.Namespace) -> int:
    if not args.build_id:
        raise ConfigError("no build id to abort", "pass --build-id N (or set BUILD_NUMBER)")
    record = BuildRecord.resume(args.results, job=args.job, build_id=args.build_id)
    if record is None:
        print(f"fedtest: build {args.build_id} already has finished.json: nothing to do")
        return 0
    artifacts = Path(args.artifacts) if args.artifacts and Path(args.artifacts).is_dir() else None
    report = record.abort(reason=args.reason, artifacts_dir=artifacts, build_log=_log_file(args.log))
    return 0 if not report.upload_failures else 1


def _lint(args: argparse.Namespace) -> int:
    path = _folder(args.dir, "folder")
    try:
        findings = lint.lint_path(path)
    except OSError as err:
        raise ConfigError(f"cannot read {err.filename}: {err.strerror}", "fix its permissions") from err
    for finding in findings:
        print(finding)
    if findings:
        print(
            f"fedtest: error: lint found {len(findings)} problem(s) in {path}: {findings[0]}", file=sys.stderr
        )
        return 1
    print(f"{path}: ok")
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
        verbs = {"publish": _publish, "abort": _abort, "lint": _lint}
        return verbs[args.verb](args)
    except UploadError as err:
        print(f"fedtest: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("fedtest: error: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # a bug must still be one line, never a traceback
        first = (str(err).splitlines() or [""])[0][:300]
        print(f"fedtest: error: unexpected {type(err).__name__}: {first}", file=sys.stderr)
        return 3
