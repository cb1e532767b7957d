""".ci/build_verdict.py: CI's verdict on the build an e2e run published, on builds made by the results writer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from upload.junit import CaseResult, write_junit
from upload.record import BuildRecord

SCRIPT = Path(__file__).resolve().parents[1] / ".ci" / "build_verdict.py"
JOB = "e2e-existing"


def publish(root: Path, build: str, result: str, cases: list[CaseResult], tests_seconds: str = "312.4") -> Path:
    """One build as a run publishes it: started.json, the artifacts with their JUnit, finished.json."""
    artifacts = root / f"artifacts-{build}"
    artifacts.mkdir()
    write_junit(artifacts / "junit_01.xml", "fedtest", cases)
    record = BuildRecord.open(str(root / "results"), job=JOB, build_id=build, log=lambda _line: None)
    record.finish(result, metadata={"tests-seconds": tests_seconds, "run-id": f"run-{build}"},
                  artifacts_dir=artifacts)
    return root / "results" / "logs" / JOB


def verdict(job_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), str(job_dir), *args], capture_output=True, text=True,
                          timeout=60, check=False)


PASSING = [CaseResult("Setup: existing up c1", "fedtest.infra"), CaseResult("test_a.py::test_x[c1]", "e2e.test_a"),
           CaseResult("test_a.py::test_y[c1]", "e2e.test_a", outcome="skipped", message="one node: drain")]


def test_a_successful_build_passes_and_ends_with_tests_seconds(tmp_path: Path) -> None:
    job_dir = publish(tmp_path, "7", "SUCCESS", PASSING)
    done = verdict(job_dir)
    assert done.returncode == 0, done.stdout
    lines = done.stdout.splitlines()
    assert lines[-1] == "tests-seconds 312.4"
    assert "build 7 SUCCESS: 3 cases, 0 failed, 0 errors, 1 skipped; run run-7; passed" in lines[-2]


@pytest.mark.parametrize(("result", "extra", "said"), [
    ("FAILURE", CaseResult("test_b.py::test_z[c2]", "e2e.test_b", outcome="failed", message="boom"),
     "failed: test_b.py::test_z[c2]"),
    ("FAILURE", CaseResult("test_b.py::test_z[c2]", "e2e.test_b", outcome="error", message="setup: boom"),
     "errors: test_b.py::test_z[c2]"),
    ("FAILURE", CaseResult("Teardown: leaked namespaces", "fedtest.infra", outcome="error",
                           message="2 namespaces of run r still present: c1/a, c2/b"),
     "leaked namespaces: 2 namespaces of run r still present: c1/a, c2/b"),
])
def test_a_failed_test_an_error_or_a_leak_fails(tmp_path: Path, result: str, extra: CaseResult, said: str) -> None:
    job_dir = publish(tmp_path, "8", result, [*PASSING, extra])
    done = verdict(job_dir)
    assert done.returncode == 1
    assert said in done.stdout and "FAILED" in done.stdout
    assert done.stdout.splitlines()[-1] == "tests-seconds 312.4"


def test_a_failure_verdict_fails_even_when_every_case_passed(tmp_path: Path) -> None:
    """finished.json is the build's verdict (an upload or lint failure makes it FAILURE with passing cases)."""
    done = verdict(publish(tmp_path, "9", "FAILURE", PASSING))
    assert done.returncode == 1 and "result FAILURE" in done.stdout


def test_a_run_that_published_nothing_new_is_not_judged_by_an_older_build(tmp_path: Path) -> None:
    job_dir = publish(tmp_path, "10", "SUCCESS", PASSING)
    done = verdict(job_dir, "--previous", "10")
    assert done.returncode == 2
    assert "no new build" in done.stdout and "tests-seconds" not in done.stdout


def test_no_build_at_all_is_one_line(tmp_path: Path) -> None:
    done = verdict(tmp_path / "logs" / JOB)
    assert done.returncode == 2
    assert done.stdout.count("\n") == 1 and "latest-build.txt is missing" in done.stdout


# --- .ci/bed-stage: a machine without a bed, or a bed switched off, is one line and no failure -------------


def _stage(repo: Path, stage: str, **env: str) -> subprocess.CompletedProcess[str]:
    import os

    summary = repo / "summary.txt"
    return subprocess.run([str(repo / ".ci" / "bed-stage"), stage], capture_output=True, text=True, timeout=60,
                          check=False, cwd=repo, stdin=subprocess.DEVNULL,
                          env={**os.environ, "FEDTEST_CI_SUMMARY": str(summary), **env})


@pytest.mark.parametrize(("stage", "bed"), [("existing", "bed (../shared/bed)"),
                                            ("kind", "kind bed (../shared/kind-bed)")])
def test_without_a_bed_beside_the_checkout_the_stage_says_so_in_one_line(tmp_path: Path, stage: str,
                                                                         bed: str) -> None:
    repo = tmp_path / "clone"
    (repo / ".ci").mkdir(parents=True)
    (repo / ".ci" / "bed-stage").write_bytes(SCRIPT.with_name("bed-stage").read_bytes())
    (repo / ".ci" / "bed-stage").chmod(0o755)
    done = _stage(repo, stage)
    assert done.returncode == 0, done.stderr
    env = {"existing": "e2e-existing", "kind": "e2e-kind"}[stage]
    assert done.stdout == f"ci: {env}: skipped: no {bed} beside this checkout (a user's machine): " \
                          "the harness's tests ran alone\n"
    assert (repo / "summary.txt").read_text() == done.stdout


@pytest.mark.parametrize(("stage", "switch"), [("existing", "FEDTEST_BED"), ("kind", "FEDTEST_KIND_BED")])
def test_a_bed_switched_off_is_skipped_and_a_wrong_switch_is_refused(stage: str, switch: str) -> None:
    repo = SCRIPT.parents[1]
    done = _stage(repo, stage, **{switch: "skip", "FEDTEST_CI_SUMMARY": "/dev/null"})
    assert done.returncode == 0 and done.stdout.endswith(f"skipped: {switch}=skip\n")
    done = _stage(repo, stage, **{switch: "sometimes", "FEDTEST_CI_SUMMARY": "/dev/null"})
    assert done.returncode == 2 and done.stderr == f"ci: error: {switch}=sometimes: use up, reuse or skip\n"
