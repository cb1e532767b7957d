"""The job queue: 30 jobs through a dispatcher that keeps at most 5 runner pods alive, in FIFO order."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from e2e.framework import waits
from e2e.framework.census import Census
from e2e.framework.dispatcher import Dispatcher, queue_stats
from e2e.framework.runner import JOB_LABEL, JobDescription, Launcher, Step

pytestmark = pytest.mark.long  # started early: e2e/conftest.py

JOBS = 30
CONCURRENCY = 5
JOB_TIMEOUT = 300
QUEUE_TIMEOUT = 1800
REPOSITORY = "https://example.test/fedtest/queued.git"


def queued_jobs(count: int) -> list[JobDescription]:
    return [JobDescription(f"queued-{i:02d}", REPOSITORY, [Step("work", f"echo job {i}; sleep 2")],
                           source_files={"README.md": "queued\n"}) for i in range(count)]


def runner_pods(kube: client.ApiClient, namespace: str) -> waits.Target:
    return waits.Target(client.CoreV1Api(kube).list_namespaced_pod, namespace, "Pod", label_selector=JOB_LABEL)


def test_dispatcher_keeps_at_most_k_runner_pods_alive_in_fifo_order(launcher: Launcher, kube: client.ApiClient,
                                                                     namespace: str, record_property: Any) -> None:
    jobs = queued_jobs(JOBS)
    with Census(runner_pods(kube, namespace), QUEUE_TIMEOUT) as census:
        done = Dispatcher(launcher, CONCURRENCY, JOB_TIMEOUT).run_all(jobs)
    failed = [f"{d.job.name}: {d.result.phase if d.result else None} {d.result.reason if d.result else ''}"
              for d in done if d.result is None or d.result.phase != "Succeeded"]
    assert not failed, failed
    assert census.peak == CONCURRENCY, f"the watch saw at most {census.peak} runner pods at once"
    assert census.order == [f"runner-{j.name}" for j in jobs], "pods were not created in queue order"
    assert [d.job.name for d in done] == [j.name for j in jobs]
    assert all(f"job {int(d.job.name[-2:])}" in (d.result.log if d.result else "") for d in done)
    for key, value in queue_stats(done).properties().items():
        record_property(key, value)
    record_property("queue_concurrency", CONCURRENCY)
    record_property("queue_peak_pods_seen", census.peak)
