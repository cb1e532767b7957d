"""Bring a cluster set up in parallel and tear it down, recording every step in the ledger.

Each bring-up and teardown yields a PhaseResult, which the pytest plugin reports as a JUnit
case of its own, so an infra failure is never mistaken for (or hidden behind) a test failure.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from providers import ledger as ledger_mod
from providers.base import Cluster, ClusterSpec, Inventory, Provider, ProviderError
from providers.ledger import Ledger


@dataclass
class PhaseResult:
    """One infra step: its JUnit case name, duration and outcome."""

    name: str
    seconds: float
    error: str = ""
    cluster: Cluster | None = None
    properties: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.error


def _describe(err: BaseException) -> str:
    if isinstance(err, ProviderError):
        return str(err)
    return f"{type(err).__name__}: {err}"


def _up_one(provider: Provider, spec: ClusterSpec, ledger: Ledger) -> PhaseResult:
    start = time.monotonic()
    ledger.record(spec, ledger_mod.CREATING)
    name = f"Setup: {provider.name} up {spec.name}"
    try:
        cluster = provider.up(spec)
    except Exception as err:  # reported as an infra case, never raised into the test session
        ledger.record(spec, ledger_mod.FAILED, error=_describe(err))
        return PhaseResult(name, time.monotonic() - start, _describe(err))
    ledger.record(spec, ledger_mod.UP, cluster)
    props = {"cluster": cluster.name, "provider": provider.name, "version": cluster.version}
    return PhaseResult(name, time.monotonic() - start, cluster=cluster, properties=props)


def bring_up(provider: Provider, specs: list[ClusterSpec], ledger: Ledger) -> list[PhaseResult]:
    """Bring every spec up at once; results come back in spec order."""
    with ThreadPoolExecutor(max_workers=max(1, len(specs)), thread_name_prefix="up") as pool:
        return list(pool.map(lambda s: _up_one(provider, s, ledger), specs))


def _down_one(provider: Provider, entry: ledger_mod.Entry, ledger: Ledger, work_dir: Path) -> PhaseResult:
    start = time.monotonic()
    name = f"Teardown: {provider.name} down {entry.name}"
    cluster = entry.cluster or Cluster(entry.name, provider.name, work_dir / f"{entry.name}.kubeconfig", "")
    try:
        provider.down(cluster)
    except Exception as err:
        ledger.record(entry.name, entry.state, error=_describe(err))
        return PhaseResult(name, time.monotonic() - start, _describe(err), cluster)
    ledger.record(entry.name, ledger_mod.DOWN)
    return PhaseResult(name, time.monotonic() - start, cluster=cluster)


def tear_down(provider: Provider, ledger: Ledger, work_dir: Path) -> list[PhaseResult]:
    """Down every cluster the ledger does not know to be down (including half-made ones)."""
    entries = ledger.pending_teardown()
    if not entries:
        return []
    with ThreadPoolExecutor(max_workers=len(entries), thread_name_prefix="down") as pool:
        return list(pool.map(lambda e: _down_one(provider, e, ledger, work_dir), entries))


def check_leaks(provider: Provider, run_id: str) -> PhaseResult:
    """The provider's own inventory of this run's resources left after teardown."""
    start = time.monotonic()
    try:
        leaked = provider.leaks(run_id) if isinstance(provider, Inventory) else []  # owns nothing: no leaks
    except Exception as err:
        return PhaseResult(f"Teardown: {provider.name} leaked resources", time.monotonic() - start,
                           f"leak check failed: {_describe(err)}")
    error = f"{len(leaked)} resources of run {run_id} left: {', '.join(leaked)}" if leaked else ""
    return PhaseResult(f"Teardown: {provider.name} leaked resources", time.monotonic() - start, error)
