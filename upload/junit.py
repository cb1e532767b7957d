"""The run's JUnit, shaped the way TestGrid renders it well (spec §4, §10).

One file (artifacts/junit_01.xml), a `<testsuites>` root with one named suite, unique case names
(TestGrid merges duplicates into one "n/N runs" cell), skips that always carry a message (a skip with an
empty message or "skipped" gets no row at all), `<error>` kept apart from `<failure>`, and per-case
`<properties>` (cluster, provider, durations...) that TestGrid reads as metrics and name elements.
The junit-xml library renders the suite; it has no per-case properties, so those are added to the
rendered tree with xml.etree. Written atomically, so a crash never leaves half a file.

Reading a JUnit for its verdict streams it through expat with element handlers only: no tree and no text
is kept, so a 200 MB file (or one 150 MB <system-out>) costs a few MB, and suites nested deeper than
MAX_DEPTH stop the parse with a problem (the finding lint reports) instead of a RecursionError.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.parsers import expat

from junit_xml import TestCase, TestSuite, to_xml_report_string

from upload import files, lint
from upload.errors import ConfigError
from upload.layout import MAX_JUNIT_DEPTH as MAX_DEPTH

OUTCOMES = ("passed", "failed", "error", "skipped")
JUNIT_FILE = "junit_01.xml"
READ_CHUNK = 1 << 18


@dataclass
class CaseResult:
    """One test case's result. `seconds` is wall time; `properties` values are strings."""

    name: str
    classname: str = ""
    seconds: float = 0.0
    outcome: str = "passed"
    message: str = ""
    details: str = ""
    stdout: str = ""
    properties: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ConfigError(
                f"test outcome {self.outcome!r} of {self.name!r} is unknown",
                f"use one of {', '.join(OUTCOMES)}",
            )


def unique_names(names: Iterable[str]) -> list[str]:
    """Keep names unique: a repeated name gets ` [2]`, ` [3]`... so TestGrid shows every case."""
    seen: dict[str, int] = {}
    taken = set()
    result = []
    for name in names:
        candidate = name
        while candidate in taken:
            seen[name] = seen.get(name, 1) + 1
            candidate = f"{name} [{seen[name]}]"
        taken.add(candidate)
        result.append(candidate)
    return result


def skip_message(message: str) -> str:
    """A skip whose message is empty or exactly "skipped" gets no TestGrid row; never write one."""
    text = (message or "").strip()
    if not text or text.lower() == "skipped":
        return "skipped (no reason given)"
    return text


def _junit_case(case: CaseResult, name: str) -> TestCase:
    tc = TestCase(
        name=name,
        classname=case.classname or None,
        elapsed_sec=max(case.seconds, 0.0),
        stdout=case.stdout or None,
    )
    if case.outcome == "failed":
        tc.add_failure_info(message=case.message or "failed", output=case.details or None)
    elif case.outcome == "error":
        tc.add_error_info(message=case.message or "error", output=case.details or None)
    elif case.outcome == "skipped":
        tc.add_skipped_info(message=skip_message(case.message), output=case.details or None)
    return tc


def render(suite_name: str, cases: Iterable[CaseResult], properties: Mapping[str, str] | None = None) -> bytes:
    """The JUnit document as UTF-8 bytes; `properties` are the suite's own (e.g. the run's phase timings)."""
    if not suite_name.strip():
        raise ConfigError(
            "the JUnit suite needs a name", "pass a suite name (it prefixes every TestGrid row)"
        )
    case_list = list(cases)
    # A test's attempts (reruns, an `attempt` property) keep one name: TestGrid merges them into one cell.
    unique = iter(unique_names(c.name for c in case_list if "attempt" not in c.properties))
    names = [c.name if "attempt" in c.properties else next(unique) for c in case_list]
    suite = TestSuite(suite_name, [_junit_case(c, n) for c, n in zip(case_list, names, strict=True)],
                      properties=dict(properties) if properties else None)
    root = ET.fromstring(to_xml_report_string([suite], prettyprint=False, encoding="utf-8"))
    elements = root.findall("./testsuite/testcase")
    for element, case in zip(elements, case_list, strict=True):
        if case.properties:
            props = ET.Element("properties")
            for key, value in case.properties.items():
                ET.SubElement(props, "property", name=str(key), value=str(value))
            element.insert(0, props)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def write_junit(path: Path, suite_name: str, cases: Iterable[CaseResult]) -> Path:
    """Write the suite to `path` (e.g. <artifacts>/junit_01.xml) atomically; returns the path."""
    return files.write_path(Path(path), render(suite_name, cases))


