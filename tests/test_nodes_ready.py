"""wait_nodes_ready: list + watch until N nodes are Ready, bounded by a deadline."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client

from providers.base import DeadlineExceeded
from providers.bootstrap.nodes import wait_nodes_ready
from providers.readiness import api_client
from tests.standins.fake_vm import register_node
from tests.standins.kube import KubeStandIn


@dataclass
class World:
    kube: KubeStandIn
    kubeconfig: Path
    api: client.ApiClient


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with KubeStandIn.run(["c"]) as kube:
        kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")
        api = api_client(kubeconfig, "c")
        try:
            yield World(kube, kubeconfig, api)
        finally:
            api.close()


def _until_watching(world: World) -> None:
    """Block until the waiter has opened its node watch (kmock's request log shows it)."""
    for _ in range(400):
        if world.kube.clusters["c"].requests_to("watch=true"):
            return
        time.sleep(0.05)
    raise AssertionError("the waiter never opened a watch on nodes")


def test_a_node_turning_ready_during_the_watch_completes_the_wait(world: World):
    register_node(world.api, "cp")
    register_node(world.api, "w1", ready=False)
    result: list[list[str]] = []
    waiter = threading.Thread(target=lambda: result.append(wait_nodes_ready(world.kubeconfig, "c", 3, 30.0)))
    waiter.start()
    _until_watching(world)
    register_node(world.api, "w2")
    client.CoreV1Api(world.api).patch_node_status(
        "w1", {"status": {"conditions": [{"type": "Ready", "status": "True"}]}})
    waiter.join(40)
    assert result == [["cp", "w1", "w2"]]


def test_deadline_names_the_nodes_that_are_not_ready(world: World):
    register_node(world.api, "cp")
    register_node(world.api, "w1", ready=False)
    with pytest.raises(DeadlineExceeded) as err:
        wait_nodes_ready(world.kubeconfig, "c", 3, 2.0)
    text = str(err.value)
    assert "\n" not in text and "1 of 3 nodes" in text and "not Ready: w1" in text
