"""TestGrid's rules for one build's column, as pure functions (no I/O): documents, headers, rows, the column.

Sources in GoogleCloudPlatform/testgrid (3136f937):
- pkg/updater/read.go: readResult (a zero-byte started/finished/podinfo.json or an unparsable JUnit file
  is "malformed"; JSON that does not decode fails the column: erroredColumn, "Failed to download"; no
  start timestamp: noStartColumn, RUNNING "Start timestamp for this job is 0."; a start before the
  days_of_results window: ancientColumn, UNKNOWN "build too old"), convertResult (rows
  `<job>.Overall`, `<job>.Pod` unless disable_prowjob_analysis, cells merged by name unless
  disable_merged_status, test_name_config, "Build failed outside of test results", column headers from
  finished.json metadata, "missing" unless running), overallCell, makeNameConfig/render.
- metadata/job.go: Started, Finished (Go field types) and Version (the Commit header's fallback; a
  non-string revision/repo-commit/job-version there is a nil dereference that stops the updater).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from dashboard_config.grid.testgrid import (
    FAIL,
    OVERALL,
    PASS,
    PASS_WITH_SKIPS,
    RUNNING,
    TOOL_FAIL,
    UNKNOWN,
    Cell,
    Column,
    JunitError,
    case_cell,
    merge_cells,
    parse_junit,
    split_cells,
)

RUNNING_LIMIT_SECONDS = 24 * 3600
POD_GRACE_SECONDS = 3600  # a missing podinfo.json is RUNNING for an hour after the build finished
NO_START = "Start timestamp for this job is 0."
NO_PODINFO = "podinfo.json not found in job artifacts (has not uploaded, or Prow's GCS reporter is not enabled)."
VERSION_KEYS = ("revision", "repo-commit", "job-version")  # metadata/job.go Version's metadata fallbacks

# JSON fields TestGrid decodes with fixed Go types (metadata/job.go Started and Finished).
STARTED_TYPES: dict[str, tuple[type, ...]] = {
    "timestamp": (int,),
    "node": (str,),
    "pull": (str,),
    "repos": (dict,),
    "repo-version": (str,),
    "repo-commit": (str,),
    "job-version": (str,),
    "metadata": (dict,),
}
FINISHED_TYPES: dict[str, tuple[type, ...]] = {
    "timestamp": (int,),
    "passed": (bool,),
    "result": (str,),
    "metadata": (dict,),
    "revision": (str,),
    "job-version": (str,),
    "repo-version": (str,),
}


class TestGridCrash(Exception):
    """What TestGrid's updater cannot survive (a panic without recover): every test group stops updating."""