@dataclass
class JunitSummary:
    """What a JUnit file says for the verdict: how many cases, how many failed or errored, and why it
    could not be read to the end (then the verdict is FAILURE: an unreadable result is not a pass)."""

    cases: int = 0
    failed: int = 0
    problem: str | None = None

    @property
    def verdict(self) -> str:
        return "FAILURE" if self.failed or self.problem else "SUCCESS"


class _TooDeep(Exception):
    pass


def junit_summary(source: Path | files.Planned, max_depth: int = MAX_DEPTH) -> JunitSummary:
    """Count cases and failures of one JUnit file in bounded memory (streamed; only the names of rerun
    attempts are kept). A failed attempt (a case with an `attempt` property) whose test passed in another
    attempt is flaky, as TestGrid shows it ("1/2 runs passed"), not a failure. Depth is counted as lint
    counts it, along the chain of suites: markup inside a case (deep HTML in <system-out>) is not a suite
    and fails nothing, so the verdict and `fedtest lint` agree."""
    summary = JunitSummary()
    chain: list[bool] = []  # per open element: is it the root or a suite under the root's chain of suites
    case: dict[str, Any] = {}
    failed_attempts: set[str] = set()
    passed_attempts: set[str] = set()

    def start(tag: str, attrs: dict[str, str]) -> None:
        walked = not chain or (chain[-1] and tag == "testsuite")
        if walked and len(chain) >= max_depth:
            raise _TooDeep
        chain.append(walked)
        if tag == "testcase":
            summary.cases += 1
            case.update(name=attrs.get("name", ""), failed=False, attempt=False)
        elif tag in ("failure", "error") and case:
            case["failed"] = True
        elif tag == "property" and case and attrs.get("name") == "attempt":
            case["attempt"] = True

    def end(tag: str) -> None:
        chain.pop()
        if tag != "testcase" or not case:
            return
        if not case["attempt"]:
            summary.failed += case["failed"]
        else:
            (failed_attempts if case["failed"] else passed_attempts).add(case["name"])
        case.clear()

    parser = expat.ParserCreate()
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        fd = source.open() if isinstance(source, files.Planned) else files.open_path(source)
        try:
            while chunk := os.read(fd, READ_CHUNK):
                parser.Parse(chunk, False)
        finally:
            os.close(fd)
        parser.Parse(b"", True)
    except _TooDeep:
        summary.problem = f"suites nested more than {max_depth} elements deep"
    except expat.ExpatError as err:
        summary.problem = f"does not parse as XML ({expat.ErrorString(err.code)}: line {err.lineno})"
    except OSError as err:
        summary.problem = f"cannot read: {err.strerror or err}"
    summary.failed += len(failed_attempts - passed_attempts)
    return summary


def artifacts_verdict(artifacts_dir: Path) -> str:
    """FAILURE when any junit*.xml the upload would publish has a failed or errored case, or cannot be
    read to the end; else SUCCESS. Files the upload refuses (links out of the folder...) do not count."""
    planned, _findings = lint.plan_artifacts(Path(artifacts_dir))
    for relative, source in planned:
        if lint.is_junit_name(relative.rsplit("/", 1)[-1]) and junit_summary(source).verdict == "FAILURE":
            return "FAILURE"
    return "SUCCESS"
