"""`python -m dashboard_config check` on copies of jobs/ and dashboard_config/: the shipped pair
passes, and a job renamed or moved in one place only fails with a line that says where."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def copies(tmp_path: Path) -> tuple[Path, Path]:
    jobs = tmp_path / "jobs"
    config = tmp_path / "config"
    shutil.copytree(ROOT / "jobs", jobs)
    config.mkdir()
    shutil.copy(ROOT / "dashboard_config" / "fedtest.yaml", config / "fedtest.yaml")
    return jobs, config


def run_check(jobs: Path, config: Path) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "dashboard_config",
        "check",
        "--jobs",
        str(jobs),
        "--config",
        str(config),
    ]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_shipped_jobs_and_config_agree(copies: tuple[Path, Path]) -> None:
    done = run_check(*copies)
    assert (done.returncode, done.stderr) == (0, "")
    assert (
        "3 test groups match 3 nightly jobs (e2e-azure-nightly, e2e-gce-nightly, e2e-kind-nightly)"
        in done.stdout
    )


def test_test_group_renamed_without_its_job(copies: tuple[Path, Path]) -> None:
    jobs, config = copies
    edit(config / "fedtest.yaml", "e2e-gce-nightly\n", "e2e-gce-nightly-v2\n")  # the group and its tab
    done = run_check(jobs, config)
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        f"{jobs}/nightly.yaml: e2e-gce-nightly: job-has-test-group: no test group named 'e2e-gce-nightly' "
        f"in the TestGrid config ({config}/fedtest.yaml)",
        f"{config}/fedtest.yaml: test_groups[e2e-gce-nightly-v2]: test-group-has-job: no nightly job named "
        f"'e2e-gce-nightly-v2' in {jobs}/nightly.yaml "
        "(jobs: e2e-azure-nightly, e2e-gce-nightly, e2e-kind-nightly)",
    ]
    assert done.stderr == "fedtest: error: 2 problem(s) in the TestGrid config or jobs\n"


def test_job_renamed_without_its_test_group(copies: tuple[Path, Path]) -> None:
    jobs, config = copies
    edit(jobs / "nightly.yaml", "    name: 'e2e-{provider}-nightly'", "    name: 'e2e-{provider}-night'")
    edit(jobs / "nightly.yaml", "      - 'e2e-{provider}-nightly'", "      - 'e2e-{provider}-night'")
    done = run_check(jobs, config)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    source = f"{jobs}/nightly.yaml"
    assert (
        f"{source}: e2e-kind-night: job-has-test-group: no test group named 'e2e-kind-night' in the TestGrid "
        f"config ({config}/fedtest.yaml)"
    ) in lines
    assert (
        f"{source}: e2e-kind-night: job-name-argument: --job is 'e2e-kind-nightly', expected the Jenkins job "
        "name 'e2e-kind-night'"
    ) in lines
    assert (
        f"{config}/fedtest.yaml: test_groups[e2e-kind-nightly]: test-group-has-job: no nightly job named "
        f"'e2e-kind-nightly' in {source} (jobs: e2e-azure-night, e2e-gce-night, e2e-kind-night)"
    ) in lines


def test_bucket_moved_in_jobs_only(copies: tuple[Path, Path]) -> None:
    jobs, config = copies
    edit(jobs / "nightly.yaml", "bucket: fedtest-results", "bucket: fedtest-nightly-results")
    done = run_check(jobs, config)
    assert done.returncode == 1
    assert (
        f"{config}/fedtest.yaml: test_groups[e2e-azure-nightly]: gcs-prefix-matches-job: gcs_prefix is "
        "'fedtest-results/logs/e2e-azure-nightly' but the job publishes to "
        "'fedtest-nightly-results/logs/e2e-azure-nightly'"
    ) in done.stdout.splitlines()
    assert len(done.stdout.splitlines()) == 3


def test_unrenderable_jobs_give_one_error_line(copies: tuple[Path, Path]) -> None:
    jobs, config = copies
    edit(jobs / "nightly.yaml", "    bucket: fedtest-results\n", "")
    done = run_check(jobs, config)
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1
    assert done.stderr.startswith(f"fedtest: error: jenkins-jobs cannot render {jobs}: ")
    assert "Missing parameter: 'bucket'" in done.stderr
