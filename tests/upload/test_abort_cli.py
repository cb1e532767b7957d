"""`python -m upload abort`: Jenkins' post-build step for a build whose run could not publish."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT
from upload.record import BuildRecord


def _abort(results: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "upload", "abort", "--results", str(results), "--job", "nightly", *args],
        capture_output=True, text=True, timeout=60, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )


def _doc(results: Path, name: str) -> dict:
    return json.loads((results / "logs" / "nightly" / name).read_text())


def test_a_killed_run_gets_an_aborted_verdict(tmp_path):
    BuildRecord.open(str(tmp_path), job="nightly", build_id="12", log=lambda _line: None)  # then SIGKILL
    done = _abort(tmp_path, "--build-id", "12")
    assert done.returncode == 0, done.stderr
    finished = _doc(tmp_path, "12/finished.json")
    assert finished["result"] == "ABORTED" and finished["passed"] is False
    assert finished["metadata"]["abort-reason"] == "build aborted before the run published"
    assert (tmp_path / "logs" / "nightly" / "latest-build.txt").read_text().strip() == "12"


def test_a_build_the_run_already_finished_is_left_alone(tmp_path):
    record = BuildRecord.open(str(tmp_path), job="nightly", build_id="13", log=lambda _line: None)
    record.finish("SUCCESS")
    before = (tmp_path / "logs" / "nightly" / "13" / "finished.json").read_bytes()
    done = _abort(tmp_path, "--build-id", "13")
    assert done.returncode == 0 and "nothing to do" in done.stdout
    assert (tmp_path / "logs" / "nightly" / "13" / "finished.json").read_bytes() == before


def test_a_build_aborted_before_the_run_started_still_shows_up(tmp_path):
    done = _abort(tmp_path, "--build-id", "14", "--reason", "aborted in checkout")
    assert done.returncode == 0, done.stderr
    assert isinstance(_doc(tmp_path, "14/started.json")["timestamp"], int)
    assert _doc(tmp_path, "14/finished.json")["metadata"]["abort-reason"] == "aborted in checkout"


def test_without_a_build_id_it_says_so_in_one_line(tmp_path):
    done = _abort(tmp_path)
    assert done.returncode == 2
    assert done.stderr == "fedtest: error: no build id to abort: pass --build-id N (or set BUILD_NUMBER)\n"
