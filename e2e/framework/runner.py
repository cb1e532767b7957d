"""The runner-pod launcher: one CI job -> one pod, followed to the end, then destroyed.

The pod itself is built in jobspec.py; this module starts it, follows its phases and log, copies its
artifacts out of the collector container once the steps have ended (artifacts.py), releases the
collector, and deletes the pod and its source ConfigMap.
"""

from __future__ import annotations

import contextlib
import io
import re
import tarfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client
from kubernetes.client.rest import ApiException

from e2e.framework import artifacts, builders, podstates, podtimes, waits
from e2e.framework.jobspec import (
    CACHE_LABEL,
    COLLECTOR,
    JOB_LABEL,
    STEP_MARK,
    CachePlan,
    JobDescription,
    JobSpecError,
    Placement,
    Step,
    config_key,
    plan_cache,
    runner_pod,
    source_config_map_name,
)

RETRY_BUDGET = 2  # new pods a job may get after evictions or drains

__all__ = [
    "CACHE_LABEL",
    "JOB_LABEL",
    "Attempt",
    "CachePlan",
    "JobDescription",
    "JobResult",
    "JobSpecError",
    "Launcher",
    "Placement",
    "RunningJob",
    "Step",
    "runner_pod",
    "source_config_map_name",
]

@dataclass
class JobResult:
    """What happened to one runner pod."""

    name: str
    pod: str
    phase: str  # Succeeded, Failed, Cancelled; Disrupted: the pod was taken away (Launcher.finish retries)
    reason: str = ""
    message: str = ""  # the kubelet's (or scheduler's) words when the pod could not run
    exit_code: int | None = None
    failed_step: str | None = None
    steps_started: list[str] = field(default_factory=list)
    log: str = ""
    artifacts: list[Path] = field(default_factory=list)
    artifacts_error: str = ""  # one line when the artifacts did not arrive whole (artifacts.py)
    artifact_transfers: int = 0  # exec sessions that carried artifact bytes, retries included
    phases: list[tuple[str, float]] = field(default_factory=list)  # (phase, seconds since create)
    startup_seconds: float | None = None
    timeline: podtimes.PodTimeline = field(default_factory=podtimes.PodTimeline)  # the cluster's own startup
    cache: str = ""
    node: str | None = None
    attempts: list[Attempt] = field(default_factory=list)  # every pod the job took, in order


@dataclass(frozen=True)
class Attempt:
    """One pod of a job: a disrupted one (evicted, drained) is retried within the launcher's budget."""

    number: int
    pod: str
    node: str | None
    phase: str
    reason: str
    message: str = ""