class NotRead(Exception):
    """A build TestGrid shows as a one-cell column in the `Overall` row (read.go readColumns)."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def decode_document(name: str, data: bytes | None, types: dict[str, tuple[type, ...]]) -> dict[str, Any]:
    """started.json / finished.json as Go decodes them: absent is empty; a wrong type is an error.

    Raises ValueError (the column becomes "Failed to download"); a zero-byte file is the caller's
    "malformed" case (pkg/updater/read.go, io.EOF).
    """
    if data is None:
        return {}
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise ValueError(f"{name}: {error}") from error
    if not isinstance(doc, dict):
        raise ValueError(f"{name}: cannot unmarshal {type(doc).__name__} into an object")
    for key, allowed in types.items():
        value = doc.get(key)
        if value is None:
            continue
        if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
            raise ValueError(f"{name}: cannot unmarshal {type(value).__name__} into {key}")
    return doc


def string_metadata(finished: dict[str, Any]) -> dict[str, str]:
    """Only string values of finished.json metadata can be column headers (Metadata.Strings)."""
    meta = finished.get("metadata") or {}
    return {k: v for k, v in meta.items() if isinstance(v, str)}


def version(started: dict[str, Any], finished: dict[str, Any]) -> str:
    """metadata/job.go Version: the first version field set; the part after '+', 9 characters.

    Raises TestGridCrash where Go dereferences the nil of a metadata value that is not a string.
    """
    meta = finished.get("metadata") or {}
    for value in (
        finished.get("job-version"),
        started.get("job-version"),
        started.get("repo-version"),
        finished.get("repo-version"),
    ):
        if isinstance(value, str) and value:
            return value.split("+", 1)[-1][:9]
    for key in VERSION_KEYS:
        if key in meta and not isinstance(meta[key], str):
            raise TestGridCrash(
                f"finished.json metadata {key!r} is {type(meta[key]).__name__}, not a string "
                "(nil dereference in metadata/job.go Version)"
            )
        value = meta.get(key)
        if isinstance(value, str) and value:
            return value.split("+", 1)[-1][:9]
    value = started.get("repo-commit")
    if isinstance(value, str) and value:
        return value.split("+", 1)[-1][:9]
    return "missing"


def header_values(headers: list[str], started: dict[str, Any], finished: dict[str, Any], overall: Cell) -> list[str]:
    """read.go convertResult: finished.json metadata[h]; "missing" unless still running."""
    meta = string_metadata(finished)
    commit = version(started, finished)
    values = []
    for header in headers:
        value = meta.get(header)
        if value is None and header == "Commit" and commit != "missing":
            value = commit
        elif value is None:
            value = "" if overall.status == RUNNING else "missing"
        values.append(value)
    return values


@dataclass
class BuildFiles:
    """What one build holds, as read from the results tree (None: the object does not exist)."""

    build: str
    started: bytes | None = None
    finished: bytes | None = None
    junit: list[tuple[str, bytes]] = field(default_factory=list)
    podinfo: bytes | None = None


@dataclass(frozen=True)
class GroupRules:
    """The test group fields that change a column (read.go makeOptions, makeNameConfig)."""

    job: str
    headers: tuple[str, ...] = ()
    merge: bool = True
    analyze_prowjob: bool = True
    metric_key: str = ""
    name_format: str = ""
    name_elements: tuple[str, ...] = ()

    @classmethod
    def of(cls, job: str, group: dict[str, Any]) -> GroupRules:
        naming = group.get("test_name_config") or {}
        elements = tuple(
            str(e.get("target_config") or e.get("test_property") or "")
            for e in naming.get("name_elements") or []
            if isinstance(e, dict)
        )
        return cls(
            job=job,
            headers=tuple(str(h.get("configuration_value")) for h in group.get("column_header") or []
                          if isinstance(h, dict)),
            merge=not group.get("disable_merged_status"),
            analyze_prowjob=not group.get("disable_prowjob_analysis"),
            metric_key=str(group.get("short_text_metric") or ""),
            name_format=str(naming.get("name_format") or "") if naming else "",
            name_elements=elements,
        )  # fmt: skip

    def row_name(self, test: str, properties: dict[str, str], meta: dict[str, str]) -> str:
        """read.go nameConfig.render: name_format with Tests name, Job name or a property per element."""
        if not self.name_elements and not self.name_format:
            return test
        parts = []
        for element in self.name_elements:
            if element == "Tests name":
                parts.append(test)
            elif element == "Job name":
                parts.append(self.job)
            else:
                parts.append(properties.get(element, meta.get(element, "")))
        try:
            return self.name_format % tuple(parts)
        except (TypeError, ValueError):
            return self.name_format


def overall_cell(started: int, finished: dict[str, Any], malformed: list[str], now: float) -> Cell:
    """read.go overallCell: malformed artifacts, then finished.json, then the 24 h limit."""
    ended = finished.get("timestamp")
    if malformed:
        return Cell(FAIL, "E", f"Malformed artifacts: {', '.join(sorted(malformed))}")
    if ended is not None and ended > 0:
        icon = message = ""
        passed = finished.get("passed")
        if passed is None:
            result = finished.get("result") or ""
            passed = result == "SUCCESS"
            if result:
                icon, message = "E", f'finished.json missing "passed": {str(passed).lower()}'
        return Cell(PASS if passed else FAIL, icon, message, {"test-duration-minutes": (ended - started) / 60})
    if ended is not None or now - RUNNING_LIMIT_SECONDS > started:
        return Cell(FAIL, "T", "Build did not complete within 24 hours")
    return Cell(RUNNING, "R", "Build still running...")


def pod_cell(overall: Cell, waiting: bool, podinfo: bytes | None) -> Cell | None:
    """read.go convertResult's prowjob analysis (`<job>.Pod`) for a build without Prow's podinfo.json.

    `waiting`: podinfo.json may still come (an hour after finished.json's timestamp, even 0; without one,
    24 hours after the start).
    """
    if overall.status == RUNNING:
        return None
    if podinfo:
        return Cell(PASS)
    if waiting:
        return Cell(RUNNING, "!", NO_PODINFO)
    return Cell(PASS_WITH_SKIPS, "!", NO_PODINFO)


def convert_build(files: BuildFiles, rules: GroupRules, now: float, stop: float) -> Column:
    """read.go readResult + convertResult: the build's column (`started` in ms, as TestGrid keeps it).

    Raises ValueError when started.json or finished.json does not decode (a "Failed to download" column),
    NotRead for a build without a start or older than `stop`, TestGridCrash for what stops TestGrid.
    """
    malformed = [
        name
        for name, data in (
            ("started.json", files.started),
            ("finished.json", files.finished),
            ("podinfo.json", files.podinfo if rules.analyze_prowjob else None),
        )
        if data is not None and not data
    ]
    started = decode_document("started", files.started or None, STARTED_TYPES)
    finished = decode_document("finished", files.finished or None, FINISHED_TYPES)
    start = started.get("timestamp") or 0
    read_start = "started.json" not in malformed  # a zero-byte started.json is only "malformed"
    if not start and read_start:
        raise NotRead(RUNNING, NO_START)
    if start < stop and read_start:
        raise NotRead(UNKNOWN, f"build too old; started {start} before {int(stop)})")
    meta = string_metadata(finished)
    found: dict[str, list[Cell]] = {}
    for path, data in sorted(files.junit):
        try:
            cases = parse_junit(data)
        except (JunitError, RecursionError) as error:
            malformed.append(f"{path}: {error}")
            continue
        for case in cases:
            cell = case_cell(case, rules.metric_key)
            if cell is not None:
                name = rules.row_name(case.name, dict(case.properties), meta)
                found.setdefault(name, []).append(cell)
    overall = overall_cell(start, finished, malformed, now)
    failed_tests = any(c.status == FAIL for cells in found.values() for c in cells)
    if overall.status == FAIL and not overall.message and not failed_tests:
        overall = Cell(FAIL, "F", "Build failed outside of test results", overall.metrics)
    cells: dict[str, Cell] = {f"{rules.job}.{OVERALL}": overall}
    if rules.analyze_prowjob:
        if files.finished and finished.get("timestamp") is not None:
            waiting = now - finished["timestamp"] < POD_GRACE_SECONDS
        else:
            waiting = now - start < RUNNING_LIMIT_SECONDS
        pod = pod_cell(overall, waiting, files.podinfo)
        if pod is not None:
            cells[f"{rules.job}.Pod"] = pod
    for name, seen in found.items():
        if rules.merge:
            cells[name] = merge_cells(seen)
        else:
            cells.update(split_cells(name, seen))
    extra = header_values(list(rules.headers), started, finished, overall)
    return Column(files.build, float(start) * 1000, extra, cells, files.build)


def not_read_column(build: str, when: float, extra: list[str], status: str, message: str) -> Column:
    """read.go erroredColumn / noStartColumn / ancientColumn: one cell in the `Overall` row."""
    return Column(build, when, extra, {OVERALL: Cell(status, "", message)}, build)


def errored_column(build: str, when: float, extra: list[str], message: str) -> Column:
    return not_read_column(build, when, extra, TOOL_FAIL, message)
