"""Bring-up scaling: 3 kind clusters in parallel against 1, with the stand-in kind and API servers.

The stand-in `kind create` takes --create-delay seconds (the part of a real create that is the
container engine's, not ours); everything else is the real provider path: clusterset.bring_up,
kind config and kubeconfig per cluster, readiness, ingress-nginx applied and awaited. Each API
stand-in (with the test-side deployment controller) runs in a child process of its own, as each
real cluster has its own API server, so servers neither share one event loop nor the harness's
interpreter lock. A warm-up
bring-up runs first so one-time imports do not count against the single-cluster baseline.

    PYTHONPATH=. python bench/bringup.py [--create-delay 2.0] [--clusters 3] [--target 1.2]

Prints the ratio parallel/single; exits 1 when it is above the target.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from fedtest import clusters as clusterset
from providers import ledger as ledger_mod
from providers.kind import KindProvider
from tests.standins.controllers import deployments_become_available
from tests.standins.fake_kind import FakeKind
from tests.standins.kind_world import cluster_names, on_path, options
from tests.standins.kube import KubeStandIn


def serve(names: list[str]) -> None:
    """Child process: API stand-ins for `names`, their URLs as one JSON line, until stdin closes."""
    with KubeStandIn.run(names) as kube, deployments_become_available(kube):
        print(json.dumps({n: kube.clusters[n].url for n in names}), flush=True)
        sys.stdin.read()


@contextlib.contextmanager
def standins_in_child(names: list[str]) -> Iterator[dict[str, str]]:
    child = subprocess.Popen([sys.executable, __file__, "--serve", ",".join(names)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdin is not None
        yield json.loads(child.stdout.readline())
    finally:
        if child.stdin:
            child.stdin.close()
        child.wait(30)


def bring_up(root: Path, run_id: str, count: int) -> float:
    provider = KindProvider(options(root / run_id, run_id=run_id, deadline=60))
    specs = provider.plan(count)
    ledger = ledger_mod.Ledger.create(root / run_id / "artifacts", run_id, provider.name)
    start = time.perf_counter()
    results = clusterset.bring_up(provider, specs, ledger)
    seconds = time.perf_counter() - start
    failed = [r.error for r in results if not r.ok]
    if failed:
        raise SystemExit(f"bench: bring-up failed: {failed[0]}")
    clusterset.tear_down(provider, ledger, provider.options.work_dir)
    return seconds


def measure(root: Path, fake: FakeKind, key: int, count: int) -> float:
    """One bring-up of `count` clusters, each served by a fresh API stand-in process."""
    run_id = f"20261122-{key:06d}-{key:06x}"
    names = cluster_names(count, run_id)
    with contextlib.ExitStack() as stack:
        urls: dict[str, str] = {}
        for name in names:
            urls.update(stack.enter_context(standins_in_child([name])))
        fake.serve(urls)
        return bring_up(root, run_id, count)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--create-delay", type=float, default=2.0, help="seconds the stand-in kind create takes")
    parser.add_argument("--clusters", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3, help="samples of each; the fastest of each is compared")
    parser.add_argument("--target", type=float, default=1.2, help="highest acceptable parallel/single ratio")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve.split(","))
        return 0
    with tempfile.TemporaryDirectory(prefix="fedtest-bench-") as tmp:
        fake = FakeKind(Path(tmp) / "fake").install()
        fake.configure(create_delay=args.create_delay)
        with on_path(fake):
            measure(Path(tmp), fake, 0, 1)  # warm-up: imports and first-use costs
            single = [measure(Path(tmp), fake, 2 * r + 1, 1) for r in range(args.repeat)]
            parallel = [measure(Path(tmp), fake, 2 * r + 2, args.clusters) for r in range(args.repeat)]
    ratio = min(parallel) / min(single)
    print(f"kind bring-up, stand-in create delay {args.create_delay:g}s, best of {args.repeat}: "
          f"1 cluster {min(single):.2f}s, {args.clusters} in parallel {min(parallel):.2f}s, "
          f"ratio {ratio:.2f} (target <= {args.target:g})")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"load average {load} on {os.cpu_count()} CPUs; "
          f"samples: 1 cluster {', '.join(f'{s:.2f}' for s in single)}; "
          f"{args.clusters} clusters {', '.join(f'{s:.2f}' for s in parallel)}")
    return 0 if ratio <= args.target else 1


if __name__ == "__main__":
    sys.exit(main())
