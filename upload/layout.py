"""The test-history layout, as pure code: object paths, build ids and the started/finished documents.

No I/O here. Readers (TestGrid's Go decoder, Deck, Kettle) are strict about JSON types: a string or float
timestamp turns a whole column into a tool error, so documents are built and checked here, once, for the
writer and for the linter alike (spec §2, §3, §10).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from upload import names
from upload.errors import ConfigError

RESULTS = ("SUCCESS", "FAILURE", "ABORTED")
JOB_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
BUILD_ID_RE = re.compile(r"^[1-9][0-9]*$")
# JSON readers (JavaScript, Go's float64 paths) hold integers exactly only up to 2^53-1; a larger id
# would sort wrong or collide, and once in latest-build.txt it would refuse every normal id after it.
MAX_BUILD_ID = 2**53 - 1
# A start further ahead than this is a wrong clock or a wrong --started, never a real run.
MAX_START_AHEAD_SECONDS = 86400
JUNIT_NAME_RE = re.compile(r"^junit.*\.xml$")
# Deeper JUnit nesting is a finding (real suites nest a handful of levels); readers recursing on it crash.
MAX_JUNIT_DEPTH = 100

STARTED = "started.json"
FINISHED = "finished.json"
BUILD_LOG = "build-log.txt"
ARTIFACTS = "artifacts"
LATEST_BUILD = "latest-build.txt"
RESET_COMMAND = "fedtest reset-latest --results <results> --job <job>"


def check_job_name(job: str) -> str:
    """Job names become one path segment that TestGrid, Deck and Kettle take as the job's name."""
    if not JOB_NAME_RE.fullmatch(job or ""):  # match() would let a trailing newline through ($)
        raise ConfigError(
            f"bad job name {job!r}",
            "use letters, digits, '.', '_' or '-' (no '/' or spaces), starting with a letter or digit",
        )
    if job in {".", ".."} or ".." in job:
        raise ConfigError(f"bad job name {job!r}", "a job name may not contain '..'")
    return job


def check_build_id(build: str) -> str:
    """Deck lists only build directories that parse as an integer; readers hold ids up to 2^53-1 exactly."""
    text = str(build).strip()
    if not BUILD_ID_RE.fullmatch(text):
        raise ConfigError(
            f"build id {build!r} is not a positive integer",
            "pass --build-id with digits only (e.g. the Jenkins BUILD_NUMBER or Unix start seconds)",
        )
    if len(text) > 16 or int(text) > MAX_BUILD_ID:
        raise ConfigError(
            f"build id {text} is above 2^53-1 ({MAX_BUILD_ID}), the largest integer JSON readers hold exactly",
            "pass a smaller --build-id (e.g. the Jenkins BUILD_NUMBER or Unix start seconds)",
        )
    return text


def check_start_time(timestamp: int, now: float | None = None) -> int:
    """A start more than a day ahead would make its id (Unix seconds) outrank every real run's."""
    now = time.time() if now is None else now
    if timestamp > now + MAX_START_AHEAD_SECONDS:
        raise ConfigError(
            f"start time {timestamp} is more than a day in the future (now {int(now)})",
            "pass --started as Unix seconds of the real start, or leave it out",
        )
    return timestamp


def choose_build_id(explicit: str | None, env: Mapping[str, str], start_seconds: int) -> str:
    """--build-id wins (an empty one is refused); else Jenkins BUILD_NUMBER; else the start's Unix seconds."""
    if explicit is not None:
        return check_build_id(explicit)
    if env.get("BUILD_NUMBER"):
        try:
            return check_build_id(env["BUILD_NUMBER"])
        except ConfigError as err:
            raise ConfigError(
                f"BUILD_NUMBER={env['BUILD_NUMBER']!r} is not a positive integer",
                "unset it or pass --build-id",
            ) from err
    return check_build_id(str(check_start_time(int(start_seconds))))


def check_newer_than_latest(build: str, latest: str | None, recovery_hint: str | None = None) -> None:
    """TestGrid only picks up builds that sort after the newest it has seen: ids must increase."""
    if latest is None or not latest.strip():
        return
    latest = latest.strip()
    if not latest.isdigit():
        return  # a foreign latest-build.txt we cannot compare with; the write-once claim still guards us
    if int(build) <= int(latest):
        above = f"use a build id above {latest}, or " if int(latest) < MAX_BUILD_ID else ""
        raise ConfigError(
            f"build id {build} is not greater than the job's latest build {latest} "
            "(TestGrid never shows a build whose id sorts before the latest)",
            f"{above}if latest-build.txt is wrong, run `{recovery_hint or RESET_COMMAND}`",
        )


