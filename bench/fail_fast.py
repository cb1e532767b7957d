"""Fail-fast on a bad image: how long a runner job whose image cannot be pulled takes to fail, against
how long a passing job of one `true` step takes, on the stand-in API with the fake kubelet (which
reports ErrImagePull, then ImagePullBackOff after --pull-backoff seconds, as a kubelet does).

Before fail-fast such a job waited out its whole wait (the job's timeout, 300 s in the suite); with
it the job ends about when the kubelet reports the back-off. The job's timeout here is --timeout.

    PYTHONPATH=. python bench/fail_fast.py [--rounds 3] [--pull-backoff 0.5] [--timeout 60] [--target 3]

Prints both times and the ratio bad/passing; exits 1 when the ratio is above the target.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from kubernetes import config

from e2e.framework import builders
from e2e.framework.runner import JobDescription, Launcher, Step
from tests.standins.kube import KubeStandIn
from tests.standins.kubelet import FakeKubelet

MISSING = "docker.io/library/busybox:no-such-tag"


def job(name: str) -> JobDescription:
    return JobDescription(name, "https://example.test/bench.git", [Step("s", "true")], source_files={"a": "a\n"},
                          deadline_seconds=600)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pull-backoff", type=float, default=0.5, help="seconds from ErrImagePull to the back-off")
    parser.add_argument("--timeout", type=float, default=60.0, help="the job's wait (what fail-fast saves)")
    parser.add_argument("--target", type=float, default=3.0, help="highest acceptable bad/passing ratio")
    args = parser.parse_args()
    bad_times, good_times = [], []
    with tempfile.TemporaryDirectory() as tmp, KubeStandIn.run(["bench"]) as kube:
        api = config.new_client_from_config(str(kube.write_kubeconfig(Path(tmp) / "kubeconfig")))
        with FakeKubelet(kube, "bench", api, unpullable={MISSING}, pull_backoff=args.pull_backoff):
            good = Launcher(api, "bench", builders.Images(), Path(tmp) / "artifacts")
            bad = good.variant(images=builders.Images(busybox=MISSING))
            for i in range(args.rounds):
                began = time.perf_counter()
                result = bad.run(job(f"bad-{i}"), args.timeout)
                bad_times.append(time.perf_counter() - began)
                assert (result.phase, result.reason) == ("Failed", "ImagePullBackOff"), result
                began = time.perf_counter()
                result = good.run(job(f"good-{i}"), args.timeout)
                good_times.append(time.perf_counter() - began)
                assert result.phase == "Succeeded", result
        api.close()
    bad_s, good_s = statistics.median(bad_times), statistics.median(good_times)
    ratio = bad_s / good_s
    print(f"bad image: {bad_s:.2f}s to fail (median of {args.rounds}; job wait {args.timeout:g}s), "
          f"passing job: {good_s:.2f}s, ratio {ratio:.2f} (target <= {args.target:g})")
    return 0 if ratio <= args.target else 1


if __name__ == "__main__":
    sys.exit(main())
