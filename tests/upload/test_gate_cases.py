"""The smaller cases: long names, reserved names, job names, deep markup, exit codes, early signals,
latest-build.txt under concurrent publishers, what `fedtest abort` leaves and says."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from tests.standins.faultproxy import FaultPlan, FaultProxy
from tests.upload.emulator import BUCKET
from upload import layout, sealed
from upload.errors import ConfigError
from upload.junit import artifacts_verdict
from upload.lint import lint_path
from upload.record import BuildRecord, parse_results
from upload.scrub import Scrubber
from upload.sinks import LocalSink

GOOD = b"<testsuites><testsuite name='s'><testcase name='a'/></testsuite></testsuites>"


def artifacts_with(tmp_path: Path, extra: dict[str, bytes]) -> Path:
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "junit_01.xml").write_bytes(GOOD)
    for name, data in extra.items():
        (artifacts / name).parent.mkdir(parents=True, exist_ok=True)
        (artifacts / name).write_bytes(data)
    return artifacts


def fedtest(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fedtest", *args], capture_output=True, text=True, timeout=120,
                          **kwargs)


@pytest.mark.parametrize("length", [246, 250, 255])
def test_a_name_up_to_name_max_is_published_to_a_folder(tmp_path, length):
    name = "n" * (length - 4) + ".txt"
    artifacts = artifacts_with(tmp_path, {name: b"long name\n"})
    results = tmp_path / "results"
    record = BuildRecord.open(str(results), job="j", build_id="1", env={}, log=lambda _line: None)
    report = record.finish("SUCCESS", artifacts_dir=artifacts)
    assert report.upload_failures == [] and report.result == "SUCCESS"
    assert (results / "logs/j/1/artifacts" / name).read_bytes() == b"long name\n"
    assert not [p for p in (results / "logs/j/1/artifacts").iterdir() if p.name.startswith(".")]


def test_a_job_name_with_a_trailing_newline_is_refused():
    with pytest.raises(ConfigError, match="bad job name"):
        layout.check_job_name("e2e-kind\n")
    with pytest.raises(ConfigError, match="bad job name"):
        parse_results("results", "e2e-kind\n")


def test_deep_markup_inside_system_out_fails_neither_the_verdict_nor_lint(tmp_path):
    markup = b"<b>" * 300 + b"deep" + b"</b>" * 300
    (tmp_path / "junit_01.xml").write_bytes(
        b"<testsuites><testsuite name='s'><testcase name='a'><system-out>" + markup
        + b"</system-out></testcase></testsuite></testsuites>")
    assert artifacts_verdict(tmp_path) == "SUCCESS"
    assert lint_path(tmp_path) == []


def test_upload_failures_exit_1_as_the_readme_says(tmp_path):
    artifacts = artifacts_with(tmp_path, {"notes.txt": b"notes\n"})
    results = tmp_path / "results"
    (results / "logs/j/1").mkdir(parents=True)
    (results / "logs/j/1/artifacts").write_text("a file where the artifacts folder goes\n")
    done = fedtest("publish", "--results", str(results), "--job", "j", "--build-id", "1", "--artifacts",
                   str(artifacts))
    assert done.returncode == 1, done.stderr
    assert "objects failed to upload" in done.stderr and "Traceback" not in done.stderr
    assert json.loads((results / "logs/j/1/finished.json").read_text())["metadata"]["failure"] == "upload"


EARLY_SIGTERM = """
import sys, time
from upload import lint
real_plan = lint.plan_artifacts
def slow_plan(*args, **kwargs):
    print("planning", flush=True)
    for _ in range(50):  # a big folder takes a while; a signal handler does not cut a sleep short
        time.sleep(0.1)
    return real_plan(*args, **kwargs)
