"""Two loopback Kubernetes API stand-ins ("east", "west") with clients, for the e2e framework's tests."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from tests.standins.kube import KubeStandIn
from tests.standins.kubelet import FakeKubelet

NAMESPACE = "work"
API_GROUPS = {
    "kind": "APIGroupList", "apiVersion": "v1",
    "groups": [{"name": "discovery.k8s.io",
                "versions": [{"groupVersion": "discovery.k8s.io/v1", "version": "v1"}],
                "preferredVersion": {"groupVersion": "discovery.k8s.io/v1", "version": "v1"}}],
}


@dataclass
class Clusters:
    kube: KubeStandIn
    clients: dict[str, client.ApiClient]

    def emulator(self, name: str) -> Any:
        return self.kube.clusters[name].emulator

    def reads(self, name: str) -> int:
        """GET requests (lists and watches) the cluster has answered so far."""
        return sum(1 for r in list(self.emulator(name)) if str(r.method).upper().endswith("GET"))

    def requests(self, name: str) -> list[str]:
        return [f"{str(r.method).rsplit('.', 1)[-1]} {r.url}" for r in list(self.emulator(name))]

    def kubelet(self, name: str, **kwargs: Any) -> FakeKubelet:
        return FakeKubelet(self.kube, name, self.clients[name], **kwargs)


def serve_discovery(kube: KubeStandIn, name: str) -> None:
    """kmock does not serve /apis; the clients ask it whether EndpointSlices exist.
    (A plain "get /apis" pattern would also catch every /apis/... request: match the path exactly.)"""
    emulator = kube.clusters[name].emulator
    kube.call(lambda: emulator["get"][re.compile(r"/apis/?")] << API_GROUPS)


@pytest.fixture
def clusters(tmp_path: Path) -> Iterator[Clusters]:
    with KubeStandIn.run(["east", "west"]) as kube:
        for name in kube.clusters:
            serve_discovery(kube, name)
        kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")
        clients = {n: config.new_client_from_config(str(kubeconfig), context=n) for n in kube.clusters}
        yield Clusters(kube, clients)
        for api in clients.values():
            api.close()


@pytest.fixture
def east(clusters: Clusters) -> client.ApiClient:
    return clusters.clients["east"]
