"""Publish and lint refuse, or say loudly, what would freeze or crash TestGrid; tg-read shows why.

- a build id TestGrid would hide, or that would hide every later build (updater.go hintStarted → ListBuilds);
- a non-string job-version / revision / repo-commit in finished.json metadata (metadata/job.go Version panics);
- pytest's own --junitxml with pytest-rerunfailures (failed attempts recorded without <failure>);
- and repeated names TestGrid merges correctly never turn an all-passing build into FAILURE.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fedtest.cli import main
from tests.dashboard import grid_trees, tg_oracle
from upload import layout, lint

REPO = Path(__file__).resolve().parents[2]
FLAKY_AND_FAILING = '''
import os
def test_flaky():
    marker = os.path.join(os.path.dirname(__file__), "ran-once")
    first = not os.path.exists(marker)
    open(marker, "w").close()
    assert not first, "first attempt fails"
def test_always():
    assert False, "always fails"
'''


def publish(tmp_path: Path, artifacts: Path, *extra: str) -> list[str]:
    return ["publish", "--results", str(tmp_path / "out"), "--job", "ci-x", "--artifacts", str(artifacts), *extra]


def junit_folder(tmp_path: Path, name: str, files: dict[str, str]) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    for file, text in files.items():
        (folder / file).write_text(text)
    return folder


@pytest.mark.parametrize(
    ("existing", "build", "problem"),
    [
        (["7", "8"], "1765000000", "far beyond the job's ids (newest 8)"),
        (["1765000000"], "9", "sorts before build 1765000000"),
        (["7", "8"], "9", None),
        ([], "1765000000", None),
    ],
)
def test_build_ids_testgrid_would_hide(existing: list[str], build: str, problem: str | None) -> None:
    found = layout.build_id_listing_problem(build, existing)
    assert (found[0] if found else None) == problem or (problem and found and problem in found[0])


def test_publish_refuses_an_epoch_id_into_a_job_numbered_by_jenkins(tmp_path: Path, monkeypatch, capsys) -> None:
    """Without $BUILD_NUMBER publish takes --started as the id: in a job of small ids that hides every later build."""
    monkeypatch.delenv("BUILD_NUMBER", raising=False)
    artifacts = junit_folder(tmp_path, "art", {"junit_01.xml": grid_trees.junit(grid_trees.case("a"))})
    for build in ("7", "8"):
        assert main(publish(tmp_path, artifacts, "--build-id", build)) == 0
    capsys.readouterr()
    assert main(publish(tmp_path, artifacts, "--started", str(int(time.time())))) == 2
    err = capsys.readouterr().err
    assert "far beyond the job's ids (newest 8)" in err and "--build-id 9" in err and err.count("\n") == 1
    assert sorted(p.name for p in (tmp_path / "out/logs/ci-x").iterdir()) == ["7", "8", "latest-build.txt"]


def test_testgrid_hides_builds_after_an_out_of_sequence_id(tmp_path: Path) -> None:
    """What the refusal prevents: TestGrid (tg-read keeping its grid between runs, as in production) never
    shows builds 8 and 9 once it has read build 1765000000; the preview leaves them out and says why."""
    tg_oracle.require()
    root = grid_trees.id_out_of_sequence_tree(tmp_path / "results", time.time())
    oracle = tg_oracle.tg_read_history(root, grid_trees.JOB, grid_trees.GROUP, grid_trees.TAB, tmp_path / "oracle")
    assert [c["build"] for c in tg_oracle.theirs(oracle)["columns"]] == ["1765000000", "7"]
    tab = tg_oracle.preview(root, grid_trees.GROUP, grid_trees.TAB, time.time())
    assert [c.build for c in tab.columns] == ["1765000000", "7"]
    assert "TestGrid never shows build 9 (it started after build 1765000000" in tab.problem


def test_non_string_version_metadata_is_a_finding_because_testgrid_crashes(tmp_path: Path) -> None:
    metadata = {"job-version": {"kubernetes": "v1.31.2"}, "revision": 5, "provider": {"a": "b"}}
    finished = {"timestamp": 1764576000, "passed": True, "result": "SUCCESS", "metadata": metadata}
    problems = [f.problem for f in lint.lint_documents({"timestamp": 1764570000}, finished)]
    crashes = [p for p in problems if "crashes" in p]
    keys = {p.split("[")[1].split("]")[0] for p in crashes}
    assert len(crashes) == 2 and keys == {"'job-version'", "'revision'"}
    tg_oracle.require()
    root = grid_trees.crash_tree(tmp_path / "results", time.time())
    oracle = tg_oracle.tg_read(root, grid_trees.JOB, grid_trees.GROUP, grid_trees.TAB, tmp_path / "oracle")
    assert "nil pointer dereference" in oracle.crash


def pytest_rerun_junit(tmp_path: Path) -> Path:
    """Real JUnit from pytest's own --junitxml with pytest-rerunfailures (--reruns 1)."""
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_reruns.py").write_text(FLAKY_AND_FAILING)
    out = tmp_path / "art" / "junit_pytest.xml"
    out.parent.mkdir()
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", "-p", "no:xdist",
         "--reruns", "1", f"--junitxml={out}", "--rootdir", str(suite), str(suite / "test_reruns.py")],
        capture_output=True, cwd=suite, timeout=120, check=False,
    )  # fmt: skip
    assert out.is_file()
    return out


