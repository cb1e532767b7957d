"""Node recycling as a cluster does it: evictions through the Eviction API, cordon, drain.

A drain here evicts only the pods of one namespace on the node (the test's own), so a shared
cluster loses nothing but what the test put there; cordons are always undone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from kubernetes import client
from kubernetes.client.rest import ApiException

DISRUPTION_CONDITION_MINOR = 26  # PodDisruptionConditions: beta (on) in 1.26, GA in 1.31


def evict(api: client.ApiClient, namespace: str, pod: str) -> None:
    """What `kubectl drain` does for each pod: POST pods/NAME/eviction (PodDisruptionBudgets apply)."""
    body = client.V1Eviction(metadata=client.V1ObjectMeta(name=pod, namespace=namespace))
    client.CoreV1Api(api).create_namespaced_pod_eviction(pod, namespace, body)


def disruption_condition_skip_reason(api: client.ApiClient) -> str | None:
    """Why evicted pods on this cluster carry no DisruptionTarget condition, or None when they do."""
    info = client.VersionApi(api).get_code()
    minor = int("".join(ch for ch in info.minor if ch.isdigit()) or 0)
    if int(info.major) == 1 and minor < DISRUPTION_CONDITION_MINOR:
        return (f"the cluster runs Kubernetes {info.git_version}: evicted pods get the DisruptionTarget "
                f"condition from 1.{DISRUPTION_CONDITION_MINOR} on (PodDisruptionConditions)")
    return None


def schedulable_nodes(api: client.ApiClient) -> list[str]:
    """Ready nodes that take ordinary pods: not cordoned, no NoSchedule/NoExecute taint."""
    out = []
    for node in client.CoreV1Api(api).list_node(_request_timeout=(5, 30)).items:
        ready = any(c.type == "Ready" and c.status == "True" for c in (node.status.conditions or []))
        tainted = any(t.effect in ("NoSchedule", "NoExecute") for t in (node.spec.taints or []))
        if ready and not node.spec.unschedulable and not tainted:
            out.append(node.metadata.name)
    return sorted(out)


@contextlib.contextmanager
def cordoned(api: client.ApiClient, node: str) -> Iterator[None]:
    """The node takes no new pods inside the block; afterwards it does again (even on failure)."""
    core = client.CoreV1Api(api)
    core.patch_node(node, {"spec": {"unschedulable": True}})
    try:
        yield
    finally:
        with contextlib.suppress(ApiException):
            core.patch_node(node, {"spec": {"unschedulable": None}})


def drain(api: client.ApiClient, node: str, namespace: str) -> list[str]:
    """Evict the namespace's pods on the node; returns their names."""
    pods = client.CoreV1Api(api).list_namespaced_pod(namespace, field_selector=f"spec.nodeName={node}").items
    names = sorted(p.metadata.name for p in pods if p.spec.node_name == node and not p.metadata.deletion_timestamp)
    for name in names:
        evict(api, namespace, name)
    return names
