"""A federation of stand-in clusters that can be taken away: API servers behind gates (outage_world),
each shard's pods stood in for by a local HTTP server behind a data-plane gate, and what the
controllers would have written (NodePort, a node at 127.0.0.1 with topology labels, ready EndpointSlices).

The fake bed's commands (`existing` settings) flip both gates, as ../shared/bed/outage does.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from kubernetes import client, config
from kubernetes.client.rest import ApiException

from e2e.framework import builders, federation, waits
from tests.framework.conftest import serve_discovery
from tests.standins.fake_bed import data_key
from tests.standins.gate import Gate, read_state
from tests.standins.httpserver import serving
from tests.standins.outage_world import OutageWorld, outage_world

NAMESPACE = "work"


@dataclass
class FederationWorld:
    outage: OutageWorld
    clients: dict[str, client.ApiClient]
    shard_ports: dict[str, int]  # the data-plane gate of each cluster's shard

    def service(self, name: str = "echo") -> federation.FederatedService:
        return federation.FederatedService(name, NAMESPACE, self.clients, builders.Images(), replicas=2)

    def play_controllers(self, service: str, topology: Mapping[str, tuple[str, str]],
                         namespace: str = NAMESPACE) -> None:
        """NodePort, a labelled node at 127.0.0.1 and ready endpoints, in every cluster."""
        for name, api in self.clients.items():
            core, discovery = client.CoreV1Api(api), client.DiscoveryV1Api(api)
            core.patch_namespaced_service(service, namespace, {"spec": {"ports": [
                {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP",
                 "nodePort": self.shard_ports[name]}]}})
            zone, region = topology.get(name, ("", ""))
            labels = {k: v for k, v in ((federation.ZONE_LABEL, zone), (federation.REGION_LABEL, region)) if v}
            with contextlib.suppress(ApiException):  # a node per cluster, whatever the service
                core.create_node({"metadata": {"name": f"{name}-node", "labels": labels}, "status": {"addresses": [
                    {"type": "InternalIP", "address": "127.0.0.1"}]}})
            discovery.create_namespaced_endpoint_slice(namespace, {
                "metadata": {"name": f"{service}-abc", "namespace": namespace,
                             "labels": {waits.SERVICE_NAME_LABEL: service}},
                "addressType": "IPv4", "endpoints": [{"addresses": ["10.1.0.1"], "conditions": {"ready": True}}]})

    @contextlib.contextmanager
    def controllers_for(self, service: str, topology: Mapping[str, tuple[str, str]]) -> Iterator[None]:
        """Play the controllers for `service` in whatever namespace it appears (a run's own), once all shards exist."""
        done = threading.Event()
        played: set[str] = set()

        def loop() -> None:
            while not done.wait(0.2):
                found = []
                for api in self.clients.values():
                    with contextlib.suppress(Exception):
                        listed = client.CoreV1Api(api).list_service_for_all_namespaces(_request_timeout=2).items
                        found.append({s.metadata.namespace for s in listed if s.metadata.name == service})
                ready = set.intersection(*found) if len(found) == len(self.clients) else set()
                for namespace in sorted(ready - played):
                    self.play_controllers(service, topology, namespace)
                    played.add(namespace)

        thread = threading.Thread(target=loop, name=f"controllers {service}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join(10)

    def set_ready(self, cluster: str, service: str, ready: bool) -> None:
        client.DiscoveryV1Api(self.clients[cluster]).patch_namespaced_endpoint_slice(
            f"{service}-abc", NAMESPACE,
            {"endpoints": [{"addresses": ["10.1.0.1"], "conditions": {"ready": ready}}]})


@contextlib.contextmanager
def federation_world(root: Path, names: list[str]) -> Iterator[FederationWorld]:
    with outage_world(root, names) as outage, contextlib.ExitStack() as stack:
        for name in names:
            serve_discovery(outage.kube, name)
        ports = {}
        for name in names:
            upstream = stack.enter_context(serving(lambda _h, n=name: (200, f"echo-{n}-pod")))
            gate = stack.enter_context(Gate.run(upstream, lambda n=name: read_state(outage.state, data_key(n))))
            ports[name] = gate.port
        clients = {n: config.new_client_from_config(str(outage.kubeconfig), context=n) for n in names}
        try:
            yield FederationWorld(outage, clients, ports)
        finally:
            for api in clients.values():
                api.close()
