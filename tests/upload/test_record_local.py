"""The build record on a local folder: the bucket layout, write-once, ordering, verdicts, scrubbing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.upload.checklist import checklist_problems, local_objects
from tests.upload.emulator import METADATA
from upload.errors import ConfigError, DuplicateBuild
from upload.record import BuildRecord, parse_results


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_local_run_satisfies_the_checklist(tmp_path, sample_run):
    artifacts, log = sample_run
    results = tmp_path / "results"
    record = BuildRecord.open(str(results), job="ci-fedtest-kind", build_id="41", env={}, log=lambda _: None)
    report = record.finish("SUCCESS", metadata=METADATA, artifacts_dir=artifacts, build_log=log)
    assert report.result == "SUCCESS", report.findings
    objects = local_objects(results)
    assert checklist_problems(objects, "ci-fedtest-kind", "41") == []
    assert "logs/ci-fedtest-kind/41/artifacts/c1/events.txt" in objects
    finished = json.loads(objects["logs/ci-fedtest-kind/41/finished.json"].data)
    assert finished["metadata"]["job-version"] == "v1.31.2"


def test_results_inside_the_artifacts_folder_are_not_uploaded_again(tmp_path, sample_run):
    artifacts, log = sample_run
    first = BuildRecord.open(str(artifacts), job="j", build_id="1", env={}, log=lambda _: None)
    first.finish("SUCCESS", metadata=METADATA, artifacts_dir=artifacts, build_log=log)
    second = BuildRecord.open(str(artifacts), job="j", build_id="2", env={}, log=lambda _: None)
    second.finish("SUCCESS", metadata=METADATA, artifacts_dir=artifacts, build_log=log)
    names = snapshot(artifacts / "logs")
    assert "j/2/artifacts/junit_01.xml" in names
    assert not any(n.startswith("j/2/artifacts/logs/") for n in names)
    assert checklist_problems(local_objects(artifacts), "j", "2") == []


def test_same_build_twice_is_refused_before_anything_is_written(tmp_path, sample_run):
    artifacts, log = sample_run
    results = tmp_path / "results"
    record = BuildRecord.open(str(results), job="j", build_id="7", env={}, log=lambda _: None)
    # The first run is still going (no latest-build.txt yet): only the write-once claim can stop a twin.
    before = snapshot(results)
    with pytest.raises(DuplicateBuild, match="already exists"):
        BuildRecord.open(str(results), job="j", build_id="7", env={}, log=lambda _: None)
    assert snapshot(results) == before
    record.finish("SUCCESS", metadata=METADATA, artifacts_dir=artifacts, build_log=log)
    before = snapshot(results)
    with pytest.raises(ConfigError, match="not greater than"):
        BuildRecord.open(str(results), job="j", build_id="7", env={}, log=lambda _: None)
    with pytest.raises(ConfigError, match="not greater than"):
        BuildRecord.open(str(results), job="j", build_id="6", env={}, log=lambda _: None)
    assert snapshot(results) == before


def test_build_id_defaults_to_jenkins_then_start_seconds(tmp_path):
    jenkins = BuildRecord.open(str(tmp_path), job="j", env={"BUILD_NUMBER": "12"}, log=lambda _: None)
    assert jenkins.build_id == "12"
    timed = BuildRecord.open(str(tmp_path), job="k", env={}, started_at=1_700_000_000, log=lambda _: None)
    assert timed.build_id == "1700000000"
    assert json.loads((tmp_path / "logs/k/1700000000/started.json").read_text())["timestamp"] == 1_700_000_000


def test_abort_publishes_aborted_after_the_artifacts(tmp_path, sample_run):
    artifacts, log = sample_run
    record = BuildRecord.open(str(tmp_path / "r"), job="j", build_id="3", env={}, log=lambda _: None)
    report = record.abort(reason="SIGTERM", metadata=METADATA, artifacts_dir=artifacts, build_log=log)
    finished = json.loads((tmp_path / "r/logs/j/3/finished.json").read_text())
    assert (finished["result"], finished["passed"]) == ("ABORTED", False)
    assert finished["metadata"]["abort-reason"] == "SIGTERM"
    assert report.result == "ABORTED"
    assert checklist_problems(local_objects(tmp_path / "r"), "j", "3") == []


def test_abort_with_nothing_produced_still_finishes_the_build(tmp_path):
    record = BuildRecord.open(str(tmp_path), job="j", build_id="3", env={}, log=lambda _: None)
    report = record.abort(reason="deadline", artifacts_dir=tmp_path / "never-made", build_log=None)
    finished = json.loads((tmp_path / "logs/j/3/finished.json").read_text())
    assert finished["result"] == "ABORTED" and finished["passed"] is False
    assert (tmp_path / "logs/j/latest-build.txt").read_text().strip() == "3"
    assert report.findings  # no JUnit, no artifacts: said so


def test_lint_failure_fails_the_verdict_but_everything_is_uploaded(tmp_path, sample_run):
    artifacts, log = sample_run
    (artifacts / "junit_02.xml").write_text(
        "<testsuite name='x'><testcase name='a'/></testsuite><testsuite/>"
    )
    (artifacts / "junit_03.xml").write_text("")
    record = BuildRecord.open(str(tmp_path / "r"), job="j", build_id="5", env={}, log=lambda _: None)
    report = record.finish("SUCCESS", metadata=METADATA, artifacts_dir=artifacts, build_log=log)
    assert report.result == "FAILURE"
    problems = " ".join(f.problem for f in report.findings)
    assert "several top-level" in problems and "empty JUnit" in problems
    build = tmp_path / "r/logs/j/5"
    for name in ("junit_01.xml", "junit_02.xml", "junit_03.xml", "fedtest-lint.txt", "c1/events.txt"):
        assert (build / "artifacts" / name).exists(), name
    finished = json.loads((build / "finished.json").read_text())
    assert finished["passed"] is False and finished["metadata"]["lint-findings"] == str(len(report.findings))


def test_seeded_secrets_never_reach_the_folder(tmp_path, sample_run):
    artifacts, log = sample_run
    env = {"AZURE_CLIENT_SECRET": "azure-secret-value-1", "GITHUB_TOKEN": "ghp_tokenvalue123456"}
    log.write_text("auth with azure-secret-value-1\nAuthorization: Bearer eyJhbGciOiJSUzI1NiJ9.payload.sig\n")
    (artifacts / "kubeconfig.yaml").write_text(
        "users:\n- name: admin\n  user:\n    token: kubetoken-abcdef\n"
        "    client-key-data: LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQ==\n"
    )
    (artifacts / "key.pem").write_text(
        "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----\n"
    )
    (artifacts / "env.txt").write_text("token is ghp_tokenvalue123456 ok\n")
    record = BuildRecord.open(str(tmp_path / "r"), job="j", build_id="9", env=env, log=lambda _: None)
    report = record.finish("SUCCESS", metadata=METADATA, artifacts_dir=artifacts, build_log=log)
    everything = b"".join(snapshot(tmp_path / "r").values())
    for secret in (
        b"azure-secret-value-1",
        b"ghp_tokenvalue123456",
        b"eyJhbGciOiJSUzI1NiJ9",
        b"kubetoken-abcdef",
        b"LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQ==",
        b"MIIEvQIBADANBg",
    ):
        assert secret not in everything, secret
    assert report.scrub.redacted >= 6
    assert b"secret values redacted" in (tmp_path / "r/logs/j/9/build-log.txt").read_bytes()


@pytest.mark.parametrize(
    ("results", "job", "expected"),
    [
        ("gs://bkt/logs/ci-a", None, ("gs", "bkt", "logs/ci-a")),
        ("gs://bkt/logs/ci-a", "ci-a", ("gs", "bkt", "logs/ci-a")),
        ("gs://bkt/logs", "ci-a", ("gs", "bkt", "logs/ci-a")),
        ("gs://bkt", "ci-a", ("gs", "bkt", "logs/ci-a")),
        ("/tmp/results", "ci-a", ("local", "/tmp/results", "logs/ci-a")),
    ],
)
def test_parse_results(results, job, expected):
    target = parse_results(results, job)
    assert (target.scheme, target.location, target.job_prefix) == expected
    assert target.job == "ci-a"


@pytest.mark.parametrize(
    ("results", "job"),
    [
        ("gs://", "a"),
        ("gs:///logs/a", None),
        ("s3://b/logs/a", None),
        ("gs://bkt", None),
        ("/tmp/x", None),
        ("gs://bkt/logs/a b", None),
        ("", "a"),
    ],
)
def test_parse_results_refuses(results, job):
    with pytest.raises(ConfigError):
        parse_results(results, job)
