"""TestGrid's rules for test cells and the Overall cell, as pure functions (no I/O).

Each rule names its source in GoogleCloudPlatform/testgrid:
- pkg/updater/gcs.go: convertResult (one cell per case, dropped skips), overallCell (the Overall
  row), MergeCells ("k/N runs passed", FLAKY), flattenResults and dotName (nested suite names).
- metadata/junit/junit.go: ParseStream (root <testsuites> or <testsuite>, UTF-8 only, an empty file
  is no results) and Result.Message (error, failure, skipped, system-err, system-out; 140 chars).
- util/gcs/read.go: which objects are JUnit (file names junit*.xml anywhere under the build).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

PASS = "PASS"
PASS_WITH_SKIPS = "PASS_WITH_SKIPS"
FLAKY = "FLAKY"
FAIL = "FAIL"
RUNNING = "RUNNING"
TOOL_FAIL = "TOOL_FAIL"
STATUSES = (PASS, PASS_WITH_SKIPS, RUNNING, FLAKY, TOOL_FAIL, FAIL)  # least to most severe
PASSING = {PASS, PASS_WITH_SKIPS}
FAILING = {FAIL, TOOL_FAIL}

OVERALL = "Overall"
MESSAGE_MAX = 140
RUNNING_LIMIT_SECONDS = 24 * 3600
JUNIT_NAME = re.compile(r"^junit.*\.xml$")
XML_ENCODING = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([^\"']*)[\"']")


@dataclass(frozen=True)
class Cell:
    """One (test, build) square: status, the short text drawn in it, the hover message, the duration."""

    status: str
    icon: str = ""
    message: str = ""
    seconds: float | None = None


@dataclass
class Column:
    """One build: its id, start (Unix seconds), column-header values and cells by row name."""

    build: str
    started: float
    extra: list[str]
    cells: dict[str, Cell] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    """<failure>, <error> or <skipped>: the message attribute and the element's text."""

    message: str
    text: str

    @property
    def composed(self) -> str:
        return "\n".join(part for part in (self.message, self.text) if part)


@dataclass(frozen=True)
class JunitCase:
    name: str
    seconds: float = 0.0
    failure: Outcome | None = None
    error: Outcome | None = None
    skipped: Outcome | None = None
    system_out: str = ""
    system_err: str = ""


class JunitError(ValueError):
    """A JUnit file TestGrid cannot parse: the build's Overall cell says "Malformed artifacts"."""


def is_junit(path: str) -> bool:
    """util/gcs/read.go: only objects whose file name is junit*.xml hold test results."""
    return bool(JUNIT_NAME.match(path.rsplit("/", 1)[-1]))


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _first_root(data: bytes) -> ET.Element | None:
    """The first top-level element, as Go's xml.Decoder.Decode reads it: trailing content is ignored."""
    parser = ET.XMLPullParser(events=("start", "end"))
    try:
        parser.feed(data)
        parser.close()
    except ET.ParseError:
        pass  # parse errors are also queued in order with the events below
    root = None
    depth = 0
    try:
        for event, element in parser.read_events():
            if event == "start":
                root = root if root is not None else element
                depth += 1
            else:
                depth -= 1
                if depth == 0:
                    return root
    except ET.ParseError as error:
        if root is None and b"<" not in data:
            return None  # text without any element: io.EOF, zero results
        raise JunitError(str(error)) from error
    if root is None:
        return None
    raise JunitError("unexpected end of file")


def _outcome(case: ET.Element, tag: str) -> Outcome | None:
    for child in case:
        if _local(child.tag) == tag:
            return Outcome(child.get("message", ""), child.text or "")
    return None


def _text(case: ET.Element, tag: str) -> str:
    for child in case:
        if _local(child.tag) == tag:
            return child.text or ""
    return ""


def _seconds(value: str | None) -> float:
    try:
        return float(value or 0)
    except ValueError:
        return 0.0


def dot_name(left: str, right: str) -> str:
    """pkg/updater/gcs.go dotName: left.right, or whichever is not empty."""
    if left and right:
        return f"{left}.{right}"
    return right or left


def _flatten(suite: ET.Element, name: str, out: list[JunitCase]) -> None:
    """pkg/updater/gcs.go flattenResults: nested suites first (depth first), then the suite's cases."""
    for child in suite:
        if _local(child.tag) == "testsuite":
            _flatten(child, dot_name(name, child.get("name", "")), out)
    for child in suite:
        if _local(child.tag) == "testcase":
            out.append(
                JunitCase(
                    name=dot_name(name, child.get("name", "")),
                    seconds=_seconds(child.get("time")),
                    failure=_outcome(child, "failure"),
                    error=_outcome(child, "error"),
                    skipped=_outcome(child, "skipped"),
                    system_out=_text(child, "system-out"),
                    system_err=_text(child, "system-err"),
                )
            )


