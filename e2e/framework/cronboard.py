"""CronJobs that share their minutes: every schedule the cron tests need, created at once in one namespace.

A CronJob test mostly waits for the clock. Created together, the CronJobs tick side by side, so a cluster
waits for its slowest behaviour (Forbid's skipped minute, about three minutes) instead of the sum of all of
them; each test then reads its own behaviour from what the controller did, whenever it runs. The evidence
is durable: job names carry their scheduled minute, finished jobs carry their times, and the controller's
`SuccessfulDelete` events on the CronJob name every job it replaced or pruned.
"""

from __future__ import annotations

import datetime as dt
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from kubernetes import client

from e2e.framework import builders, waits

R = TypeVar("R")
MINUTE = 60
EVERY_MINUTE = "* * * * *"
FIRST_RUN = 2 * MINUTE + 30  # up to a minute until the next boundary, plus image pull and controller lag
ZONE = "Asia/Kolkata"  # UTC+05:30 all year: a schedule read as UTC would be hours off
FORBID_RUN_SECONDS = 90  # outlasts the next minute and its 20 s starting deadline: that run is skipped


@dataclass(frozen=True)
class Schedule:
    """One CronJob of the board: its name, its job's script and its spec options."""

    name: str
    script: str
    schedule: str = EVERY_MINUTE
    options: dict[str, Any] = field(default_factory=dict)


def schedules(now: dt.datetime) -> list[Schedule]:
    """Every CronJob the cron tests read, for a board created at `now` (the time-zone one needs it)."""
    zoned = zoned_target(now)
    return [
        Schedule("fires", "echo fired"),
        Schedule("forbid", f"sleep {FORBID_RUN_SECONDS}",
                 options={"concurrency_policy": "Forbid", "starting_deadline_seconds": 20}),
        Schedule("replace", "sleep 600", options={"concurrency_policy": "Replace"}),
        Schedule("suspended", "echo ran", options={"suspend": True}),
        Schedule("passes", "true", options={"successful_history": 1, "failed_history": 1}),
        Schedule("fails", "exit 1", options={"successful_history": 1, "failed_history": 1}),
        Schedule("zoned", "echo zoned", f"{zoned.minute} {zoned.hour} * * *", {"time_zone": ZONE}),
    ]


def zoned_target(now: dt.datetime) -> dt.datetime:
    """The minute, in ZONE, the time-zone CronJob of a board created at `now` must fire at."""
    return (now.astimezone(ZoneInfo(ZONE)) + dt.timedelta(minutes=2)).replace(second=0, microsecond=0)


def scheduled_at(job: client.V1Job) -> dt.datetime:
    """The CronJob controller names each job <cronjob>-<scheduled time in minutes since the epoch>."""
    minutes = int(job.metadata.name.rsplit("-", 1)[1])
    return dt.datetime.fromtimestamp(minutes * MINUTE, dt.UTC)


def first_boundary(created: dt.datetime) -> dt.datetime:
    """The first whole minute after a CronJob's creation: its first `* * * * *` run."""
    floor = created.replace(second=0, microsecond=0)
    return floor if floor == created else floor + dt.timedelta(minutes=1)


@dataclass
class Board:
    """The CronJobs of one cluster, in one namespace, created at `created` (the API server's clock)."""

    api: client.ApiClient
    namespace: str
    created: dt.datetime
    zoned_target: dt.datetime
    started: float = field(default_factory=time.monotonic)

    @classmethod
    def create(cls, api: client.ApiClient, namespace: str, images: builders.Images,
               now: dt.datetime | None = None) -> Board:
        now = now or dt.datetime.now(dt.UTC)
        created: list[dt.datetime] = []
        for entry in schedules(now):
            job = builders.shell_job(entry.name, images.busybox, entry.script, pull_policy=images.pull_policy)
            made = builders.create(api, namespace, builders.cronjob(entry.name, entry.schedule, job["spec"],
                                                                    **entry.options))
            stamp = getattr(getattr(made, "metadata", None), "creation_timestamp", None)
            created.append(stamp or now)
        return cls(api, namespace, max(created), zoned_target(now))

    def jobs_until(self, cronjobs: tuple[str, ...], verdict: Callable[[dict[str, list[client.V1Job]]], R | None],
                   *, what: str, timeout: float) -> R:
        """Watch the board's jobs until verdict({cronjob: its jobs, oldest first}) is not None."""
        batch = client.BatchV1Api(self.api)

        def by_cronjob(objects: dict[str, Any]) -> R | None:
            return verdict(jobs_by_cronjob(objects.values(), cronjobs))

        target = waits.Target(batch.list_namespaced_job, self.namespace, "CronJob", about=cronjobs[0])
        return waits.watch_until(target, by_cronjob, what=what, timeout=timeout,
                                 events_api=client.CoreV1Api(self.api), recheck=waits.RECHECK_SECONDS,
                                 describe=lambda objs: f"jobs {sorted(objs)}")

    def deleted_jobs(self, cronjob: str, wanted: Callable[[set[str]], bool], timeout: float = MINUTE) -> set[str]:
        """Jobs the CronJob controller deleted (replaced, or pruned past a history limit), read from its
        `SuccessfulDelete` events, once they satisfy `wanted` (events are recorded just after the deletion)."""
        core = client.CoreV1Api(self.api)

        def names(objects: dict[str, Any]) -> set[str] | None:
            found = deleted_job_names(cronjob, [e.message or "" for e in objects.values()
                                                if e.reason == "SuccessfulDelete" and e.involved_object.kind
                                                == "CronJob" and e.involved_object.name == cronjob])
            return found if wanted(found) else None

        target = waits.Target(core.list_namespaced_event, self.namespace, "CronJob", about=cronjob)
        return waits.watch_until(target, names, what=f"SuccessfulDelete events of cronjob {cronjob}",
                                 timeout=timeout, events_api=core)

    def seconds_since_created(self, at: dt.datetime) -> float:
        """How long after the board's creation something happened: a behaviour's inherent wait."""
        return round((at - self.created).total_seconds(), 1)

    def blocked_seconds(self) -> float:
        return round(time.monotonic() - self.started, 1)


