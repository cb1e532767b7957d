"""The provider contract kit: one lifecycle of checks that every Provider must pass.

The checks, in order, on one cluster of `provider.plan(1)`:
  up             up(spec) returns a Cluster of that name and provider
  kubeconfig     its kubeconfig file has its context and the API server answers /version and /readyz
  is_up          is_up(cluster) is true
  disruption     the disruption capability, where declared: for each outage mode disruptions(cluster)
                 offers, take_away leaves the API server silent (everything, the API server) or still
                 answering (the data plane), and bring_back makes it ready again; restart_control_plane
                 ends with it ready; upgrade_control_plane (given `upgrade_version`) ends on that
                 version; a verb called with a stop signal already set raises Stopped at once and does
                 nothing. Skipped when not declared or when nothing is offered for this cluster.
  dump_logs      dump_logs(cluster, dest) returns files that exist under dest
  down           down(cluster) succeeds
  down_again     down(cluster) succeeds a second time (idempotent)
  is_down        is_up(cluster) is false afterwards; for a cluster the provider does not own (metadata
                 owned=false), down must have left it up, so is_up is still true
  no_leaks       the inventory capability: a provider that owns its clusters must have leaks(run_id);
                 it must list something of the run while the cluster is up (an inventory that sees
                 nothing proves nothing) and nothing after down. Declared capabilities whose verbs
                 are missing fail here, by name. Skipped only for clusters the provider does not own.
Every check runs even when an earlier one failed, so down is always attempted. No check passes
without having looked at something.

From pytest (a third-party provider's own test module):

    import pytest
    from providers.contract import ProviderContract

    @pytest.fixture(scope="module")   # class, module or session scope: the lifecycle runs once
    def provider(tmp_path_factory):
        return MyProvider(ProviderOptions(work_dir=tmp_path_factory.mktemp("work"), run_id="r1"))

    class TestMyProviderContract(ProviderContract):
        pass

Each check becomes a test of its own; the lifecycle runs once per class and xdist worker (use
`--dist loadscope` against real clouds so it runs once). Without pytest:
`run_contract(provider, logs_dir).raise_for_failures()`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import pytest

from providers import stopping
from providers.base import (
    ALL,
    API_SERVER,
    DISRUPTION,
    OUTAGE_MODES,
    RESTART,
    UPGRADE,
    Cluster,
    Disruption,
    Inventory,
    Provider,
    ProviderError,
    capability_of,
    missing_verbs,
)
from providers.readiness import answers, check_kubeconfig, wait_ready

UP, KUBECONFIG, IS_UP, DISRUPTION_CHECK, DUMP_LOGS, DOWN, DOWN_AGAIN, IS_DOWN, NO_LEAKS = (
    "up", "kubeconfig", "is_up", "disruption", "dump_logs", "down", "down_again", "is_down", "no_leaks")
CHECKS = (UP, KUBECONFIG, IS_UP, DISRUPTION_CHECK, DUMP_LOGS, DOWN, DOWN_AGAIN, IS_DOWN, NO_LEAKS)
SILENT_WITHIN = 3.0  # an API server taken away must not answer within this many seconds


class ContractFailure(AssertionError):
    """A provider failed one or more contract checks; the message lists them, one per line."""


class _Skip(Exception):
    """A check that does not apply to this provider."""


@dataclass
class CheckResult:
    name: str
    passed: bool | None  # None: skipped, `detail` says why
    detail: str = ""


@dataclass
class ContractReport:
    provider: str
    results: dict[str, CheckResult] = field(default_factory=dict)
    cluster: Cluster | None = None

    def failures(self) -> list[CheckResult]:
        return [r for r in self.results.values() if r.passed is False]

    def summary(self) -> str:
        marks = {True: "ok", False: "FAILED", None: "skipped"}
        return "\n".join(f"{self.provider} {r.name}: {marks[r.passed]}{' - ' + r.detail if r.detail else ''}"
                         for r in self.results.values())

    def raise_for_failures(self) -> None:
        if self.failures():
            raise ContractFailure(self.summary())


def _require(condition: bool, message: str) -> None:
    """Like assert, but not stripped by python -O."""
    if not condition:
        raise ContractFailure(message)


def _describe(err: BaseException) -> str:
    return str(err) if isinstance(err, ProviderError | ContractFailure) else f"{type(err).__name__}: {err}"


def _owned(cluster: Cluster) -> bool:
    return cluster.metadata.get("owned") != "false"


def _check_disruption(provider: Provider, cluster: Cluster, ready_deadline: float,
                      upgrade_version: str | None) -> str:
    """The disruption capability's verbs do what they say, on a cluster that is up (see the module docstring)."""
    if DISRUPTION not in provider.capabilities:
        raise _Skip("the provider does not declare the disruption capability")
    missing = [verb for verb in missing_verbs(provider) if capability_of(verb) == DISRUPTION]
    if missing or not isinstance(provider, Disruption):
        raise ContractFailure(f"declares the disruption capability but does not implement {', '.join(missing)}()")
    offered = provider.disruptions(cluster)
    if not offered:
        raise _Skip(f"the provider offers no disruption for cluster {cluster.name} (see its settings)")
    done = []
    never = stopping.NEVER
    for mode in OUTAGE_MODES:
        if mode not in offered:
            continue
        provider.take_away(cluster, mode, never)
        try:
            up = answers(cluster.kubeconfig, cluster.context, SILENT_WITHIN)
            if mode in (ALL, API_SERVER):
                _require(not up, f"take_away {mode}: the API server still answers")
            else:
                _require(up, f"take_away {mode}: the API server stopped answering (only the data plane should go)")
        finally:
            provider.bring_back(cluster, mode, never)
        wait_ready(cluster.kubeconfig, cluster.context, ready_deadline)
        done.append(mode)
    if RESTART in offered:
        provider.restart_control_plane(cluster, never)
        wait_ready(cluster.kubeconfig, cluster.context, ready_deadline)
        done.append(RESTART)
    if UPGRADE in offered and upgrade_version:
        provider.upgrade_control_plane(cluster, upgrade_version, never)
        version = wait_ready(cluster.kubeconfig, cluster.context, ready_deadline).version
        _require(version.lstrip("v") == upgrade_version.lstrip("v"),
                 f"upgrade to {upgrade_version}: the API server reports {version}")
        done.append(UPGRADE)
    elif UPGRADE in offered:
        done.append("upgrade not checked: no upgrade_version given")
    _check_stop_signal(provider, cluster, offered, ready_deadline, upgrade_version)
    return ", ".join(done)


