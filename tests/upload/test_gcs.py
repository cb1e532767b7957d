"""The build record on fake-gcs-server through google-cloud-storage, with and without injected faults."""

from __future__ import annotations

import collections
import json

import pytest

from tests.standins.faultproxy import FaultPlan, FaultProxy
from tests.standins.gcs import free_port
from tests.upload.checklist import checklist_problems, gcs_objects
from tests.upload.emulator import BUCKET, METADATA, gcs_sink
from upload import sealed
from upload.errors import DuplicateBuild, SinkError
from upload.record import BuildRecord, ResultsTarget
from upload.scrub import Scrubber
from upload.sinks import GCSSink, make_retry

TARGET = ResultsTarget("gs", BUCKET, "logs/ci-fedtest-kind")


def quiet(_: str) -> None:
    pass


def test_emulator_run_satisfies_the_checklist(fake_gcs, sample_run):
    artifacts, log = sample_run
    record = BuildRecord.open(TARGET, build_id="100", env={}, sink=gcs_sink(fake_gcs), log=quiet)
    report = record.finish("SUCCESS", metadata=METADATA, artifacts_dir=artifacts, build_log=log)
    assert report.result == "SUCCESS", report.findings
    objects = gcs_objects(fake_gcs.client(), BUCKET)
    assert checklist_problems(objects, "ci-fedtest-kind", "100") == []
    latest = objects["logs/ci-fedtest-kind/latest-build.txt"]
    assert latest.content_type == "text/plain" and "no-cache" in latest.cache_control
    assert objects["logs/ci-fedtest-kind/100/artifacts/junit_01.xml"].content_type == "application/xml"


def test_after_100_faults_every_object_is_there_once_and_in_order(fake_gcs, tmp_path, sample_run):
    artifacts, log = sample_run
    for i in range(120):
        (artifacts / f"pod-{i:03d}.log").write_text(f"pod {i} log line\n" * 3)
    plan = FaultPlan(budget=100, rate=0.6, seed=11)
    proxy = FaultProxy(fake_gcs.port, plan, stall_seconds=1.0).start()
    try:
        sink = gcs_sink(fake_gcs, proxy.url, timeout=0.5)
        record = BuildRecord.open(TARGET, build_id="200", env={}, sink=sink, log=quiet)
        report = record.finish("SUCCESS", metadata=METADATA, artifacts_dir=artifacts, build_log=log)
    finally:
        proxy.stop()
    assert plan.total == 100, plan.injected
    assert set(plan.injected) == {"503", "429", "reset_before", "reset_after", "stall"}
    assert report.upload_failures == [] and report.result == "SUCCESS"

    base = "logs/ci-fedtest-kind/200"
    expected = {
        f"{base}/artifacts/{p.relative_to(artifacts).as_posix()}" for p in artifacts.rglob("*") if p.is_file()
    }
    expected |= {f"{base}/started.json", f"{base}/build-log.txt", f"{base}/finished.json"}
    objects = gcs_objects(fake_gcs.client(), BUCKET)
    assert expected | {"logs/ci-fedtest-kind/latest-build.txt"} == set(objects)
    assert checklist_problems(objects, "ci-fedtest-kind", "200") == []

    created = proxy.creations()
    counts = collections.Counter(created)
    assert {name for name, n in counts.items() if n > 1} == set()  # a retried write never lands twice
    assert set(created) == set(objects)
    order = {name: i for i, name in enumerate(created)}
    assert order[f"{base}/started.json"] == 0
    assert order[f"{base}/artifacts/junit_01.xml"] < order[f"{base}/finished.json"]
    assert max(order[n] for n in expected - {f"{base}/finished.json"}) < order[f"{base}/finished.json"]
    assert order["logs/ci-fedtest-kind/latest-build.txt"] == len(created) - 1


