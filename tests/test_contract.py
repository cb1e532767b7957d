"""The provider contract kit, run for the built-in providers that work offline, and shown to fail
providers that break the contract."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from providers.base import INVENTORY, SWEEPER, Cluster, ProviderOptions, missing_verbs
from providers.contract import (
    DISRUPTION_CHECK,
    DOWN_AGAIN,
    DUMP_LOGS,
    IS_DOWN,
    IS_UP,
    KUBECONFIG,
    NO_LEAKS,
    UP,
    ContractFailure,
    ProviderContract,
    run_contract,
)
from providers.existing import ExistingProvider
from providers.kind import KindProvider
from tests.standins.kind_world import RUN_ID, cluster_names, kind_world, options
from tests.standins.kube import KubeStandIn


class TestExistingContract(ProviderContract):
    @pytest.fixture(scope="class")
    @classmethod
    def provider(cls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExistingProvider]:
        root = tmp_path_factory.mktemp("existing")
        with KubeStandIn.run(["ctx-a"]) as kube:
            kubeconfig = kube.write_kubeconfig(root / "kubeconfig")
            yield ExistingProvider(ProviderOptions(work_dir=root / "work", run_id=RUN_ID, kubeconfig=kubeconfig,
                                                   contexts=("ctx-a",), deadline_seconds=10))


class TestKindContract(ProviderContract):
    @pytest.fixture(scope="class")
    @classmethod
    def provider(cls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KindProvider]:
        root = tmp_path_factory.mktemp("kind")
        with kind_world(root, cluster_names(1), gated=True):
            yield KindProvider(options(root))


# --- the kit fails providers that break the contract -------------------------------------------


class NotIdempotent(ExistingProvider):
    """Owns its cluster but fails a second down and forgets nothing: three contract breaches."""

    downs = 0

    def up(self, spec):  # type: ignore[no-untyped-def]
        cluster = super().up(spec)
        return dataclasses.replace(cluster, metadata={})

    def down(self, cluster: Cluster) -> None:
        self.downs += 1
        if self.downs > 1:
            raise RuntimeError("cluster already deleted")

    def leaks(self, run_id: str) -> list[str]:
        return [f"vm {run_id}-cp"]


class NoLogs(ExistingProvider):
    def dump_logs(self, cluster: Cluster, dest: Path) -> list[Path]:
        return [dest / "never-written.txt"]


@pytest.fixture
def standin_options(tmp_path: Path) -> Iterator[ProviderOptions]:
    with KubeStandIn.run(["ctx-a"]) as kube:
        yield ProviderOptions(work_dir=tmp_path / "work", run_id=RUN_ID, contexts=("ctx-a",), deadline_seconds=5,
                              kubeconfig=kube.write_kubeconfig(tmp_path / "kubeconfig"))


def test_contract_reports_each_breach(standin_options: ProviderOptions, tmp_path: Path) -> None:
    report = run_contract(NotIdempotent(standin_options), tmp_path / "logs", ready_deadline=5)
    failed = {r.name: r.detail for r in report.failures()}
    assert set(failed) == {DOWN_AGAIN, IS_DOWN, NO_LEAKS}
    assert failed[DOWN_AGAIN] == "RuntimeError: cluster already deleted"
    assert failed[NO_LEAKS] == f"left after down: vm {RUN_ID}-cp"
    assert all(report.results[name].passed for name in (UP, KUBECONFIG, IS_UP, DUMP_LOGS))
    with pytest.raises(ContractFailure, match="existing down_again: FAILED - RuntimeError"):
        report.raise_for_failures()


def test_contract_checks_the_log_files_exist(standin_options: ProviderOptions, tmp_path: Path) -> None:
    report = run_contract(NoLogs(standin_options), tmp_path / "logs", ready_deadline=5)
    assert [r.name for r in report.failures()] == [DUMP_LOGS]
    assert "never-written.txt, which is not a file" in report.results[DUMP_LOGS].detail


def test_contract_fails_every_check_after_a_failed_up(tmp_path: Path) -> None:
    name = cluster_names(1)[0]
    with kind_world(tmp_path, [name]) as world:
        world.fake.configure(fail_create="no space left on device")
        report = run_contract(KindProvider(options(tmp_path)), tmp_path / "logs", ready_deadline=5)
    assert "no space left on device" in report.results[UP].detail
    assert report.results[KUBECONFIG].detail == "not checked: up failed"
    assert report.results[DOWN_AGAIN].passed and report.results[NO_LEAKS].passed


THIRD_PARTY_MODULE = '''
import pytest
from providers.base import ProviderOptions
from providers.contract import ProviderContract
from providers.existing import ExistingProvider
from tests.standins.kube import KubeStandIn


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    root = tmp_path_factory.mktemp("plugin")
    with KubeStandIn.run(["c1"]) as kube:
        yield ExistingProvider(ProviderOptions(work_dir=root, run_id="r1", contexts=("c1",),
                                               kubeconfig=kube.write_kubeconfig(root / "kc"), deadline_seconds=5))


class TestPluginContract(ProviderContract):
    pass
'''


def test_a_third_party_module_gets_one_test_per_check(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plugin_contract=THIRD_PARTY_MODULE)
    result = pytester.runpytest("-p", "no:cacheprovider", "-q")  # in this process: no second start-up
    result.assert_outcomes(passed=7, skipped=2)  # no_leaks, disruption: not owned, no commands


# --- no check passes vacuously ------------------------------------------------------------------


class Owning(ExistingProvider):
    """Owns its cluster (no owned=false), and down really takes it down: keeps every verb but leaks."""

    def __init__(self, options: ProviderOptions) -> None:
        super().__init__(options)
        self.gone: set[str] = set()

    def up(self, spec):  # type: ignore[no-untyped-def]
        return dataclasses.replace(super().up(spec), metadata={})

    def down(self, cluster: Cluster) -> None:
        self.gone.add(cluster.name)

    def is_up(self, cluster: Cluster) -> bool:
        return cluster.name not in self.gone and super().is_up(cluster)


class BlindInventory(Owning):
    def leaks(self, run_id: str) -> list[str]:
        return []


class SeeingInventory(Owning):
    def leaks(self, run_id: str) -> list[str]:
        return [f"cluster {name}" for name in self.options.contexts if name not in self.gone]


class DeclaresWithoutVerb(SeeingInventory):
    capabilities = frozenset({INVENTORY, SWEEPER})


def test_a_provider_that_owns_its_clusters_without_leaks_fails(standin_options: ProviderOptions,
                                                                tmp_path: Path) -> None:
    report = run_contract(Owning(standin_options), tmp_path / "logs", ready_deadline=5)
    assert [r.name for r in report.failures()] == [NO_LEAKS]
    assert report.results[NO_LEAKS].detail.startswith("owns its clusters but has no leaks(run_id)")


def test_an_inventory_that_sees_nothing_while_up_fails(standin_options: ProviderOptions, tmp_path: Path) -> None:
    report = run_contract(BlindInventory(standin_options), tmp_path / "logs", ready_deadline=5)
    assert [r.name for r in report.failures()] == [NO_LEAKS]
    assert "listed nothing while the cluster was up" in report.results[NO_LEAKS].detail


def test_an_inventory_that_sees_the_cluster_passes(standin_options: ProviderOptions, tmp_path: Path) -> None:
    report = run_contract(SeeingInventory(standin_options), tmp_path / "logs", ready_deadline=5)
    assert report.failures() == [] and all(r.passed for r in report.results.values() if r.name != DISRUPTION_CHECK)


def test_a_declared_capability_without_its_verb_fails_naming_it(standin_options: ProviderOptions,
                                                                  tmp_path: Path) -> None:
    report = run_contract(DeclaresWithoutVerb(standin_options), tmp_path / "logs", ready_deadline=5)
    assert report.results[NO_LEAKS].detail == "declares the sweeper capability but does not implement sweep()"
    assert missing_verbs(DeclaresWithoutVerb) == ["sweep"]


def test_down_must_leave_a_cluster_it_does_not_own_up(standin_options: ProviderOptions, tmp_path: Path) -> None:
    class Destroyer(ExistingProvider):
        def is_up(self, cluster: Cluster) -> bool:
            return self.downs == 0 and super().is_up(cluster)

        downs = 0

        def down(self, cluster: Cluster) -> None:
            self.downs += 1

    report = run_contract(Destroyer(standin_options), tmp_path / "logs", ready_deadline=5)
    assert report.results[IS_DOWN].detail == "down took down a cluster the provider does not own"
    assert report.results[NO_LEAKS].passed is None  # made nothing: the one skip, with its reason
