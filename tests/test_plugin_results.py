"""The plugin's build record: the test-history layout, secrets scrubbed, SIGTERM and deadline -> ABORTED."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.upload.checklist import checklist_problems, local_objects

SUITE = '''
import os, signal, threading
from kubernetes import client

def test_passes(namespace):
    assert namespace

def test_fails_and_prints_a_secret(namespace):
    print("token from env:", os.environ["FEDTEST_TEST_API_TOKEN"])
    assert False, "the runner pod failed"
'''

ABORTING_SUITE = '''
import os, signal
from kubernetes import client

def test_1_first(namespace):
    assert namespace

def test_2_gets_sigterm(namespace):
    # As Jenkins does: SIGTERM to every process of the run (the controller, and this xdist worker).
    controller = int(os.environ.get("FEDTEST_CONTROLLER_PID") or os.getpid())
    os.kill(controller, signal.SIGTERM)
    if controller != os.getpid():
        os.kill(os.getpid(), signal.SIGTERM)

def test_3_never_starts(namespace):
    raise AssertionError("ran after the abort")
'''


def _build(results: Path, job: str, build: str) -> Path:
    return results / "logs" / job / build


def _run(pytester: pytest.Pytester, kubeconfig: Path, *args: str) -> pytest.RunResult:
    pytester.makeconftest((ROOT / "conftest.py").read_text())
    return pytester.runpytest_subprocess(".", "--provider", "existing", "--kubeconfig", str(kubeconfig),
                                         "--contexts", "a", *args, timeout=120)


def test_a_run_publishes_the_test_history_layout(pytester, kube_ab, tmp_path, monkeypatch):
    _kube, kubeconfig = kube_ab
    monkeypatch.setenv("FEDTEST_TEST_API_TOKEN", "tok-8f3a9c1d2e")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    pytester.makepyfile(test_suite=SUITE)
    results = tmp_path / "results"
    result = _run(pytester, kubeconfig, "--artifacts", str(tmp_path / "art"), "--results", str(results),
                  "--job", "e2e-existing-nightly", "--build-id", "41")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    build = _build(results, "e2e-existing-nightly", "41")
    assert checklist_problems(local_objects(results), "e2e-existing-nightly", "41") == []  # the spec's §8
    finished = json.loads((build / "finished.json").read_text())
    assert finished["passed"] is False and finished["result"] == "FAILURE"
    meta = finished["metadata"]
    assert meta["job-version"] == "v1.31.2" and meta["provider"] == "existing"
    assert meta["cluster-versions"] == "a=v1.31.2"
    assert len(meta["infra-commit"]) == 9 or meta["infra-commit"] == "unknown"
    assert {"bringup-seconds", "tests-seconds", "teardown-seconds", "upload-seconds"} <= set(meta)
    assert int(meta["redacted-values"]) >= 1
    log = (build / "build-log.txt").read_text()
    assert "the runner pod failed" in log and "1 failed, 1 passed" in log
    assert (results / "logs" / "e2e-existing-nightly" / "latest-build.txt").read_text().strip() == "41"
    for path in results.rglob("*"):
        if path.is_file():
            assert "tok-8f3a9c1d2e" not in path.read_text(errors="replace"), path
    junit = (build / "artifacts" / "junit_01.xml").read_text()
    assert "Setup: existing up a" in junit and "test_passes[a]" in junit
    suite = ET.fromstring(junit).find("testsuite")
    assert suite is not None
    timings = {p.get("name"): p.get("value") for p in suite.findall("./properties/property")}
    assert timings["tests-seconds"] == meta["tests-seconds"]  # the tests phase is a JUnit property too
    assert timings["bringup-seconds"] == meta["bringup-seconds"]


def test_without_results_the_layout_lands_under_artifacts(pytester, kube_ab, tmp_path, monkeypatch):
    _kube, kubeconfig = kube_ab
    monkeypatch.delenv("JOB_NAME", raising=False)
    monkeypatch.delenv("BUILD_NUMBER", raising=False)
    pytester.makepyfile(test_suite="def test_ok(namespace):\n    assert namespace\n")
    art = tmp_path / "art"
    result = _run(pytester, kubeconfig, "--artifacts", str(art))
    assert result.ret == pytest.ExitCode.OK
    (build,) = [p for p in (art / "logs" / "e2e-existing").iterdir() if p.is_dir()]
    assert build.name.isdigit()
    finished = json.loads((build / "finished.json").read_text())
    assert finished["passed"] is True and finished["result"] == "SUCCESS"
    assert not (build / "artifacts" / "logs").exists(), "the results tree is not uploaded into itself"


def test_the_same_build_twice_is_refused_before_anything_runs(pytester, kube_ab, tmp_path):
    kube, kubeconfig = kube_ab
    pytester.makepyfile(test_suite="def test_ok(namespace):\n    assert namespace\n")
    args = ("--artifacts", str(tmp_path / "art"), "--results", str(tmp_path / "res"), "--job", "j", "--build-id", "7")
    assert _run(pytester, kubeconfig, *args).ret == pytest.ExitCode.OK
    readyz_before = kube.clusters["a"].requests_to("/readyz")
    again = _run(pytester, kubeconfig, *args)
    assert again.ret == pytest.ExitCode.USAGE_ERROR
    again.stderr.fnmatch_lines(["ERROR: build id 7 is not greater than the job's latest build 7*"])
    assert "Traceback" not in again.stderr.str()
    assert kube.clusters["a"].requests_to("/readyz") == readyz_before, "no cluster was brought up"


@pytest.mark.parametrize("workers", [[], ["-n", "2", "--dist", "loadfile"]], ids=["serial", "xdist"])
def test_sigterm_mid_run_tears_down_and_publishes_aborted(pytester, kube_ab, tmp_path, monkeypatch, workers):
    kube, kubeconfig = kube_ab
    pytester.makepyfile(test_suite=ABORTING_SUITE)
    results = tmp_path / "res"
    # The signal goes to the controller, as Jenkins sends it; xdist workers inherit its pid here.
    pytester.makeconftest((ROOT / "conftest.py").read_text() + '''
import os
os.environ.setdefault("FEDTEST_CONTROLLER_PID", str(os.getpid()))
''')
    monkeypatch.delenv("FEDTEST_CONTROLLER_PID", raising=False)
    result = pytester.runpytest_subprocess(
        ".", *workers, "-p", "no:randomly", "--provider", "existing", "--kubeconfig", str(kubeconfig),
        "--contexts", "a", "--artifacts", str(tmp_path / "art"), "--results", str(results), "--job", "j",
        "--build-id", "9", timeout=120)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    build = _build(results, "j", "9")
    finished = json.loads((build / "finished.json").read_text())
    assert finished["result"] == "ABORTED" and finished["passed"] is False
    assert finished["metadata"]["abort-reason"] == "SIGTERM"
    assert (results / "logs" / "j" / "latest-build.txt").read_text().strip() == "9"
    assert kube.clusters["a"].namespaces() == [], "teardown ran before publishing"
    junit = (build / "artifacts" / "junit_01.xml").read_text()
    assert "Teardown: existing down a" in junit
    assert "ran after the abort" not in junit


def test_the_deadline_aborts_the_run(pytester, kube_ab, tmp_path):
    _kube, kubeconfig = kube_ab
    pytester.makepyfile(test_suite='''
import threading
def test_waits(namespace):
    threading.Event().wait(4)
def test_after(namespace):
    raise AssertionError("ran after the deadline")
''')
    result = _run(pytester, kubeconfig, "-p", "no:randomly", "--artifacts", str(tmp_path / "art"), "--results",
                  str(tmp_path / "res"), "--job", "j", "--build-id", "3", "--deadline", "3", "--abort-reserve", "1.5")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    finished = json.loads((_build(tmp_path / "res", "j", "3") / "finished.json").read_text())
    assert finished["result"] == "ABORTED" and finished["metadata"]["abort-reason"] == "deadline"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--results", "s3://bucket/logs/j"], "ERROR: unsupported results URL*"),
        (["--job", "bad job!"], "ERROR: *job*"),
        (["--build-id", "abc"], "ERROR: *build id*"),
        (["--deadline", "10", "--abort-reserve", "60"],
         "ERROR: --deadline 10 leaves no time*pass a --deadline above --abort-reserve"),
    ],
)
def test_bad_results_input_is_one_line(pytester, kube_ab, tmp_path, args, expected):
    _kube, kubeconfig = kube_ab
    pytester.makepyfile(test_suite="def test_ok(namespace):\n    pass\n")
    result = _run(pytester, kubeconfig, "--artifacts", str(tmp_path / "art"), *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([expected])
    assert "Traceback" not in result.stderr.str() and len(result.stderr.str().strip().splitlines()) == 1
    assert not os.path.exists(tmp_path / "art" / "logs"), "nothing written"
