"""The job queue's dispatcher: runner pods started in FIFO order, never more than K alive at once.

One thread takes jobs off the queue in order and creates each job's pod only when one of K slots is
free; a follower thread per job watches it to the end and frees its slot once the pod is gone (not
merely finished), so "alive" includes a pod still terminating. Start order is queue order because
only the dispatching thread creates pods.
"""

from __future__ import annotations

import queue
import statistics
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from kubernetes.client.rest import ApiException

from e2e.framework import podtimes
from e2e.framework.runner import JobDescription, JobResult, Launcher, RunningJob


@dataclass
class Dispatched:
    """One job's way through the queue (monotonic seconds) and its result."""

    job: JobDescription
    queued: float
    started: float = 0.0
    finished: float = 0.0
    result: JobResult | None = None

    @property
    def wait_seconds(self) -> float:
        return self.started - self.queued


@dataclass(frozen=True)
class QueueStats:
    """Queue wait percentiles and throughput, as recorded in the JUnit properties."""

    jobs: int
    wait_p50_seconds: float
    wait_p99_seconds: float
    jobs_per_minute: float

    def properties(self) -> dict[str, float]:
        return {"queue_jobs": self.jobs, "queue_wait_p50_seconds": self.wait_p50_seconds,
                "queue_wait_p99_seconds": self.wait_p99_seconds,
                "queue_throughput_jobs_per_minute": self.jobs_per_minute}


def queue_stats(done: list[Dispatched]) -> QueueStats:
    waits = sorted(d.wait_seconds for d in done)
    p99 = podtimes.percentile(waits, 99)
    span = max(d.finished for d in done) - min(d.queued for d in done)
    return QueueStats(len(done), round(statistics.median(waits), 3), round(p99, 3),
                      round(len(done) / span * 60, 2) if span > 0 else 0.0)


@dataclass
class Dispatcher:
    """`Dispatcher(launcher, concurrency=5, job_timeout=600).run_all(jobs)`, or submit()/close()/run()."""

    launcher: Launcher
    concurrency: int
    job_timeout: float
    waiting: queue.Queue[Dispatched | None] = field(default_factory=queue.Queue)

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError(f"concurrency {self.concurrency} must be at least 1: pass concurrency=1 or more")

    def submit(self, job: JobDescription) -> None:
        job.validate()  # a bad description is refused here, before it waits in the queue
        self.waiting.put(Dispatched(job, time.monotonic()))

    def close(self) -> None:
        """No more jobs: run() returns once the queued ones are done."""
        self.waiting.put(None)

    def run(self) -> list[Dispatched]:
        """Dispatch until close() was reached in the queue and every job has finished."""
        slots = threading.BoundedSemaphore(self.concurrency)
        followers: list[threading.Thread] = []
        done: list[Dispatched] = []
        while (entry := self.waiting.get()) is not None:
            slots.acquire()
            entry.started = time.monotonic()
            job = entry.job
            try:
                running = self.launcher.start(job)
            except ApiException as err:  # the pod could not be created: the job fails, the queue goes on
                entry.finished = time.monotonic()
                entry.result = JobResult(job.name, "", "Failed", reason=f"pod not created: HTTP {err.status}",
                                         message=str(err.reason or ""))
                done.append(entry)
                slots.release()
                continue
            follower = threading.Thread(target=self._follow, args=(running, entry, slots, done),
                                        name=f"follow-{job.name}", daemon=True)
            followers.append(follower)
            follower.start()
        for follower in followers:
            follower.join()
        return sorted(done, key=lambda d: d.started)

    def run_all(self, jobs: Iterable[JobDescription]) -> list[Dispatched]:
        for job in jobs:
            self.submit(job)
        self.close()
        return self.run()

    def _follow(self, running: RunningJob, entry: Dispatched, slots: threading.BoundedSemaphore,
                done: list[Dispatched]) -> None:
        try:
            entry.result = self.launcher.finish(running, self.job_timeout)
        except Exception as err:  # e.g. its wait timed out: this job failed, the others go on
            entry.result = JobResult(entry.job.name, running.pod_name, "Failed", reason=type(err).__name__,
                                     message=str(err)[:500])
        finally:
            entry.finished = time.monotonic()
            done.append(entry)
            slots.release()

