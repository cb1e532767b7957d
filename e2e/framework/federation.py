"""Federated services: one Deployment and Service in every cluster, their aggregated status, a resolver.

The resolver follows the cross-cluster services model: a client in cluster X uses X's own shard while
it has ready endpoints, else the reachable address of a healthy shard in another cluster.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from google.api_core import retry as api_retry
from kubernetes import client
from kubernetes.client.rest import ApiException

from e2e.framework import builders, waits
from e2e.framework.config import DEFAULT_REACH_WINDOW
from e2e.framework.fanout import FanOut, fan_out


@dataclass(frozen=True)
class Shard:
    """One cluster's part of a federated service."""

    cluster: str
    desired: int
    ready_endpoints: list[str]
    address: str | None  # reachable from outside the cluster (NodePort or LoadBalancer), if any
    error: str | None = None

    @property
    def healthy(self) -> bool:
        return self.error is None and bool(self.ready_endpoints)


@dataclass(frozen=True)
class Reach:
    """Whether `address` answered a TCP connect within the window, after how long and how many tries."""

    address: str
    ok: bool
    seconds: float
    attempts: int
    last_error: str = ""


@dataclass(frozen=True)
class Resolution:
    cluster: str
    address: str
    local: bool
    reason: str
    reach: Reach | None = None  # how the remote shard's address was found reachable; None for the local one

    @property
    def reach_seconds(self) -> float:
        return self.reach.seconds if self.reach else 0.0


class NoHealthyShard(AssertionError):
    """No shard of the service can serve; the message says what each cluster reported."""


class FederatedService:
    """`name` in `namespace` of every cluster in `clients` (cluster name -> ApiClient)."""

    def __init__(self, name: str, namespace: str, clients: Mapping[str, client.ApiClient],
                 images: builders.Images, *, replicas: int = 2, port: int = 80,
                 service_type: str = "NodePort") -> None:
        self.name = name
        self.namespace = namespace
        self.clients = dict(clients)
        self.images = images
        self.replicas = replicas
        self.port = port
        self.service_type = service_type

    def create(self) -> FanOut[None]:
        def one(_cluster: str, api: client.ApiClient) -> None:
            builders.create(api, self.namespace, builders.hostname_server(
                self.name, self.images, replicas=self.replicas))
            builders.create(api, self.namespace, builders.service(
                self.name, {"app": self.name}, port=self.port, service_type=self.service_type))

        return fan_out(one, self.clients)

    def wait_healthy(self, timeout: float) -> dict[str, list[str]]:
        """Every shard has ready endpoints; returns them per cluster (raises naming the failing ones)."""
        deadline = waits.Deadline(timeout)
        return fan_out(lambda _c, api: waits.endpoints_ready(api, self.namespace, self.name, 1, deadline),
                       self.clients).raise_errors(f"shards of {self.name} becoming healthy")

    def status(self) -> dict[str, Shard]:
        """The aggregated status: one Shard per cluster (a cluster that cannot answer carries its error)."""
        outcome = fan_out(self._shard, self.clients)
        shards = dict(outcome.results)
        for cluster, err in outcome.errors.items():
            shards[cluster] = Shard(cluster, 0, [], None, error=f"{type(err).__name__}: {err}")
        return dict(sorted(shards.items()))

    def _shard(self, cluster: str, api: client.ApiClient) -> Shard:
        deployment = client.AppsV1Api(api).read_namespaced_deployment(self.name, self.namespace)
        ready = self._ready_endpoints(api)
        return Shard(cluster, deployment.spec.replicas or 0, ready, self._address(api))

    def _ready_endpoints(self, api: client.ApiClient) -> list[str]:
        if waits.has_endpoint_slices(api):
            slices = client.DiscoveryV1Api(api).list_namespaced_endpoint_slice(
                self.namespace, label_selector=f"{waits.SERVICE_NAME_LABEL}={self.name}").items
            mine = {s.metadata.name: s for s in slices
                    if (s.metadata.labels or {}).get(waits.SERVICE_NAME_LABEL) == self.name}
            return waits.ready_addresses(mine)
        with contextlib.suppress(ApiException):
            ep = client.CoreV1Api(api).read_namespaced_endpoints(self.name, self.namespace)
            return waits.ready_addresses({self.name: ep})
        return []

    def _address(self, api: client.ApiClient) -> str | None:
        """host:port a client outside the cluster can use: a LoadBalancer address, else a node's NodePort."""
        core = client.CoreV1Api(api)
        svc = core.read_namespaced_service(self.name, self.namespace)
        balancer = svc.status.load_balancer if svc.status else None
        for entry in (balancer.ingress if balancer else None) or []:
            if entry.ip or entry.hostname:
                return f"{entry.ip or entry.hostname}:{self.port}"
        node_port = next((p.node_port for p in svc.spec.ports or [] if p.node_port), None)
        if node_port is None:
            return None
        for node in core.list_node().items:
            by_type = {a.type: a.address for a in (node.status.addresses if node.status else None) or []}
            host = by_type.get("ExternalIP") or by_type.get("InternalIP")
            if host:
                return f"{host}:{node_port}"
        return None

    def scale(self, cluster: str, replicas: int) -> None:
        client.AppsV1Api(self.clients[cluster]).patch_namespaced_deployment(
            self.name, self.namespace, {"spec": {"replicas": replicas}})

    def delete(self, timeout: float) -> FanOut[None]:
        """Delete every shard and wait until each Deployment and Service is gone."""
        deadline = waits.Deadline(timeout)

        def one(_cluster: str, api: client.ApiClient) -> None:
            apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
            for delete in (apps.delete_namespaced_deployment, core.delete_namespaced_service):
                try:
                    delete(self.name, self.namespace, propagation_policy="Foreground")
                except ApiException as err:
                    if err.status != 404:
                        raise
            waits.gone(apps.list_namespaced_deployment, self.namespace, self.name, "Deployment", deadline,
                       events_api=core)
            waits.gone(core.list_namespaced_service, self.namespace, self.name, "Service", deadline,
                       events_api=core)

        return fan_out(one, self.clients)


