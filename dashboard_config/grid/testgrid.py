"""TestGrid's rules for one test's cell, from JUnit to the cell, as pure functions (no I/O).

Each rule names its source in GoogleCloudPlatform/testgrid (3136f937):
- metadata/junit/junit.go: ParseStream (root <testsuites> or <testsuite>, UTF-8 only, an empty file is
  no results, numeric attributes decoded as Go numbers or the file is malformed), Result.Message (error,
  failure, skipped, system-err, system-out; cut at 140 bytes, "invalid utf8: " when the cut splits a
  character), properties.
- pkg/updater/read.go: convertResult (one cell per case, skips without a message dropped, every numeric
  property and the duration are metrics, short_text_metric), flattenResults and dotName (nested suites).
- pkg/updater/updater.go: MergeCells ("k/N runs passed", FLAKY, metrics averaged), SplitCells
  (`name [1]` when disable_merged_status), appendCell (every message cut at 140 bytes once more).
- util/gcs/read.go: which objects are JUnit (junit*.xml or test.xml anywhere under the build).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from dashboard_config.grid import golang

PASS = "PASS"
PASS_WITH_SKIPS = "PASS_WITH_SKIPS"
FLAKY = "FLAKY"
FAIL = "FAIL"
RUNNING = "RUNNING"
TOOL_FAIL = "TOOL_FAIL"
UNKNOWN = "UNKNOWN"
STATUSES = (UNKNOWN, PASS, PASS_WITH_SKIPS, RUNNING, FLAKY, TOOL_FAIL, FAIL)  # least to most severe
PASSING = {PASS, PASS_WITH_SKIPS}
FAILING = {FAIL, TOOL_FAIL}

OVERALL = "Overall"  # the row of a column TestGrid could not read (read.go overallRow)
MESSAGE_MAX = 140
DURATION_METRIC = "test-duration-minutes"  # read.go elapsedKey
JUNIT_PATH = re.compile(r"(^|/)(junit.*|test)\.xml$")
XML_ENCODING = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([^\"']*)[\"']")
SUITE_INTS = ("tests", "failures", "errors", "skipped")  # junit.go Suite's int fields


@dataclass(frozen=True)
class Cell:
    """One (row, build) square: status, the short text drawn in it, the hover message, the metrics.

    `message` may hold undecodable bytes (surrogateescape) until the grid cuts it for display.
    """

    status: str
    icon: str = ""
    message: str = ""
    metrics: dict[str, float] = field(default_factory=dict, hash=False, compare=True)

    @property
    def seconds(self) -> float | None:
        minutes = self.metrics.get(DURATION_METRIC)
        return None if minutes is None else minutes * 60


@dataclass
class Column:
    """One build: its id, start in milliseconds (TestGrid's unit), column-header values, cells by row name."""

    build: str
    started: float
    extra: list[str]
    cells: dict[str, Cell] = field(default_factory=dict)
    hint: str = ""


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
    properties: tuple[tuple[str, str], ...] = ()


class JunitError(ValueError):
    """A JUnit file TestGrid cannot parse: the build's Overall cell says "Malformed artifacts"."""


def is_junit(path: str) -> bool:
    """util/gcs/read.go: objects named junit*.xml or test.xml, anywhere under the build, hold test results."""
    return bool(JUNIT_PATH.search(path))


def _local(tag: object) -> str:
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


def _properties(case: ET.Element) -> tuple[tuple[str, str], ...]:
    return tuple(
        (prop.get("name", ""), prop.get("value", ""))
        for child in case
        if _local(child.tag) == "properties"
        for prop in child
        if _local(prop.tag) == "property"
    )


def _number(element: ET.Element, name: str, parse) -> float:
    value = parse(element.get(name))
    if value is None:
        raise JunitError(f"cannot parse {name}={element.get(name)!r} on <{_local(element.tag)}> as a Go number")
    return value


def _case(element: ET.Element, name: str) -> JunitCase:
    return JunitCase(
        name=name,
        seconds=_number(element, "time", golang.xml_float),
        failure=_outcome(element, "failure"),
        error=_outcome(element, "error"),
        skipped=_outcome(element, "skipped"),
        system_out=_text(element, "system-out"),
        system_err=_text(element, "system-err"),
        properties=_properties(element),
    )


def dot_name(left: str, right: str) -> str:
    """pkg/updater/read.go dotName: left.right, or whichever is not empty."""
    if left and right:
        return f"{left}.{right}"
    return right or left


def _flatten(root: ET.Element, name: str) -> list[JunitCase]:
    """read.go flattenResults: nested suites first (depth first), then the suite's own cases.

    Iterative, so a file nested thousands deep (Go reads it) does not exhaust Python's stack.
    """
    out: list[JunitCase] = []
    stack: list[tuple[ET.Element, str, bool]] = [(root, name, False)]
    while stack:
        suite, prefix, expanded = stack.pop()
        if expanded:
            out.extend(_case(c, dot_name(prefix, c.get("name", ""))) for c in suite if _local(c.tag) == "testcase")
            continue
        for attribute in SUITE_INTS:
            _number(suite, attribute, golang.xml_int)
        _number(suite, "time", golang.xml_float)
        stack.append((suite, prefix, True))
        children = [c for c in suite if _local(c.tag) == "testsuite"]
        stack.extend((c, dot_name(prefix, c.get("name", "")), False) for c in reversed(children))
    return out


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
        cases.extend(_flatten(suite, suite.get("name", "")))
    return cases


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _text_of(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def truncate(message: str, limit: int = MESSAGE_MAX) -> str:
    """metadata/junit/junit.go truncate: at `limit` bytes or more, keep both ends, elide the middle."""
    return _text_of(golang.cut(_bytes(message), limit))


def case_message(case: JunitCase) -> str:
    """junit.go Result.Message: first non-empty error, failure, skipped, stderr, stdout; 140 bytes."""
    text = ""
    for outcome in (case.error, case.failure, case.skipped):
        if outcome is not None and outcome.composed:
            text = outcome.composed
            break
    else:
        text = case.system_err or case.system_out
    cut = golang.cut(_bytes(text), MESSAGE_MAX)
    if golang.valid_utf8(cut):
        return _text_of(cut)
    return "invalid utf8: " + golang.to_valid_utf8(cut, "?")


def case_metrics(case: JunitCase) -> dict[str, float]:
    """read.go convertResult: the duration in minutes (when positive) and every numeric property."""
    metrics: dict[str, float] = {}
    if case.seconds > 0:
        metrics[DURATION_METRIC] = case.seconds / 60
    for name, value in case.properties:
        number = golang.parse_float(golang.go_trim(value)) if value else None
        if number is not None:
            metrics[name] = number
    return metrics


def case_cell(case: JunitCase, metric_key: str = "") -> Cell | None:
    """read.go convertResult: one cell per case; a skip without message or text has no cell."""
    skip = case.skipped
    if skip is not None and not skip.text and skip.message in ("", "skipped"):
        return None
    message = case_message(case)
    metrics = case_metrics(case)
    if case.error is not None or case.failure is not None:
        status, icon = FAIL, "F" if message else ""
    elif skip is not None:
        status, icon = PASS_WITH_SKIPS, "S"
    else:
        status, icon = PASS, ""
    if metric_key and metric_key in metrics:
        icon = golang.format_g4(metrics[metric_key])
    return Cell(status, icon, message, metrics)


def at_least(status: str, other: str) -> bool:
    return STATUSES.index(status) >= STATUSES.index(other)


def _mean_metrics(cells: list[Cell]) -> dict[str, float]:
    values: dict[str, list[float]] = {}
    for cell in cells:
        for name, value in cell.metrics.items():
            values.setdefault(name, []).append(value)
    return {name: sum(found) / len(found) for name, found in values.items()}


def merge_cells(cells: list[Cell]) -> Cell:
    """updater.go MergeCells: one cell for a name seen several times in a build."""
    first = cells[0]
    if len(cells) == 1:
        return first
    passed = failed = 0
    pass_message = fail_message = ""
    current = pass_level = fail_level = first.status
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
        _mean_metrics(cells),
    )


def split_cells(name: str, cells: list[Cell]) -> dict[str, Cell]:
    """updater.go SplitCells: `name`, `name [1]`, `name [2]`, ... (disable_merged_status)."""
    return {name if index == 0 else f"{name} [{index}]": cell for index, cell in enumerate(cells)}


def shown_message(message: str) -> str:
    """updater.go appendCell: the message cut at 140 bytes once more, as the grid's JSON carries it."""
    return golang.json_string(golang.cut(_bytes(message), MESSAGE_MAX, longer_only=True))