def _check_stop_signal(provider: Disruption, cluster: Cluster, offered: frozenset[str], ready_deadline: float,
                       upgrade_version: str | None) -> None:
    """A verb called with the stop signal already set raises Stopped at once and leaves the cluster be."""
    stopped = threading.Event()
    stopped.set()
    first = next(m for m in (*OUTAGE_MODES, RESTART, UPGRADE) if m in offered)
    started = time.monotonic()
    try:
        if first in OUTAGE_MODES:
            provider.take_away(cluster, first, stopped)
        elif first == RESTART:
            provider.restart_control_plane(cluster, stopped)
        else:
            provider.upgrade_control_plane(cluster, upgrade_version or cluster.version, stopped)
    except stopping.Stopped:
        _require(time.monotonic() - started < 2.0, f"{first} took over 2s to notice the stop signal")
    else:
        if first in OUTAGE_MODES:
            provider.bring_back(cluster, first, stopping.NEVER)
        raise ContractFailure(f"{first} ran although the run's stop signal was set (it must raise Stopped)")
    _require(answers(cluster.kubeconfig, cluster.context, ready_deadline), f"{first} with the stop set left "
             "the API server not answering: a stopped verb must do nothing")


def run_contract(provider: Provider, logs_dir: Path, ready_deadline: float = 60.0,
                 upgrade_version: str | None = None) -> ContractReport:
    """Bring one cluster up, check it, tear it down twice and check nothing is left."""
    report = ContractReport(provider.name)

    def check(name: str, fn: Callable[[], str | None]) -> None:
        try:
            report.results[name] = CheckResult(name, True, fn() or "")
        except _Skip as skip:
            report.results[name] = CheckResult(name, None, str(skip))
        except Exception as err:  # every failure is recorded; later checks still run
            report.results[name] = CheckResult(name, False, _describe(err))

    while_up: list[str] = []
    while_up_error: list[str] = []
    spec = provider.plan(1)[0]
    # What teardown would use after a crash, if up fails before returning a Cluster.
    fallback = Cluster(spec.name, provider.name, provider.options.work_dir / f"{spec.name}.kubeconfig", "")

    def up() -> str:
        cluster = provider.up(spec)
        report.cluster = cluster
        _require(cluster.name == spec.name, f"up returned cluster {cluster.name!r} for spec {spec.name!r}")
        _require(cluster.provider == provider.name, f"cluster.provider is {cluster.provider!r}")
        return cluster.endpoint

    def cluster() -> Cluster:
        if report.cluster is None:
            raise ContractFailure("not checked: up failed")
        return report.cluster

    def kubeconfig() -> str:
        c = cluster()
        _require(c.kubeconfig.is_file(), f"kubeconfig {c.kubeconfig} does not exist")
        check_kubeconfig(c.kubeconfig, [c.context])
        return wait_ready(c.kubeconfig, c.context, ready_deadline).version

    def is_up() -> None:
        _require(provider.is_up(cluster()) is True, "is_up is not true right after up")

    def inventory_while_up() -> None:
        """Note what leaks(run_id) lists while the cluster is up (no_leaks judges it)."""
        if report.cluster is None or not isinstance(provider, Inventory) or missing_verbs(provider):
            return
        try:
            while_up.extend(provider.leaks(provider.options.run_id))
        except Exception as err:
            while_up_error.append(_describe(err))

    def dump_logs() -> str:
        dest = logs_dir / spec.name
        files = provider.dump_logs(cluster(), dest)
        _require(files, "dump_logs returned no files")
        for path in files:
            _require(Path(path).is_file(), f"dump_logs returned {path}, which is not a file")
            inside = Path(path).resolve().is_relative_to(dest.resolve())
            _require(inside, f"dump_logs wrote {path} outside {dest}")
        return f"{len(files)} files"

    def is_down() -> str | None:
        c = report.cluster or fallback
        if not _owned(c):
            _require(provider.is_up(c) is True, "down took down a cluster the provider does not own")
            return "the provider does not own this cluster: down left it up"
        _require(provider.is_up(c) is False, "is_up is still true after down")
        return None

    def no_leaks() -> None:
        for verb in missing_verbs(provider):
            capability = capability_of(verb)
            raise ContractFailure(f"declares the {capability} capability but does not implement {verb}()")
        if not _owned(report.cluster or fallback):
            raise _Skip("the provider does not own this cluster, so it made nothing that could leak")
        if not isinstance(provider, Inventory):
            raise ContractFailure("owns its clusters but has no leaks(run_id): implement the inventory "
                                  "capability (providers.base.Inventory), so leftovers are found")
        if while_up_error:
            raise ContractFailure(f"leaks(run_id) failed while the cluster was up: {while_up_error[0]}")
        if report.cluster is not None and not while_up:
            raise ContractFailure("leaks(run_id) listed nothing while the cluster was up, so it cannot see a leak")
        leaked = provider.leaks(provider.options.run_id)
        _require(not leaked, f"left after down: {', '.join(leaked)}")

    check(UP, up)
    check(KUBECONFIG, kubeconfig)
    check(IS_UP, is_up)
    inventory_while_up()
    check(DISRUPTION_CHECK, lambda: _check_disruption(provider, cluster(), ready_deadline, upgrade_version))
    check(DUMP_LOGS, dump_logs)
    check(DOWN, lambda: provider.down(report.cluster or fallback))
    check(DOWN_AGAIN, lambda: provider.down(report.cluster or fallback))
    check(IS_DOWN, is_down)
    check(NO_LEAKS, no_leaks)
    return report


