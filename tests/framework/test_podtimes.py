"""The cluster's own pod startup, read from the pod's timestamps, and the harness's overhead beside it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kubernetes import client

from e2e.framework import builders
from e2e.framework.podtimes import PodTimeline, percentile, startup_properties
from e2e.framework.runner import JobDescription, Launcher, Step
from tests.framework.conftest import NAMESPACE, Clusters

T0 = dt.datetime(2026, 12, 1, 10, 0, 0, tzinfo=dt.UTC)


def at(seconds: int) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def pod(*conditions: tuple[str, str, int], running_since: int | None = None,
        terminated_started: int | None = None, container: str = "steps") -> client.V1Pod:
    state = client.V1ContainerState(
        running=client.V1ContainerStateRunning(started_at=at(running_since)) if running_since is not None else None,
        terminated=client.V1ContainerStateTerminated(exit_code=0, started_at=at(terminated_started))
        if terminated_started is not None else None)
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name="runner", creation_timestamp=T0),
        status=client.V1PodStatus(
            conditions=[client.V1PodCondition(type=t, status=s, last_transition_time=at(when))
                        for t, s, when in conditions],
            container_statuses=[client.V1ContainerStatus(name=container, image="busybox", image_id="", ready=False,
                                                         restart_count=0, state=state)]))


def test_timeline_keeps_each_milestone_as_first_seen() -> None:
    timeline = PodTimeline()
    timeline.observe(pod(("PodScheduled", "True", 1)), "steps")
    timeline.observe(pod(("PodScheduled", "True", 1), ("Ready", "True", 4), running_since=3), "steps")
    timeline.observe(pod(("PodScheduled", "True", 1), ("Ready", "False", 9), terminated_started=3), "steps")
    assert timeline.seconds() == {"scheduled": 1, "started": 3, "ready": 4}


def test_a_short_job_seen_only_ended_still_has_its_start() -> None:
    timeline = PodTimeline()
    timeline.observe(pod(("PodScheduled", "False", 1), terminated_started=2), "steps")
    timeline.observe(pod(running_since=5, container="sidecar"), "steps")
    assert timeline.seconds() == {"started": 2}


def test_startup_properties_put_the_launcher_beside_the_cluster() -> None:
    timelines = []
    for started in (2, 2, 3, 4):
        timeline = PodTimeline()
        timeline.observe(pod(("PodScheduled", "True", 1), ("Ready", "True", started), running_since=started),
                         "steps")
        timelines.append(timeline)
    props = startup_properties([2.2, 2.3, 3.3, 4.4], timelines)
    assert props["cluster_pod_scheduled_p50_seconds"] == 1
    assert props["cluster_pod_started_p50_seconds"] == props["cluster_pod_ready_p50_seconds"] == 2.5
    assert props["harness_overhead_p50"] == pytest.approx(2.8 / 2.5, abs=0.001)
    assert props["harness_overhead_p99"] == pytest.approx(percentile([2.2, 2.3, 3.3, 4.4], 99)
                                                          / percentile([2, 2, 3, 4], 99), abs=0.001)


def test_no_ratio_when_the_cluster_saw_no_time_pass() -> None:
    timeline = PodTimeline()
    timeline.observe(pod(running_since=0), "steps")
    props = startup_properties([0.4], [timeline])
    assert props == {"cluster_pod_started_p50_seconds": 0, "cluster_pod_started_p99_seconds": 0}


@given(st.lists(st.floats(min_value=0, max_value=600), min_size=1, max_size=50), st.integers(1, 98))
def test_percentiles_stay_within_the_samples_and_grow(values: list[float], q: int) -> None:
    low, high = percentile(values, q), percentile(values, q + 1)
    assert min(values) <= low <= max(values) and min(values) <= high <= max(values)
    assert low <= high + 1e-9 * max(values)


def test_the_launcher_records_the_kubelets_timestamps(clusters: Clusters, east: client.ApiClient,
                                                       tmp_path: Path) -> None:
    job = JobDescription("timed", "https://example.test/sample.git", [Step("s", "true")], source_files={"a": "a\n"})
    with clusters.kubelet("east"):
        result = Launcher(east, NAMESPACE, builders.Images(), tmp_path).run(job, 60)
    assert result.phase == "Succeeded", result
    assert result.timeline.started is not None  # the fake kubelet's startedAt, first seen while Running
    assert result.timeline.started <= dt.datetime.now(dt.UTC)


def written_by_kubelet(base: client.V1Pod, seconds: int) -> client.V1Pod:
    base.metadata.managed_fields = [
        client.V1ManagedFieldsEntry(manager="kube-scheduler", operation="Update", subresource="status", time=at(1)),
        client.V1ManagedFieldsEntry(manager="kubelet", operation="Update", subresource="status", time=at(seconds)),
        client.V1ManagedFieldsEntry(manager="fedtest", operation="Update", time=at(0))]
    return base


def test_the_overhead_counts_from_when_the_kubelet_reported_the_start() -> None:
    """The kubelet started each container at 2 s but wrote so at 5 s; the launcher saw it 0.5 s later."""
    timelines = []
    for _ in range(3):
        timeline = PodTimeline()
        timeline.observe(pod(("PodScheduled", "True", 1)), "steps", now=at(2))
        timeline.observe(written_by_kubelet(pod(running_since=2), 5), "steps", now=at(5) + dt.timedelta(seconds=0.5))
        timeline.observe(written_by_kubelet(pod(terminated_started=2), 9), "steps", now=at(10))
        timelines.append(timeline)
    props = startup_properties([5.4, 5.4, 5.4], timelines)
    assert props["cluster_pod_started_p50_seconds"] == 2 and props["cluster_pod_reported_p50_seconds"] == 5
    assert props["kubelet_report_lag_p50_seconds"] == props["kubelet_report_lag_p99_seconds"] == 3
    assert props["harness_overhead_p50"] == props["harness_overhead_p99"] == 1.1
    assert props["launcher_over_started_p50"] == 2.7


def test_without_the_kubelets_write_time_the_overhead_counts_from_the_start() -> None:
    timeline = PodTimeline()
    timeline.observe(pod(running_since=2), "steps", now=at(3))
    assert startup_properties([3.0], [timeline])["harness_overhead_p50"] == 1.5
