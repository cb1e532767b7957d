"""TestGrid's rules for one build's column, as pure functions (no I/O): documents, headers, the column.

Sources in GoogleCloudPlatform/testgrid:
- pkg/updater/read.go: readResult (a zero-byte started/finished.json or an unparsable JUnit file is
  "malformed"; JSON that does not decode fails the whole column: readColumns/erroredColumn,
  "Failed to download"; builds started before the days_of_results window are dropped).
- pkg/updater/gcs.go: convertResult (cells merged by name, "Build failed outside of test results",
  column headers from finished.json metadata, "missing" unless running).
- metadata/job.go: Started, Finished (Go field types) and Version (the Commit header's fallback).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from dashboard_config.grid.testgrid import (
    FAIL,
    OVERALL,
    RUNNING,
    TOOL_FAIL,
    Cell,
    Column,
    JunitError,
    case_cell,
    merge_cells,
    overall_cell,
    parse_junit,
)

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
    """metadata/job.go Version: the first version field set; the part after '+', 9 characters."""
    meta = string_metadata(finished)
    for value in (
        finished.get("job-version"),
        started.get("job-version"),
        started.get("repo-version"),
        finished.get("repo-version"),
        meta.get("revision"),
        meta.get("repo-commit"),
        meta.get("job-version"),
        started.get("repo-commit"),
    ):
        if isinstance(value, str) and value:
            return value.split("+", 1)[-1][:9]
    return "missing"


def header_values(headers: list[str], started: dict[str, Any], finished: dict[str, Any], overall: Cell) -> list[str]:
    """pkg/updater/gcs.go convertResult: finished.json metadata[h]; "missing" unless still running."""
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


def errored_column(build: str, when: float, extra: list[str], message: str) -> Column:
    """pkg/updater/read.go erroredColumn: a column with only a TOOL_FAIL Overall cell."""
    return Column(build, when, extra, {OVERALL: Cell(TOOL_FAIL, "", message)})


def convert_build(files: BuildFiles, headers: list[str], now: float, oldest: float) -> Column | None:
    """pkg/updater/read.go readResult + gcs.go convertResult: the build's column, None when too old.

    Raises ValueError when started.json or finished.json does not decode (a "Failed to download" column).
    """
    malformed = [
        name
        for name, data in (("started.json", files.started), ("finished.json", files.finished))
        if data is not None and not data
    ]
    started = decode_document("started", files.started or None, STARTED_TYPES)
    finished = decode_document("finished", files.finished or None, FINISHED_TYPES)
    start = started.get("timestamp") or 0
    if start < oldest and "started.json" not in malformed:
        return None
    rows: dict[str, list[Cell]] = {}
    for path, data in sorted(files.junit):
        try:
            cases = parse_junit(data)
        except JunitError as error:
            malformed.append(f"{path}: {error}")
            continue
        for case in cases:
            cell = case_cell(case)
            if cell is not None:
                rows.setdefault(case.name, []).append(cell)
    overall = overall_cell(start, finished, malformed, now)
    failed_tests = any(c.status == FAIL for cells in rows.values() for c in cells)
    if overall.status == FAIL and not overall.message and not failed_tests:
        overall = Cell(FAIL, "F", "Build failed outside of test results", overall.seconds)
    rows[OVERALL] = [overall, *rows.get(OVERALL, [])]
    cells = {name: merge_cells(found) for name, found in rows.items()}
    return Column(files.build, float(start), header_values(headers, started, finished, overall), cells)
