"""Fake controllers for the stand-in API: what kube-controller-manager and a node would write.

For every Deployment this keeps `spec.replicas` pods (named <deployment>-<cluster>-<i>, Running),
one EndpointSlice with that many ready endpoints, a NodePort on the Service of the same name (the port
of a local HTTP server the test runs for that cluster) and a Node at 127.0.0.1. When the Deployment
goes, its pods, slice and nothing else go with it. It reconciles in a loop: this is test code, where
polling the stand-in is fine.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException

SERVICE_NAME_LABEL = "kubernetes.io/service-name"


class FakeControllers:
    """`with FakeControllers("east", api, node_port=8123):` for one stand-in cluster."""

    def __init__(self, cluster: str, api: client.ApiClient, node_port: int, period: float = 0.1) -> None:
        self.cluster = cluster
        self.core, self.apps = client.CoreV1Api(api), client.AppsV1Api(api)
        self.discovery = client.DiscoveryV1Api(api)
        self.node_port = node_port
        self.period = period
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"controllers-{cluster}", daemon=True)

    def __enter__(self) -> FakeControllers:
        with contextlib.suppress(ApiException):
            self.core.create_node({"metadata": {"name": f"{self.cluster}-node"}, "status": {"addresses": [
                {"type": "InternalIP", "address": "127.0.0.1"}]}})
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _loop(self) -> None:
        while not self._stop.wait(self.period):
            try:
                self.reconcile()
            except Exception as err:  # keep reconciling, as a controller does; the test sees the outcome
                self.errors.append(f"{type(err).__name__}: {err}"[:300])

    def reconcile(self) -> None:
        deployments = {(d.metadata.namespace, d.metadata.name): d
                       for d in self.apps.list_deployment_for_all_namespaces().items}
        for (namespace, name), deployment in deployments.items():
            self._pods(namespace, name, deployment.spec.replicas or 0)
            self._slice(namespace, name, deployment.spec.replicas or 0)
            self._node_port(namespace, name)
        for pod in self.core.list_pod_for_all_namespaces().items:
            owner = (pod.metadata.labels or {}).get("app")
            if owner and (pod.metadata.namespace, owner) not in deployments:
                self.core.delete_namespaced_pod(pod.metadata.name, pod.metadata.namespace)

    def _pods(self, namespace: str, app: str, replicas: int) -> None:
        existing = {p.metadata.name for p in self.core.list_namespaced_pod(namespace).items
                    if (p.metadata.labels or {}).get("app") == app}
        wanted = {f"{app}-{self.cluster}-{i}" for i in range(replicas)}
        for name in sorted(wanted - existing):
            self.core.create_namespaced_pod(namespace, {
                "metadata": {"name": name, "namespace": namespace, "labels": {"app": app}},
                "spec": {"containers": [{"name": "server", "image": "agnhost"}]},
                "status": {"phase": "Running"}})
        for name in sorted(existing - wanted):
            self.core.delete_namespaced_pod(name, namespace)

    def _slice(self, namespace: str, service: str, ready: int) -> None:
        endpoints = [{"addresses": [f"10.0.0.{i + 1}"], "conditions": {"ready": True}} for i in range(ready)]
        body: dict[str, Any] = {"metadata": {"name": f"{service}-slice", "namespace": namespace,
                                             "labels": {SERVICE_NAME_LABEL: service}},
                                "addressType": "IPv4", "endpoints": endpoints}
        try:
            current = self.discovery.read_namespaced_endpoint_slice(f"{service}-slice", namespace)
        except ApiException as err:
            if err.status != 404:
                raise
            self.discovery.create_namespaced_endpoint_slice(namespace, body)
            return
        if len(current.endpoints or []) != ready:
            self.discovery.patch_namespaced_endpoint_slice(f"{service}-slice", namespace,
                                                           {"endpoints": endpoints})

    def _node_port(self, namespace: str, name: str) -> None:
        try:
            svc = self.core.read_namespaced_service(name, namespace)
        except ApiException as err:
            if err.status == 404:
                return
            raise
        ports = svc.spec.ports or []
        if svc.spec.type == "NodePort" and ports and not ports[0].node_port:
            port = ports[0]
            self.core.patch_namespaced_service(name, namespace, {"spec": {"ports": [{
                "name": port.name, "port": port.port, "targetPort": port.target_port,
                "protocol": port.protocol, "nodePort": self.node_port}]}})