class ProviderContract:
    """Subclass as `Test...` and give it a class-scoped `provider` fixture; each check is a test."""

    contract_ready_deadline: ClassVar[float] = 60.0
    contract_upgrade_version: ClassVar[str | None] = None  # the version the disruption check upgrades to

    @pytest.fixture(scope="class")
    @classmethod
    def contract_report(cls, provider: Provider, tmp_path_factory: pytest.TempPathFactory) -> ContractReport:
        return run_contract(provider, tmp_path_factory.mktemp("contract-logs"), cls.contract_ready_deadline,
                            cls.contract_upgrade_version)

    @staticmethod
    def _assert(report: ContractReport, name: str) -> None:
        result = report.results[name]
        if result.passed is None:
            pytest.skip(result.detail)
        assert result.passed, f"{report.provider} {name}: {result.detail}"

    def test_up_returns_the_cluster(self, contract_report: ContractReport) -> None:
        self._assert(contract_report, UP)

    def test_kubeconfig_reaches_a_ready_api_server(self, contract_report: ContractReport) -> None:
        self._assert(contract_report, KUBECONFIG)

    def test_is_up_after_up(self, contract_report: ContractReport) -> None:
        self._assert(contract_report, IS_UP)

    def test_disruption_takes_the_cluster_away_and_back(self, contract_report: ContractReport) -> None:
        self._assert(contract_report, DISRUPTION_CHECK)

    def test_dump_logs_writes_files(self, contract_report: ContractReport) -> None:
        self._assert(contract_report, DUMP_LOGS)

    def test_down(self, contract_report: ContractReport) -> None:
        self._assert(contract_report, DOWN)

    def test_down_is_idempotent(self, contract_report: ContractReport) -> None:
        self._assert(contract_report, DOWN_AGAIN)

    def test_is_up_false_after_down(self, contract_report: ContractReport) -> None:
        self._assert(contract_report, IS_DOWN)

    def test_nothing_leaks_after_down(self, contract_report: ContractReport) -> None:
        self._assert(contract_report, NO_LEAKS)
