"""A loopback HTTP proxy that injects faults in front of a server (fake-gcs-server in our tests).

Faults: 503 and 429 answers, connection resets before the request is forwarded, resets after it was
forwarded (the write lands, its response is lost: the case that tests write-once retries), and stalls
(the connection hangs past the client's timeout, then resets). A seeded plan decides; injection stops
after `budget` faults. Every request is logged in order, with the object a successful upload created,
so a test can check exactly-once and upload order.
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import struct
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

FAULTS = ("503", "429", "reset_before", "reset_after", "stall")
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "host", "proxy-connection", "content-length"}


@dataclass
class Entry:
    """One request through the proxy."""

    seq: int
    method: str
    path: str
    fault: str | None
    status: int | None = None
    created: str | None = None  # object name a successful upload created
    created_seq: int = 0  # its place in the order objects were created


class FaultPlan:
    """Seeded fault decisions: each request is faulted with probability `rate` until `budget` is spent."""

    def __init__(
        self, budget: int, rate: float, seed: int = 7, max_stalls: int = 6, kinds: tuple[str, ...] = FAULTS
    ) -> None:
        self.budget = budget
        self.rate = rate
        self.random = random.Random(seed)
        self.max_stalls = max_stalls
        self.kinds = kinds
        self.injected: dict[str, int] = {}
        self.lock = threading.Lock()

    @property
    def total(self) -> int:
        return sum(self.injected.values())

    def next(self) -> str | None:
        with self.lock:
            if self.total >= self.budget or self.random.random() >= self.rate:
                return None
            kind = self.random.choice(self.kinds)
            if kind == "stall" and self.injected.get("stall", 0) >= self.max_stalls:
                kind = "503"
            self.injected[kind] = self.injected.get(kind, 0) + 1
            return kind


class FaultProxy:
    """`FaultProxy(upstream_port, plan).start()`; `url` goes to the client; `entries` is the log."""

    def __init__(self, upstream_port: int, plan: FaultPlan | None = None, stall_seconds: float = 1.0) -> None:
        self.upstream_port = upstream_port
        self.plan = plan or FaultPlan(budget=0, rate=0.0)
        self.stall_seconds = stall_seconds
        self.entries: list[Entry] = []
        self._created_counter = 0
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _any(self) -> None:
                proxy._handle(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _any

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: object, client_address: object) -> None:
                pass  # clients drop connections on purpose here (timeouts after stalls)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> FaultProxy:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _log(self, method: str, path: str, fault: str | None) -> Entry:
        with self.lock:
            entry = Entry(len(self.entries), method, path, fault)
            self.entries.append(entry)
            return entry

    @staticmethod
    def _reset(handler: BaseHTTPRequestHandler) -> None:
        """Drop the connection with a TCP reset."""
        handler.close_connection = True
        try:
            handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            handler.connection.close()
        except OSError:
            pass

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        fault = self.plan.next()
        entry = self._log(handler.command, handler.path, fault)
        if fault in ("503", "429"):
            payload = json.dumps({"error": {"code": int(fault), "message": "injected"}}).encode()
            handler.send_response(int(fault))
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
            entry.status = int(fault)
            return
        if fault == "reset_before":
            self._reset(handler)
            return
        if fault == "stall":
            time.sleep(self.stall_seconds)
            self._reset(handler)
            return
        status, headers, data = self._forward(handler, body)
        entry.status = status
        entry.created = self._created(handler.command, handler.path, status, data)
        if entry.created:
            with self.lock:  # creation order is the order responses came back from the server
                self._created_counter += 1
                entry.created_seq = self._created_counter
        if fault == "reset_after":
            self._reset(handler)
            return
        handler.send_response(status)
        for key, value in headers:
            if key.lower() not in HOP_HEADERS:
                handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _forward(self, handler: BaseHTTPRequestHandler, body: bytes) -> tuple[int, list, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=60)
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in HOP_HEADERS}
        headers["Content-Length"] = str(len(body))
        try:
            conn.request(handler.command, handler.path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            conn.close()

    @staticmethod
    def _created(method: str, path: str, status: int, data: bytes) -> str | None:
        if method not in ("POST", "PUT") or status != 200 or not path.startswith("/upload/"):
            return None
        query = parse_qs(urlparse(path).query)
        if query.get("uploadType") == ["resumable"] and method == "POST":
            return None  # starting a resumable session creates nothing
        try:
            return json.loads(data).get("name")
        except ValueError:
            return None

    def creations(self) -> list[str]:
        """Object names in the order the server created them."""
        with self.lock:
            made = [e for e in self.entries if e.created]
        return [e.created for e in sorted(made, key=lambda e: e.created_seq)]