@dataclass(frozen=True)
class BuildLocation:
    """Where one build lives: `<job_prefix>/<build>/...` under a bucket or a folder.

    `job_prefix` is the job's directory inside the bucket, normally `logs/<job>`.
    """

    job_prefix: str
    build: str

    def __post_init__(self) -> None:
        check_job_name(self.job)
        check_build_id(self.build)

    @classmethod
    def for_job(cls, job: str, build: str, root: str = "logs") -> BuildLocation:
        check_job_name(job)
        return cls(f"{root.strip('/')}/{job}" if root.strip("/") else job, build)

    @property
    def job(self) -> str:
        return self.job_prefix.rstrip("/").rsplit("/", 1)[-1]

    @property
    def build_prefix(self) -> str:
        return f"{self.job_prefix}/{self.build}"

    @property
    def started(self) -> str:
        return f"{self.build_prefix}/{STARTED}"

    @property
    def finished(self) -> str:
        return f"{self.build_prefix}/{FINISHED}"

    @property
    def build_log(self) -> str:
        return f"{self.build_prefix}/{BUILD_LOG}"

    @property
    def latest_build(self) -> str:
        return f"{self.job_prefix}/{LATEST_BUILD}"

    def artifact(self, relative: str) -> str:
        """The object name of an artifact: `relative` joins its folders with '/' and follows upload.names
        (lint.plan_artifacts refuses other names with a finding first, so this never raises in a run)."""
        name, problem = names.artifact_name(relative.split("/"), reserved=())
        if name is None:
            raise ConfigError(f"bad artifact path {names.printable(relative)} ({problem})", "rename the file")
        return f"{self.build_prefix}/{ARTIFACTS}/{name}"


def content_type(name: str) -> str:
    """Content types readers expect: JSON, plain text for logs, XML for JUnit."""
    lower = name.lower()
    if lower.endswith(".json"):
        return "application/json"
    if lower.endswith((".txt", ".log")):
        return "text/plain"
    if lower.endswith(".xml"):
        return "application/xml"
    if lower.endswith((".yaml", ".yml")):
        return "text/plain"
    if lower.endswith(".html"):
        return "text/html"
    return "application/octet-stream"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _string_map_problems(name: str, value: Any) -> list[str]:
    if not isinstance(value, dict):
        return [f"{name} must be an object, not {type(value).__name__}"]
    return [
        f"{name}[{k!r}] must be a string, not {type(v).__name__}"
        for k, v in value.items()
        if not isinstance(v, str)
    ]


def started_problems(doc: Any) -> list[str]:
    """Type errors in a started.json document (spec §2); an empty list means readers accept it."""
    if not isinstance(doc, dict):
        return [f"started.json must be a JSON object, not {type(doc).__name__}"]
    problems = []
    ts = doc.get("timestamp")
    if not _is_int(ts) or ts <= 0:
        problems.append(f"started.json timestamp must be a positive integer (Unix seconds), not {ts!r}")
    for key in ("node", "pull", "repo-commit", "repo-version", "job-version"):
        if key in doc and not isinstance(doc[key], str):
            problems.append(f"started.json {key} must be a string, not {type(doc[key]).__name__}")
    if "repos" in doc:
        problems += [f"started.json {p}" for p in _string_map_problems("repos", doc["repos"])]
    if "metadata" in doc and not isinstance(doc["metadata"], dict):
        problems.append("started.json metadata must be an object")
    return problems


