"""CronJobs: firing, concurrency policies, suspend, history limits and time zones.

The tests share their minutes: the `cron_board` fixture creates every CronJob they need at once, in one
namespace per cluster (e2e/framework/cronboard.py), so the schedules tick side by side and each test reads
its own behaviour as it shows. They run as one xdist group (one worker: with `--dist loadgroup` the
boards are created once) and first (e2e/conftest.py), so the clock runs while the other tests do.
Each test records `inherent-wait-seconds` (from the board's creation to its evidence, on the API server's
clock) and `blocked-seconds` (from the board's creation to the verdict, on this worker's clock).
The suspend test comes first: it is the one that acts (it resumes its CronJob) and then waits a minute
more, which must overlap with the others' minutes rather than follow them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from kubernetes import client

from e2e.framework import waits
from e2e.framework.cronboard import (
    FIRST_RUN,
    MINUTE,
    Board,
    fired_in_its_minute,
    first_boundary,
    forbid_pair,
    history_kept,
    only_replacement_running,
    scheduled_at,
)

pytestmark = pytest.mark.xdist_group("cronjobs")


def record_waits(record_property: Any, board: Board, evidence_at: dt.datetime) -> None:
    record_property("inherent-wait-seconds", board.seconds_since_created(evidence_at))
    record_property("blocked-seconds", board.blocked_seconds())


def test_suspend_stops_scheduling(cron_board: Board, record_property: Any) -> None:
    namespace, api = cron_board.namespace, cron_board.api
    past_a_boundary = first_boundary(cron_board.created) + dt.timedelta(seconds=20)
    remaining = (past_a_boundary - dt.datetime.now(dt.UTC)).total_seconds()
    if remaining > 0:
        with pytest.raises(waits.WaitTimeout):
            waits.cronjob_next_job(api, namespace, "suspended", known=(), timeout=remaining)
    batch = client.BatchV1Api(api)
    assert [j.metadata.name for j in batch.list_namespaced_job(namespace).items
            if waits.owned_by(j, "CronJob", "suspended")] == []
    resumed_at = dt.datetime.now(dt.UTC)
    batch.patch_namespaced_cron_job("suspended", namespace, {"spec": {"suspend": False}})
    resumed = waits.cronjob_next_job(api, namespace, "suspended", known=(), timeout=FIRST_RUN)
    assert resumed.metadata.creation_timestamp > resumed_at - dt.timedelta(seconds=1), (
        f"{resumed.metadata.name} was created before the cronjob was resumed at {resumed_at}")
    record_waits(record_property, cron_board, resumed.metadata.creation_timestamp)


def test_cronjob_fires_within_its_minute(cron_board: Board, record_property: Any) -> None:
    job, condition = cron_board.jobs_until(
        ("fires",), lambda jobs: fired_in_its_minute(jobs["fires"]),
        what="a finished run of cronjob fires", timeout=FIRST_RUN + 3 * MINUTE)
    assert condition == "Complete", f"{job.metadata.name} ended {condition}"
    record_waits(record_property, cron_board, job.status.completion_time)


def test_forbid_never_overlaps_runs(cron_board: Board, record_property: Any) -> None:
    # Each run outlasts a minute, so the next schedule falls inside it. Without a starting deadline the
    # controller would start that run late, after the first; with 20 s it is skipped outright.
    first, second = cron_board.jobs_until(
        ("forbid",), lambda jobs: forbid_pair(jobs["forbid"]),
        what="a finished run of cronjob forbid and the next one", timeout=FIRST_RUN + 4 * MINUTE)
    assert waits.job_condition(first) == "Complete", first.status
    record_waits(record_property, cron_board, second.metadata.creation_timestamp)


def test_replace_replaces_a_running_job(cron_board: Board, record_property: Any) -> None:
    first_run = first_boundary(cron_board.created)
    running = cron_board.jobs_until(
        ("replace",), lambda jobs: only_replacement_running(jobs["replace"], first_run),
        what="one running job of cronjob replace, a later run than the first", timeout=FIRST_RUN + 2 * MINUTE)
    replaced = f"replace-{int(scheduled_at(running).timestamp()) // MINUTE - 1}"
    cron_board.deleted_jobs("replace", lambda deleted: replaced in deleted)  # replaced, not merely absent
    batch = client.BatchV1Api(cron_board.api)

    def lists_only(objects: dict[str, Any]) -> list[str] | None:
        cronjob = objects.get("replace")
        active = [ref.name for ref in (cronjob.status.active if cronjob and cronjob.status else None) or []]
        return active if len(active) == 1 and active[0] >= running.metadata.name else None

    waits.watch_until(waits.Target(batch.list_namespaced_cron_job, cron_board.namespace, "CronJob", name="replace"),
                      lists_only, what="cronjob replace listing one active job", timeout=MINUTE,
                      events_api=client.CoreV1Api(cron_board.api))
    record_waits(record_property, cron_board, running.metadata.creation_timestamp)


def test_history_limits_hold(cron_board: Board, record_property: Any) -> None:
    first_run = first_boundary(cron_board.created)

    def kept(jobs: dict[str, list[client.V1Job]]) -> dict[str, client.V1Job] | None:
        found = {name: history_kept(runs, first_run) for name, runs in jobs.items()}
        return found if all(found.values()) else None  # type: ignore[return-value]

    live = cron_board.jobs_until(("passes", "fails"), kept, timeout=FIRST_RUN + 3 * MINUTE,
                                 what="one finished job of each of cronjobs passes and fails, a later run than "
                                      "the first")
    assert waits.job_condition(live["passes"]) == "Complete"
    assert waits.job_condition(live["fails"]) == "Failed"
    for name in ("passes", "fails"):  # an older finished job was pruned, not merely never created
        cron_board.deleted_jobs(name, bool)
    record_waits(record_property, cron_board, max(j.status.completion_time or j.metadata.creation_timestamp
                                                  for j in live.values()))


def test_time_zone_is_applied(cron_board: Board, record_property: Any) -> None:
    target = cron_board.zoned_target
    wait = (target - dt.datetime.now(dt.UTC)).total_seconds() + 90
    job = cron_board.jobs_until(("zoned",), lambda jobs: (jobs["zoned"] or [None])[0],
                                what="the first job of cronjob zoned", timeout=max(wait, MINUTE))
    assert scheduled_at(job) == target.astimezone(dt.UTC), (
        f"{target:%M %H} * * * in {target.tzinfo} should run at {target.astimezone(dt.UTC)}, "
        f"ran at {scheduled_at(job)}")
    record_waits(record_property, cron_board, job.metadata.creation_timestamp)