class RunningJob:
    """A launched job: follow() it to the end, or cancel() it from another thread."""

    def __init__(self, launcher: Launcher, job: JobDescription, pod_name: str, cache: CachePlan,
                 attempt: int = 1) -> None:
        self.launcher = launcher
        self.attempt = attempt
        self.disruption: tuple[str, str] | None = None
        self.job = job
        self.pod_name = pod_name
        self.cache = cache
        self.created = time.monotonic()
        self.cancelled = threading.Event()
        self.successor: RunningJob | None = None  # the retry that replaced this pod, if any
        self.states = podstates.PodWatch(launcher.unschedulable_grace)
        self._log_lines: list[str] = []
        self._log_thread: threading.Thread | None = None
        self.collected: artifacts.Collected | None = None

    def cancel(self) -> None:
        """Stop the job now: the pod is deleted without grace; follow() then reports Cancelled."""
        self.cancelled.set()
        with contextlib.suppress(ApiException):
            self.launcher.core.delete_namespaced_pod(self.pod_name, self.launcher.namespace,
                                                     grace_period_seconds=0)
        if self.successor is not None:  # the handle the caller holds also stops the job's retries
            self.successor.cancel()

    def follow(self, timeout: float) -> JobResult:
        """Watch the pod to its end (phase changes, streamed log), collect, then destroy it."""
        result = JobResult(self.job.name, self.pod_name, phase="Running", cache=self.cache.reason)
        self.disruption = None
        self.collected = None
        deadline = waits.Deadline(timeout)
        try:
            final = self._watch(result, deadline)
            if isinstance(final, client.V1Pod) and final.status.phase not in ("Succeeded", "Failed"):
                final = self._collect(final, result, deadline)
            self._finish(final, result)
        except BaseException:
            # keep what the pod said before it is destroyed: a timed-out job's log is evidence
            self.launcher.store(self.job, "\n".join(self._log_lines), None)
            raise
        finally:
            self.launcher.destroy(self.job, self.pod_name)
        return result

    def _watch(self, result: JobResult, deadline: waits.Deadline) -> client.V1Pod | podstates.Unrecoverable | str:
        return waits.watch_until(
            waits.Target(self.launcher.core.list_namespaced_pod, self.launcher.namespace, "Pod", name=self.pod_name),
            lambda objs: self._observe(objs, result), what=f"runner pod {self.pod_name} to finish",
            timeout=deadline, events_api=self.launcher.core, recheck=waits.RECHECK_SECONDS)

    def _collect(self, pod: client.V1Pod, result: JobResult,
                 deadline: waits.Deadline) -> client.V1Pod | podstates.Unrecoverable | str:
        """The steps have ended and the collector runs: copy the artifacts out, release the collector,
        then follow the pod to its end (its phase is the steps' verdict). A collector that cannot be
        released leaves the verdict to the steps' exit code."""
        core, namespace = self.launcher.core, self.launcher.namespace
        self.collected = artifacts.collect(core, namespace, self.pod_name, deadline)
        unreleased = artifacts.release(core, namespace, self.pod_name, deadline)
        if not unreleased:
            return self._watch(result, deadline)
        if self.cancelled.is_set():
            return "gone"
        steps = _terminated(pod.status.container_statuses, "steps")
        pod.status.phase = "Succeeded" if steps.exit_code == 0 else "Failed"
        self.collected.problem = self.collected.problem or unreleased
        return pod

    def _observe(self, objects: dict[str, Any],
                 result: JobResult) -> client.V1Pod | podstates.Unrecoverable | str | None:
        pod = objects.get(self.pod_name)
        if pod is None:
            if self.disruption is not None and not self.cancelled.is_set():
                return DISRUPTED
            return "gone" if result.phases or self.cancelled.is_set() else None
        result.node = pod.spec.node_name if pod.spec else result.node
        result.timeline.observe(pod, "steps")
        self.disruption = podstates.disruption(pod) or self.disruption
        phase = pod.status.phase if pod.status else None
        elapsed = time.monotonic() - self.created
        if phase and (not result.phases or result.phases[-1][0] != phase):
            result.phases.append((phase, round(elapsed, 3)))
        if result.startup_seconds is None and _main_started(pod):
            result.startup_seconds = round(elapsed, 3)
            self._start_log_stream()
        if self.cancelled.is_set() and pod.metadata.deletion_timestamp:
            return "gone"
        if phase == "Failed" and self.disruption is not None:
            return DISRUPTED
        if phase in ("Succeeded", "Failed"):
            return pod
        if self.collected is None and _steps_ended(pod):
            return pod  # the collector holds the artifacts until they are copied out
        if pod.metadata.deletion_timestamp and self.disruption is not None:
            return None  # evicted: its containers are being stopped; the end of the log is still to come
        return self.states.check(pod)  # an unrecoverable state ends the job now, not at the deadline

    def _start_log_stream(self) -> None:
        def stream() -> None:
            try:
                resp = self.launcher.core.read_namespaced_pod_log(
                    self.pod_name, self.launcher.namespace, container="steps", follow=True,
                    _preload_content=False, _request_timeout=(10, 3600))
                buffer = b""
                for chunk in resp.stream(4096):
                    buffer += chunk
                    *lines, buffer = buffer.split(b"\n")
                    self._log_lines.extend(x.decode("utf-8", "replace") for x in lines)
                if buffer:
                    self._log_lines.append(buffer.decode("utf-8", "replace"))
            except (ApiException, urllib3.exceptions.HTTPError) as err:
                self._log_lines.append(f"(log stream ended: {err})")

        self._log_thread = threading.Thread(target=stream, name=f"log-{self.pod_name}", daemon=True)
        self._log_thread.start()

    def _finish(self, final: client.V1Pod | podstates.Unrecoverable | str, result: JobResult) -> None:
        if isinstance(final, podstates.Unrecoverable):
            result.phase, result.reason, result.message = "Failed", final.reason, final.message
            result.failed_step = "checkout" if final.container == "checkout" else None
            self.launcher.store(self.job, "\n".join(self._log_lines), None)
            return
        if final == DISRUPTED and self.disruption is not None:
            result.phase, (result.reason, result.message) = "Disrupted", self.disruption
            if self._log_thread is not None:
                self._log_thread.join(30)
            result.log = "\n".join(self._log_lines)
            self.launcher.store(self.job, result.log, None, f"attempt-{self.attempt}")  # its artifacts went with it
            return
        if isinstance(final, str):
            result.phase = "Cancelled" if self.cancelled.is_set() else "Failed"
            result.reason = "Cancelled" if self.cancelled.is_set() else "pod deleted by someone else"
            return
        result.phase = final.status.phase
        main = _terminated(final.status.container_statuses, "steps")
        checkout = _terminated(final.status.init_container_statuses, "checkout")
        if self._log_thread is None and main is not None:  # it ended between two watch events
            self._start_log_stream()
        if self._log_thread is not None:
            self._log_thread.join(60)
        if main is not None:
            result.exit_code = main.exit_code
            result.reason = final.status.reason or main.reason or ""
            step = re.search(r"step=(\S+) exit=", main.message or "")
            result.failed_step = step.group(1) if step else None
        elif checkout is not None and checkout.exit_code != 0:
            result.exit_code, result.failed_step = checkout.exit_code, "checkout"
            result.reason = final.status.reason or checkout.reason or ""
        else:
            result.reason = final.status.reason or ""
        log = result.log = "\n".join(self._log_lines)
        result.steps_started = [ln[len(STEP_MARK):].split(" ", 1)[1] for ln in log.splitlines()
                                if ln.startswith(STEP_MARK)]
        if result.failed_step is None and result.phase == "Failed" and result.steps_started:
            result.failed_step = result.steps_started[-1]
        collected = self.collected
        if collected is None and main is not None:
            collected = artifacts.Collected(None, f"pod {self.pod_name} ended ({result.reason or result.phase}) "
                                                  "before its artifacts could be copied out")
        collected = collected or artifacts.Collected(None)
        result.artifacts_error, result.artifact_transfers = collected.problem, collected.transfers
        result.artifacts = self.launcher.store(self.job, log, collected.archive, problem=collected.problem)


