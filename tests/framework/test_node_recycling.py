"""Retry on eviction: the launcher's retry logic with the stand-in Eviction API and the fake kubelet."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from e2e import test_node_recycling as suite
from e2e.framework import builders, podstates, recycling, waits
from e2e.framework.census import Census
from e2e.framework.dispatcher import Dispatcher
from e2e.framework.runner import JobDescription, Launcher, Step
from tests.framework.conftest import NAMESPACE, Clusters
from tests.standins.admission import add_nodes
from tests.standins.eviction import StandInEviction


@pytest.fixture
def launcher(clusters: Clusters, east: client.ApiClient, tmp_path: Path) -> Launcher:
    with clusters.kubelet("east"), StandInEviction.serving(clusters.kube, "east", east):
        yield Launcher(east, NAMESPACE, builders.Images(), tmp_path / "artifacts")


@pytest.mark.parametrize("status, expected", [
    ({"phase": "Running", "conditions": [{"type": "DisruptionTarget", "status": "True",
                                          "reason": "EvictionByEvictionAPI", "message": "Eviction API: evicting"}]},
     ("EvictionByEvictionAPI", "Eviction API: evicting")),
    ({"phase": "Running", "conditions": [{"type": "DisruptionTarget", "status": "True",
                                          "reason": "DeletionByPodGC", "message": "PodGC: node no longer exists"}]},
     ("DeletionByPodGC", "PodGC: node no longer exists")),
    ({"phase": "Failed", "reason": "Evicted", "message": "The node was low on resource: memory."},
     ("Evicted", "The node was low on resource: memory.")),
    ({"phase": "Failed", "reason": "DeadlineExceeded"}, None),
    ({"phase": "Running", "conditions": [{"type": "DisruptionTarget", "status": "False"}]}, None),
])
def test_disruption_is_read_from_the_condition_or_the_kubelets_eviction(status: dict, expected: Any) -> None:
    assert podstates.disruption({"metadata": {"name": "p"}, "status": status}) == expected


def test_the_suites_eviction_test_holds_on_the_stand_ins(launcher: Launcher, east: client.ApiClient) -> None:
    properties: dict[str, Any] = {}
    suite.test_evicted_runner_pod_is_retried_and_nothing_is_lost(launcher, east, NAMESPACE,
                                                                 properties.__setitem__)
    assert properties == {"eviction_attempts": 2}


def test_the_suites_drain_test_holds_on_two_stand_in_nodes(launcher: Launcher, east: client.ApiClient) -> None:
    add_nodes(east, "node-a", "node-b")
    properties: dict[str, Any] = {}
    suite.test_drained_node_retry_lands_on_another_node(launcher, east, NAMESPACE, properties.__setitem__)
    assert properties == {"drained_node": "node-a", "retry_node": "node-b"}
    assert not client.CoreV1Api(east).read_node("node-a").spec.unschedulable  # the cordon was undone


def test_the_drain_test_skips_on_one_node_saying_why(launcher: Launcher, east: client.ApiClient) -> None:
    add_nodes(east, "only")
    with pytest.raises(pytest.skip.Exception, match=r"needs two schedulable nodes; the cluster has 1 \(only\)"):
        suite.test_drained_node_retry_lands_on_another_node(launcher, east, NAMESPACE, lambda *_: None)


def test_the_retry_budget_ends_a_job_evicted_every_time(launcher: Launcher, east: client.ApiClient) -> None:
    limited = launcher.variant(retry_budget=1)
    job = JobDescription("unlucky", "r", [Step("s", "echo try $FEDTEST_ATTEMPT; sleep 30")], source_files={"a": "a"})
    running = limited.start(job)
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(limited.finish, running, 60)
        for pod in (running.pod_name, f"{running.pod_name}-r2"):
            waits.pod_phase(east, NAMESPACE, pod, ["Running"], 30)
            recycling.evict(east, NAMESPACE, pod)
        result = future.result()
    assert result.phase == "Failed"
    assert result.reason == "EvictionByEvictionAPI: disrupted 2 times, retry budget 1 spent"
    assert [(a.pod, a.phase) for a in result.attempts] == [("runner-unlucky", "Disrupted"),
                                                          ("runner-unlucky-r2", "Disrupted")]
    assert (limited.artifacts_dir / "unlucky" / "attempt-2" / "steps.log").read_text().startswith("::fedtest-step")


def test_a_pod_deleted_without_a_disruption_is_not_retried(launcher: Launcher, east: client.ApiClient) -> None:
    running = launcher.start(JobDescription("deleted", "r", [Step("s", "sleep 30")], source_files={"a": "a"}))
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(launcher.finish, running, 60)
        waits.pod_phase(east, NAMESPACE, running.pod_name, ["Running"], 30)
        client.CoreV1Api(east).delete_namespaced_pod(running.pod_name, NAMESPACE)
        result = future.result()
    assert (result.phase, result.reason) == ("Failed", "pod deleted by someone else")
    assert len(result.attempts) == 1


def test_cancelling_the_first_handle_stops_the_retry(launcher: Launcher, east: client.ApiClient,
                                                     clusters: Clusters) -> None:
    running = launcher.start(JobDescription("stopped", "r", [Step("s", "sleep 30")], source_files={"a": "a"}))
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(launcher.finish, running, 60)
        waits.pod_phase(east, NAMESPACE, running.pod_name, ["Running"], 30)
        recycling.evict(east, NAMESPACE, running.pod_name)
        waits.pod_phase(east, NAMESPACE, f"{running.pod_name}-r2", ["Running"], 30)
        running.cancel()  # the caller's handle is the first attempt's
        result = future.result()
    assert result.phase == "Cancelled"
    assert [a.phase for a in result.attempts] == ["Disrupted", "Cancelled"]
    assert clusters.kube.clusters["east"].objects("pods", NAMESPACE) == []


def test_a_retry_keeps_the_dispatchers_bound(launcher: Launcher, east: client.ApiClient) -> None:
    """The evicted pod is gone before its replacement is created: K=1 means one pod, retries included."""
    evicted_once = 'if [ "$FEDTEST_ATTEMPT" = 1 ]; then sleep 30; fi; echo done'
    jobs = [JobDescription(f"bounded-{i}", "r", [Step("s", run)], source_files={"a": "a"})
            for i, run in enumerate([evicted_once, "echo done"])]
    with Census(waits.Target(client.CoreV1Api(east).list_namespaced_pod, NAMESPACE, "Pod"), 60) as census, \
            ThreadPoolExecutor(1) as pool:
        future = pool.submit(Dispatcher(launcher, 1, 60).run_all, jobs)
        waits.pod_phase(east, NAMESPACE, "runner-bounded-0", ["Running"], 30)
        recycling.evict(east, NAMESPACE, "runner-bounded-0")
        done = future.result()
    assert [(d.job.name, d.result.phase if d.result else None) for d in done] == [
        ("bounded-0", "Succeeded"), ("bounded-1", "Succeeded")]
    assert census.peak == 1
    assert census.order == ["runner-bounded-0", "runner-bounded-0-r2", "runner-bounded-1"]
