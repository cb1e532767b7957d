"""The harness's own cost per runner pod: 50 pods through the launcher on the stand-in API and the fake
kubelet, with the kubelet's time (from the pod's creation to its Running and its final status, as the
kubelet wrote them) taken apart from the harness's (API calls to create and destroy, watch latency to
see what the kubelet wrote, log following and artifact collection after the end).

    PYTHONPATH=. python bench/pods.py [--pods 50] [--concurrency 10] [--target 1.10]

The ratio is the launcher's startup latency over the kubelet's (creation -> main container started), at
p50 and p99: what the e2e runner-pod test records on a real cluster as harness_overhead_p50/_p99.
Exits 1 when either is above the target.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import config

from e2e.framework import builders
from e2e.framework.podtimes import percentile
from e2e.framework.runner import JobDescription, Launcher, RunningJob, Step
from tests.standins.kube import KubeStandIn
from tests.standins.kubelet import FakeKubelet

SOURCE = {"README.md": "bench\n", "build.sh": "echo built > \"$ARTIFACTS/out.txt\"\n"}


class TimedKubelet(FakeKubelet):
    """The fake kubelet, noting when it wrote each pod's Running and its final phase (monotonic)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.written: dict[tuple[str, str], float] = {}

    def _patch(self, raw: dict[str, Any], status: dict[str, Any]) -> None:
        super()._patch(raw, status)
        self.written.setdefault((raw["metadata"]["name"], status.get("phase", "")), time.monotonic())


class TimedLauncher(Launcher):
    """The launcher, noting how long its API calls around each pod take: (job, "start" or "destroy")."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.api_seconds: dict[tuple[str, str], float] = {}

    def start(self, job: JobDescription, attempt: int = 1) -> RunningJob:
        began = time.monotonic()
        running = super().start(job, attempt)
        self.api_seconds[(job.name, "start")] = time.monotonic() - began
        return running

    def destroy(self, job: JobDescription, pod_name: str, timeout: float = 60) -> None:
        began = time.monotonic()
        super().destroy(job, pod_name, timeout)
        self.api_seconds[(job.name, "destroy")] = time.monotonic() - began


@dataclass
class PodCost:
    kubelet_startup: float  # created -> the kubelet wrote Running
    launcher_startup: float  # created -> the launcher saw the main container started
    kubelet_total: float  # created -> the kubelet wrote the final phase
    api_calls: float  # start (cache plan, ConfigMap, pod) and destroy (deletes, wait until gone)
    watch_latency: float  # the kubelet's Running and final writes -> the launcher seeing them
    log_following: float  # the final phase seen -> log joined, artifacts unpacked (destroy excluded)

    @property
    def harness(self) -> float:
        return self.api_calls + self.watch_latency + self.log_following


def forget_requests(kube: KubeStandIn, cluster: str) -> None:
    """kmock keeps every request (for tests' assertions) and matches each new one against that whole
    history, so over hundreds of requests the stand-in itself slows down, the kubelet's side and the
    harness's alike; this bench asserts nothing on requests, so it drops them after each pod."""
    emulator = kube.clusters[cluster].emulator
    kube.call(lambda: emulator._requests.clear())


def run_one(launcher: TimedLauncher, kubelet: TimedKubelet, name: str) -> PodCost:
    job = JobDescription(name, "https://example.test/bench.git", [Step("build", "sh build.sh")],
                         source_files=SOURCE)
    running = launcher.start(job)
    result = launcher.finish(running, 120)
    ended = time.monotonic()
    forget_requests(kubelet.kube, "bench")
    assert result.phase == "Succeeded" and result.artifacts, result
    created = running.created
    pod = running.pod_name
    running_at, final_at = kubelet.written[(pod, "Running")], kubelet.written[(pod, "Succeeded")]
    seen_final = created + result.phases[-1][1]
    launcher_startup = result.startup_seconds or 0.0
    destroy = launcher.api_seconds[(name, "destroy")]
    return PodCost(
        kubelet_startup=running_at - created, launcher_startup=launcher_startup,
        kubelet_total=final_at - created, api_calls=launcher.api_seconds[(name, "start")] + destroy,
        watch_latency=max(created + launcher_startup - running_at, 0) + max(seen_final - final_at, 0),
        log_following=max(ended - seen_final - destroy, 0))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=10, help="pods in flight at once")
    parser.add_argument("--target", type=float, default=1.10, help="highest launcher/kubelet startup ratio")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, KubeStandIn.run(["bench"]) as kube:
        api = config.new_client_from_config(str(kube.write_kubeconfig(Path(tmp) / "kubeconfig")))
        with TimedKubelet(kube, "bench", api) as kubelet:
            launcher = TimedLauncher(api, "bench", builders.Images(), Path(tmp) / "artifacts")
            began = time.monotonic()
            with ThreadPoolExecutor(args.concurrency) as pool:
                costs = list(pool.map(lambda i: run_one(launcher, kubelet, f"pod-{i:02d}"), range(args.pods)))
            wall = time.monotonic() - began
        api.close()
    return report(costs, wall, args)


def report(costs: list[PodCost], wall: float, args: argparse.Namespace) -> int:
    def med(values: list[float]) -> float:
        return statistics.median(values)

    print(f"{len(costs)} runner pods, {args.concurrency} at a time, {wall:.1f}s in all")
    print(f"per pod (median): kubelet {med([c.kubelet_total for c in costs]):.3f}s; harness "
          f"{med([c.harness for c in costs]):.3f}s = API calls {med([c.api_calls for c in costs]):.3f}s "
          f"+ watch latency {med([c.watch_latency for c in costs]):.3f}s "
          f"+ log following {med([c.log_following for c in costs]):.3f}s")
    missed = False
    for label, q in (("p50", 50), ("p99", 99)):
        launcher = percentile([c.launcher_startup for c in costs], q)
        kubelet = percentile([c.kubelet_startup for c in costs], q)
        ratio = launcher / kubelet
        missed |= ratio > args.target
        print(f"startup {label}: launcher {launcher:.3f}s / kubelet {kubelet:.3f}s = {ratio:.3f} "
              f"(target <= {args.target:g})")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
