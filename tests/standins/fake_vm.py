"""What a booted kubeadm VM would do, for fakes that cannot run cloud-init.

`ControlPlaneStandIn` listens on a loopback port (the cluster's API port) and, once `boot(user_data)`
has read the CA and the certSANs out of the control plane's cloud-config (as kubeadm init does),
terminates mutual TLS with a serving certificate from that CA and relays to a kmock API server.
So a kubeconfig the harness assembled works only if the CA it handed over is the one it trusts.
`register_node(name)` plays kubelet + kubeadm join: a Ready Node appears in the API.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from tests.standins.tls import issue_server_cert


def cloud_config_files(user_data: str) -> dict[str, str]:
    assert user_data.startswith("#cloud-config\n"), "user data is not a cloud-config"
    return {f["path"]: f["content"] for f in yaml.safe_load(user_data)["write_files"]}


@dataclass
class ControlPlaneStandIn:
    upstream_port: int
    folder: Path
    port: int = 0
    sans: list[str] = field(default_factory=list)
    client_subjects: list[str] = field(default_factory=list)
    serving: Callable[[], bool] = field(default_factory=lambda: lambda: True)  # False: VM stopped or port fenced
    _context: ssl.SSLContext | None = None
    _listener: socket.socket | None = None

    @classmethod
    @contextlib.contextmanager
    def run(cls, upstream_url: str, folder: Path) -> Iterator[ControlPlaneStandIn]:
        standin = cls(int(upstream_url.rsplit(":", 1)[1]), folder)
        listener = socket.create_server(("127.0.0.1", 0))
        standin._listener, standin.port = listener, listener.getsockname()[1]
        thread = threading.Thread(target=standin._accept, name="control-plane-standin", daemon=True)
        thread.start()
        try:
            yield standin
        finally:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
            listener.close()
            thread.join(10)

    def boot(self, user_data: str) -> None:
        """kubeadm init's part: serve with a certificate from the handed-over CA for the configured SANs."""
        files = cloud_config_files(user_data)
        ca_cert = files["/etc/kubernetes/pki/ca.crt"].encode()
        ca_key = files["/etc/kubernetes/pki/ca.key"].encode()
        cluster_config = list(yaml.safe_load_all(files["/etc/fedtest/kubeadm.yaml"]))[1]
        self.sans = list(cluster_config["apiServer"]["certSANs"])
        cert, key = issue_server_cert(ca_cert, ca_key, self.folder, "apiserver")
        (self.folder / "cluster-ca.crt").write_bytes(ca_cert)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        context.load_verify_locations(self.folder / "cluster-ca.crt")
        context.verify_mode = ssl.CERT_REQUIRED
        self._context = context

    def _accept(self) -> None:
        assert self._listener is not None
        while True:
            try:
                conn, _addr = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        named = [str(ipaddress.ip_address(s)) for s in self.sans if _is_ip(s)]
        if not self.serving() or self._context is None or "127.0.0.1" not in named:
            conn.close()  # not booted yet (or the cert would not name this address): like a closed port
            return
        try:
            tls = self._context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            conn.close()
            return
        peer = tls.getpeercert() or {}
        self.client_subjects.append(dict(x[0] for x in peer.get("subject", ()))["commonName"])
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        threading.Thread(target=_pump, args=(upstream, tls), daemon=True).start()
        _pump(tls, upstream)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.close()


def register_node(api: client.ApiClient, name: str, ready: bool = True) -> Any:
    """kubeadm join + kubelet's part: a Node with a Ready condition."""
    return client.CoreV1Api(api).create_node({
        "apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    })
