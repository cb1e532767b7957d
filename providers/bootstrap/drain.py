"""Drain and uncordon a node as `kubectl drain` does: cordon, evict every pod but DaemonSets' and static
ones through the Eviction API (a PodDisruptionBudget's 429 is retried), wait until they are gone."""

from __future__ import annotations

import time
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException

from providers import stopping
from providers.base import DeadlineExceeded

MIRROR_ANNOTATION = "kubernetes.io/config.mirror"


def _evictable(pod: Any, node: str) -> bool:
    if pod.spec.node_name != node or pod.metadata.deletion_timestamp:
        return False
    if MIRROR_ANNOTATION in (pod.metadata.annotations or {}):
        return False
    return not any(ref.kind == "DaemonSet" for ref in pod.metadata.owner_references or [])


def pods_on(core: client.CoreV1Api, node: str) -> list[tuple[str, str]]:
    pods = core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={node}", _request_timeout=30).items
    return sorted((p.metadata.namespace, p.metadata.name) for p in pods if _evictable(p, node))


def drain(api: client.ApiClient, node: str, deadline_seconds: float, stop: stopping.StopSignal) -> list[str]:
    """Cordon `node` and evict its pods; returns "namespace/name" of each evicted pod once all are gone."""
    core = client.CoreV1Api(api)
    core.patch_node(node, {"spec": {"unschedulable": True}})
    until = time.monotonic() + deadline_seconds
    evicted: list[str] = []
    while pending := pods_on(core, node):
        for namespace, name in pending:
            body = client.V1Eviction(metadata=client.V1ObjectMeta(name=name, namespace=namespace))
            try:
                core.create_namespaced_pod_eviction(name, namespace, body)
            except ApiException as err:
                if err.status not in (404, 429):  # gone already; a disruption budget says not yet
                    raise
            if f"{namespace}/{name}" not in evicted:
                evicted.append(f"{namespace}/{name}")
        if time.monotonic() >= until:
            raise DeadlineExceeded(f"draining {node}: {len(pending)} pods still there after {deadline_seconds:g}s "
                                   f"({', '.join(f'{ns}/{n}' for ns, n in pending[:5])})",
                                   "check their PodDisruptionBudgets or raise the deadline")
        stopping.sleep(1.0, stop, f"draining {node}")
    return evicted


def uncordon(api: client.ApiClient, node: str) -> None:
    client.CoreV1Api(api).patch_node(node, {"spec": {"unschedulable": None}})
