"""CronJobs: firing, concurrency policies, suspend, history limits and time zones.

Each test waits for real minutes, so they use the shortest legal schedule ("* * * * *", or one exact
minute for the time-zone test) and run side by side under pytest-xdist: no test depends on another,
and each has its own namespace.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from kubernetes import client

from e2e.framework import builders, waits

EVERY_MINUTE = "* * * * *"
MINUTE = 60
FIRST_RUN = 2 * MINUTE + 30  # up to a minute until the next boundary, plus image pull and controller lag


def cron(e2e_config: Any, name: str, script: str, schedule: str = EVERY_MINUTE, **kwargs: Any) -> dict:
    images = builders.Images.from_config(e2e_config)
    job = builders.shell_job(name, images.busybox, script, pull_policy=images.pull_policy)
    return builders.cronjob(name, schedule, job["spec"], **kwargs)


def scheduled_at(job: client.V1Job) -> dt.datetime:
    """The CronJob controller names each job <cronjob>-<scheduled time in minutes since the epoch>."""
    minutes = int(job.metadata.name.rsplit("-", 1)[1])
    return dt.datetime.fromtimestamp(minutes * MINUTE, dt.UTC)


def jobs_of(kube: client.ApiClient, namespace: str, cronjob: str) -> list[client.V1Job]:
    items = client.BatchV1Api(kube).list_namespaced_job(namespace).items
    return sorted((j for j in items if waits.owned_by(j, "CronJob", cronjob)), key=lambda j: j.metadata.name)


def test_cronjob_fires_within_its_minute(kube: client.ApiClient, namespace: str, e2e_config: Any) -> None:
    builders.create(kube, namespace, cron(e2e_config, "fires", "echo fired"))
    job = waits.cronjob_next_job(kube, namespace, "fires", known=(), timeout=FIRST_RUN)
    lag = (job.metadata.creation_timestamp - scheduled_at(job)).total_seconds()
    assert 0 <= lag < MINUTE, f"job {job.metadata.name} created {lag:.0f}s after its scheduled minute"
    _, condition = waits.job_finished(kube, namespace, job.metadata.name, 3 * MINUTE)
    assert condition == "Complete"


def test_forbid_never_overlaps_runs(kube: client.ApiClient, namespace: str, e2e_config: Any) -> None:
    # Each run outlasts a minute, so the next schedule falls inside it. Without a starting deadline the
    # controller would start that run late, after the first; with 20 s it is skipped outright.
    builders.create(kube, namespace, cron(e2e_config, "forbid", "sleep 90", concurrency_policy="Forbid",
                                          starting_deadline_seconds=20))
    first = waits.cronjob_next_job(kube, namespace, "forbid", known=(), timeout=FIRST_RUN)
    first, condition = waits.job_finished(kube, namespace, first.metadata.name, 4 * MINUTE)
    assert condition == "Complete"
    second = waits.cronjob_next_job(kube, namespace, "forbid", known=[first.metadata.name],
                                    timeout=3 * MINUTE)
    skipped = (scheduled_at(second) - scheduled_at(first)).total_seconds() / MINUTE
    assert skipped >= 2, f"{second.metadata.name} was scheduled {skipped:.0f} minute(s) after the first run"
    assert second.metadata.creation_timestamp >= first.status.completion_time, (
        f"{second.metadata.name} started at {second.metadata.creation_timestamp}, "
        f"before {first.metadata.name} completed at {first.status.completion_time}")


def test_replace_replaces_a_running_job(kube: client.ApiClient, namespace: str, e2e_config: Any) -> None:
    builders.create(kube, namespace, cron(e2e_config, "replace", "sleep 600", concurrency_policy="Replace"))
    first = waits.cronjob_next_job(kube, namespace, "replace", known=(), timeout=FIRST_RUN)
    second = waits.cronjob_next_job(kube, namespace, "replace", known=[first.metadata.name],
                                    timeout=2 * MINUTE)
    assert (scheduled_at(second) - scheduled_at(first)).total_seconds() == MINUTE
    batch = client.BatchV1Api(kube)
    waits.gone(batch.list_namespaced_job, namespace, first.metadata.name, "Job", MINUTE,
               events_api=client.CoreV1Api(kube))

    def only_second_active(objects: dict[str, Any]) -> list[str] | None:
        cronjob = objects.get("replace")
        active = [ref.name for ref in (cronjob.status.active if cronjob and cronjob.status else None) or []]
        return active if active == [second.metadata.name] else None

    waits.watch_until(waits.Target(batch.list_namespaced_cron_job, namespace, "CronJob", name="replace"),
                      only_second_active, what=f"cronjob replace listing only {second.metadata.name} active",
                      timeout=MINUTE, events_api=client.CoreV1Api(kube))


def test_suspend_stops_scheduling(kube: client.ApiClient, namespace: str, e2e_config: Any) -> None:
    builders.create(kube, namespace, cron(e2e_config, "suspended", "echo ran", suspend=True))
    now = dt.datetime.now(dt.UTC)
    past_next_boundary = MINUTE - now.second + 20
    with pytest.raises(waits.WaitTimeout):
        waits.cronjob_next_job(kube, namespace, "suspended", known=(), timeout=past_next_boundary)
    assert jobs_of(kube, namespace, "suspended") == []
    client.BatchV1Api(kube).patch_namespaced_cron_job("suspended", namespace, {"spec": {"suspend": False}})
    resumed = waits.cronjob_next_job(kube, namespace, "suspended", known=(), timeout=FIRST_RUN)
    assert resumed.metadata.creation_timestamp > now


def test_history_limits_hold(kube: client.ApiClient, namespace: str, e2e_config: Any) -> None:
    builders.create(kube, namespace, cron(e2e_config, "passes", "true", successful_history=1,
                                          failed_history=1))
    builders.create(kube, namespace, cron(e2e_config, "fails", "exit 1", successful_history=1,
                                          failed_history=1))
    finished: dict[str, set[str]] = {"passes": set(), "fails": set()}

    def limits_held(objects: dict[str, Any]) -> dict[str, list[str]] | None:
        live: dict[str, list[str]] = {"passes": [], "fails": []}
        for job in objects.values():
            for cronjob in live:
                if waits.owned_by(job, "CronJob", cronjob) and waits.job_condition(job):
                    finished[cronjob].add(job.metadata.name)
                    live[cronjob].append(job.metadata.name)
        enough = all(len(names) >= 2 for names in finished.values())
        return live if enough and all(len(names) == 1 for names in live.values()) else None

    target = waits.Target(client.BatchV1Api(kube).list_namespaced_job, namespace, "CronJob", about="passes")
    live = waits.watch_until(target, limits_held, what="two finished runs of each cronjob, one of each kept",
                             timeout=5 * MINUTE, events_api=client.CoreV1Api(kube),
                             describe=lambda objs: f"jobs now {sorted(objs)}, finished ever {finished}")
    assert waits.job_condition(client.BatchV1Api(kube).read_namespaced_job(live["passes"][0], namespace)) \
        == "Complete"
    assert waits.job_condition(client.BatchV1Api(kube).read_namespaced_job(live["fails"][0], namespace)) \
        == "Failed"


def test_time_zone_is_applied(kube: client.ApiClient, namespace: str, e2e_config: Any) -> None:
    zone = ZoneInfo("Asia/Kolkata")  # UTC+05:30 all year: a schedule read as UTC would be hours off
    now = dt.datetime.now(zone)
    target = (now + dt.timedelta(minutes=2)).replace(second=0, microsecond=0)
    schedule = f"{target.minute} {target.hour} * * *"
    builders.create(kube, namespace, cron(e2e_config, "zoned", "echo zoned", schedule=schedule,
                                          time_zone="Asia/Kolkata"))
    wait = (target - now).total_seconds() + 90
    job = waits.cronjob_next_job(kube, namespace, "zoned", known=(), timeout=wait)
    assert scheduled_at(job) == target.astimezone(dt.UTC), (
        f"{schedule} in Asia/Kolkata should run at {target.astimezone(dt.UTC)}, ran at {scheduled_at(job)}")
