"""The cluster set's steps: bring-up in parallel, teardown, and the provider's leak check.

Every cluster is its own step (its own JUnit case), run in a thread named after the cluster, with
the ledger updated before and after, so teardown (`fedtest down`) and the janitor still know what
exists after a crash.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fedtest.errors import FedtestError, one_line
from fedtest.progress import Progress
from fedtest.steps import StepResult, wrap_step
from providers import ledger as ledger_mod
from providers.base import Cluster, ClusterSpec, Inventory, Provider
from providers.ledger import Ledger
from upload.record import Stop


def _quiet(_line: str) -> None:
    """Progress for callers that only want the results (tests, benchmarks)."""


def _up_one(provider: Provider, spec: ClusterSpec, ledger: Ledger, progress: Progress,
            results: list[StepResult], deadline: float) -> StepResult:
    ledger.record(spec, ledger_mod.CREATING)

    def up() -> Cluster:
        try:
            cluster = provider.up(spec)
        except Exception as err:
            ledger.record(spec, ledger_mod.FAILED, error=one_line(err))
            raise
        ledger.record(spec, ledger_mod.UP, cluster)
        return cluster

    result = wrap_step(f"Setup: {provider.name} up {spec.name}", up, progress=progress, results=results,
                       waiting_for=f"{provider.name} to bring {spec.name} up (deadline {deadline:g}s)")
    if result.ok:
        result.properties.update(cluster=spec.name, provider=provider.name, version=result.value.version)
    return result


STOPPING_SECONDS = 10.0  # how long an aborted bring-up thread may take to see the stop signal and return


class _PolledStop:
    """A stop signal (wait(timeout) -> bool) over a Stop that only has `aborted`."""

    def __init__(self, stop: Stop) -> None:
        self._stop = stop

    def wait(self, timeout: float | None = None) -> bool:
        until = time.monotonic() + (timeout or 0.0)
        while not self._stop.aborted and time.monotonic() < until:
            time.sleep(min(0.05, max(0.0, until - time.monotonic())))
        return self._stop.aborted


def bring_up(provider: Provider, specs: list[ClusterSpec], ledger: Ledger, progress: Progress | None = None,
             results: list[StepResult] | None = None, stop: Stop | None = None,
             left_behind: list[threading.Thread] | None = None) -> list[StepResult]:
    """Bring every spec up at once; results come back in spec order (and are appended to `results`).

    Each cluster comes up in a daemon thread named after it. `stop` (SIGTERM, SIGINT, the deadline)
    becomes the provider's stop signal, so its up() returns promptly: a cluster still coming up gets a
    failed step and stays `creating` in the ledger, so teardown still downs it. A thread that has not
    returned STOPPING_SECONDS after the abort (a provider that ignores the signal) is listed in
    `left_behind` and named in the progress lines.
    """
    progress, results = progress or Progress(_quiet), [] if results is None else results
    deadline = provider.options.deadline_seconds
    if stop is not None:
        provider.stop = stop if callable(getattr(stop, "wait", None)) else _PolledStop(stop)
    done: dict[str, StepResult] = {}
    lock = threading.Lock()
    threads = []
    for spec in specs:
        def up(spec: ClusterSpec = spec) -> None:
            own: list[StepResult] = []
            result = _up_one(provider, spec, ledger, progress, own, deadline)
            with lock:  # after an abort gave up on this cluster, its late result is not reported twice
                if spec.name not in done:
                    done[spec.name] = result
                    results.append(result)

        thread = threading.Thread(target=up, name=f"up {spec.name}", daemon=True)
        thread.start()
        threads.append(thread)
    for thread in threads:
        while thread.is_alive() and not (stop is not None and stop.aborted):
            thread.join(timeout=0.1)
    until = time.monotonic() + STOPPING_SECONDS
    for thread in threads:  # after an abort: up() sees the stop signal and returns
        thread.join(timeout=max(0.0, until - time.monotonic()))
    stuck = [t for t in threads if t.is_alive()]
    if stuck:
        progress.say(f"bring-up threads still running {STOPPING_SECONDS:g}s after the abort: "
                     f"{', '.join(t.name for t in stuck)} (the provider ignores the stop signal)")
    if left_behind is not None:
        left_behind.extend(stuck)
    reason = (stop.reason if stop is not None else None) or "aborted"
    with lock:
        for spec in specs:
            if spec.name not in done:
                result = StepResult(f"Setup: {provider.name} up {spec.name}", 0.0,
                                    f"interrupted: run aborted ({reason}) while the cluster was coming up")
                results.append(result)
                done[spec.name] = result
                progress.say(f"{result.name}: {result.error}")
        return [done[spec.name] for spec in specs]


def _down_one(provider: Provider, entry: ledger_mod.Entry, ledger: Ledger, work_dir: Path,
              progress: Progress, results: list[StepResult]) -> StepResult:
    cluster = entry.cluster or Cluster(entry.name, provider.name, work_dir / f"{entry.name}.kubeconfig", "")

    def down() -> None:
        try:
            provider.down(cluster)
        except Exception as err:
            ledger.record(entry.name, entry.state, error=one_line(err))
            raise
        ledger.record(entry.name, ledger_mod.DOWN)

    return wrap_step(f"Teardown: {provider.name} down {entry.name}", down, progress=progress, results=results)


def tear_down(provider: Provider, ledger: Ledger, work_dir: Path, progress: Progress | None = None,
              results: list[StepResult] | None = None) -> list[StepResult]:
    """Down every cluster the ledger does not know to be down (including half-made ones)."""
    progress, results = progress or Progress(_quiet), [] if results is None else results
    entries = ledger.pending_teardown()
    if not entries:
        return []
    with ThreadPoolExecutor(max_workers=len(entries), thread_name_prefix="down") as pool:
        return list(pool.map(lambda e: _down_one(provider, e, ledger, work_dir, progress, results), entries))


def check_leaks(provider: Provider, run_id: str, progress: Progress | None = None,
                results: list[StepResult] | None = None) -> StepResult:
    """The provider's own inventory of this run's resources left after teardown."""
    progress, results = progress or Progress(_quiet), [] if results is None else results

    def leaks() -> None:
        leaked = provider.leaks(run_id) if isinstance(provider, Inventory) else []  # owns nothing: no leaks
        if leaked:
            raise FedtestError(f"{len(leaked)} resources of run {run_id} left: {', '.join(leaked)}",
                               f"run `fedtest janitor --provider {provider.name}`")

    return wrap_step(f"Teardown: {provider.name} leaked resources", leaks, progress=progress, results=results)
