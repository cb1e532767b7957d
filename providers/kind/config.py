"""The kind cluster config: an ingress-ready control-plane node whose ports 80/443 reach the host.

Each cluster gets its own pair of host ports, so several clusters (and several runs) coexist on
one machine; the ports are chosen free on the host and never handed out twice by one provider.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from typing import Any

from providers.base import ConfigError

INGRESS_LABEL = "ingress-ready"
LISTEN_ADDRESS = "127.0.0.1"


@dataclass(frozen=True)
class IngressPorts:
    http: int
    https: int


class PortAllocator:
    """Free host ports, each handed out once per allocator, safe to call from bring-up threads."""

    def __init__(self, address: str = LISTEN_ADDRESS) -> None:
        self._address = address
        self._lock = threading.Lock()
        self._given: set[int] = set()

    def _free_port(self) -> int:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((self._address, 0))
            return sock.getsockname()[1]

    def pair(self) -> IngressPorts:
        with self._lock:
            ports: list[int] = []
            for _ in range(64):
                port = self._free_port()
                if port not in self._given and port not in ports:
                    ports.append(port)
                if len(ports) == 2:
                    self._given.update(ports)
                    return IngressPorts(*ports)
        raise ConfigError(f"no free host ports on {self._address} for the ingress port mappings",
                          "free some ports or stop other kind clusters")

    def release(self, ports: IngressPorts) -> None:
        with self._lock:
            self._given.difference_update((ports.http, ports.https))


def cluster_config(ports: IngressPorts, workers: int, listen: str = LISTEN_ADDRESS) -> dict[str, Any]:
    """kind.x-k8s.io/v1alpha4 Cluster: control plane labelled for ingress with port mappings, N workers.

    The label uses the node `labels` field rather than a kubeadm node-labels patch, so it does not
    depend on the kubeadm config version (kind switched to v1beta4 for Kubernetes 1.36+).
    """
    if workers < 0:
        raise ConfigError(f"{workers} workers is not a node count", "use 0 or more workers")
    control_plane = {
        "role": "control-plane",
        "labels": {INGRESS_LABEL: "true"},
        "extraPortMappings": [
            {"containerPort": 80, "hostPort": ports.http, "listenAddress": listen, "protocol": "TCP"},
            {"containerPort": 443, "hostPort": ports.https, "listenAddress": listen, "protocol": "TCP"},
        ],
    }
    return {
        "kind": "Cluster",
        "apiVersion": "kind.x-k8s.io/v1alpha4",
        "nodes": [control_plane] + [{"role": "worker"} for _ in range(workers)],
    }
