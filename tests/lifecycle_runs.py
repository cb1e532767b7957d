"""Real fedtest runs in a subprocess, for tests that send real signals and read what the run left."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

JOB, BUILD = "nightly", "5"
# Plugins installed for the harness's own tests that no inner run uses: hypothesis and kmock (with aiohttp)
# cost over a second of every pytest process's start-up.
UNUSED_PLUGINS = ("-p", "no:hypothesispytest", "-p", "no:kmock")
INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"


@dataclass
class RunningSuite:
    """A pytest process running a suite with the fedtest plugin, in its own process group (as Jenkins runs it)."""

    process: subprocess.Popen[str]
    artifacts: Path

    @property
    def build(self) -> Path:
        return self.artifacts / "logs" / JOB / BUILD

    def wait_for(self, ready: Callable[[], bool], timeout: float = 60.0, poll: float = 0.001) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if self.process.poll() is not None:
                raise AssertionError(f"the run ended first (exit {self.process.returncode}): {self.output()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"not ready within {timeout}s")
            time.sleep(poll)

    def log_has(self, text: str) -> bool:
        log = self.artifacts / "build-log.txt"
        return log.is_file() and text in log.read_text(errors="replace")

    def signal(self, signum: int) -> None:
        os.killpg(self.process.pid, signum)

    def finish(self, timeout: float = 120.0) -> int:
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            raise
        return self.process.returncode

    def output(self) -> str:
        if self.process.poll() is None:
            return ""
        out, _ = self.process.communicate()
        return out or ""

    def document(self, name: str) -> dict:
        return json.loads((self.build / name).read_text())


def junit_outcomes(junit: Path) -> dict[str, str]:
    """Case name -> passed, failure, error or skipped, as a JUnit file says."""
    outcome = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        tags = [t for t in ("failure", "error", "skipped") if case.find(t) is not None]
        outcome[case.get("name")] = tags[0] if tags else "passed"
    return outcome


def start_suite(tmp_path: Path, suite: str, kubeconfig: Path, *args: str,
                env: dict[str, str] | None = None) -> RunningSuite:
    folder = tmp_path / "suite"
    folder.mkdir(exist_ok=True)
    (folder / "pytest.ini").write_text(INI)
    (folder / "test_suite.py").write_text(suite)
    artifacts = tmp_path / "artifacts"
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *UNUSED_PLUGINS, str(folder),
               "--provider", "existing", "--kubeconfig", str(kubeconfig), "--artifacts", str(artifacts),
               "--job", JOB, "--build-id", BUILD, *args]
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    full_env.pop("PYTEST_XDIST_WORKER", None)
    process = subprocess.Popen(command, cwd=folder, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
    return RunningSuite(process, artifacts)


def fedtest(*args: str, env: dict[str, str] | None = None, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """The `fedtest` command as a user runs it (this interpreter's, so it is the installed one)."""
    return subprocess.run([sys.executable, "-m", "fedtest", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
