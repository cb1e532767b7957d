"""Aborts: the controller's flag, deadline and budget; SIGTERM to a real pytest session yields ABORTED."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from fedtest.abort import AbortController
from tests.lifecycle_runs import UNUSED_PLUGINS
from tests.upload.checklist import checklist_problems, local_objects

ROOT = Path(__file__).resolve().parents[2]


def test_first_trigger_wins_and_calls_back_once():
    reasons: list[str] = []
    controller = AbortController(reserve_seconds=30, grace_seconds=None, on_abort=reasons.append)
    assert not controller.aborted and controller.budget() == 30
    assert controller.trigger("SIGTERM") is True
    assert controller.trigger("deadline") is False
    assert controller.aborted and controller.reason == "SIGTERM" and reasons == ["SIGTERM"]
    assert 0 < controller.budget() <= 30


def test_deadline_aborts_with_the_reserve_left():
    controller = AbortController(
        deadline_seconds=1.2, reserve_seconds=1.0, grace_seconds=None, signals=()
    ).install()
    try:
        assert controller.wait(10), "the deadline never fired"
        assert controller.reason == "deadline"
        assert controller.budget() <= 1.0
    finally:
        controller.uninstall()


def test_a_deadline_inside_the_reserve_is_refused():
    with pytest.raises(ValueError, match="reserve"):
        AbortController(deadline_seconds=10, reserve_seconds=60)


CONFTEST = """
import os
from pathlib import Path

import pytest

from fedtest.abort import AbortController
from upload.junit import CaseResult, write_junit
from upload.record import BuildRecord

STATE = {"cases": []}


def pytest_sessionstart(session):
    STATE["record"] = BuildRecord.open(os.environ["RESULTS"], job="ci-abort", build_id="1", log=print)

    def stop(reason):
        session.shouldstop = f"fedtest: aborted ({reason})"

    STATE["controller"] = AbortController(reserve_seconds=30, grace_seconds=float(os.environ["GRACE"]),
                                          on_abort=stop).install()


def pytest_runtest_setup(item):
    if STATE["controller"].aborted:
        pytest.skip(f"run aborted ({STATE['controller'].reason}) before this test started")


def pytest_runtest_logreport(report):
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        outcome = {"passed": "passed", "failed": "failed", "skipped": "skipped"}[report.outcome]
        message = report.longrepr[2] if report.skipped and isinstance(report.longrepr, tuple) else ""
        STATE["cases"].append(CaseResult(report.nodeid, seconds=report.duration, outcome=outcome,
                                         message=message))


def pytest_sessionfinish(session):
    controller = STATE["controller"]
    controller.settle()
    artifacts = Path(os.environ["ARTIFACTS"])
    write_junit(artifacts / "junit_01.xml", "abort", STATE["cases"])
    meta = {"job-version": "v0.0.0"}
    record = STATE["record"]
    if controller.aborted:
        record.abort(reason=controller.reason, metadata=meta, artifacts_dir=artifacts,
                     build_log=Path(os.environ["LOG"]), budget_seconds=controller.budget())
    else:
        record.finish("SUCCESS", metadata=meta, artifacts_dir=artifacts, build_log=Path(os.environ["LOG"]))
    controller.uninstall()
"""

TESTS = """
import os
import threading
from pathlib import Path

import conftest


def test_first():
    pass


def test_long_wait():
    Path(os.environ["READY"]).write_text("running")
    if os.environ["MODE"] == "stuck":
        threading.Event().wait(120)  # ignores the abort: only the grace interrupt ends it
    else:
        conftest.STATE["controller"].wait(120)  # a wait that ends on abort, like a watch with a deadline


def test_after():
    pass
"""


@pytest.mark.parametrize("mode", ["cooperative", "stuck"])
def test_sigterm_mid_run_publishes_aborted(tmp_path, mode):
    (tmp_path / "suite").mkdir()
    (tmp_path / "suite" / "conftest.py").write_text(textwrap.dedent(CONFTEST))
    (tmp_path / "suite" / "test_run.py").write_text(textwrap.dedent(TESTS))
    artifacts, log, ready = tmp_path / "artifacts", tmp_path / "console.log", tmp_path / "ready"
    artifacts.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "RESULTS": str(tmp_path / "results"),
        "ARTIFACTS": str(artifacts),
        "LOG": str(log),
        "READY": str(ready),
        "MODE": mode,
        "GRACE": "1",
    }
    env.pop("PYTEST_XDIST_WORKER", None)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-X",
                "faulthandler",
                "-m",
                "pytest",
                "-p",
                "no:cacheprovider",
                "-p",
                "no:xdist",
                *UNUSED_PLUGINS,
                "-rs",
                "suite",
            ],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while not ready.exists():
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "the test never started"
                time.sleep(0.05)
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)  # a hang guard: a loaded machine starts pytest slowly
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGABRT)  # faulthandler writes every thread's stack to the log
                proc.wait(timeout=10)
    build = tmp_path / "results/logs/ci-abort/1"
    finished = json.loads((build / "finished.json").read_text())
    assert (finished["result"], finished["passed"]) == ("ABORTED", False), log.read_text()
    assert finished["metadata"]["abort-reason"] == "SIGTERM"
    assert (tmp_path / "results/logs/ci-abort/latest-build.txt").read_text().strip() == "1"
    junit = (build / "artifacts/junit_01.xml").read_text()
    assert "test_first" in junit
    assert "test_after" not in junit  # the session stopped: nothing started after the signal
    assert checklist_problems(local_objects(tmp_path / "results"), "ci-abort", "1") == []
