"""The runner pool on stand-in nodes: the fake kubelet schedules by labels, taints and tolerations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from e2e import test_runner_pool as suite
from e2e.framework import builders, pool
from e2e.framework.runner import Launcher
from tests.framework.conftest import NAMESPACE, Clusters
from tests.standins.admission import add_nodes, ready_node

OTHER_TAINT = {"key": "example.test/gpu", "value": "true", "effect": "NoSchedule"}


@pytest.fixture
def launcher(clusters: Clusters, east: client.ApiClient, tmp_path: Path) -> Launcher:
    with clusters.kubelet("east"):
        yield Launcher(east, NAMESPACE, builders.Images(), tmp_path / "artifacts")


def test_on_one_node_the_outsider_is_unschedulable_and_the_node_is_restored(launcher: Launcher,
                                                                           east: client.ApiClient) -> None:
    add_nodes(east, "solo")
    properties: dict[str, Any] = {}
    suite.test_runner_pods_land_only_on_the_runner_pool(launcher, east, NAMESPACE, properties.__setitem__)
    assert properties["runner_pool_node"] == "solo"
    assert "untolerated taint {fedtest.io/runner-pool: runners}" in properties["outsider_placement"]


def test_on_two_nodes_the_outsider_lands_on_the_other_one(launcher: Launcher, east: client.ApiClient) -> None:
    add_nodes(east, "node-a", "node-b")
    properties: dict[str, Any] = {}
    suite.test_runner_pods_land_only_on_the_runner_pool(launcher, east, NAMESPACE, properties.__setitem__)
    assert (properties["runner_pool_node"], properties["outsider_placement"]) == ("node-b", "node-a")


def test_the_node_is_restored_when_the_block_fails(east: client.ApiClient) -> None:
    core = client.CoreV1Api(east)
    core.create_node(ready_node("shared", taints=[OTHER_TAINT]))
    with pytest.raises(RuntimeError, match="mid-test"), pool.dedicated(east, "shared", "runners"):
        during = core.read_node("shared")
        assert during.metadata.labels[pool.POOL_KEY] == "runners"
        assert {t.key for t in during.spec.taints} == {OTHER_TAINT["key"], pool.POOL_KEY}
        raise RuntimeError("mid-test")
    after = core.read_node("shared")
    assert pool.POOL_KEY not in (after.metadata.labels or {})
    assert [east.sanitize_for_serialization(t) for t in after.spec.taints] == [OTHER_TAINT]


def test_the_pool_placement_matches_its_taint() -> None:
    runners = pool.RunnerPool("runners")
    placement = runners.placement()
    taint = runners.taint()
    assert placement.node_selector == {pool.POOL_KEY: "runners"}
    assert [(t["key"], t["value"], t["effect"]) for t in placement.tolerations] == [
        (taint["key"], taint["value"], taint["effect"])]
