"""Following the conformance pod: started, e2e.test ended, results out; progress and abort on the side.

Each stage is one list+watch with its own deadline (waits.watch_until). A monitor thread prints a
progress line every `progress_seconds` from the suite's streamed log and, when the run's stop event
is set, deletes the pod at once: the watch then sees the pod go and the follower reports an abort.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import urllib3
from kubernetes import client
from kubernetes.client.rest import ApiException

from e2e.framework import waits
from e2e.framework.conformance_pod import CONFORMANCE, POD, RESULTS, ConformanceError
from e2e.framework.conformance_report import Progress

if TYPE_CHECKING:
    from e2e.framework.conformance import ConformanceSettings

# Waiting reasons that will not clear up by waiting longer.
CANNOT_START = ("ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName", "CreateContainerConfigError",
                "CreateContainerError", "RunContainerError")
TICK_SECONDS = 0.5


class Stopped(Exception):
    """The run was aborted (its stop event was set) while the tester ran."""


def _container(pod: client.V1Pod, name: str) -> Any:
    for cs in (pod.status.container_statuses if pod.status else None) or []:
        if cs.name == name:
            return cs
    return None


def _terminated(pod: client.V1Pod, name: str) -> Any:
    cs = _container(pod, name)
    return cs.state.terminated if cs is not None and cs.state else None


def _phase(pod: client.V1Pod) -> str:
    return (pod.status.phase if pod.status else None) or "Pending"


class Follower:
    """Follows the one conformance pod of a namespace; progress goes to `log`."""

    def __init__(self, api: client.ApiClient, namespace: str, settings: ConformanceSettings,
                 stop: threading.Event, log: Callable[[str], None]) -> None:
        self.core = client.CoreV1Api(api)
        self.namespace = namespace
        self.settings = settings
        self.stop = stop
        self.log = log
        self.progress = Progress()
        self.ending = ""
        self.started = time.monotonic()
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._finished = threading.Event()
        self._aborted = threading.Event()
        self._stream: threading.Thread | None = None

    # --- the stages ---------------------------------------------------------------------------------
    def follow(self, deadline: waits.Deadline) -> str:
        """'ended' (results are out), 'aborted', 'timeout' or 'no-results'; setup failures raise."""
        monitor = threading.Thread(target=self._monitor, name=f"conformance-{self.namespace}", daemon=True)
        monitor.start()
        outcome = "error"
        try:
            outcome = self._stages(deadline)
            return outcome
        finally:
            self._finished.set()
            monitor.join(5)
            if self._stream is not None and outcome == "ended":
                self._stream.join(10)  # otherwise it ends when the clean-up deletes the pod

    def _stages(self, deadline: waits.Deadline) -> str:
        start = waits.Deadline(min(self.settings.start_timeout, deadline.remaining()))
        try:
            pod = self._watch(self._started, "the conformance pod to start", start)
        except waits.WaitTimeout as err:
            raise ConformanceError(f"the conformance pod did not start within {start.seconds:.0f}s "
                                        f"(last state: {err.last_state}; events: {'; '.join(err.events)})") from None
        if pod is None:
            return "aborted"
        self._stream = threading.Thread(target=self._read_suite_log, args=(deadline.remaining() + 60,),
                                        name=f"log-{self.namespace}", daemon=True)
        self._stream.start()
        try:
            pod = self._watch(self._suite_ended, "e2e.test to end", deadline)
        except waits.WaitTimeout:
            self.ending = f"timed out after {deadline.seconds:.0f}s"
            return "timeout"
        if pod is None:
            return "aborted"
        term = _terminated(pod, CONFORMANCE)
        self.ending = f"exit {term.exit_code} {term.reason or ''}".strip() if term else waits.pod_reason(pod)
        results = waits.Deadline(min(self.settings.results_timeout, max(deadline.remaining(), 15.0)))
        try:
            pod = self._watch(self._pod_ended, "the results to be copied out", results)
        except waits.WaitTimeout:
            self.ending += f"; results container did not finish within {results.seconds:.0f}s"
            return "no-results"
        return "ended" if pod is not None else "aborted"

    def _watch(self, predicate: Callable[[client.V1Pod], bool], what: str,
               deadline: waits.Deadline) -> client.V1Pod | None:
        """The pod once predicate(pod) holds; None when the run's abort deleted it."""

        def check(objects: dict[str, Any]) -> client.V1Pod | bool | None:
            pod = objects.get(POD)
            if pod is None or pod.metadata.deletion_timestamp:
                if self._aborted.is_set() or self.stop.is_set():
                    return False
                if pod is None:
                    raise waits.WaitFailed(f"pod {self.namespace}/{POD} was deleted by someone else")
                return None
            return pod if predicate(pod) else None

        target = waits.Target(self.core.list_namespaced_pod, self.namespace, "Pod", name=POD)
        found = waits.watch_until(target, check, what=what, timeout=deadline, events_api=self.core)
        return found or None

    @staticmethod
    def _started(pod: client.V1Pod) -> bool:
        for cs in (pod.status.container_statuses if pod.status else None) or []:
            waiting = cs.state.waiting if cs.state else None
            if waiting is not None and waiting.reason in CANNOT_START:
                raise ConformanceError(f"container {cs.name} cannot start: {waiting.reason}: "
                                            f"{waiting.message or 'no message'}: check --conformance-image "
                                            "and --image-registry")
        if _phase(pod) == "Failed" and _terminated(pod, CONFORMANCE) is None:
            raise ConformanceError(f"the conformance pod failed before e2e.test ran: {waits.pod_reason(pod)}")
        cs = _container(pod, CONFORMANCE)
        running = cs is not None and cs.state is not None and (cs.state.running or cs.state.terminated)
        return bool(running) or _phase(pod) in ("Succeeded", "Failed")

    @staticmethod
    def _suite_ended(pod: client.V1Pod) -> bool:
        return _terminated(pod, CONFORMANCE) is not None or _phase(pod) in ("Succeeded", "Failed")

    @staticmethod
    def _pod_ended(pod: client.V1Pod) -> bool:
        return _phase(pod) in ("Succeeded", "Failed")

    # --- logs ---------------------------------------------------------------------------------------
    def _read_suite_log(self, seconds: float) -> None:
        """Stream e2e.test's output (what go-runner tees into e2e.log) for progress and as a fallback."""
        try:
            resp = self.core.read_namespaced_pod_log(POD, self.namespace, container=CONFORMANCE, follow=True,
                                                     _preload_content=False, _request_timeout=(10, seconds))
            buffer = b""
            for chunk in resp.stream(4096):
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                self._add(x.decode("utf-8", "replace") for x in lines)
                with self._lock:
                    self.progress.partial(buffer.decode("utf-8", "replace"))
            if buffer:
                self._add([buffer.decode("utf-8", "replace")])
        except Exception as err:  # ends the stream, never the tester: the results carry e2e.log anyway
            self._add([f"(log stream ended: {type(err).__name__})"])

    def _add(self, lines: Any) -> None:
        with self._lock:
            for line in lines:
                self._lines.append(line)
                self.progress.feed(line)

    def suite_log(self) -> str:
        with self._lock:
            return "".join(f"{line}\n" for line in self._lines)

    def carrier_log(self) -> str:
        """The results container's output: the archive between its markers."""
        try:
            resp = self.core.read_namespaced_pod_log(POD, self.namespace, container=RESULTS,
                                                     _preload_content=False, _request_timeout=(10, 120))
            try:
                return bytes(resp.data).decode("utf-8", "replace")
            finally:
                resp.release_conn()
        except (ApiException, urllib3.exceptions.HTTPError) as err:
            return f"(results log unavailable: {type(err).__name__})"

    # --- the side thread ----------------------------------------------------------------------------
    def _monitor(self) -> None:
        next_report = time.monotonic() + self.settings.progress_seconds
        while not self._finished.wait(TICK_SECONDS):
            if self.stop.is_set() and not self._aborted.is_set():
                self._aborted.set()
                self.log("run aborted: deleting the conformance pod")
                with contextlib.suppress(ApiException, urllib3.exceptions.HTTPError):  # clean-up tries again
                    self.core.delete_namespaced_pod(POD, self.namespace, grace_period_seconds=0, _request_timeout=30)
            if time.monotonic() >= next_report:
                next_report += self.settings.progress_seconds
                with self._lock:
                    line = self.progress.line(time.monotonic() - self.started)
                self.log(line)