def finished_problems(doc: Any, started_timestamp: int | None = None) -> list[str]:
    """Type errors in a finished.json document (spec §3); both `passed` and `result` are required."""
    if not isinstance(doc, dict):
        return [f"finished.json must be a JSON object, not {type(doc).__name__}"]
    problems = []
    ts = doc.get("timestamp")
    if not _is_int(ts) or ts <= 0:
        problems.append(f"finished.json timestamp must be a positive integer (Unix seconds), not {ts!r}")
    elif started_timestamp is not None and ts < started_timestamp:
        problems.append(f"finished.json timestamp {ts} is before started.json timestamp {started_timestamp}")
    passed, result = doc.get("passed"), doc.get("result")
    if not isinstance(passed, bool):
        problems.append(f"finished.json passed must be a boolean, not {passed!r}")
    if result not in RESULTS:
        problems.append(f"finished.json result must be one of {', '.join(RESULTS)}, not {result!r}")
    if isinstance(passed, bool) and result in RESULTS and passed != (result == "SUCCESS"):
        problems.append(f"finished.json passed={passed} contradicts result={result}")
    metadata = doc.get("metadata", {})
    if not isinstance(metadata, dict):
        problems.append("finished.json metadata must be an object")
    else:
        problems += [
            f"finished.json metadata[{k!r}] must be a string, object or list, not {type(v).__name__}"
            for k, v in metadata.items()
            if not isinstance(v, (str, dict, list))
        ]
    for key in ("revision", "job-version"):
        if key in doc and not isinstance(doc[key], str):
            problems.append(f"finished.json {key} must be a string")
    return problems + testgrid_crash_problems(doc)


# finished.json metadata keys TestGrid's metadata/job.go Version dereferences as strings.
VERSION_METADATA = ("revision", "repo-commit", "job-version")


def testgrid_crash_problems(finished: Any) -> list[str]:
    """What stops TestGrid's updater for every test group: a non-string version key in finished.json metadata
    (metadata/job.go Version dereferences a nil string; the updater has no recover)."""
    metadata = finished.get("metadata") if isinstance(finished, dict) else None
    if not isinstance(metadata, dict):
        return []
    return [
        f"finished.json metadata[{key!r}] is {type(metadata[key]).__name__}, not a string: TestGrid's updater "
        "crashes on it and stops updating every test group; write it as a string"
        for key in VERSION_METADATA
        if key in metadata and not isinstance(metadata[key], str)
    ]


def build_id_listing_problem(build: str, existing: list[str]) -> tuple[str, str] | None:
    """(problem, fix) for a build id TestGrid would hide, or that would hide later builds, given the job's ids.

    TestGrid keeps its grid and lists only builds whose id sorts after the newest id it holds (updater.go
    hintStarted -> ListBuilds): an id below an existing one is never read, and one far above the job's
    sequence (seconds since 1970 among Jenkins numbers) hides every later build numbered as before.
    """
    ids = [int(b) for b in existing if b.isdigit() and b != build]
    if not ids or not build.isdigit():
        return None
    newest, new = max(ids), int(build)
    fix = f"pass --build-id {newest + 1} (or set BUILD_NUMBER to the job's next number)"
    if new < newest:
        return (f"build id {build} sorts before build {newest}, already in the job: TestGrid lists only builds "
                f"after the newest it holds and would never show it"), fix
    if new > max(1000 * newest, newest + 1_000_000):
        return (f"build id {build} is far beyond the job's ids (newest {newest}): TestGrid would then list only "
                f"builds after {build} and hide every later build numbered like the job's"), fix
    return None


def started_document(
    timestamp: int,
    *,
    node: str | None = None,
    repos: Mapping[str, str] | None = None,
    repo_commit: str | None = None,
) -> dict[str, Any]:
    """started.json: `{"timestamp": int}` plus the optional node, repos (str->str) and repo-commit."""
    doc: dict[str, Any] = {"timestamp": timestamp}
    if _is_int(timestamp):
        check_start_time(timestamp)
    if node:
        doc["node"] = node
    if repos:
        doc["repos"] = dict(repos)
    if repo_commit:
        doc["repo-commit"] = repo_commit
    problems = started_problems(doc)
    if problems:
        raise ConfigError(problems[0], "pass integers for timestamps and strings for the other fields")
    return doc


def finished_document(
    timestamp: int, result: str, metadata: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """finished.json with both `passed` (bool) and `result`, and string metadata values."""
    if result not in RESULTS:
        raise ConfigError(f"result {result!r} is not one of {', '.join(RESULTS)}", "pass one of those")
    meta = dict(metadata or {})
    bad = [k for k, v in meta.items() if not isinstance(k, str) or not isinstance(v, str)]
    if bad:
        raise ConfigError(f"finished.json metadata {bad[0]!r} is not a string", "convert values with str()")
    doc: dict[str, Any] = {"timestamp": timestamp, "passed": result == "SUCCESS", "result": result}
    if meta:
        doc["metadata"] = meta
    problems = finished_problems(doc)
    if problems:
        raise ConfigError(problems[0], "pass an integer timestamp")
    return doc
