"""Fan-out, the federated-service helper and the resolver, on two stand-in clusters.

The stand-in has no controllers, so the test plays them: it writes the EndpointSlices, the NodePort
and a Node whose address is 127.0.0.1, where a local HTTP server answers as the shard's pod would.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config

from e2e.framework import builders, federation, probes, waits
from e2e.framework.fanout import FanOutError, fan_out
from tests.framework.conftest import NAMESPACE, Clusters, serve_discovery
from tests.standins.httpserver import serving
from tests.standins.kube import KubeStandIn
from tests.standins.late_port import late_port


def test_fan_out_runs_in_parallel_and_keeps_errors_per_cluster() -> None:
    barrier = threading.Barrier(3, timeout=10)  # only passes if all three run at the same time

    def work(name: str, value: int) -> int:
        barrier.wait()
        if name == "broken":
            raise RuntimeError("API server unreachable")
        return value * 2

    out = fan_out(work, {"east": 1, "west": 2, "broken": 3})
    assert out.results == {"east": 2, "west": 4}
    assert list(out.errors) == ["broken"]
    with pytest.raises(FanOutError, match="creating things failed in 1 of 3 clusters") as caught:
        out.raise_errors("creating things")
    assert "broken: RuntimeError: API server unreachable" in str(caught.value)
    assert fan_out(work, {}).raise_errors("nothing") == {}


def play_controllers(clusters: Clusters, name: str, service: str, port: int, ready: bool) -> None:
    """What the endpoint-slice controller, the NodePort allocator and a node would have written."""
    api = clusters.clients[name]
    core, discovery = client.CoreV1Api(api), client.DiscoveryV1Api(api)
    core.patch_namespaced_service(service, NAMESPACE, {"spec": {"ports": [
        {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP", "nodePort": port}]}})
    core.create_node({"metadata": {"name": f"{name}-node"}, "status": {"addresses": [
        {"type": "Hostname", "address": f"{name}-node"}, {"type": "InternalIP", "address": "127.0.0.1"}]}})
    discovery.create_namespaced_endpoint_slice(NAMESPACE, {
        "metadata": {"name": f"{service}-abc", "namespace": NAMESPACE,
                     "labels": {waits.SERVICE_NAME_LABEL: service}},
        "addressType": "IPv4", "endpoints": [{"addresses": [f"10.{i}.0.1"], "conditions": {"ready": ready}}
                                             for i in (1, 2)]})


def set_ready(clusters: Clusters, name: str, service: str, ready: bool) -> None:
    endpoints = [{"addresses": [f"10.{i}.0.1"], "conditions": {"ready": ready}} for i in (1, 2)]
    client.DiscoveryV1Api(clusters.clients[name]).patch_namespaced_endpoint_slice(
        f"{service}-abc", NAMESPACE, {"endpoints": endpoints})


@pytest.fixture
def shard_servers() -> Iterator[dict[str, int]]:
    """One local server per cluster, answering like agnhost serve-hostname in that cluster."""
    with serving(lambda _h: (200, "echo-east-7d9f")) as east, \
            serving(lambda _h: (200, "echo-west-5c2a")) as west:
        yield {"east": east, "west": west}


def test_federated_service_shards_status_failover_and_removal(clusters: Clusters,
                                                              shard_servers: dict[str, int]) -> None:
    svc = federation.FederatedService("echo", NAMESPACE, clusters.clients, builders.Images(), replicas=2)
    svc.create().raise_errors("creating shards")
    for name in clusters.clients:
        cluster = clusters.kube.clusters[name]
        assert [d["metadata"]["name"] for d in cluster.objects("deployments", NAMESPACE)] == ["echo"]
        assert [s["spec"]["type"] for s in cluster.objects("services", NAMESPACE)] == ["NodePort"]
        play_controllers(clusters, name, "echo", shard_servers[name], ready=True)

    assert svc.wait_healthy(10) == {"east": ["10.1.0.1", "10.2.0.1"], "west": ["10.1.0.1", "10.2.0.1"]}
    shards = svc.status()
    assert list(shards) == ["east", "west"]
    assert all(s.healthy and s.desired == 2 and s.error is None for s in shards.values())
    assert shards["west"].address == f"127.0.0.1:{shard_servers['west']}"

    resolver = federation.Resolver(svc, "east")
    home = resolver.resolve()
    assert (home.cluster, home.local, home.address) == ("east", True, "echo.work.svc:80")

    svc.scale("east", 0)
    assert clusters.kube.clusters["east"].objects("deployments", NAMESPACE)[0]["spec"]["replicas"] == 0
    set_ready(clusters, "east", "echo", False)
    waits.endpoints(clusters.clients["east"], NAMESPACE, "echo", lambda a: not a, 10)
    away = resolver.resolve()
    assert (away.cluster, away.local) == ("west", False)
    assert "east: 0 ready endpoints (0 replicas desired)" in away.reason
    assert probes.get(f"http://{away.address}/").body == "echo-west-5c2a"

    svc.scale("east", 2)
    set_ready(clusters, "east", "echo", True)
    waits.endpoints_ready(clusters.clients["east"], NAMESPACE, "echo", 2, 10)
    assert resolver.resolve().cluster == "east"

    svc.delete(10).raise_errors("deleting shards")
    for name in clusters.clients:
        cluster = clusters.kube.clusters[name]
        assert cluster.objects("deployments", NAMESPACE) == []
        assert cluster.objects("services", NAMESPACE) == []


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_resolver_refuses_unreachable_shards_and_says_why(clusters: Clusters) -> None:
    svc = federation.FederatedService("api", NAMESPACE, clusters.clients, builders.Images())
    svc.create().raise_errors("creating shards")
    play_controllers(clusters, "east", "api", closed_port(), ready=False)
    play_controllers(clusters, "west", "api", closed_port(), ready=True)
    with pytest.raises(federation.NoHealthyShard) as caught:
        federation.Resolver(svc, "east", window=0.5).resolve()
    text = str(caught.value)
    assert "east: 0 ready endpoints" in text and "west: 127.0.0.1:" in text and "not reachable" in text
    with pytest.raises(ValueError, match="not in the set"):
        federation.Resolver(svc, "north")


def remote_shard_behind(clusters: Clusters, service: str, port: int) -> federation.FederatedService:
    """east has no ready endpoint; west is healthy and its NodePort is `port`."""
    svc = federation.FederatedService(service, NAMESPACE, clusters.clients, builders.Images())
    svc.create().raise_errors("creating shards")
    play_controllers(clusters, "east", service, closed_port(), ready=False)
    play_controllers(clusters, "west", service, port, ready=True)
    return svc


def test_resolver_waits_within_its_window_for_a_shard_whose_port_answers_late(clusters: Clusters) -> None:
    with late_port(2.0) as port:  # the shard's objects take a few hundred ms of the 2 s to create
        away = federation.Resolver(remote_shard_behind(clusters, "late", port), "east", window=15).resolve()
    assert (away.cluster, away.local, away.address) == ("west", False, f"127.0.0.1:{port}")
    assert away.reach is not None and away.reach.ok and away.reach.attempts > 1
    assert 1.0 <= away.reach_seconds < 15, away.reach
    assert f"answered after {away.reach_seconds:.1f}s" in away.reason


def test_resolver_gives_up_when_the_port_answers_only_after_its_window(clusters: Clusters) -> None:
    with late_port(30.0) as port, pytest.raises(federation.NoHealthyShard) as caught:
        federation.Resolver(remote_shard_behind(clusters, "slow", port), "east", window=0.8).resolve()
    text = str(caught.value)
    assert f"west: 127.0.0.1:{port} is not reachable within 0.8s" in text
    assert "ConnectionRefusedError" in text


def test_status_reports_a_cluster_that_cannot_answer(tmp_path: Path) -> None:
    with KubeStandIn.run(["east", "west"], status={"west": 401}) as kube:
        serve_discovery(kube, "east")
        kubeconfig = str(kube.write_kubeconfig(tmp_path / "kc"))
        clients = {n: config.new_client_from_config(kubeconfig, context=n) for n in ("east", "west")}
        svc = federation.FederatedService("echo", NAMESPACE, clients, builders.Images())
        created = svc.create()
        assert list(created.results) == ["east"] and list(created.errors) == ["west"]
        shards = svc.status()
        assert shards["east"].error is None and not shards["east"].healthy
        assert shards["west"].error is not None and "401" in shards["west"].error
        assert "west: 0 ready, 0 desired, no address, error" in federation.describe(shards)