DISRUPTED = "disrupted"


def _steps_ended(pod: client.V1Pod) -> bool:
    """The steps container has terminated while the collector still runs."""
    statuses = (pod.status.container_statuses if pod.status else None) or []
    collector = next((cs for cs in statuses if cs.name == COLLECTOR), None)
    return (_terminated(statuses, "steps") is not None and collector is not None
            and collector.state is not None and collector.state.running is not None)


def _main_started(pod: client.V1Pod) -> bool:
    for cs in (pod.status.container_statuses if pod.status else None) or []:
        if cs.name == "steps" and cs.state and (cs.state.running or cs.state.terminated):
            return True
    return False


def _terminated(statuses: list[Any] | None, name: str) -> Any:
    for cs in statuses or []:
        if cs.name == name and cs.state and cs.state.terminated:
            return cs.state.terminated
    return None


class Launcher:
    """Launches runner pods in one namespace; results (logs, artifacts) go under `artifacts_dir`."""

    def __init__(self, api: client.ApiClient, namespace: str, images: builders.Images,
                 artifacts_dir: Path, *, placement: Placement | None = None,
                 unschedulable_grace: float = podstates.UNSCHEDULABLE_GRACE_SECONDS,
                 retry_budget: int = RETRY_BUDGET, cache_claims: bool = True) -> None:
        self.api = api
        self.namespace = namespace
        self.images = images
        self.artifacts_dir = artifacts_dir
        self.placement = placement
        self.unschedulable_grace = unschedulable_grace
        self.retry_budget = retry_budget
        self.cache_claims = cache_claims
        self.core = client.CoreV1Api(api)

    def variant(self, **changes: Any) -> Launcher:
        """The same launcher with some settings changed (images, placement, unschedulable_grace,
        retry_budget, cache_claims); same namespace, client and results folder."""
        settings = {"images": self.images, "placement": self.placement, "retry_budget": self.retry_budget,
                    "unschedulable_grace": self.unschedulable_grace, "cache_claims": self.cache_claims}
        unknown = set(changes) - set(settings)
        if unknown:
            raise TypeError(f"unknown launcher settings {sorted(unknown)}: use some of {sorted(settings)}")
        settings.update(changes)
        images = settings.pop("images")
        return Launcher(self.api, self.namespace, images, self.artifacts_dir, **settings)

    def start(self, job: JobDescription, attempt: int = 1) -> RunningJob:
        job.validate()
        cache = plan_cache(self.api, self.namespace, job, self.cache_claims)
        manifest = runner_pod(job, self.images, cache, self.placement, attempt)
        if job.source_files is not None:
            data = {config_key(p): text for p, text in job.source_files.items()}
            builders.create(self.api, self.namespace, builders.config_map(
                source_config_map_name(job.name), data, labels={JOB_LABEL: job.name}))
        running = RunningJob(self, job, manifest["metadata"]["name"], cache, attempt)
        try:
            builders.create(self.api, self.namespace, manifest)
        except BaseException:
            self.destroy(job, running.pod_name)
            raise
        running.created = time.monotonic()
        return running

    def finish(self, running: RunningJob, timeout: float) -> JobResult:
        """Follow a started job to its end (its pod is gone when this returns). A pod taken away by an
        eviction or a drain is replaced by a new one, once the old one is gone, up to `retry_budget`
        times within the same `timeout`; the result lists every attempt."""
        deadline = waits.Deadline(timeout)
        attempts: list[Attempt] = []
        while True:
            result = running.follow(max(deadline.remaining(), 0.001))
            attempts.append(Attempt(running.attempt, running.pod_name, result.node, result.phase, result.reason,
                                    result.message))
            if result.phase != "Disrupted" or running.cancelled.is_set():
                break
            if len(attempts) > self.retry_budget:
                result.phase = "Failed"
                result.reason = f"{result.reason}: disrupted {len(attempts)} times, retry budget " \
                                f"{self.retry_budget} spent"
                break
            previous, running = running, self.start(running.job, attempt=running.attempt + 1)
            previous.successor = running
            if previous.cancelled.is_set():  # cancelled while the retry was being created
                running.cancel()
        result.attempts = attempts
        return result

    def run(self, job: JobDescription, timeout: float) -> JobResult:
        return self.finish(self.start(job), timeout)

    def store(self, job: JobDescription, log: str, archive: bytes | None, subdir: str = "",
              problem: str = "") -> list[Path]:
        """Write the job's log (and why its artifacts are missing) and unpack its artifacts (a tar);
        returns the artifact files."""
        dest = self.artifacts_dir / job.name / subdir
        dest.mkdir(parents=True, exist_ok=True)
        (dest / "steps.log").write_text(log, encoding="utf-8")
        if problem:
            (dest / "artifacts-error.txt").write_text(problem + "\n", encoding="utf-8")
        if not archive:
            return []
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:") as tar:
            tar.extractall(dest / "artifacts", filter="data")
        return sorted(p for p in (dest / "artifacts").rglob("*") if p.is_file())

    def destroy(self, job: JobDescription, pod_name: str, timeout: float = 60) -> None:
        """Delete the pod and its source ConfigMap and wait until the pod is gone (the cache stays)."""
        with contextlib.suppress(ApiException):
            self.core.delete_namespaced_pod(pod_name, self.namespace, grace_period_seconds=0)
        with contextlib.suppress(ApiException):
            self.core.delete_namespaced_config_map(source_config_map_name(job.name), self.namespace)
        waits.gone(self.core.list_namespaced_pod, self.namespace, pod_name, "Pod", timeout,
                   events_api=self.core)
