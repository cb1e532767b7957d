"""Pod states that will not get better on their own, read from what the kubelet and scheduler write.

A wait that meets one ends at once with the kubelet's reason and message instead of waiting out its
deadline. The table below is keyed by the container `waiting` reasons the kubelet reports
(pkg/kubelet/images and kuberuntime): a pull error is retried by the kubelet, so it only counts once
the kubelet has backed off (ImagePullBackOff); a reference that cannot be parsed, an image that may
not be pulled, or a container whose config names a missing ConfigMap or Secret key end at once.
A pod the scheduler calls Unschedulable gets a short grace (an autoscaler may add a node), then ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client

UNSCHEDULABLE_GRACE_SECONDS = 20.0

# waiting reason -> whether it ends the job at once ("now") or only after the kubelet's back-off ("backoff")
WAITING_REASONS: dict[str, str] = {
    "InvalidImageName": "now",
    "ErrImageNeverPull": "now",
    "CreateContainerConfigError": "now",
    "ImagePullBackOff": "now",
    "ErrImagePull": "backoff",  # the kubelet retries: transient until it reports ImagePullBackOff
}

_SERIALIZER = client.ApiClient()


@dataclass(frozen=True)
class Unrecoverable:
    """Why a pod cannot reach its goal: the kubelet's (or scheduler's) reason and message."""

    reason: str
    message: str
    container: str | None = None

    def __str__(self) -> str:
        where = f" (container {self.container})" if self.container else ""
        return f"{self.reason}{where}: {self.message}"


def as_dict(pod: Any) -> dict[str, Any]:
    """The pod as the API serves it (camelCase), whether a typed V1Pod or already a dict."""
    return pod if isinstance(pod, dict) else _SERIALIZER.sanitize_for_serialization(pod)


def waiting_states(pod: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(container, reason, message) for every waiting container, init containers first."""
    status = pod.get("status") or {}
    out = []
    for key in ("initContainerStatuses", "containerStatuses"):
        for cs in status.get(key) or []:
            waiting = (cs.get("state") or {}).get("waiting") or {}
            if waiting.get("reason"):
                out.append((cs["name"], waiting["reason"], waiting.get("message") or ""))
    return out


def unschedulable(pod: dict[str, Any]) -> str | None:
    """The scheduler's message when the pod's PodScheduled condition is False for Unschedulable."""
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False" \
                and cond.get("reason") == "Unschedulable":
            return str(cond.get("message") or "no node fits the pod")
    return None


def classify(pod: Any, *, unschedulable_for: float = 0.0,
             unschedulable_grace: float = UNSCHEDULABLE_GRACE_SECONDS) -> Unrecoverable | None:
    """One look at a pod: the unrecoverable state it is in, if any (pure; see PodWatch for history)."""
    shape = as_dict(pod)
    for container, reason, message in waiting_states(shape):
        if WAITING_REASONS.get(reason) == "now":
            return Unrecoverable(reason, message, container)
    message = unschedulable(shape)
    if message is not None and unschedulable_for >= unschedulable_grace:
        return Unrecoverable("Unschedulable", f"{message} (for {unschedulable_for:.0f}s)")
    return None


@dataclass
class PodWatch:
    """Classifies successive states of one pod, remembering what a single look cannot know: the pull
    error behind a back-off (the back-off message alone just says "Back-off pulling image") and
    since when the pod has been Unschedulable."""

    unschedulable_grace: float = UNSCHEDULABLE_GRACE_SECONDS
    clock: Callable[[], float] = time.monotonic
    pull_errors: dict[str, str] = field(default_factory=dict)
    unschedulable_since: float | None = None

    def check(self, pod: Any) -> Unrecoverable | None:
        shape = as_dict(pod)
        for container, reason, message in waiting_states(shape):
            if reason == "ErrImagePull":
                self.pull_errors[container] = message
        if unschedulable(shape) is None:
            self.unschedulable_since = None
        elif self.unschedulable_since is None:
            self.unschedulable_since = self.clock()
        since = self.unschedulable_since
        verdict = classify(shape, unschedulable_for=0.0 if since is None else self.clock() - since,
                           unschedulable_grace=self.unschedulable_grace)
        if verdict is not None and verdict.reason == "ImagePullBackOff" and verdict.container:
            pulled = self.pull_errors.get(verdict.container, "")
            if pulled and pulled not in verdict.message:
                return Unrecoverable(verdict.reason, f"{verdict.message}: ErrImagePull: {pulled}",
                                     verdict.container)
        return verdict

    def waiting_for_grace(self) -> bool:
        """Whether a verdict may come without a new event (the Unschedulable grace is running)."""
        return self.unschedulable_since is not None



def disruption(pod: Any) -> tuple[str, str] | None:
    """(reason, message) when the pod is being taken away rather than failing: the DisruptionTarget
    condition (eviction, drain, node deletion, preemption; Kubernetes 1.26+) or the kubelet's Evicted."""
    shape = as_dict(pod)
    status = shape.get("status") or {}
    for cond in status.get("conditions") or []:
        if cond.get("type") == "DisruptionTarget" and cond.get("status") == "True":
            return str(cond.get("reason") or "DisruptionTarget"), str(cond.get("message") or "")
    if status.get("phase") == "Failed" and status.get("reason") == "Evicted":
        return "Evicted", str(status.get("message") or "")
    return None