def tcp_reach(address: str, window: float = DEFAULT_REACH_WINDOW, connect_timeout: float = 3.0) -> Reach:
    """Connect until one succeeds or `window` seconds pass: a new NodePort answers once every node's proxy
    has programmed it, as a federated DNS's health check would wait for, not on the first try."""
    host, _, port = address.rpartition(":")
    start = time.monotonic()
    errors: list[str] = []

    def connect() -> None:
        left = window - (time.monotonic() - start)
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=max(min(connect_timeout, left), 0.1)):
                return
        except OSError as err:
            errors.append(f"{type(err).__name__}: {err}")
            raise

    policy = api_retry.Retry(predicate=api_retry.if_exception_type(OSError), initial=0.2, maximum=1.0,
                             multiplier=1.5, timeout=window)
    try:
        (policy(connect) if window > 0 else connect)()
    except Exception:
        return Reach(address, False, time.monotonic() - start, len(errors), errors[-1] if errors else "")
    return Reach(address, True, time.monotonic() - start, len(errors) + 1)


class Resolver:
    """Where should a client in `local` send requests for the federated service?"""

    def __init__(self, service: FederatedService, local: str, *, window: float = DEFAULT_REACH_WINDOW,
                 reach: Callable[[str, float], Reach] = tcp_reach) -> None:
        if local not in service.clients:
            raise ValueError(f"cluster {local!r} is not in the set {sorted(service.clients)}")
        self.service = service
        self.local = local
        self.window = window
        self.reach = reach

    def resolve(self, shards: Mapping[str, Shard] | None = None) -> Resolution:
        shards = shards if shards is not None else self.service.status()
        svc = self.service
        here = shards.get(self.local)
        if here is not None and here.healthy:
            return Resolution(self.local, f"{svc.name}.{svc.namespace}.svc:{svc.port}", True,
                              f"local shard has {len(here.ready_endpoints)} ready endpoints")
        notes = [f"{self.local}: " + _why_not(here)]
        for cluster, shard in sorted(shards.items()):
            if cluster == self.local:
                continue
            if not shard.healthy or not shard.address:
                notes.append(f"{cluster}: " + _why_not(shard))
                continue
            reach = self.reach(shard.address, self.window)
            if not reach.ok:
                notes.append(f"{cluster}: {shard.address} is not reachable within {self.window:g}s "
                             f"({reach.attempts} attempts, last: {reach.last_error or 'no answer'})")
            else:
                return Resolution(cluster, shard.address, False,
                                  f"local shard unhealthy ({notes[0]}); {cluster} has "
                                  f"{len(shard.ready_endpoints)} ready endpoints, its address answered "
                                  f"after {reach.seconds:.1f}s", reach)
        raise NoHealthyShard(f"no healthy shard of {svc.name}: " + "; ".join(notes))


def _why_not(shard: Shard | None) -> str:
    if shard is None:
        return "no shard"
    if shard.error:
        return shard.error
    if not shard.ready_endpoints:
        return f"0 ready endpoints ({shard.desired} replicas desired)"
    return "no address reachable from outside the cluster" if not shard.address else "healthy"


def describe(shards: Mapping[str, Any]) -> str:
    return "; ".join(f"{c}: {len(s.ready_endpoints)} ready, {s.desired} desired, {s.address or 'no address'}"
                     + (f", error {s.error}" if s.error else "") for c, s in shards.items())
