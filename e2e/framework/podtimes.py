"""A pod's startup as the cluster itself recorded it: created, scheduled, main container started, ready.

These timestamps are written by the API server, the scheduler and the kubelet (in whole seconds), so they
measure the cluster's own pod startup, apart from what the harness adds by creating, watching and
following the pod. The launcher's startup latency over the cluster's, at the same percentile, is the
harness's overhead.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from kubernetes import client

MILESTONES = ("scheduled", "started", "ready")
PERCENTILES = {"p50": 50, "p99": 99}


@dataclass
class PodTimeline:
    """The first time each milestone was seen; None until then (or when the cluster never wrote it)."""

    created: dt.datetime | None = None
    scheduled: dt.datetime | None = None
    started: dt.datetime | None = None
    ready: dt.datetime | None = None

    def observe(self, pod: client.V1Pod, container: str) -> None:
        """Keep the milestones this version of the pod shows (earlier ones are kept as first seen:
        a short job's Ready goes back to False when it ends)."""
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

    def seconds(self) -> dict[str, float]:
        """Seconds from creation to each milestone the cluster recorded."""
        if self.created is None:
            return {}
        stamps = {"scheduled": self.scheduled, "started": self.started, "ready": self.ready}
        return {name: (at - self.created).total_seconds() for name, at in stamps.items() if at is not None}


def percentile(values: Sequence[float], q: int) -> float:
    """The q-th percentile, interpolated between the samples (one sample: itself), never outside them
    (the interpolation can round one bit past equal samples)."""
    if len(values) == 1:
        return float(values[0])
    value = statistics.quantiles(values, n=100, method="inclusive")[q - 1]
    return min(max(value, min(values)), max(values))


def startup_properties(launcher_seconds: Sequence[float], timelines: Sequence[PodTimeline]) -> dict[str, float]:
    """JUnit properties: the cluster's startup per milestone and percentile, and the harness's overhead
    (the launcher's startup over the cluster's creation -> started) where both are known."""
    props: dict[str, float] = {}
    by_milestone = {m: [t.seconds()[m] for t in timelines if m in t.seconds()] for m in MILESTONES}
    for label, q in PERCENTILES.items():
        for milestone, values in by_milestone.items():
            if values:
                props[f"cluster_pod_{milestone}_{label}_seconds"] = round(percentile(values, q), 3)
        cluster = props.get(f"cluster_pod_started_{label}_seconds")
        if launcher_seconds and cluster:  # 0 s (all in one second of the cluster's clock) gives no ratio
            props[f"harness_overhead_{label}"] = round(percentile(launcher_seconds, q) / cluster, 3)
    return props
