"""The dispatcher: the concurrency bound and FIFO start order, as a property over an in-process launcher
and as the API server saw it (a census watch) with runner pods on the fake kubelet."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kubernetes import client
from kubernetes.client.rest import ApiException

from e2e import test_dispatcher as suite
from e2e.framework import builders
from e2e.framework.census import Census
from e2e.framework.dispatcher import Dispatched, Dispatcher, queue_stats
from e2e.framework.runner import JobDescription, JobResult, Launcher, Step
from tests.framework.conftest import NAMESPACE, Clusters


class CountingLauncher:
    """Starts nothing: counts how many jobs are between start() and the end of finish()."""

    def __init__(self, durations: dict[str, float], refuse: frozenset[str] = frozenset()) -> None:
        self.durations = durations
        self.refuse = refuse
        self.alive = 0
        self.peak = 0
        self.started: list[str] = []
        self.lock = threading.Lock()

    def start(self, job: JobDescription) -> JobDescription:
        if job.name in self.refuse:
            raise ApiException(status=422, reason="Unprocessable Entity")
        with self.lock:
            self.alive += 1
            self.peak = max(self.peak, self.alive)
            self.started.append(job.name)
        return job

    def finish(self, job: JobDescription, timeout: float) -> JobResult:
        threading.Event().wait(self.durations[job.name])
        with self.lock:
            self.alive -= 1
        return JobResult(job.name, f"runner-{job.name}", "Succeeded")


def jobs(count: int) -> list[JobDescription]:
    return [JobDescription(f"j{i:02d}", "r", [Step("s", "true")]) for i in range(count)]


@settings(max_examples=25, deadline=None)
@given(concurrency=st.integers(1, 6), durations=st.lists(st.floats(0, 0.02), min_size=1, max_size=25))
def test_never_more_than_k_alive_and_started_in_queue_order(concurrency: int, durations: list[float]) -> None:
    queue = jobs(len(durations))
    fake = CountingLauncher({j.name: d for j, d in zip(queue, durations, strict=True)})
    done = Dispatcher(fake, concurrency, 10).run_all(queue)  # type: ignore[arg-type]
    assert fake.peak <= concurrency
    assert fake.started == [j.name for j in queue]
    assert [d.job.name for d in done] == [j.name for j in queue]
    assert all(d.result is not None and d.result.phase == "Succeeded" for d in done)
    assert all(d.queued <= d.started <= d.finished for d in done)


def test_all_k_slots_are_used_while_the_queue_is_long() -> None:
    queue = jobs(9)
    fake = CountingLauncher({j.name: 0.2 for j in queue})
    Dispatcher(fake, 3, 10).run_all(queue)  # type: ignore[arg-type]
    assert fake.peak == 3


def test_a_job_whose_pod_cannot_be_created_fails_and_the_queue_goes_on() -> None:
    queue = jobs(4)
    fake = CountingLauncher({j.name: 0.0 for j in queue}, refuse=frozenset({"j01"}))
    done = Dispatcher(fake, 1, 10).run_all(queue)  # type: ignore[arg-type]
    by_name = {d.job.name: d.result for d in done}
    assert by_name["j01"] is not None and by_name["j01"].phase == "Failed"
    assert "HTTP 422" in by_name["j01"].reason
    assert [n for n, r in by_name.items() if r and r.phase == "Succeeded"] == ["j00", "j02", "j03"]


def test_bad_input_is_refused_with_the_fix() -> None:
    with pytest.raises(ValueError, match="must be at least 1: pass concurrency=1 or more"):
        Dispatcher(CountingLauncher({}), 0, 10)  # type: ignore[arg-type]


def test_queue_stats_percentiles_and_throughput() -> None:
    now = time.monotonic()
    done = [Dispatched(j, now, now + wait, now + 30) for j, wait in zip(jobs(4), [0, 1, 2, 10], strict=True)]
    stats = queue_stats(done)
    assert (stats.jobs, stats.wait_p50_seconds, stats.jobs_per_minute) == (4, 1.5, 8.0)
    assert 9 < stats.wait_p99_seconds <= 10


@pytest.fixture
def launcher(clusters: Clusters, east: client.ApiClient, tmp_path: Path) -> Launcher:
    with clusters.kubelet("east", start_delay=0.1, end_delay=0.1):
        yield Launcher(east, NAMESPACE, builders.Images(), tmp_path / "artifacts")


def test_the_suites_dispatcher_test_holds_on_the_fake_kubelet(launcher: Launcher, east: client.ApiClient,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The e2e test's own assertions (census peak, FIFO creation, every job done), smaller."""
    monkeypatch.setattr(suite, "JOBS", 8)
    monkeypatch.setattr(suite, "CONCURRENCY", 3)
    monkeypatch.setattr(suite, "queued_jobs", lambda n: [
        JobDescription(f"queued-{i:02d}", suite.REPOSITORY, [Step("work", f"echo job {i}; sleep 0.3")],
                       source_files={"README.md": "q\n"}) for i in range(n)])
    properties: dict[str, Any] = {}
    suite.test_dispatcher_keeps_at_most_k_runner_pods_alive_in_fifo_order(launcher, east, NAMESPACE,
                                                                          properties.__setitem__)
    assert properties["queue_peak_pods_seen"] == 3 and properties["queue_jobs"] == 8
    assert properties["queue_wait_p50_seconds"] <= properties["queue_wait_p99_seconds"]
    assert properties["queue_throughput_jobs_per_minute"] > 0


def test_the_census_sees_a_bound_broken(clusters: Clusters, east: client.ApiClient) -> None:
    """The proof can fail: four pods alive together are counted as four."""
    core = client.CoreV1Api(east)
    with Census(suite.runner_pods(east, NAMESPACE), 30) as census:
        for i in range(4):
            builders.create(east, NAMESPACE, builders.pod(f"p{i}", {"containers": []}, labels={"a": "b"}))
        core.delete_namespaced_pod("p0", NAMESPACE)
        builders.create(east, NAMESPACE, builders.pod("p4", {"containers": []}))
    assert census.peak == 4 and census.order == ["p0", "p1", "p2", "p3", "p4"]