lint.plan_artifacts = slow_plan
from fedtest.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_sigterm_while_publish_plans_is_handled_not_143(tmp_path):
    artifacts = artifacts_with(tmp_path, {})
    results = tmp_path / "results"
    process = subprocess.Popen(
        [sys.executable, "-c", EARLY_SIGTERM, "publish", "--results", str(results), "--job", "j", "--build-id", "1",
         "--artifacts", str(artifacts)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "planning"
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, (process.returncode, err)
    assert "before the build was claimed" in out and "Traceback" not in err
    assert not (results / "logs/j/1").exists()


class _RaceLatest(FaultProxy):
    """Once armed: after latest-build.txt was read, and before the next write goes through, another publisher
    writes a newer id straight to the bucket (two builds finishing at once, the older one writing last)."""

    def __init__(self, upstream_port: int, newer: bytes, write_direct) -> None:
        super().__init__(upstream_port, FaultPlan(budget=0, rate=0.0))
        self.newer, self.write_direct = newer, write_direct
        self.armed = self.read_seen = self.raced = False

    def _handle(self, handler) -> None:
        if self.armed and handler.command == "GET" and "latest-build.txt" in handler.path:
            self.read_seen = True
        elif self.read_seen and handler.command == "POST" and not self.raced:
            self.raced = True
            self.write_direct(self.newer)
        super()._handle(handler)


def test_latest_build_never_goes_backwards_in_a_bucket(fake_gcs, tmp_path):
    blob = fake_gcs.client().bucket(BUCKET).blob("logs/j/latest-build.txt")
    blob.upload_from_string(b"5\n")
    proxy = _RaceLatest(fake_gcs.port, b"9\n", lambda data: blob.upload_from_string(data)).start()
    try:
        from tests.upload.emulator import gcs_sink

        sink = gcs_sink(fake_gcs, proxy.url)
        record = BuildRecord.open(f"gs://{BUCKET}/logs/j", build_id="6", env={}, sink=sink, log=lambda _line: None)
        proxy.armed = True
        record.finish("SUCCESS")
    finally:
        proxy.stop()
    assert proxy.raced
    assert blob.download_as_bytes().strip() == b"9"


def test_latest_build_never_goes_backwards_in_a_folder(tmp_path):
    """A publisher holding the job folder's lock (mid read-compare-write) is waited for."""
    import fcntl

    results = tmp_path / "results"
    job = results / "logs/j"
    job.mkdir(parents=True)
    (job / "latest-build.txt").write_text("5\n")
    record = BuildRecord.open(str(results), job="j", build_id="6", env={}, log=lambda _line: None)
    other = os.open(job, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(other, fcntl.LOCK_EX)  # another publisher (build 9) read 5 and is about to write
    finishing = threading.Thread(target=lambda: record.finish("SUCCESS"), daemon=True)
    finishing.start()
    time.sleep(0.5)
    LocalSink(results).replace("logs/j/latest-build.txt", sealed.scrub_text(Scrubber({}), "9\n"), "text/plain")
    fcntl.flock(other, fcntl.LOCK_UN)
    os.close(other)
    finishing.join(30)
    assert not finishing.is_alive()
    assert (job / "latest-build.txt").read_text().strip() == "9"
    assert (job / "6" / "finished.json").is_file()


def test_fedtest_abort_leaves_no_temp_folder_and_says_aborted(tmp_path):
    results = tmp_path / "results"
    missing = tmp_path / "never-made"  # the run died before it made its artifacts folder
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    done = fedtest("abort", "--artifacts", str(missing), "--results", str(results), "--job", "j", "--build-id", "3",
                   env={**os.environ, "TMPDIR": str(scratch)})
    assert done.returncode == 0, done.stderr
    assert list(scratch.iterdir()) == [] and not missing.exists()
    doc = json.loads((results / "logs/j/3/finished.json").read_text())
    assert doc["result"] == "ABORTED" and "aborted" in doc["metadata"]["failure"].split(",")
    assert "left no build log" in (results / "logs/j/3/build-log.txt").read_text()
    assert tempfile.gettempdir() != str(scratch)  # the child, not this process, used the scratch folder


def test_fedtest_abort_never_follows_a_linked_build_log(tmp_path):
    host = tmp_path / "host.txt"
    host.write_text("host-only-content\n")
    artifacts = artifacts_with(tmp_path, {})
    (artifacts / "build-log.txt").symlink_to(host)
    results = tmp_path / "results"
    done = fedtest("abort", "--artifacts", str(artifacts), "--results", str(results), "--job", "j", "--build-id", "4")
    assert done.returncode == 0, done.stderr
    build = results / "logs/j/4"
    published = b"".join(p.read_bytes() for p in build.rglob("*") if p.is_file())
    assert b"host-only-content" not in published
    assert "build-log.txt is a symlink, not followed" in (build / "build-log.txt").read_text()
    assert "build-log.txt: a symlink" in (build / "artifacts/fedtest-lint.txt").read_text()
    assert host.read_text() == "host-only-content\n"


def test_a_run_log_is_never_written_through_a_link(tmp_path):
    from fedtest.console import ConsoleLog

    host = tmp_path / "host.txt"
    host.write_text("host-only-content\n")
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    (artifacts / "build-log.txt").symlink_to(host)
    log = ConsoleLog(artifacts / "build-log.txt")
    log.start(None)
    log.write("a line of the run")
    log.stop()
    assert host.read_text() == "host-only-content\n"
    assert not (artifacts / "build-log.txt").is_symlink()
    assert (artifacts / "build-log.txt").read_text() == "a line of the run\n"


def test_a_users_logs_folder_inside_the_artifacts_is_published(tmp_path):
    """Results under the artifacts folder (the default): only this job's results folder is left out."""
    artifacts = artifacts_with(tmp_path, {"logs/agent/kubelet.log": b"kubelet says hi\n"})
    record = BuildRecord.open(str(artifacts), job="j", build_id="1", env={}, log=lambda _line: None)
    report = record.finish("SUCCESS", artifacts_dir=artifacts)
    build = artifacts / "logs/j/1"
    assert (build / "artifacts/logs/agent/kubelet.log").read_bytes() == b"kubelet says hi\n"
    assert not (build / "artifacts/logs/j").exists()  # the results tree is not published into itself
    assert report.result == "SUCCESS" and not report.findings
