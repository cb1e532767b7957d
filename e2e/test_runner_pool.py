"""The isolated runner pool: runner pods land only on the pool's node; a pod without the toleration does not."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from e2e.framework import builders, pool, recycling
from e2e.framework.dispatcher import Dispatcher
from e2e.framework.runner import JobDescription, Launcher, Step

pytestmark = pytest.mark.long  # started early: e2e/conftest.py

JOB_TIMEOUT = 300
SCHEDULE_TIMEOUT = 120


def test_runner_pods_land_only_on_the_runner_pool(launcher: Launcher, kube: client.ApiClient, namespace: str,
                                                  record_property: Any) -> None:
    nodes = recycling.schedulable_nodes(kube)
    if not nodes:
        pytest.skip("the cluster has no Ready node without a NoSchedule taint to make the runner pool")
    target = nodes[-1]  # on a single-node cluster, the one node
    core = client.CoreV1Api(kube)
    images = launcher.images
    outsider = builders.pod("outsider", builders.pod_spec([builders.container(
        "main", images.busybox, ["sleep", "3600"], pull_policy=images.pull_policy)], tolerate_runner_pool=False))
    jobs = [JobDescription(f"pooled-{i}", "https://example.test/pooled.git", [Step("where", "echo in the pool")],
                           source_files={"a": "a\n"}) for i in range(2)]
    with pool.dedicated(kube, target, "runners") as runner_pool:  # kept short: the node is tainted meanwhile
        builders.create(kube, namespace, outsider)
        done = Dispatcher(launcher.variant(placement=runner_pool.placement()), 2, JOB_TIMEOUT).run_all(jobs)
        landed, why = pool.where_scheduled(kube, namespace, "outsider", SCHEDULE_TIMEOUT)
        core.delete_namespaced_pod("outsider", namespace, grace_period_seconds=0)
    results = [d.result for d in done]
    assert [(r.phase, r.node) if r else None for r in results] == [("Succeeded", target)] * 2, results
    assert landed != target, f"a pod without the toleration was scheduled on the pool's node {target}"
    if landed is None:
        assert "untolerated taint" in why, why
    after = core.read_node(target)
    assert pool.POOL_KEY not in (after.metadata.labels or {})
    assert all(t.key != pool.POOL_KEY for t in after.spec.taints or [])
    record_property("runner_pool_node", target)
    record_property("outsider_placement", landed or f"unschedulable: {why}")
