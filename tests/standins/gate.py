"""A loopback TCP gate in front of a server, to stand in for a cluster that is taken away.

What a client sees of a real outage, per state (read from a JSON file on every connection and every
chunk, so a separate process -- a disruption command, a stand-in `docker` -- can flip it):
  open     bytes flow both ways
  frozen   connections are accepted and then hang, established ones included (a paused container,
           a SIGSTOPped API server, a region cut off behind a load balancer)
  refused  new connections are closed at once and established ones dropped (a process that is gone)
`python -m tests.standins.gate STATE_FILE KEY STATE` sets one key from a command line.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

OPEN, FROZEN, REFUSED = "open", "frozen", "refused"
_POLL = 0.05


def read_state(path: Path, key: str) -> str:
    try:
        return str(json.loads(path.read_text(encoding="utf-8")).get(key, OPEN))
    except (OSError, ValueError):
        return OPEN


def write_state(path: Path, key: str, state: str) -> None:
    try:
        current = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        current = {}
    current[key] = state
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(current), encoding="utf-8")
    tmp.replace(path)


class Gate:
    """`with Gate.run(upstream_port, state) as gate:` clients use 127.0.0.1:gate.port."""

    def __init__(self, upstream_port: int, state: Callable[[], str]) -> None:
        self.upstream_port = upstream_port
        self.state = state
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.closed = threading.Event()

    @classmethod
    @contextlib.contextmanager
    def run(cls, upstream_port: int, state: Callable[[], str]) -> Iterator[Gate]:
        gate = cls(upstream_port, state)
        thread = threading.Thread(target=gate._accept, name=f"gate-{gate.port}", daemon=True)
        thread.start()
        try:
            yield gate
        finally:
            gate.closed.set()
            with contextlib.suppress(OSError):
                gate.listener.shutdown(socket.SHUT_RDWR)
            gate.listener.close()
            thread.join(10)

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _pass(self) -> bool:
        """Wait while frozen; False once the connection must go (refused, or the gate closed)."""
        while (state := self.state()) == FROZEN and not self.closed.is_set():
            time.sleep(_POLL)
        return state == OPEN and not self.closed.is_set()

    def _serve(self, conn: socket.socket) -> None:
        if not self._pass():
            conn.close()
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=10)
        except OSError:
            conn.close()
            return
        for sock in (conn, upstream):
            sock.settimeout(_POLL * 4)
        threading.Thread(target=self._pump, args=(upstream, conn), daemon=True).start()
        self._pump(conn, upstream)

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                try:
                    data = source.recv(65536)
                except TimeoutError:
                    if self.state() == REFUSED or self.closed.is_set():
                        return
                    continue
                if not data or not self._pass():
                    return
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.close()


def main(argv: list[str]) -> int:
    path, key, state = argv
    if state not in (OPEN, FROZEN, REFUSED):
        print(f"gate: state {state!r} is not one of {OPEN}, {FROZEN}, {REFUSED}", file=sys.stderr)
        return 2
    write_state(Path(path), key, state)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