def test_pytest_rerun_shape_is_a_finding_and_misleads_testgrid(tmp_path: Path) -> None:
    junit_file = pytest_rerun_junit(tmp_path)
    problems = [f.problem for f in lint.lint_path(junit_file.parent)]
    assert sum("pytest-rerunfailures" in p for p in problems) == 2, problems
    tg_oracle.require()
    build = grid_trees.write_build(tmp_path / "results", "1", started=int(time.time()) - 3600,
                                   finished=grid_trees.done(int(time.time()) - 3600, "FAILURE"),
                                   files={"artifacts/junit_pytest.xml": junit_file.read_bytes()})  # fmt: skip
    oracle = tg_oracle.tg_read(build.parents[2], grid_trees.JOB, grid_trees.GROUP, grid_trees.TAB, tmp_path / "o")
    rows = tg_oracle.theirs(oracle)["rows"]
    flaky = next(cells for name, cells in rows.items() if name.endswith("test_flaky"))
    always = next(cells for name, cells in rows.items() if name.endswith("test_always"))
    assert (flaky[0]["result"], flaky[0]["icon"]) == ("PASS", "2/2")  # TestGrid: a flaky test looks green
    assert (always[0]["result"], always[0]["icon"]) == ("FLAKY", "1/2")  # and a failing one flaky


def test_repeated_names_testgrid_merges_keep_an_all_passing_build_green(tmp_path: Path, capsys) -> None:
    same = grid_trees.junit(grid_trees.case("a"), grid_trees.case("a"))
    artifacts = junit_folder(tmp_path, "art", {"junit_01.xml": same, "junit_02.xml": same})
    assert lint.lint_path(artifacts) == []
    assert main(publish(tmp_path, artifacts, "--build-id", "1")) == 0
    finished = json.loads((tmp_path / "out/logs/ci-x/1/finished.json").read_text())
    assert (finished["result"], finished["passed"]) == ("SUCCESS", True)


def test_lint_on_a_runs_artifacts_folder_lints_what_publish_uploads(tmp_path: Path, capsys) -> None:
    """A run's artifacts folder holds its results tree (logs/<job>/<build>/): publish leaves it out, so does lint."""
    artifacts = junit_folder(tmp_path, "art", {"junit_01.xml": grid_trees.junit(grid_trees.case("a"))})
    grid_trees.write_build(artifacts, "1", started=1764570000, finished=grid_trees.done(1764570000, "SUCCESS"),
                           files={"artifacts/junit_01.xml": "<testsuite name='x'><testcase name="})  # fmt: skip
    assert main(["lint", str(artifacts)]) == 0
    assert capsys.readouterr().out.strip() == f"{artifacts}: ok"
