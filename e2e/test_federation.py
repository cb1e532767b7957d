"""Federated services across the cluster set: shards, aggregated status, failover and removal.

Skipped, saying so, when fewer than two clusters are up.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from e2e.framework import builders, capabilities, federation, probes, waits

SERVICE = "echo"
REPLICAS = 2
HEALTHY = 300


@pytest.fixture
def federated(cluster_set: list[Any], federated_namespace: Any,
              e2e_config: Any) -> Iterator[federation.FederatedService]:
    reason = capabilities.federation_skip_reason(cluster_set)
    if reason:
        pytest.skip(reason)
    service = federation.FederatedService(SERVICE, federated_namespace.name, federated_namespace.clients,
                                          builders.Images.from_config(e2e_config), replicas=REPLICAS)
    service.create().raise_errors(f"creating the shards of {SERVICE}")
    yield service
    service.delete(HEALTHY)  # the namespace's deletion removes anything left


def test_every_shard_becomes_healthy_and_status_aggregates(federated: federation.FederatedService,
                                                           record_property: Any) -> None:
    ready = federated.wait_healthy(HEALTHY)
    assert sorted(ready) == sorted(federated.clients)
    shards = federated.status()
    record_property("federated_shards", federation.describe(shards))
    assert sorted(shards) == sorted(federated.clients)
    for name, shard in shards.items():
        assert shard.error is None, f"{name}: {shard.error}"
        assert shard.desired == REPLICAS
        assert shard.healthy and len(shard.ready_endpoints) >= 1, f"{name}: {shard}"


def test_resolver_falls_over_to_a_healthy_shard_and_comes_back(
        federated: federation.FederatedService, e2e_config: Any, record_property: Any) -> None:
    federated.wait_healthy(HEALTHY)
    local = sorted(federated.clients)[0]
    # A remote shard counts once its address answers within the window, as a federated DNS's health
    # check would: the test is about the resolver's choice, not the nodes' proxy programming latency.
    resolver = federation.Resolver(federated, local, window=e2e_config.reach_window)
    assert resolver.resolve().cluster == local

    federated.scale(local, 0)
    waits.endpoints(federated.clients[local], federated.namespace, SERVICE, lambda a: not a, HEALTHY,
                    what=f"no ready endpoints of {SERVICE} in {local}")
    elsewhere = resolver.resolve()
    assert not elsewhere.local and elsewhere.cluster != local, elsewhere
    assert elsewhere.reach is not None and elsewhere.reach.ok, elsewhere
    record_property("failover_reach_seconds", f"{elsewhere.reach_seconds:.2f}")
    answer = probes.until(f"http://{elsewhere.address}/", lambda a: a.status == 200, timeout=60,
                          what=f"{SERVICE} answering through {elsewhere.cluster}'s address")
    pods = client.CoreV1Api(federated.clients[elsewhere.cluster]).list_namespaced_pod(
        federated.namespace, label_selector=f"app={SERVICE}").items
    names = {p.metadata.name for p in pods}
    assert answer.body in names, f"{answer.body} is not a pod of {elsewhere.cluster}: {sorted(names)}"

    federated.scale(local, REPLICAS)
    waits.endpoints_ready(federated.clients[local], federated.namespace, SERVICE, 1, HEALTHY)
    back = resolver.resolve()
    assert back.local and back.cluster == local, back


def test_deleting_the_federated_service_removes_every_shard(federated: federation.FederatedService) -> None:
    federated.wait_healthy(HEALTHY)
    federated.delete(HEALTHY).raise_errors(f"deleting {SERVICE}")
    for name, api in federated.clients.items():
        apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
        deployments = [d.metadata.name for d in apps.list_namespaced_deployment(federated.namespace).items]
        services = [s.metadata.name for s in core.list_namespaced_service(federated.namespace).items]
        assert SERVICE not in deployments and SERVICE not in services, f"{name} still has {SERVICE}"
        waits.watch_until(
            waits.Target(core.list_namespaced_pod, federated.namespace, "Pod", labels={"app": SERVICE},
                         label_selector=f"app={SERVICE}", about=SERVICE),
            lambda pods: True if not pods else None, what=f"pods of {SERVICE} in {name} to be gone",
            timeout=HEALTHY, events_api=core)
