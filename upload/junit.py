"""The run's JUnit file, written with junit-xml; per-case <properties> added after rendering."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from junit_xml import TestCase, TestSuite, to_xml_report_string

OUTCOMES = ("passed", "failed", "error", "skipped")


@dataclass
class CaseResult:
    name: str
    classname: str
    seconds: float
    outcome: str = "passed"
    message: str = ""
    details: str = ""
    stdout: str = ""
    properties: dict[str, str] = field(default_factory=dict)


def _case(result: CaseResult) -> TestCase:
    case = TestCase(result.name, classname=result.classname, elapsed_sec=round(result.seconds, 3),
                    stdout=result.stdout or None)
    if result.outcome == "failed":
        case.add_failure_info(message=result.message or "failed", output=result.details or None)
    elif result.outcome == "error":
        case.add_error_info(message=result.message or "error", output=result.details or None)
    elif result.outcome == "skipped":
        case.add_skipped_info(message=result.message or "skipped", output=result.details or None)
    return case


def write_junit(path: Path, suite_name: str, cases: list[CaseResult]) -> Path:
    suite = TestSuite(suite_name, [_case(c) for c in cases])
    root = ET.fromstring(to_xml_report_string([suite], encoding="utf-8"))
    for element, result in zip(root.iter("testcase"), cases, strict=True):
        if result.properties:
            props = ET.Element("properties")
            for key, value in sorted(result.properties.items()):
                ET.SubElement(props, "property", name=key, value=str(value))
            element.insert(0, props)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".xml.tmp")
    ET.ElementTree(root).write(tmp, encoding="utf-8", xml_declaration=True)
    tmp.replace(path)
    return path
