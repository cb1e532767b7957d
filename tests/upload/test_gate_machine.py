"""A state machine races a mutating artifacts folder against publish: files and folders appear, grow, vanish,
and turn into links (out of the folder and in), FIFOs and folder links, before planning, after it and while
uploads run. Whatever the interleaving, nothing from outside the folder is published, publish never hangs,
and every publish ends with finished.json."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from upload import layout, lint
from upload.record import BuildRecord
from upload.sinks import LocalSink

HOST_MARK = b"outside-the-folder-5c1e"
NAMES = ("a.txt", "b.log", "sub/c.txt", "sub/deep/d.txt", "junit_01.xml")
FOLDERS = ("sub", "sub/deep")
KINDS = ("file", "grow", "delete", "link-out", "link-in", "fifo", "folder-link", "folder-gone", "dir-for-file")

mutation = st.tuples(st.sampled_from(KINDS), st.sampled_from(NAMES), st.sampled_from(FOLDERS))


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file() or (path.exists() and not path.is_dir()):
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def mutate(artifacts: Path, host: Path, change: tuple[str, str, str]) -> None:
    """Apply one change; a change that does not fit the folder's current shape is simply not made."""
    kind, name, folder = change
    path, where = artifacts / name, artifacts / folder
    try:
        if kind == "file":
            path.parent.mkdir(parents=True, exist_ok=True)
            _remove(path)
            path.write_bytes(b"artifact " + name.encode() + b"\n")
        elif kind == "grow":  # never through a link, never blocking on a FIFO
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_NONBLOCK)
            try:
                os.write(fd, b"more\n" * 1000)
            finally:
                os.close(fd)
        elif kind == "delete":
            _remove(path)
        elif kind == "link-out":
            _remove(path)
            path.symlink_to(host / "secret.txt")
        elif kind == "link-in":
            _remove(path)
            path.symlink_to(artifacts / "a.txt")
        elif kind == "fifo":
            _remove(path)
            os.mkfifo(path)
        elif kind == "folder-link":
            _remove(where)
            where.symlink_to(host, target_is_directory=True)
        elif kind == "folder-gone":
            _remove(where)
        elif kind == "dir-for-file":
            _remove(path)
            path.mkdir(parents=True)
    except OSError:
        pass  # e.g. the parent is a link or a file now: the change does not apply


class _MutatingSink(LocalSink):
    """Applies the queued changes while the first artifact is being written."""

    def __init__(self, root: Path, artifacts: Path, host: Path, changes: list) -> None:
        super().__init__(root, workers=2)
        self.artifacts, self.host, self.changes = artifacts, host, list(changes)
        self.lock = threading.Lock()

    def create(self, key, data, content_type):
        if "/artifacts/" in key:
            with self.lock:
                changes, self.changes = self.changes, []
            for change in changes:
                mutate(self.artifacts, self.host, change)
        super().create(key, data, content_type)


class PublishRace(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="fedtest-race-"))
        self.host = self.tmp / "host"
        self.host.mkdir()
        for name in ("secret.txt", "a.txt", "c.txt", "d.txt"):
            (self.host / name).write_bytes(HOST_MARK + b"\n")
        (self.host / "deep").mkdir()
        (self.host / "deep" / "d.txt").write_bytes(HOST_MARK + b"\n")
        self.artifacts = self.tmp / "artifacts"
        self.results = self.tmp / "results"
        for name in NAMES:
            mutate(self.artifacts, self.host, ("file", name, "sub"))
        self.builds = 0

    def teardown(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    @rule(change=mutation)
    def change_before_planning(self, change):
        mutate(self.artifacts, self.host, change)

    @rule(after_planning=st.lists(mutation, max_size=3), mid_upload=st.lists(mutation, max_size=3))
    def publish(self, after_planning, mid_upload):
        self.builds += 1
        build = str(self.builds)
        real_plan = lint.plan_artifacts

        def plan_then_change(*args, **kwargs):
            planned = real_plan(*args, **kwargs)
            for change in after_planning:
                mutate(self.artifacts, self.host, change)
            return planned

        sink = _MutatingSink(self.results, self.artifacts, self.host, mid_upload)
        outcome: dict = {}

        def run() -> None:
            record = BuildRecord.open(str(self.results), job="j", build_id=build, env={}, sink=sink,
                                      log=lambda _line: None)
            outcome["report"] = record.finish("SUCCESS", artifacts_dir=self.artifacts)

        lint.plan_artifacts = plan_then_change
        try:
            thread = threading.Thread(target=run, daemon=True)
            thread.start()
            thread.join(60)
        finally:
            lint.plan_artifacts = real_plan
        assert not thread.is_alive(), "publish hung"
        doc = json.loads((self.results / "logs/j" / build / "finished.json").read_text())
        assert doc["result"] in layout.RESULTS and doc["result"] == outcome["report"].result
        assert (self.results / "logs/j/latest-build.txt").read_text().strip() == build

    @invariant()
    def nothing_from_outside_is_published(self):
        if not self.results.exists():
            return
        for path in self.results.rglob("*"):
            assert not path.is_symlink(), path
            if path.is_file():
                assert HOST_MARK not in path.read_bytes(), path


PublishRace.TestCase.settings = settings(
    max_examples=30, stateful_step_count=8, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_publish_races_a_mutating_artifacts_folder = PublishRace.TestCase
