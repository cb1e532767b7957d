"""The run's lifecycle as a nightly job lives it: real processes, real signals, and what the build shows after."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from tests.lifecycle_runs import BUILD, JOB, UNUSED_PLUGINS, fedtest, junit_outcomes, start_suite
from tests.standins.kube import KubeStandIn

SUITE = '''
import os
from pathlib import Path
import time


def test_1_passes(namespace):
    assert namespace


def test_2_waits_for_the_go(namespace):
    Path(os.environ["FEDTEST_TEST_READY"]).write_text("running")
    go = Path(os.environ["FEDTEST_TEST_GO"])
    deadline = time.monotonic() + 60
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.02)


def test_3_after(namespace):
    assert namespace
'''


def _env(tmp_path: Path) -> dict[str, str]:
    return {"FEDTEST_TEST_READY": str(tmp_path / "ready"), "FEDTEST_TEST_GO": str(tmp_path / "go")}


def _summary_line(output: str) -> str:
    return [line for line in output.splitlines() if line.startswith("=") and " in " in line][-1]


@pytest.mark.parametrize("moment", ["started.json written", "bring-up", "a test running"])
def test_sigterm_at_any_moment_leaves_an_aborted_build(tmp_path, moment):
    not_ready = ("a",) if moment == "bring-up" else ()
    with KubeStandIn.run(["a"], not_ready=not_ready) as kube:
        kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")
        run = start_suite(tmp_path, SUITE, kubeconfig, "--contexts", "a", "--bringup-deadline", "120",
                          env=_env(tmp_path))
        if moment == "started.json written":  # the first milliseconds: handlers must already be in place
            run.wait_for(lambda: (run.build / "started.json").exists())
        elif moment == "bring-up":
            run.wait_for(lambda: run.log_has("Setup: existing up a: started"), poll=0.01)
        else:
            run.wait_for(lambda: (tmp_path / "ready").exists(), poll=0.01)
        run.signal(signal.SIGTERM)
        (tmp_path / "go").write_text("go")
        code = run.finish()
    output = run.output()
    assert code == pytest.ExitCode.INTERRUPTED, output
    finished = run.document("finished.json")
    assert finished["result"] == "ABORTED" and finished["passed"] is False, output
    assert finished["metadata"]["abort-reason"] == "SIGTERM"
    assert "aborted" in finished["metadata"]["failure"].split(",")
    assert (run.artifacts / "logs" / JOB / "latest-build.txt").read_text().strip() == BUILD
    assert (run.build / "build-log.txt").is_file()
    assert "Traceback" not in output
    if moment != "started.json written":
        cases = junit_outcomes(run.build / "artifacts" / "junit_01.xml")
        assert cases["Setup: pre-flight"] == "passed"
        assert "test_suite.py::test_3_after[a]" not in cases or cases["test_suite.py::test_3_after[a]"] == "skipped"
    if moment == "bring-up":
        assert junit_outcomes(run.build / "artifacts" / "junit_01.xml")["Setup: existing up a"] == "error"


@pytest.mark.parametrize("moment", ["started.json written", "a test running"])
def test_after_sigkill_abort_publishes_what_the_run_left(tmp_path, moment):
    with KubeStandIn.run(["a"]) as kube:
        kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")
        run = start_suite(tmp_path, SUITE, kubeconfig, "--contexts", "a", env=_env(tmp_path))
        if moment == "started.json written":
            run.wait_for(lambda: (run.build / "started.json").exists())
        else:  # the JUnit is at most a second behind the last finished test
            run.wait_for(lambda: (tmp_path / "ready").exists(), poll=0.01)
            junit = run.artifacts / "junit_01.xml"
            run.wait_for(lambda: junit.exists() and "test_1_passes" in junit.read_text(), timeout=5, poll=0.05)
        run.signal(signal.SIGKILL)
        run.finish()
    done = fedtest("abort", "--artifacts", str(run.artifacts), "--job", JOB, "--build-id", BUILD)
    assert done.returncode == 0, done.stderr
    finished = run.document("finished.json")
    assert finished["result"] == "ABORTED"
    log = (run.build / "build-log.txt").read_text()
    if moment == "started.json written":
        assert "left no build log" in log or "Setup: pre-flight" in log
    else:
        assert "Setup: existing up a: ok" in log and "test_suite.py ." in log
        cases = junit_outcomes(run.build / "artifacts" / "junit_01.xml")
        assert cases["Setup: existing up a"] == "passed"
        assert cases["test_suite.py::test_1_passes[a]"] == "passed"
        assert "clusters of run" in done.stdout  # the ledger says a cluster may still be up
    again = fedtest("abort", "--artifacts", str(run.artifacts), "--job", JOB, "--build-id", BUILD)
    assert again.returncode == 0 and "nothing to do" in again.stdout


def test_kind_without_kind_on_path_is_a_failed_setup_in_a_complete_build(tmp_path):
    bin_dir = tmp_path / "bin"  # only this interpreter: no kind, no container engine
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "pytest.ini").write_text("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    (suite / "test_suite.py").write_text("def test_needs_a_cluster(kube):\n    assert kube\n")
    artifacts = tmp_path / "artifacts"
    import subprocess

    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *UNUSED_PLUGINS, str(suite), "--provider", "kind",
         "--artifacts", str(artifacts), "--job", JOB, "--build-id", BUILD, "-rs"],
        cwd=suite, capture_output=True, text=True, timeout=120, env={**os.environ, "PATH": str(bin_dir)},
    )
    assert done.returncode == pytest.ExitCode.TESTS_FAILED, done.stdout + done.stderr
    assert "the kind CLI is not on PATH" in done.stdout
    assert "1 skipped, 1 error" in _summary_line(done.stdout)
    assert done.stdout.strip().splitlines()[-1].endswith(f"FAILURE: {artifacts / 'logs' / JOB / BUILD}")
    build = artifacts / "logs" / JOB / BUILD
    cases = junit_outcomes(build / "artifacts" / "junit_01.xml")
    assert cases["Setup: pre-flight"] == "error"
    assert cases["test_suite.py::test_needs_a_cluster[no-cluster]"] == "skipped"
    import json

    finished = json.loads((build / "finished.json").read_text())
    assert finished["result"] == "FAILURE" and finished["metadata"]["failure"] == "infra"
    assert (artifacts / "logs" / JOB / "latest-build.txt").read_text().strip() == BUILD
    assert "Traceback" not in done.stdout + done.stderr


def test_bring_up_progress_reaches_the_log_while_it_waits(tmp_path):
    with KubeStandIn.run(["a", "b"], not_ready=("b",)) as kube:
        kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")
        run = start_suite(tmp_path, "def test_x(namespace):\n    pass\n", kubeconfig, "--contexts", "a,b",
                          "--bringup-deadline", "4", "--progress-every", "0.5")
        # While the run still waits, the published log already says what it waits for.
        run.wait_for(lambda: run.log_has("Setup: existing up b: still waiting after"), poll=0.05)
        assert run.process.poll() is None
        code = run.finish()
    output = run.output()  # stdout is a pipe here, as under Jenkins
    assert code == pytest.ExitCode.TESTS_FAILED
    lines = [line for line in output.splitlines() if "Setup: existing up" in line]
    assert any(line.endswith("Setup: existing up a: started") for line in lines)
    assert any("Setup: existing up a: ok" in line for line in lines)
    waiting = [line for line in lines if "Setup: existing up b: still waiting after" in line]
    assert waiting and "not ready yet" in waiting[-1]  # what it waits for, from the readiness check
    assert any("Setup: existing up b: FAILED" in line for line in lines)
    assert "1 error" in _summary_line(output)  # pytest's closing line counts the failed setup
    assert ": FAILURE: " in output.strip().splitlines()[-1]  # and the run's last line says it failed


def test_a_failing_test_is_named_as_the_failure_in_finished_json(tmp_path):
    with KubeStandIn.run(["a"]) as kube:
        kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")
        run = start_suite(tmp_path, "def test_x(namespace):\n    assert False, 'broken'\n", kubeconfig,
                          "--contexts", "a")
        code = run.finish()
    assert code == pytest.ExitCode.TESTS_FAILED
    finished = run.document("finished.json")
    assert finished["result"] == "FAILURE" and finished["metadata"]["failure"] == "tests"
    assert "failed-steps" not in finished["metadata"]