def test_same_build_id_twice_is_refused_and_nothing_is_written(fake_gcs, sample_run):
    artifacts, log = sample_run
    first = BuildRecord.open(TARGET, build_id="300", env={}, sink=gcs_sink(fake_gcs), log=quiet)
    before = {b.name: b.generation for b in fake_gcs.client().list_blobs(BUCKET)}
    with pytest.raises(DuplicateBuild, match="already exists"):
        BuildRecord.open(TARGET, build_id="300", env={}, sink=gcs_sink(fake_gcs), log=quiet)
    assert {b.name: b.generation for b in fake_gcs.client().list_blobs(BUCKET)} == before
    first.finish("SUCCESS", metadata=METADATA, artifacts_dir=artifacts, build_log=log)
    assert checklist_problems(gcs_objects(fake_gcs.client(), BUCKET), "ci-fedtest-kind", "300") == []


def test_seeded_secrets_never_reach_the_bucket(fake_gcs, sample_run):
    artifacts, log = sample_run
    env = {"FEDTEST_GCE_KEY": "gce-key-material-42", "ARM_CLIENT_SECRET": "arm~secret.value"}
    log.write_text("using gce-key-material-42\nclient_secret=arm~secret.value\n")
    (artifacts / "kubeconfig").write_text(
        "users:\n- user:\n    token: sa-token-zyx987\n    password: p4ssw0rd!\n"
    )
    (artifacts / "request.json").write_text('{"headers": {"Authorization": "Bearer ya29.a0AfH6SMBxyz"}}')
    record = BuildRecord.open(TARGET, build_id="400", env=env, sink=gcs_sink(fake_gcs), log=quiet)
    record.finish("SUCCESS", metadata=METADATA, artifacts_dir=artifacts, build_log=log)
    stored = b"".join(o.data for o in gcs_objects(fake_gcs.client(), BUCKET).values())
    for secret in (
        b"gce-key-material-42",
        b"arm~secret.value",
        b"sa-token-zyx987",
        b"p4ssw0rd!",
        b"ya29.a0AfH6SMBxyz",
    ):
        assert secret not in stored, secret
    assert b"[REDACTED]" in stored


def test_missing_bucket_is_one_clear_error(fake_gcs):
    sink = GCSSink("no-such-bucket", client=fake_gcs.client(), retry=make_retry(0.01, 0.1, 2.0, 5.0))
    with pytest.raises(SinkError, match="bucket 'no-such-bucket' does not exist"):
        BuildRecord.open(
            ResultsTarget("gs", "no-such-bucket", "logs/j"), build_id="1", env={}, sink=sink, log=quiet
        )


def test_build_id_not_above_the_buckets_latest_is_refused(fake_gcs, sample_run):
    artifacts, log = sample_run
    sink = gcs_sink(fake_gcs)
    BuildRecord.open(TARGET, build_id="500", env={}, sink=sink, log=quiet).finish(
        "FAILURE", metadata=METADATA, artifacts_dir=artifacts, build_log=log
    )
    blob = fake_gcs.client().bucket(BUCKET).blob("logs/ci-fedtest-kind/latest-build.txt")
    assert blob.download_as_text().strip() == "500"
    with pytest.raises(Exception, match="not greater than the job's latest build 500"):
        BuildRecord.open(TARGET, build_id="499", env={}, sink=gcs_sink(fake_gcs), log=quiet)
    finished = json.loads(
        fake_gcs.client().bucket(BUCKET).blob("logs/ci-fedtest-kind/500/finished.json").download_as_bytes()
    )
    assert finished["passed"] is False and finished["result"] == "FAILURE"


def test_the_proxy_environment_is_read_once_when_the_sink_is_made(fake_gcs, monkeypatch):
    """A proxy named when the sink is made carries its writes (one that refuses fails them); one named
    afterwards does not: the environment is not scanned again for each of a build's thousand requests."""
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    fast = make_retry(initial=0.01, maximum=0.05, timeout=1.0)
    direct = GCSSink(BUCKET, client=fake_gcs.client(), retry=fast)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    proxied = GCSSink(BUCKET, client=fake_gcs.client(), retry=fast)
    direct.create("env/direct.txt", sealed.scrub_bytes(Scrubber({}), b"direct"), "text/plain")
    with pytest.raises(SinkError, match=r"env/proxied\.txt"):
        proxied.create("env/proxied.txt", sealed.scrub_bytes(Scrubber({}), b"proxied"), "text/plain")
    assert direct.read_text("env/direct.txt") == "direct"
