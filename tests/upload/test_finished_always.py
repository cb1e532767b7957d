"""finished.json on every path that can still write: crashes, odd names, a full disk, signals, a dead endpoint."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.standins.faultproxy import FaultPlan, FaultProxy
from tests.upload.emulator import BUCKET
from upload import lint, sealed
from upload.record import BuildRecord


def _finished(results: Path, build: str = "1") -> dict:
    return json.loads((results / "logs" / "j" / build / "finished.json").read_text())


def _record(results: Path, build: str = "1", **kwargs) -> BuildRecord:
    return BuildRecord.open(str(results), job="j", build_id=build, log=lambda _line: None, **kwargs)


def test_a_lint_crash_is_a_finding_not_a_lost_build(sample_run, tmp_path, monkeypatch):
    artifacts, log = sample_run

    def crash(files):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(lint, "lint_artifact_files", crash)
    report = _record(tmp_path / "results").finish("SUCCESS", artifacts_dir=artifacts, build_log=log)
    finished = _finished(tmp_path / "results")
    assert report.result == finished["result"] == "FAILURE"
    assert finished["metadata"]["failure"] == "lint"
    assert any("lint stopped: RecursionError" in str(f) for f in report.findings)


def test_an_unexpected_error_while_publishing_still_finishes_the_build(sample_run, tmp_path, monkeypatch):
    artifacts, log = sample_run
    monkeypatch.setattr(BuildRecord, "_artifact_files", lambda *a: (_ for _ in ()).throw(UnicodeEncodeError(
        "utf-8", "\udce9", 0, 1, "surrogates not allowed")))
    _record(tmp_path / "results").finish("SUCCESS", artifacts_dir=artifacts, build_log=log)
    finished = _finished(tmp_path / "results")
    assert finished["result"] == "FAILURE" and "publish" in finished["metadata"]["failure"]
    assert finished["metadata"]["publish-error"].startswith("UnicodeEncodeError")
    assert (tmp_path / "results" / "logs" / "j" / "latest-build.txt").read_text().strip() == "1"


def test_one_object_that_cannot_be_scrubbed_fails_alone(sample_run, tmp_path, monkeypatch):
    artifacts, log = sample_run
    record = _record(tmp_path / "results")
    real = record.scrubber.payload

    def picky(source, name="", *args, **kwargs):
        if name.endswith("c1/events.txt"):
            raise ValueError("cannot scrub this one")
        return real(source, name, *args, **kwargs)

    monkeypatch.setattr(record.scrubber, "payload", picky)
    report = record.finish("SUCCESS", artifacts_dir=artifacts, build_log=log)
    assert [key.rsplit("/", 1)[-1] for key, _ in report.upload_failures] == ["events.txt"]
    finished = _finished(tmp_path / "results")
    assert finished["result"] == "FAILURE" and finished["metadata"]["upload-failures"] == "1"
    assert (tmp_path / "results" / "logs" / "j" / "1" / "artifacts" / "junit_01.xml").is_file()


def test_a_file_name_that_is_not_utf8_still_ends_in_finished_json(sample_run, tmp_path):
    artifacts, log = sample_run
    odd = os.path.join(os.fsencode(artifacts), b"caf\xe9.txt")
    with open(odd, "wb") as handle:
        handle.write(b"latin-1 name\n")
    _record(tmp_path / "results").finish("SUCCESS", artifacts_dir=artifacts, build_log=log)
    assert _finished(tmp_path / "results")["result"] in ("SUCCESS", "FAILURE")


FULL_DISK = """
import resource, signal, sys
from pathlib import Path
from upload.record import BuildRecord
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG, as on a full disk
record = BuildRecord.open(sys.argv[1], job="j", build_id="1", log=lambda _line: None)
resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))
report = record.finish("SUCCESS", artifacts_dir=Path(sys.argv[2]))
print(report.result, len(report.upload_failures))
"""


def test_a_full_disk_leaves_finished_json_and_no_temp_files(tmp_path):
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    (artifacts / "big.log").write_bytes(b"x" * (256 * 1024))
    (artifacts / "small.txt").write_text("fits\n")
    results = tmp_path / "results"
    done = subprocess.run([sys.executable, "-c", FULL_DISK, str(results), str(artifacts)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["FAILURE", "1"]
    finished = _finished(results)
    assert finished["metadata"]["upload-failures"] == "1"
    build = results / "logs" / "j" / "1"
    assert (build / "artifacts" / "small.txt").is_file() and not (build / "artifacts" / "big.log").exists()
    assert [p for p in results.rglob(".*") if p.is_file()] == []  # no half-written temp files behind


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_emulator_fails_within_the_deadline_naming_it(tmp_path):
    port = _closed_port()
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "fedtest", "publish", "--results", f"gs://{BUCKET}/logs/j", "--artifacts",
         str(artifacts), "--build-id", "1", "--results-deadline", "3"],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{port}", "NO_PROXY": "127.0.0.1"},
    )
    took = time.monotonic() - start
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f"127.0.0.1:{port}" in lines[0] and "3s" in lines[0], lines
    assert took < 30, took


class _StallUploads(FaultPlan):
    """Lets reads and the first upload (started.json) through, then stalls every upload until released."""

    def __init__(self) -> None:
        super().__init__(budget=10_000, rate=1.0, kinds=("stall",), max_stalls=10_000)
        self.request = threading.local()
        self.uploads = 0
        self.released = False

    def next(self) -> str | None:
        with self.lock:
            if "uploadType" not in self.request.path or self.released:
                return None
            self.uploads += 1
            return None if self.uploads == 1 else "stall"


class _PathAwareProxy(FaultProxy):
    def _handle(self, handler) -> None:
        self.plan.request.path = handler.path
        super()._handle(handler)


def test_sigterm_while_publishing_finishes_the_build_as_aborted(fake_gcs, tmp_path):
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    for i in range(40):
        (artifacts / f"file-{i}.txt").write_text(f"artifact {i}\n")
    plan = _StallUploads()
    proxy = _PathAwareProxy(fake_gcs.port, plan, stall_seconds=0.5).start()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "fedtest", "publish", "--results", f"gs://{BUCKET}/logs/j", "--artifacts",
             str(artifacts), "--build-id", "1", "--results-deadline", "5"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "STORAGE_EMULATOR_HOST": proxy.url, "NO_PROXY": "127.0.0.1"},
        )
        deadline = time.monotonic() + 30
        while not fake_gcs.client().bucket(BUCKET).get_blob("logs/j/1/started.json"):
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.05)
        time.sleep(0.3)  # uploads are under way (and stalled)
        process.send_signal(signal.SIGTERM)
        plan.released = True
        _out, err = process.communicate(timeout=60)
    finally:
        proxy.stop()
    assert process.returncode == 130, err
    finished = json.loads(fake_gcs.client().bucket(BUCKET).blob("logs/j/1/finished.json").download_as_bytes())
    assert finished["result"] == "ABORTED"
    assert finished["metadata"]["abort-reason"] == "SIGTERM while publishing"
    latest = fake_gcs.client().bucket(BUCKET).blob("logs/j/latest-build.txt").download_as_bytes()
    assert latest.strip() == b"1"
    assert "Traceback" not in err


@pytest.mark.parametrize("present", [0, 2])
def test_abort_resumes_without_counting_what_the_run_uploaded(sample_run, tmp_path, present):
    artifacts, log = sample_run
    results = tmp_path / "results"
    record = _record(results, build="9")
    for rel in ["junit_01.xml", "c1/events.txt"][:present]:  # the dead run got this far
        payload = sealed.scrub_bytes(record.scrubber, (artifacts / rel).read_bytes())
        record.sink.create(record.location.artifact(rel), payload, "text/plain")
    resumed = BuildRecord.resume(str(results), job="j", build_id="9", log=lambda _line: None)
    report = resumed.abort(reason="killed", artifacts_dir=artifacts, build_log=log)
    assert report.upload_failures == []
    finished = _finished(results, "9")
    assert finished["result"] == "ABORTED" and "upload-failures" not in finished["metadata"]
    assert finished["metadata"].get("already-present", "0") == str(present)


def test_a_rerun_that_passed_is_flaky_not_failed_for_publish_auto(tmp_path):
    from upload.junit import CaseResult, artifacts_verdict, write_junit

    artifacts = tmp_path / "artifacts"
    flaky = [CaseResult("t.py::test_x", "t", 1.0, "failed", message="first try", properties={"attempt": "1"}),
             CaseResult("t.py::test_x", "t", 1.0, "passed", properties={"attempt": "2"})]
    write_junit(artifacts / "junit_01.xml", "fedtest", flaky)
    assert artifacts_verdict(artifacts) == "SUCCESS"
    assert lint.lint_path(artifacts) == []  # the attempts' shared name is no duplicate
    write_junit(artifacts / "junit_01.xml", "fedtest", [*flaky[:1], CaseResult(
        "t.py::test_x", "t", 1.0, "failed", message="again", properties={"attempt": "2"})])
    assert artifacts_verdict(artifacts) == "FAILURE"
