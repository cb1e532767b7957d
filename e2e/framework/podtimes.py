"""A pod's startup as the cluster itself recorded it: created, scheduled, main container started, ready.

These timestamps are written by the API server, the scheduler and the kubelet (in whole seconds), so they
measure the cluster's own pod startup, apart from what the harness adds by creating, watching and
following the pod.

The harness cannot see a start before the API server has it: the kubelet starts the pod's containers, then
writes their states in one status update (on a busy node seconds after `startedAt`). That write's time is
in the pod's managedFields (manager `kubelet`, subresource `status`), so `reported` is when the cluster
published the start, and `seen` when this process first saw it. The harness's overhead is the launcher's
startup (creation -> seen) over the cluster's (creation -> reported), at the same percentile; where the
cluster writes no managedFields, over creation -> started. Both sides count from the same creation
timestamp; `reported` is in whole seconds, rounded down, so the ratio errs against the harness.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from kubernetes import client

MILESTONES = ("scheduled", "started", "reported", "ready")
PERCENTILES = {"p50": 50, "p99": 99}


def kubelet_status_written(pod: client.V1Pod) -> dt.datetime | None:
    """When the API server took the kubelet's last status update of this pod (managedFields), if it says."""
    times = [entry.time for entry in pod.metadata.managed_fields or []
             if entry.manager == "kubelet" and entry.subresource == "status" and entry.time is not None]
    return max(times) if times else None


@dataclass
class PodTimeline:
    """The first time each milestone was seen; None until then (or when the cluster never wrote it)."""

    created: dt.datetime | None = None
    scheduled: dt.datetime | None = None
    started: dt.datetime | None = None
    reported: dt.datetime | None = None  # the kubelet's status write that first showed `started`
    ready: dt.datetime | None = None
    seen: dt.datetime | None = None  # when this process first saw `started` (its own clock)

    def observe(self, pod: client.V1Pod, container: str, now: dt.datetime | None = None) -> None:
        """Keep the milestones this version of the pod shows (earlier ones are kept as first seen:
        a short job's Ready goes back to False when it ends)."""
        had_started = self.started is not None
        self.created = self.created or pod.metadata.creation_timestamp
        status = pod.status
        for cond in (status.conditions if status else None) or []:
            if cond.status != "True" or cond.last_transition_time is None:
                continue
            if cond.type == "PodScheduled":
                self.scheduled = self.scheduled or cond.last_transition_time
            elif cond.type == "Ready":
                self.ready = self.ready or cond.last_transition_time
        for cs in (status.container_statuses if status else None) or []:
            state = cs.state if cs.name == container else None
            began = state and ((state.running and state.running.started_at)
                               or (state.terminated and state.terminated.started_at))
            self.started = self.started or began or None
        if self.started is not None and not had_started:
            self.seen = now or dt.datetime.now(dt.UTC)
            self.reported = kubelet_status_written(pod)

    def seconds(self) -> dict[str, float]:
        """Seconds from creation to each milestone the cluster recorded."""
        if self.created is None:
            return {}
        stamps = {"scheduled": self.scheduled, "started": self.started, "reported": self.reported,
                  "ready": self.ready}
        return {name: (at - self.created).total_seconds() for name, at in stamps.items() if at is not None}

    def seen_seconds(self) -> float | None:
        """Seconds from creation to this process seeing the start."""
        return (self.seen - self.created).total_seconds() if self.seen and self.created else None


def percentile(values: Sequence[float], q: int) -> float:
    """The q-th percentile, interpolated between the samples (one sample: itself), never outside them
    (the interpolation can round one bit past equal samples)."""
    if len(values) == 1:
        return float(values[0])
    value = statistics.quantiles(values, n=100, method="inclusive")[q - 1]
    return min(max(value, min(values)), max(values))


def startup_properties(launcher_seconds: Sequence[float], timelines: Sequence[PodTimeline]) -> dict[str, float]:
    """JUnit properties: the cluster's startup per milestone and percentile, the kubelet's report lag, and
    the harness's overhead: creation -> seen over creation -> reported when every pod has both, else the
    launcher's startup over creation -> started (also given as launcher_over_started)."""
    props: dict[str, float] = {}
    by_milestone = {m: [t.seconds()[m] for t in timelines if m in t.seconds()] for m in MILESTONES}
    seen = [t.seen_seconds() for t in timelines]
    published = all(s is not None for s in seen) and len(by_milestone["reported"]) == len(timelines) > 0
    lags = [(t.reported - t.started).total_seconds() for t in timelines if t.reported and t.started]
    for label, q in PERCENTILES.items():
        for milestone, values in by_milestone.items():
            if values:
                props[f"cluster_pod_{milestone}_{label}_seconds"] = round(percentile(values, q), 3)
        if lags:
            props[f"kubelet_report_lag_{label}_seconds"] = round(percentile(lags, q), 3)
        started = props.get(f"cluster_pod_started_{label}_seconds")
        if launcher_seconds and started:  # 0 s (all in one second of the cluster's clock) gives no ratio
            props[f"launcher_over_started_{label}"] = round(percentile(launcher_seconds, q) / started, 3)
        reported = props.get(f"cluster_pod_reported_{label}_seconds")
        if published and reported:
            props[f"harness_overhead_{label}"] = round(percentile([s for s in seen if s is not None], q) / reported, 3)
        elif f"launcher_over_started_{label}" in props:
            props[f"harness_overhead_{label}"] = props[f"launcher_over_started_{label}"]
    return props
