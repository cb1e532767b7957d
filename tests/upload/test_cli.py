"""`python -m upload` as users run it: a subprocess. Bad input is one stderr line, never a traceback."""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.upload.checklist import checklist_problems, gcs_objects, local_objects
from tests.upload.emulator import BUCKET
from upload.junit import CaseResult, write_junit

ROOT = Path(__file__).resolve().parents[2]
PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 24, 1, 2


def _without_file_override() -> None:
    """Let permission bits bite even for root: drop the capabilities that bypass them."""
    if os.geteuid() == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
            libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)


def run_cli(
    args: list[str], tmp_path: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    base = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "HOME": str(tmp_path / "home"),  # no gcloud ADC file from the real home
        "NO_GCE_CHECK": "true",  # never probe a metadata server
        "GCE_METADATA_HOST": "127.0.0.1:9",
        "GCE_METADATA_IP": "127.0.0.1:9",
        "NO_PROXY": "127.0.0.1,localhost",
    }
    base.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "upload", *args],
        cwd=tmp_path,
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_without_file_override,
    )


def assert_one_line_error(result: subprocess.CompletedProcess) -> None:
    lines = result.stderr.splitlines()
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("fedtest: error: "), lines
    assert "unexpected" not in lines[0], lines  # a bug, not a user error


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Path]:
    artifacts = tmp_path / "art"
    write_junit(artifacts / "junit_01.xml", "conformance", [CaseResult("a"), CaseResult("b")])
    log = tmp_path / "e2e.log"
    log.write_text("log\n")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "junit_01.xml").write_text("<testsuite name='x'><testcase name='a'>")
    unreadable = tmp_path / "unreadable"
    (unreadable / "sub").mkdir(parents=True)
    (unreadable / "junit_01.xml").write_bytes((artifacts / "junit_01.xml").read_bytes())
    (unreadable / "sub").chmod(0)
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "creds.json").write_text("{not json")
    return {"art": artifacts, "log": log, "broken": broken, "unreadable": unreadable}


def pub(*extra: str) -> list[str]:
    return ["publish", "--results", "out", "--job", "ci-x", "--artifacts", "art", *extra]


