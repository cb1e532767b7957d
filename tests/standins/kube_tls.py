"""An HTTPS front that plays a kubeadm API server for a KubeStandIn cluster.

A VM provider hands the control plane its cluster CA through cloud-init; kubeadm then serves
the API with a certificate from that CA and trusts client certificates it signed. The front
does the same on 127.0.0.1: it listens from the start (so its port can be passed to the
provider), and once `arm(ca_cert, ca_key)` is called (when the fake cloud "boots" the
control-plane VM) it serves TLS with a certificate for 127.0.0.1 signed by that CA, requires a
client certificate from the same CA, and forwards each request to the plain-http stand-in.
Before it is armed, connections are closed, like a port nobody listens on yet.
"""

from __future__ import annotations

import contextlib
import http.client
import ssl
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.standins.tls import issue_server_cert

_HOP_HEADERS = {"host", "connection", "keep-alive", "transfer-encoding", "content-length"}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    context: ssl.SSLContext | None = None
    backend: tuple[str, int] = ("127.0.0.1", 0)
    client_subjects: list[str]

    def get_request(self) -> tuple[Any, Any]:
        sock, addr = self.socket.accept()
        if self.context is None:
            sock.close()
            raise OSError("not booted yet")
        sock.settimeout(10)
        return self.context.wrap_socket(sock, server_side=True), addr


class _Forward(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def _forward(self) -> None:
        cert = self.connection.getpeercert() if isinstance(self.connection, ssl.SSLSocket) else None
        subject = dict(x[0] for x in (cert or {}).get("subject", ()))
        self.server.client_subjects.append(subject.get("commonName", ""))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS}
        upstream = http.client.HTTPConnection(*self.server.backend, timeout=30)
        try:
            upstream.request(self.command, self.path, body=body, headers=headers)
            answer = upstream.getresponse()
            data = answer.read()
        finally:
            upstream.close()
        self.send_response(answer.status)
        for key, value in answer.getheaders():
            if key.lower() not in _HOP_HEADERS:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward


class KubeTLSFront:
    def __init__(self, server: _Server, folder: Path) -> None:
        self._server = server
        self._folder = folder

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def armed(self) -> bool:
        return self._server.context is not None

    @property
    def client_subjects(self) -> list[str]:
        """Common names of the client certificates seen, one per request."""
        return list(self._server.client_subjects)

    def arm(self, ca_cert_pem: bytes, ca_key_pem: bytes) -> None:
        cert, key = issue_server_cert(ca_cert_pem, ca_key_pem, self._folder, stem="apiserver")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cadata=ca_cert_pem.decode())
        self._server.context = context

    @classmethod
    @contextlib.contextmanager
    def run(cls, backend_url: str) -> Iterator[KubeTLSFront]:
        backend = urlsplit(backend_url)
        server = _Server(("127.0.0.1", 0), _Forward)
        server.backend = (backend.hostname or "127.0.0.1", backend.port or 80)
        server.client_subjects = []
        thread = threading.Thread(target=server.serve_forever, name="kube-tls-front", daemon=True)
        thread.start()
        with tempfile.TemporaryDirectory(prefix="kube-tls-") as folder:
            try:
                yield cls(server, Path(folder))
            finally:
                server.shutdown()
                server.server_close()
                thread.join(10)