def jobs_by_cronjob(jobs: Any, cronjobs: tuple[str, ...]) -> dict[str, list[client.V1Job]]:
    """Each CronJob's live jobs (not being deleted), oldest scheduled minute first."""
    out: dict[str, list[client.V1Job]] = {name: [] for name in cronjobs}
    for job in jobs:
        if job.metadata.deletion_timestamp:
            continue
        for name in cronjobs:
            if waits.owned_by(job, "CronJob", name):
                out[name].append(job)
    for found in out.values():
        found.sort(key=scheduled_at)
    return out


def deleted_job_names(cronjob: str, messages: list[str]) -> set[str]:
    """'Deleted job forbid-29000001' (possibly '(combined from similar events): ...') -> job names."""
    prefix = f"{cronjob}-"
    return {word for message in messages for word in message.replace(",", " ").split()
            if word.startswith(prefix) and word[len(prefix):].isdigit()}


# --- the verdicts: what each behaviour looks like in the jobs, or None while it has not shown yet --------


def fired_in_its_minute(jobs: list[client.V1Job]) -> tuple[client.V1Job, str] | None:
    """A finished run, once every run so far was created within its scheduled minute."""
    for job in jobs:
        lag = (job.metadata.creation_timestamp - scheduled_at(job)).total_seconds()
        if not 0 <= lag < MINUTE:
            raise waits.WaitFailed(f"job {job.metadata.name} created {lag:.0f}s after its scheduled minute")
    finished = [(j, waits.job_condition(j)) for j in jobs if waits.job_condition(j)]
    return finished[0] if finished else None  # type: ignore[return-value]


def forbid_pair(jobs: list[client.V1Job]) -> tuple[client.V1Job, client.V1Job] | None:
    """A finished run and the next one, once they exist; fails when the next one overlapped or was not
    skipped past the minute that fell inside the first."""
    for first, second in itertools.pairwise(jobs):
        if waits.job_condition(first) is None:
            raise waits.WaitFailed(f"{second.metadata.name} started while {first.metadata.name} still ran")
        skipped = (scheduled_at(second) - scheduled_at(first)).total_seconds() / MINUTE
        if skipped < 2:
            raise waits.WaitFailed(f"{second.metadata.name} was scheduled {skipped:.0f} minute(s) after "
                                   f"{first.metadata.name}, inside its run")
        if second.metadata.creation_timestamp < first.status.completion_time:
            raise waits.WaitFailed(f"{second.metadata.name} started at {second.metadata.creation_timestamp}, "
                                   f"before {first.metadata.name} completed at {first.status.completion_time}")
        return first, second
    return None


def only_replacement_running(jobs: list[client.V1Job], first_run: dt.datetime) -> client.V1Job | None:
    """The one running job, once it is a later run than the first (the first was replaced, not joined)."""
    running = [j for j in jobs if waits.job_condition(j) is None]
    if len(running) != 1 or scheduled_at(running[0]) <= first_run:
        return None
    return running[0]


def history_kept(jobs: list[client.V1Job], first_run: dt.datetime) -> client.V1Job | None:
    """The one finished job kept under a history limit of 1, once it is a later run than the first."""
    finished = [j for j in jobs if waits.job_condition(j)]
    if len(finished) != 1 or scheduled_at(finished[0]) <= first_run:
        return None
    return finished[0]
