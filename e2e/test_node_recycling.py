"""Jobs survive node recycling: a runner pod evicted or drained mid-job is retried by the launcher, and
the retry's log and artifacts are collected with the attempts and the reason recorded."""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from kubernetes import client

from e2e.framework import recycling, waits
from e2e.framework.runner import JobDescription, JobResult, Launcher, RunningJob, Step

JOB_TIMEOUT = 600
REPOSITORY = "https://example.test/fedtest/recycled.git"
# the first attempt works until it is taken away; a retry finishes
WORK = ('echo "attempt $FEDTEST_ATTEMPT started" | tee "$ARTIFACTS/attempt-$FEDTEST_ATTEMPT.txt"; '
        'if [ "$FEDTEST_ATTEMPT" = 1 ]; then sleep 600; fi; echo finished > "$ARTIFACTS/finished.txt"')


def recycled_job(name: str) -> JobDescription:
    return JobDescription(name, REPOSITORY, [Step("work", WORK)], source_files={"README.md": "recycled\n"})


def skip_without_disruption_conditions(kube: client.ApiClient) -> None:
    reason = recycling.disruption_condition_skip_reason(kube)
    if reason:
        pytest.skip(reason)


def follow_while(launcher: Launcher, running: RunningJob, disrupt: Any) -> JobResult:
    """Follow the job in the background while `disrupt(running pod)` takes its first pod away."""
    with ThreadPoolExecutor(1) as pool:
        result = pool.submit(launcher.finish, running, JOB_TIMEOUT)
        pod = waits.pod_phase(launcher.api, launcher.namespace, running.pod_name, ["Running"], JOB_TIMEOUT)
        disrupt(pod)
        return result.result()


def assert_retried_and_collected(launcher: Launcher, job: JobDescription, result: JobResult) -> None:
    assert result.phase == "Succeeded", result
    assert [a.phase for a in result.attempts] == ["Disrupted", "Succeeded"], result.attempts
    assert result.attempts[0].reason == "EvictionByEvictionAPI", result.attempts
    assert result.attempts[0].pod != result.attempts[1].pod
    assert "attempt 2 started" in result.log and "attempt 1" not in result.log
    assert sorted(p.name for p in result.artifacts) == ["attempt-2.txt", "finished.txt"]
    assert (launcher.artifacts_dir / job.name / "attempt-1" / "steps.log").exists()  # the evicted one's log


def test_evicted_runner_pod_is_retried_and_nothing_is_lost(launcher: Launcher, kube: client.ApiClient,
                                                           namespace: str, record_property: Any) -> None:
    skip_without_disruption_conditions(kube)
    job = recycled_job("evicted")
    result = follow_while(launcher, launcher.start(job),
                          lambda pod: recycling.evict(kube, namespace, pod.metadata.name))
    assert_retried_and_collected(launcher, job, result)
    record_property("eviction_attempts", len(result.attempts))


def test_drained_node_retry_lands_on_another_node(launcher: Launcher, kube: client.ApiClient,
                                                  namespace: str, record_property: Any) -> None:
    skip_without_disruption_conditions(kube)
    nodes = recycling.schedulable_nodes(kube)
    if len(nodes) < 2:
        pytest.skip(f"draining a node mid-job needs two schedulable nodes; the cluster has {len(nodes)} "
                    f"({', '.join(nodes) or 'none'}): add a worker (kind: --provider-opt workers=1)")
    job = recycled_job("drained")
    movable = launcher.variant(cache_claims=False)  # a claim's volume could pin the retry to the node
    drained: list[str] = []
    with contextlib.ExitStack() as uncordon:

        def drain(pod: client.V1Pod) -> None:
            drained.append(pod.spec.node_name)
            uncordon.enter_context(recycling.cordoned(kube, pod.spec.node_name))
            assert pod.metadata.name in recycling.drain(kube, pod.spec.node_name, namespace)

        result = follow_while(movable, movable.start(job), drain)
    assert_retried_and_collected(movable, job, result)
    assert result.attempts[0].node == drained[0]
    assert result.attempts[1].node not in (None, drained[0]), result.attempts
    record_property("drained_node", drained[0])
    record_property("retry_node", result.attempts[1].node)