MALFORMED = {
    "no verb": ([], {}),
    "unknown verb": (["frobnicate"], {}),
    "publish without flags": (["publish"], {}),
    "unknown flag": ([*pub("--bogus")], {}),
    "job with a space": (["publish", "--results", "out", "--job", "bad job", "--artifacts", "art"], {}),
    "job with a slash": (["publish", "--results", "out", "--job", "a/b", "--artifacts", "art"], {}),
    "job dot-dot": (["publish", "--results", "out", "--job", "..", "--artifacts", "art"], {}),
    "job in URL bad": (["publish", "--results", "gs://bkt/logs/bad job!", "--artifacts", "art"], {}),
    "non-numeric build id": (pub("--build-id", "abc"), {}),
    "mixed build id": (pub("--build-id", "12a"), {}),
    "negative build id": (pub("--build-id", "-5"), {}),
    "zero build id": (pub("--build-id", "0"), {}),
    "huge build id": (pub("--build-id", "1" * 25), {}),
    "non-numeric BUILD_NUMBER": (pub(), {"BUILD_NUMBER": "nightly-7"}),
    "missing bucket": (["publish", "--results", "gs://", "--job", "j", "--artifacts", "art"], {}),
    "bucket-less path": (["publish", "--results", "gs:///logs/j", "--artifacts", "art"], {}),
    "unsupported scheme": (["publish", "--results", "s3://bkt/logs/j", "--artifacts", "art"], {}),
    "no job for bucket": (["publish", "--results", "gs://bkt", "--artifacts", "art"], {}),
    "no job for folder": (["publish", "--results", "out", "--artifacts", "art"], {}),
    "results folder is a file": (["publish", "--results", "a-file", "--job", "j", "--artifacts", "art"], {}),
    "artifacts missing": (["publish", "--results", "out", "--job", "j", "--artifacts", "nope"], {}),
    "artifacts is a file": (["publish", "--results", "out", "--job", "j", "--artifacts", "a-file"], {}),
    "unreadable folder": (["publish", "--results", "out", "--job", "j", "--artifacts", "unreadable"], {}),
    "log missing": (pub("--log", "missing.log"), {}),
    "log is a folder": (pub("--log", "art"), {}),
    "metadata without =": (pub("--metadata", "job-version"), {}),
    "bad result": (pub("--result", "GREEN"), {}),
    "non-integer start": (pub("--started", "yesterday"), {}),
    "negative start": (pub("--started", "-5"), {}),
    "no credentials": (
        ["publish", "--results", "gs://bkt/logs/j", "--artifacts", "art"],
        {"GOOGLE_APPLICATION_CREDENTIALS": "/nonexistent/creds.json"},
    ),
    "garbage credentials": (
        ["publish", "--results", "gs://bkt/logs/j", "--artifacts", "art"],
        {"GOOGLE_APPLICATION_CREDENTIALS": "creds.json"},
    ),
    "broken JUnit published": (["publish", "--results", "out", "--job", "j", "--artifacts", "broken"], {}),
    "lint of a missing folder": (["lint", "nope"], {}),
    "lint of broken JUnit": (["lint", "broken"], {}),
    "lint of an unreadable folder": (["lint", "unreadable"], {}),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_input_is_one_line_and_no_traceback(case, tmp_path, inputs):
    args, env = MALFORMED[case]
    result = run_cli(args, tmp_path, env)
    assert_one_line_error(result)


def test_failed_publish_leaves_nothing(tmp_path, inputs):
    for case in ("non-numeric build id", "artifacts missing", "unreadable folder", "log missing"):
        args, env = MALFORMED[case]
        run_cli(args, tmp_path, env)
    assert not (tmp_path / "out").exists()


def test_publish_to_a_folder_then_duplicate_and_older_ids_are_refused(tmp_path, inputs):
    args = pub("--build-id", "20", "--log", "e2e.log", "--metadata", "job-version=v1.31.2")
    ok = run_cli(args, tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert checklist_problems(local_objects(tmp_path / "out"), "ci-x", "20") == []
    again = run_cli(args, tmp_path)
    assert_one_line_error(again)
    assert "not greater than" in again.stderr
    older = run_cli(pub("--build-id", "19"), tmp_path)
    assert_one_line_error(older)
    assert sorted(p.name for p in (tmp_path / "out/logs/ci-x").iterdir()) == ["20", "latest-build.txt"]


def test_publish_verdict_follows_the_junit(tmp_path, inputs):
    write_junit(
        inputs["art"] / "junit_01.xml",
        "conformance",
        [CaseResult("a"), CaseResult("b", outcome="failed", message="boom")],
    )
    result = run_cli(pub("--build-id", "3", "--metadata", "job-version=v1"), tmp_path)
    assert result.returncode == 1 and result.stderr == ""
    finished = json.loads((tmp_path / "out/logs/ci-x/3/finished.json").read_text())
    assert (finished["result"], finished["passed"]) == ("FAILURE", False)


def test_publish_to_the_emulator_bucket(fake_gcs, tmp_path, inputs):
    env = {"STORAGE_EMULATOR_HOST": fake_gcs.url}
    args = [
        "publish",
        "--results",
        f"gs://{BUCKET}/logs/ci-x",
        "--artifacts",
        "art",
        "--log",
        "e2e.log",
        "--build-id",
        "77",
        "--metadata",
        "job-version=v1.31.2",
    ]
    result = run_cli(args, tmp_path, env)
    assert result.returncode == 0, result.stderr
    assert checklist_problems(gcs_objects(fake_gcs.client(), BUCKET), "ci-x", "77") == []
    assert_one_line_error(run_cli(args, tmp_path, env))  # same build twice


def test_publish_to_a_missing_emulator_bucket(fake_gcs, tmp_path, inputs):
    env = {"STORAGE_EMULATOR_HOST": fake_gcs.url}
    result = run_cli(
        ["publish", "--results", "gs://no-such-bucket/logs/j", "--artifacts", "art"], tmp_path, env
    )
    assert_one_line_error(result)
    assert "does not exist" in result.stderr


def test_lint_of_a_good_build_passes(tmp_path, inputs):
    assert run_cli(pub("--build-id", "5", "--metadata", "job-version=v1"), tmp_path).returncode == 0
    result = run_cli(["lint", "out/logs/ci-x/5"], tmp_path)
    assert result.returncode == 0 and result.stderr == "", result.stderr
