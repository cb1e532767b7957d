"""JUnit verdicts in bounded memory, and nesting depth as a finding, never a RecursionError."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from upload.junit import MAX_DEPTH, artifacts_verdict, junit_summary
from upload.lint import lint_junit, lint_path

PASS = b"<testsuites><testsuite name='s'><testcase name='a'/><testcase name='b'><skipped message='m'/></testcase>"


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("tail", "verdict", "cases"),
    [
        (b"</testsuite></testsuites>", "SUCCESS", 2),
        (b"<testcase name='c'><failure message='x'/></testcase></testsuite></testsuites>", "FAILURE", 3),
        (b"<testcase name='c'><error>boom</error></testcase></testsuite></testsuites>", "FAILURE", 3),
        (b"<testcase name='c'>", "FAILURE", 3),  # cut off: does not parse
    ],
)
def test_verdicts(tmp_path, tail, verdict, cases):
    path = write(tmp_path, "junit_01.xml", PASS + tail)
    summary = junit_summary(path)
    assert summary.verdict == verdict and summary.cases == cases
    assert artifacts_verdict(tmp_path) == verdict


def nested(depth: int) -> bytes:
    return (
        b"<testsuites>"
        + b"<testsuite name='s'>" * depth
        + b"<testcase name='deep'><failure message='x'/></testcase>"
        + b"</testsuite>" * depth
        + b"</testsuites>"
    )


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1000, 100_000])
def test_deep_nesting_is_a_finding_not_a_crash(tmp_path, depth):
    path = write(tmp_path, "junit_01.xml", nested(depth))
    summary = junit_summary(path)
    assert summary.verdict == "FAILURE" and "nested" in summary.problem
    problems = " | ".join(str(f) for f in lint_path(tmp_path))
    assert f"nested more than {MAX_DEPTH} elements deep" in problems


def test_nesting_within_the_limit_is_fine(tmp_path):
    write(tmp_path, "junit_01.xml", nested(MAX_DEPTH - 4).replace(b"<failure message='x'/>", b""))
    assert junit_summary(tmp_path / "junit_01.xml").verdict == "SUCCESS"
    assert "nested" not in " | ".join(str(f) for f in lint_path(tmp_path))


def test_memory_does_not_grow_with_the_file(tmp_path):
    """A 20 MB JUnit (big outputs, many cases) is read in a small, fixed amount of memory."""
    path = tmp_path / "junit_01.xml"
    case = b"<testcase name='t%d'><system-out>" + b"o" * 2000 + b"</system-out></testcase>"
    with path.open("wb") as out:
        out.write(b"<testsuites><testsuite name='s'>")
        out.write(b"<testcase name='big'><system-out>" + b"x" * 5_000_000 + b"</system-out></testcase>")
        for n in range(8000):
            out.write(case % n)
        out.write(b"<testcase name='last'><failure message='at the end'/></testcase></testsuite></testsuites>")
    tracemalloc.start()
    try:
        summary = junit_summary(path)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert summary.verdict == "FAILURE" and summary.cases == 8002
    assert peak < 4_000_000, peak


def test_a_symlink_out_of_the_folder_does_not_decide_the_verdict(tmp_path):
    failing = PASS + b"<testcase name='c'><failure/></testcase></testsuite></testsuites>"
    outside = write(tmp_path, "elsewhere/junit_x.xml", failing)
    write(tmp_path, "artifacts/junit_01.xml", PASS + b"</testsuite></testsuites>")
    (tmp_path / "artifacts/junit_02.xml").symlink_to(outside)
    assert artifacts_verdict(tmp_path / "artifacts") == "SUCCESS"


def test_lint_holds_one_case_not_the_tree():
    cases = b"".join(
        b"<testcase name='t%d'><properties><property name='c' value='1'/></properties>"
        b"<system-out>%s</system-out></testcase>" % (n, b"o" * 400)
        for n in range(40_000)
    )
    data = b"<testsuites><testsuite name='s'>" + cases + b"</testsuite></testsuites>\n"
    tracemalloc.start()
    try:
        findings, names = lint_junit("junit_01.xml", data)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert findings == [] and len(names) == 40_000 and names[-1] == "s.t39999"
    assert peak < 8_000_000, peak  # the names themselves; the tree would be several times the 20 MB
