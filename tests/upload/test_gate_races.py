"""Races against publish: a file or folder of the artifacts folder swapped after the upload was planned, or
while it runs, for a link out of the folder, a FIFO or a folder link. Nothing from outside the folder
is published, nothing hangs, and the build always ends with finished.json (ABORTED under SIGTERM)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from upload import lint
from upload.record import BuildRecord
from upload.sinks import LocalSink

HOST_MARK = b"host-only-bytes-7f3a"  # in files outside the artifacts folder only


def make_world(tmp_path: Path) -> tuple[Path, Path]:
    """An artifacts folder (a big file uploaded first, notes.txt, c1/events.txt) and a host folder of files
    with the same names that must never be published."""
    host = tmp_path / "host"
    host.mkdir()
    for name in ("notes.txt", "events.txt", "secret.txt"):
        (host / name).write_bytes(HOST_MARK + b"\n")
    artifacts = tmp_path / "artifacts"
    (artifacts / "c1").mkdir(parents=True)
    (artifacts / "junit_01.xml").write_bytes(b"<testsuites><testsuite name='s'><testcase name='a'/></testsuite>"
                                             b"</testsuites>")
    (artifacts / "big.log").write_bytes(b"x" * 300_000)  # largest: uploaded first
    (artifacts / "notes.txt").write_bytes(b"our notes\n")
    (artifacts / "c1" / "events.txt").write_bytes(b"our events\n")
    return artifacts, host


def swap(artifacts: Path, host: Path, how: str) -> None:
    """Replace planned entries the way an attacker (or a stray process) would."""
    if how == "link":
        (artifacts / "notes.txt").unlink()
        (artifacts / "notes.txt").symlink_to(host / "secret.txt")
    elif how == "fifo":
        (artifacts / "notes.txt").unlink()
        os.mkfifo(artifacts / "notes.txt")
    elif how == "folder-link":
        (artifacts / "c1").rename(artifacts.parent / "c1-moved")
        (artifacts / "c1").symlink_to(host, target_is_directory=True)
    else:
        raise AssertionError(how)


def published_bytes(results: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(results.rglob("*")) if p.is_file() and not p.is_symlink())


def finished(results: Path) -> dict:
    return json.loads((results / "logs/j/1/finished.json").read_text())


def publish_in_thread(record: BuildRecord, artifacts: Path, timeout: float = 30.0, **kwargs):
    """finish() in a thread: a publish that hangs fails the test instead of hanging it."""
    out: dict = {}
    thread = threading.Thread(target=lambda: out.update(report=record.finish("SUCCESS", artifacts_dir=artifacts,
                                                                              **kwargs)), daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "publish hung"
    return out["report"]


@pytest.mark.parametrize("how", ["link", "fifo", "folder-link"])
def test_a_swap_after_planning_publishes_nothing_foreign(tmp_path, monkeypatch, how):
    artifacts, host = make_world(tmp_path)
    real_plan = lint.plan_artifacts

    def plan_then_swap(*args, **kwargs):
        planned = real_plan(*args, **kwargs)
        swap(artifacts, host, how)
        return planned

    monkeypatch.setattr(lint, "plan_artifacts", plan_then_swap)
    results = tmp_path / "results"
    record = BuildRecord.open(str(results), job="j", build_id="1", env={}, log=lambda _line: None)
    report = publish_in_thread(record, artifacts)
    assert HOST_MARK not in published_bytes(results)
    doc = finished(results)
    assert doc["result"] == "FAILURE" and "upload" in doc["metadata"]["failure"]
    [(key, problem)] = report.upload_failures
    assert key.endswith("notes.txt" if how != "folder-link" else "c1/events.txt")
    assert "not read" in problem
    assert (results / "logs/j/1/artifacts/big.log").stat().st_size == 300_000


class _SwapOnFirstUpload(LocalSink):
    """A folder sink that swaps the artifacts while its first artifact (the big one) is being written."""

    def __init__(self, root: Path, artifacts: Path, host: Path, how: str) -> None:
        super().__init__(root, workers=1)
        self.artifacts, self.host, self.how = artifacts, host, how
        self.swapped = False

    def create(self, key, data, content_type):
        if "/artifacts/" in key and not self.swapped:
            self.swapped = True
            swap(self.artifacts, self.host, self.how)
        super().create(key, data, content_type)


@pytest.mark.parametrize("how", ["link", "fifo", "folder-link"])
def test_a_swap_mid_upload_publishes_nothing_foreign(tmp_path, how):
    artifacts, host = make_world(tmp_path)
    results = tmp_path / "results"
    sink = _SwapOnFirstUpload(results, artifacts, host, how)
    record = BuildRecord.open(str(results), job="j", build_id="1", env={}, sink=sink, log=lambda _line: None)
    report = publish_in_thread(record, artifacts)
    assert sink.swapped
    assert HOST_MARK not in published_bytes(results)
    assert finished(results)["result"] == "FAILURE" and len(report.upload_failures) == 1


SIGTERM_SCRIPT = """
import os, sys, time
from pathlib import Path
from fedtest.abort import AbortController
from upload import lint
from upload.record import BuildRecord
from upload.sinks import LocalSink

artifacts, results, host, how = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
sys.path.insert(0, sys.argv[5])
from test_gate_races import swap

real_plan = lint.plan_artifacts
def plan_then_swap(*args, **kwargs):
    planned = real_plan(*args, **kwargs)
    swap(artifacts, host, how)
    return planned
lint.plan_artifacts = plan_then_swap

class Slow(LocalSink):
    def create(self, key, data, content_type):
        if "/artifacts/" in key:
            print("uploading", key, flush=True)
            time.sleep(0.2)
        super().create(key, data, content_type)

watch = AbortController(reserve_seconds=1.0, grace_seconds=None).install()
watch.settle()
record = BuildRecord.open(str(results), job="j", build_id="1", env={}, sink=Slow(results, workers=1),
                          log=lambda line: None)
report = record.finish("SUCCESS", artifacts_dir=artifacts, stop=watch)
print("result", report.result, flush=True)
"""


@pytest.mark.parametrize("how", ["link", "fifo", "folder-link"])
def test_sigterm_after_a_swap_still_ends_the_build_aborted(tmp_path, how):
    artifacts, host = make_world(tmp_path)
    for i in range(20):
        (artifacts / f"more-{i:02}.txt").write_bytes(b"more\n")
    results = tmp_path / "results"
    script = tmp_path / "publish_under_sigterm.py"
    script.write_text(SIGTERM_SCRIPT, encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, str(script), str(artifacts), str(results), str(host), how, str(Path(__file__).parent)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("uploading"), process.stderr.read() if process.stderr else ""
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert "result ABORTED" in out
    doc = finished(results)
    assert doc["result"] == "ABORTED" and "aborted" in doc["metadata"]["failure"].split(",")
    assert int(doc["metadata"]["not-uploaded"]) > 0  # a 1 s reserve fits nothing more
    assert HOST_MARK not in published_bytes(results)
