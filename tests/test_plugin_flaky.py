"""Reruns (pytest-rerunfailures' --reruns): one JUnit case per attempt under one name, flaky tests counted."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from fedtest.cases import CaseBook, Phase

SUITE = '''
import pathlib

def test_flaky(namespace):
    tried = pathlib.Path(__file__).with_name("tried-once")
    if not tried.exists():
        tried.write_text("yes")
        assert False, "the first attempt fails"

def test_always_fails(namespace):
    assert False, "fails every time"

def test_passes(namespace):
    assert namespace
'''


def _cases(artifacts: Path) -> list[tuple[str, str, dict[str, str]]]:
    """(name, outcome, properties) of every case, in file order."""
    root = ET.parse(artifacts / "junit_01.xml").getroot()
    out = []
    for case in root.iter("testcase"):
        outcome = next((tag for tag in ("failure", "error", "skipped") if case.find(tag) is not None), "passed")
        out.append((case.get("name"), outcome, {p.get("name"): p.get("value") for p in case.iter("property")}))
    return out


def _finished(artifacts: Path) -> dict:
    (path,) = (artifacts / "logs" / "e2e-existing").glob("*/finished.json")
    return json.loads(path.read_text())


def _run(pytester: pytest.Pytester, kubeconfig: Path, artifacts: Path, suite: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_flaky=suite)
    return pytester.runpytest(".", "-p", "no:randomly", "--provider", "existing", "--kubeconfig", str(kubeconfig),
                              "--contexts", "a", "--artifacts", str(artifacts), *args)


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_every_attempt_is_a_case_of_the_same_name_and_flaky_tests_are_counted(pytester, kube_ab, tmp_path, workers):
    _kube, kubeconfig = kube_ab
    artifacts = tmp_path / "artifacts"
    result = _run(pytester, kubeconfig, artifacts, SUITE, "--reruns", "2", *workers)
    outcomes = result.parseoutcomes()
    assert (outcomes["passed"], outcomes["failed"], outcomes["rerun"]) == (2, 1, 3)
    cases = _cases(artifacts)
    flaky = [(o, p.get("attempt")) for name, o, p in cases if name == "test_flaky.py::test_flaky[a]"]
    assert flaky == [("failure", "1"), ("passed", "2")]
    always = [(o, p.get("attempt")) for name, o, p in cases if name == "test_flaky.py::test_always_fails[a]"]
    assert always == [("failure", "1"), ("failure", "2"), ("failure", "3")]
    passes = [p for name, _o, p in cases if name == "test_flaky.py::test_passes[a]"]
    assert len(passes) == 1 and "attempt" not in passes[0]
    infra = [name for name, _o, _p in cases if name.startswith(("Setup", "Teardown", "Diagnostics"))]
    assert len(infra) == len(set(infra)), "an infra case is never repeated"
    meta = _finished(artifacts)["metadata"]
    assert meta["flaky-tests"] == "1" and meta["flaky"] == "test_flaky.py::test_flaky[a]"
    assert "tests" in meta["failure"]
    result.stdout.fnmatch_lines(["*fedtest flaky: 1 test(s) failed, then passed on a rerun*",
                                 "test_flaky.py::test_flaky[a]"])
    result.stdout.fnmatch_lines(["fedtest: run *: FAILURE (1 flaky): *"])
    always_dir = next(p for p in artifacts.iterdir() if p.name.endswith("test_always_fails[a]"))
    assert sorted(p.name for p in always_dir.iterdir() if p.is_dir()) == ["a", "attempt-2", "attempt-3"]
    assert "(attempt 3)" in (always_dir / "attempt-3" / "index.txt").read_text()


def test_a_flaky_test_passes_the_run_with_its_mark(pytester, kube_ab, tmp_path):
    _kube, kubeconfig = kube_ab
    artifacts = tmp_path / "artifacts"
    result = _run(pytester, kubeconfig, artifacts, SUITE.replace("def test_always_fails", "def _not_a_test"),
                  "--reruns", "1")
    assert (result.parseoutcomes()["passed"], result.parseoutcomes()["rerun"]) == (2, 1)
    finished = _finished(artifacts)
    assert finished["metadata"]["flaky-tests"] == "1"
    assert "tests" not in finished["metadata"].get("failure", ""), "the run's own verdict: no test failed"
    result.stdout.fnmatch_lines(["*2 passed, 1 rerun*"])


def test_a_flaky_test_leaves_a_successful_build(pytester, kube_ab, tmp_path):
    _kube, kubeconfig = kube_ab
    artifacts = tmp_path / "artifacts"
    result = _run(pytester, kubeconfig, artifacts, SUITE.replace("def test_always_fails", "def _not_a_test"),
                  "--reruns", "1")
    finished = _finished(artifacts)
    assert (finished["result"], finished["passed"], result.ret) == ("SUCCESS", True, pytest.ExitCode.OK)
    result.stdout.fnmatch_lines(["fedtest: run *: SUCCESS (1 flaky): *"])


def test_without_reruns_nothing_is_flaky(pytester, kube_ab, tmp_path):
    _kube, kubeconfig = kube_ab
    artifacts = tmp_path / "artifacts"
    result = _run(pytester, kubeconfig, artifacts, SUITE)
    result.assert_outcomes(passed=1, failed=2)
    assert _finished(artifacts)["metadata"]["flaky-tests"] == "0"
    names = [name for name, _o, _p in _cases(artifacts) if name.startswith("test_flaky.py")]
    assert len(names) == len(set(names)) == 3


def test_a_failure_whose_rerun_was_skipped_still_fails_the_tests(tmp_path):
    """E.g. the run was aborted between the attempts: the skip must not hide the failure."""
    book = CaseBook(tmp_path / "junit_01.xml", "existing", ["a"])
    for phase in (Phase("t.py::test_x[a]", "setup", "passed", 0.1), Phase("t.py::test_x[a]", "call", "rerun", 0.2,
                                                                             "AssertionError: boom"),
                  Phase("t.py::test_x[a]", "teardown", "passed", 0.1),
                  Phase("t.py::test_x[a]", "setup", "skipped", 0.0, "run aborted (SIGTERM)", attempt=1),
                  Phase("t.py::test_x[a]", "teardown", "passed", 0.0, attempt=1)):
        book.record(phase)
    assert book.failed_tests and book.flaky() == []
    book.write()
    names = [c.get("name") for c in ET.parse(tmp_path / "junit_01.xml").getroot().iter("testcase")]
    assert names == ["t.py::test_x[a]", "t.py::test_x[a]"]
