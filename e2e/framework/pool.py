"""The isolated runner pool: nodes labelled and tainted for runner pods, which alone carry the matching
node selector and toleration, so nothing else lands there and runner pods land nowhere else. (The suite's
own pods tolerate the taint, builders.POOL_TOLERATION, so that a pool made by one test does not keep the
pods of the tests running beside it off a one-node cluster.)"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException

from e2e.framework import builders, podstates, waits
from e2e.framework.jobspec import Placement

POOL_KEY = builders.RUNNER_POOL_KEY


@dataclass(frozen=True)
class RunnerPool:
    name: str

    def taint(self) -> dict[str, str]:
        return {"key": POOL_KEY, "value": self.name, "effect": "NoSchedule"}

    def placement(self) -> Placement:
        """What a runner pod needs to run in the pool (and nowhere else)."""
        return Placement(node_selector={POOL_KEY: self.name},
                         tolerations=[{"key": POOL_KEY, "operator": "Equal", "value": self.name,
                                       "effect": "NoSchedule"}])


@contextlib.contextmanager
def dedicated(api: client.ApiClient, node: str, pool_name: str) -> Iterator[RunnerPool]:
    """Make `node` the runner pool inside the block; its labels and taints are restored afterwards, also
    when the block fails (on a single-node cluster the taint keeps other pods off the one node meanwhile)."""
    core = client.CoreV1Api(api)
    before = core.read_node(node)
    old_label = (before.metadata.labels or {}).get(POOL_KEY)
    old_taints = [api.sanitize_for_serialization(t) for t in before.spec.taints or []]
    pool = RunnerPool(pool_name)
    taints = [t for t in old_taints if t.get("key") != POOL_KEY] + [pool.taint()]
    core.patch_node(node, {"metadata": {"labels": {POOL_KEY: pool_name}}, "spec": {"taints": taints}})
    try:
        yield pool
    finally:
        with contextlib.suppress(ApiException):
            core.patch_node(node, {"metadata": {"labels": {POOL_KEY: old_label}},
                                   "spec": {"taints": copy.deepcopy(old_taints) or None}})


def where_scheduled(api: client.ApiClient, namespace: str, pod: str,
                    timeout: float | waits.Deadline) -> tuple[str | None, str]:
    """(node, "") once the pod is bound, or (None, the scheduler's message) once it is Unschedulable."""
    core = client.CoreV1Api(api)

    def placed(objects: dict[str, Any]) -> tuple[str | None, str] | None:
        obj = objects.get(pod)
        if obj is None:
            return None
        if obj.spec.node_name:
            return obj.spec.node_name, ""
        message = podstates.unschedulable(podstates.as_dict(obj))
        return (None, message) if message is not None else None

    return waits.watch_until(waits.Target(core.list_namespaced_pod, namespace, "Pod", name=pod), placed,
                             what=f"pod {namespace}/{pod} to be scheduled or called unschedulable",
                             timeout=timeout, events_api=core)
