"""The provider contract kit: one lifecycle of checks that every Provider must pass.

The checks, in order, on one cluster of `provider.plan(1)`:
  up             up(spec) returns a Cluster of that name and provider
  kubeconfig     its kubeconfig file has its context and the API server answers /version and /readyz
  is_up          is_up(cluster) is true
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

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import pytest

from providers.base import CAPABILITY_VERBS, Cluster, Inventory, Provider, ProviderError, missing_verbs
from providers.readiness import check_kubeconfig, wait_ready

UP, KUBECONFIG, IS_UP, DUMP_LOGS, DOWN, DOWN_AGAIN, IS_DOWN, NO_LEAKS = (
    "up", "kubeconfig", "is_up", "dump_logs", "down", "down_again", "is_down", "no_leaks")
CHECKS = (UP, KUBECONFIG, IS_UP, DUMP_LOGS, DOWN, DOWN_AGAIN, IS_DOWN, NO_LEAKS)


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


def run_contract(provider: Provider, logs_dir: Path, ready_deadline: float = 60.0) -> ContractReport:
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
            capability = next(c for c, (v, _p) in CAPABILITY_VERBS.items() if v == verb)
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
    check(DUMP_LOGS, dump_logs)
    check(DOWN, lambda: provider.down(report.cluster or fallback))
    check(DOWN_AGAIN, lambda: provider.down(report.cluster or fallback))
    check(IS_DOWN, is_down)
    check(NO_LEAKS, no_leaks)
    return report


class ProviderContract:
    """Subclass as `Test...` and give it a class-scoped `provider` fixture; each check is a test."""

    contract_ready_deadline: ClassVar[float] = 60.0

    @pytest.fixture(scope="class")
    @classmethod
    def contract_report(cls, provider: Provider, tmp_path_factory: pytest.TempPathFactory) -> ContractReport:
        return run_contract(provider, tmp_path_factory.mktemp("contract-logs"), cls.contract_ready_deadline)

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
