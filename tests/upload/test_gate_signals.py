"""Signals and the terminal: a SIGTERM during the tests cancels no upload; one while publishing drops only
what the reserve cannot fit; a terminal that goes away (EPIPE) does not stop the log or the record."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from fedtest.abort import AbortController
from fedtest.console import ConsoleLog, Tee
from upload.record import BuildRecord
from upload.sinks import LocalSink


class _SlowSink(LocalSink):
    """One upload at a time, each taking `seconds` (a slow link to the bucket)."""

    def __init__(self, root: Path, seconds: float) -> None:
        super().__init__(root, workers=1)
        self.seconds = seconds

    def create(self, key, data, content_type):
        if "/artifacts/" in key:
            time.sleep(self.seconds)
        super().create(key, data, content_type)


def artifacts_of(tmp_path: Path, count: int) -> Path:
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    (artifacts / "junit_01.xml").write_bytes(b"<testsuites><testsuite name='s'><testcase name='a'/></testsuite>"
                                             b"</testsuites>")
    for i in range(count):
        (artifacts / f"evidence-{i:02}.txt").write_bytes(b"evidence\n")
    return artifacts


def test_a_sigterm_during_the_tests_cancels_no_upload(tmp_path):
    artifacts = artifacts_of(tmp_path, 15)
    results = tmp_path / "results"
    watch = AbortController(reserve_seconds=60, grace_seconds=None).install()
    try:
        os.kill(os.getpid(), signal.SIGTERM)  # during the tests
        deadline = time.monotonic() + 5
        while not watch.aborted and time.monotonic() < deadline:
            time.sleep(0.01)
        watch.settle()
        record = BuildRecord.open(str(results), job="j", build_id="1", env={}, sink=_SlowSink(results, 0.1),
                                  log=lambda _line: None)
        report = record.finish("ABORTED", artifacts_dir=artifacts, stop=watch)
    finally:
        watch.uninstall()
    assert report.uploaded == 16 and report.not_uploaded == 0  # every file: 15 and the JUnit
    meta = json.loads((results / "logs/j/1/finished.json").read_text())["metadata"]
    assert "not-uploaded" not in meta and "aborted" in meta["failure"].split(",")


def test_a_sigterm_while_publishing_drops_only_what_the_reserve_cannot_fit(tmp_path):
    artifacts = artifacts_of(tmp_path, 40)
    results = tmp_path / "results"
    watch = AbortController(reserve_seconds=6.5, grace_seconds=None).install()  # 1.5 s left for uploads
    watch.settle()
    timer = threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGTERM))
    try:
        record = BuildRecord.open(str(results), job="j", build_id="1", env={}, sink=_SlowSink(results, 0.1),
                                  log=lambda _line: None)
        timer.start()
        report = record.finish("SUCCESS", artifacts_dir=artifacts, stop=watch)
    finally:
        timer.cancel()
        watch.uninstall()
    doc = json.loads((results / "logs/j/1/finished.json").read_text())
    assert doc["result"] == report.result == "ABORTED"
    assert doc["metadata"]["abort-reason"] == "SIGTERM while publishing"
    assert "aborted" in doc["metadata"]["failure"].split(",")
    assert 10 <= report.uploaded < 41 and report.not_uploaded == int(doc["metadata"]["not-uploaded"]) > 0
    assert (results / "logs/j/latest-build.txt").read_text().strip() == "1"


class _BrokenPipe:
    """A terminal whose reader went away: every write and flush fails with EPIPE."""

    closed = False

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")

    def fileno(self) -> int:
        raise OSError("no descriptor")


def test_a_broken_terminal_keeps_the_log_whole(tmp_path):
    log = (tmp_path / "build-log.txt").open("w", encoding="utf-8")
    tee = Tee(_BrokenPipe(), log)
    print("line one", file=tee)  # print writes the text, then "\n": both must reach the log
    print("line two", file=tee)
    tee.flush()
    log.close()
    assert (tmp_path / "build-log.txt").read_text() == "line one\nline two\n"
    assert tee.terminal_gone


TERMINAL_GOES_AWAY = """
import os, sys, time
from pathlib import Path
from fedtest.console import ConsoleLog

class Writer:  # what pytest's TerminalWriter holds: its stream in `_file`
    _file = sys.stdout

log = ConsoleLog(Path(sys.argv[1]))
writer = Writer()
log.start(writer)
writer._file.write("before the abort\\n")
sys.stdin.readline()  # the reader of stdout is gone by now
for i in range(3):
    writer._file.write(f"after the abort {i}\\n")
    print(f"print {i}")  # anyone else writing to stdout must not die either
log.stop()
open(sys.argv[2], "w").write("finished")
"""


def test_a_run_whose_stdout_reader_dies_finishes_its_log(tmp_path):
    """Jenkins' abort kills tox, which read the run's stdout: the run gets EPIPE, and must go on."""
    log, done = tmp_path / "build-log.txt", tmp_path / "done"
    read_end, write_end = os.pipe()
    process = subprocess.Popen([sys.executable, "-c", TERMINAL_GOES_AWAY, str(log), str(done)],
                               stdin=subprocess.PIPE, stdout=write_end, stderr=subprocess.PIPE, text=True)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        assert reader.readline() == b"before the abort\n"
    # the pipe's only reader is closed: the next write to stdout gets EPIPE
    _out, err = process.communicate("go\n", timeout=60)
    assert process.returncode == 0, err
    assert "BrokenPipeError" not in err and "Traceback" not in err
    assert done.read_text() == "finished"
    assert log.read_text() == "before the abort\n" + "".join(f"after the abort {i}\n" for i in range(3))


def test_console_log_keeps_lines_written_for_the_log_only(tmp_path):
    log = ConsoleLog(tmp_path / "artifacts" / "build-log.txt")
    log.start(None)
    log.write("published 3 objects")
    log.stop()
    assert (tmp_path / "artifacts" / "build-log.txt").read_text() == "published 3 objects\n"