def parse_junit(data: bytes) -> list[JunitCase]:
    """metadata/junit/junit.go ParseStream: <testsuites> or one <testsuite>; empty means no results."""
    if not data.strip():
        return []
    declared = XML_ENCODING.match(data)
    if declared and declared.group(1).decode("ascii", "replace").lower() not in ("utf-8", "utf8", ""):
        raise JunitError(f"unknown charset: {declared.group(1).decode('ascii', 'replace')}")
    root = _first_root(data)
    if root is None:
        return []
    tag = _local(root.tag)
    if tag == "testsuites":
        suites = [child for child in root if _local(child.tag) == "testsuite"]
    elif tag == "testsuite":
        suites = [root]
    else:
        raise JunitError(f"bad element name: {tag!r}")
    cases: list[JunitCase] = []
    for suite in suites:
        _flatten(suite, suite.get("name", ""), cases)
    return cases


def truncate(message: str, limit: int = MESSAGE_MAX) -> str:
    """metadata/junit/junit.go truncate: keep both ends, elide the middle."""
    if limit <= 0 or len(message) < limit:
        return message
    half = limit // 2
    return f"{message[:half]}...{message[-half:]}"


def case_message(case: JunitCase) -> str:
    """metadata/junit/junit.go Result.Message: first non-empty error, failure, skipped, stderr, stdout."""
    for outcome in (case.error, case.failure, case.skipped):
        if outcome is not None and outcome.composed:
            return truncate(outcome.composed)
    return truncate(case.system_err or case.system_out)


def case_cell(case: JunitCase) -> Cell | None:
    """pkg/updater/gcs.go convertResult: one cell per case; a skip without message or text has no cell."""
    skip = case.skipped
    if skip is not None and not skip.text and skip.message in ("", "skipped"):
        return None
    message = case_message(case)
    seconds = case.seconds if case.seconds > 0 else None
    if case.error is not None or case.failure is not None:
        return Cell(FAIL, "F" if message else "", message, seconds)
    if skip is not None:
        return Cell(PASS_WITH_SKIPS, "S", message, seconds)
    return Cell(PASS, "", message, seconds)


def at_least(status: str, other: str) -> bool:
    return STATUSES.index(status) >= STATUSES.index(other)


def merge_cells(cells: list[Cell]) -> Cell:
    """pkg/updater/gcs.go MergeCells(flaky=true): one cell for a name seen several times in a build."""
    first = cells[0]
    if len(cells) == 1:
        return first
    passed = failed = 0
    pass_message = fail_message = ""
    current = pass_level = fail_level = first.status
    durations = [c.seconds for c in cells if c.seconds is not None]
    for cell in cells:
        if at_least(cell.status, current):
            current = cell.status
        if cell.status in PASSING:
            passed += 1
            if cell.message and at_least(cell.status, pass_level):
                pass_message, pass_level = cell.message, cell.status
        elif cell.status in FAILING:
            failed += 1
            if cell.message and at_least(cell.status, fail_level):
                fail_message, fail_level = cell.message, cell.status
    icon = f"{passed}/{len(cells)}"
    detail = fail_message or pass_message
    return Cell(
        FLAKY if passed and failed else current,
        icon,
        f"{icon} runs passed" + (f": {detail}" if detail else ""),
        sum(durations) / len(durations) if durations else None,
    )


def overall_cell(started: int, finished: dict[str, Any], malformed: list[str], now: float) -> Cell:
    """pkg/updater/gcs.go overallCell: malformed artifacts, then finished.json, then the 24 h limit."""
    ended = finished.get("timestamp") or 0
    if malformed:
        return Cell(FAIL, "E", f"Malformed artifacts: {', '.join(sorted(malformed))}")
    if ended > 0:
        icon = message = ""
        passed = finished.get("passed")
        if passed is None:
            result = finished.get("result") or ""
            passed = result == "SUCCESS"
            if result:
                icon, message = "E", f'finished.json missing "passed": {str(passed).lower()}'
        return Cell(PASS if passed else FAIL, icon, message, float(ended - started))
    if now - RUNNING_LIMIT_SECONDS > started:
        return Cell(FAIL, "T", "Build did not complete within 24 hours")
    return Cell(RUNNING, "R", "Build still running...")
