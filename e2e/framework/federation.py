"""Federated services: one Deployment and Service in every cluster, their aggregated status, a resolver.

The resolver follows the cross-cluster services model: a client in cluster X uses X's own shard while
it has ready endpoints, else the reachable address of the closest healthy shard elsewhere -- one in the
same zone, then the same region (the nodes' topology.kubernetes.io labels), then any.

The status never hangs: every API call has a timeout and the whole status a bound, so a cluster whose
API server is frozen or gone is reported as unreachable (not as a shard with 0 healthy endpoints).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import urllib3
from google.api_core import retry as api_retry
from kubernetes import client
from kubernetes.client.rest import ApiException

from e2e.framework import builders, waits
from e2e.framework.config import DEFAULT_REACH_WINDOW
from e2e.framework.fanout import FanOut, fan_out

ZONE_LABEL, REGION_LABEL = "topology.kubernetes.io/zone", "topology.kubernetes.io/region"
LOCAL, SAME_ZONE, SAME_REGION, ANYWHERE = "local", "same zone", "same region", "any"
CALL_TIMEOUT = 5.0  # seconds one API call of the status may take
STATUS_TIMEOUT = 15.0  # seconds the whole status may take: a cluster not done by then is unreachable


@dataclass(frozen=True)
class Shard:
    """One cluster's part of a federated service."""

    cluster: str
    desired: int
    ready_endpoints: list[str]
    address: str | None  # reachable from outside the cluster (NodePort or LoadBalancer), if any
    error: str | None = None
    zones: frozenset[str] = field(default_factory=frozenset)  # of the cluster's nodes
    regions: frozenset[str] = field(default_factory=frozenset)
    reachable: bool = True  # False: the cluster's API server did not answer (gone, frozen, cut off)

    @property
    def healthy(self) -> bool:
        return self.error is None and bool(self.ready_endpoints)

    @property
    def state(self) -> str:
        if not self.reachable:
            return "unreachable"
        if self.error:
            return "error"
        return "healthy" if self.ready_endpoints else "unhealthy"


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
    proximity: str = LOCAL  # LOCAL, SAME_ZONE, SAME_REGION or ANYWHERE

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

    def status(self, timeout: float = STATUS_TIMEOUT) -> dict[str, Shard]:
        """The aggregated status: one Shard per cluster, within `timeout` seconds whatever the clusters do.

        A cluster whose API server does not answer (refused, reset, timed out, or still silent when the
        bound is reached) is unreachable; one that answers with an error carries the error."""
        outcome: dict[str, Shard] = {}
        lock = threading.Lock()

        def one(cluster: str, api: client.ApiClient) -> None:
            try:
                shard = self._shard(cluster, api)
            except Exception as err:
                shard = Shard(cluster, 0, [], None, error=f"{type(err).__name__}: {_first_line(err)}",
                              reachable=not _no_answer(err))
            with lock:
                outcome[cluster] = shard

        threads = [threading.Thread(target=one, args=item, name=f"status {item[0]}", daemon=True)
                   for item in self.clients.items()]
        for thread in threads:
            thread.start()
        until = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, until - time.monotonic()))
        with lock:
            shards = dict(outcome)
        for cluster in self.clients:
            shards.setdefault(cluster, Shard(cluster, 0, [], None, error=f"no answer within {timeout:g}s",
                                             reachable=False))
        return dict(sorted(shards.items()))

    def _shard(self, cluster: str, api: client.ApiClient) -> Shard:
        deployment = client.AppsV1Api(api).read_namespaced_deployment(self.name, self.namespace,
                                                                      _request_timeout=CALL_TIMEOUT)
        ready = self._ready_endpoints(api)
        nodes = client.CoreV1Api(api).list_node(_request_timeout=CALL_TIMEOUT).items
        labels = [node.metadata.labels or {} for node in nodes]
        return Shard(cluster, deployment.spec.replicas or 0, ready, self._address(api, nodes),
                     zones=frozenset(lb[ZONE_LABEL] for lb in labels if lb.get(ZONE_LABEL)),
                     regions=frozenset(lb[REGION_LABEL] for lb in labels if lb.get(REGION_LABEL)))

    def _ready_endpoints(self, api: client.ApiClient) -> list[str]:
        if waits.has_endpoint_slices(api):
            slices = client.DiscoveryV1Api(api).list_namespaced_endpoint_slice(
                self.namespace, label_selector=f"{waits.SERVICE_NAME_LABEL}={self.name}",
                _request_timeout=CALL_TIMEOUT).items
            mine = {s.metadata.name: s for s in slices
                    if (s.metadata.labels or {}).get(waits.SERVICE_NAME_LABEL) == self.name}
            return waits.ready_addresses(mine)
        with contextlib.suppress(ApiException):
            ep = client.CoreV1Api(api).read_namespaced_endpoints(self.name, self.namespace,
                                                                 _request_timeout=CALL_TIMEOUT)
            return waits.ready_addresses({self.name: ep})
        return []

    def _address(self, api: client.ApiClient, nodes: list[Any]) -> str | None:
        """host:port a client outside the cluster can use: a LoadBalancer address, else a node's NodePort."""
        core = client.CoreV1Api(api)
        svc = core.read_namespaced_service(self.name, self.namespace, _request_timeout=CALL_TIMEOUT)
        balancer = svc.status.load_balancer if svc.status else None
        for entry in (balancer.ingress if balancer else None) or []:
            if entry.ip or entry.hostname:
                return f"{entry.ip or entry.hostname}:{self.port}"
        node_port = next((p.node_port for p in svc.spec.ports or [] if p.node_port), None)
        if node_port is None:
            return None
        for node in nodes:
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
    """Where should a client in `local` send requests for the federated service?

    The local shard while it is healthy; else the closest healthy shard whose address answers: same
    zone, then same region, then any (cluster name breaks ties). Where `local` is comes from its nodes'
    topology labels, remembered from the last status in which its API server answered (a client keeps
    knowing its own zone when its cluster goes dark), or from `zones`/`regions` given here.
    """

    def __init__(self, service: FederatedService, local: str, *, window: float = DEFAULT_REACH_WINDOW,
                 reach: Callable[[str, float], Reach] = tcp_reach, zones: frozenset[str] = frozenset(),
                 regions: frozenset[str] = frozenset()) -> None:
        if local not in service.clients:
            raise ValueError(f"cluster {local!r} is not in the set {sorted(service.clients)}")
        self.service = service
        self.local = local
        self.window = window
        self.reach = reach
        self.zones, self.regions = frozenset(zones), frozenset(regions)

    def proximity(self, shard: Shard) -> str:
        if shard.cluster == self.local:
            return LOCAL
        if self.zones & shard.zones:
            return SAME_ZONE
        if self.regions & shard.regions:
            return SAME_REGION
        return ANYWHERE

    def resolve(self, shards: Mapping[str, Shard] | None = None) -> Resolution:
        shards = shards if shards is not None else self.service.status()
        svc = self.service
        here = shards.get(self.local)
        if here is not None and here.reachable and (here.zones or here.regions):
            self.zones, self.regions = here.zones, here.regions
        if here is not None and here.healthy:
            return Resolution(self.local, f"{svc.name}.{svc.namespace}.svc:{svc.port}", True,
                              f"local shard has {len(here.ready_endpoints)} ready endpoints")
        notes = [f"{self.local}: " + _why_not(here)]
        order = (LOCAL, SAME_ZONE, SAME_REGION, ANYWHERE)
        for cluster, shard in sorted(shards.items(), key=lambda kv: (order.index(self.proximity(kv[1])), kv[0])):
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
                near = self.proximity(shard)
                return Resolution(cluster, shard.address, False,
                                  f"local shard unhealthy ({notes[0]}); {cluster} ({near}) has "
                                  f"{len(shard.ready_endpoints)} ready endpoints, its address answered "
                                  f"after {reach.seconds:.1f}s", reach, near)
        raise NoHealthyShard(f"no healthy shard of {svc.name}: " + "; ".join(notes))


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:300] if text else "no detail"


def _no_answer(err: BaseException) -> bool:
    """The API server did not answer at all (refused, reset, timed out), as opposed to answering an error."""
    return isinstance(err, urllib3.exceptions.HTTPError | OSError | TimeoutError)


def _why_not(shard: Shard | None) -> str:
    if shard is None:
        return "no shard"
    if not shard.reachable:
        return f"unreachable ({shard.error})"
    if shard.error:
        return shard.error
    if not shard.ready_endpoints:
        return f"0 ready endpoints ({shard.desired} replicas desired)"
    return "no address reachable from outside the cluster" if not shard.address else "healthy"


def describe(shards: Mapping[str, Any]) -> str:
    return "; ".join(f"{c}: unreachable ({s.error})" if not getattr(s, "reachable", True) else
                     f"{c}: {len(s.ready_endpoints)} ready, {s.desired} desired, {s.address or 'no address'}"
                     + (f", error {s.error}" if s.error else "") for c, s in shards.items())
