"""kind's disruption capability against the stand-in kind and docker: the contract kit, and what each verb does
to the node containers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from providers import stopping
from providers.base import ALL, API_SERVER, DATA_PLANE, RESTART, ConfigError
from providers.contract import DISRUPTION_CHECK, ProviderContract
from providers.kind import KindProvider
from tests.standins.fake_kind import MANIFESTS
from tests.standins.gate import FROZEN, OPEN
from tests.standins.kind_world import KindWorld, cluster_names, kind_world

NAME = cluster_names(1)[0]


class TestKindDisruptionContract(ProviderContract):
    @pytest.fixture(scope="class")
    @classmethod
    def provider(cls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KindProvider]:
        root = tmp_path_factory.mktemp("kind-disruption")
        with kind_world(root, cluster_names(1), gated=True) as world:
            yield world.provider(root, extra={"workers": "2"})

    def test_every_mode_and_the_restart_were_checked(self, contract_report) -> None:  # type: ignore[no-untyped-def]
        assert contract_report.results[DISRUPTION_CHECK].detail == "all, data-plane, api-server, restart"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[KindWorld]:
    with kind_world(tmp_path, cluster_names(1), gated=True) as world:
        yield world


def _up(world: KindWorld, root: Path, workers: int = 1):  # type: ignore[no-untyped-def]
    provider = world.provider(root, extra={"workers": str(workers), "ingress": "false"})
    return provider, provider.up(provider.plan(1)[0])


def test_each_mode_takes_away_only_its_part(world: KindWorld, tmp_path: Path) -> None:
    provider, cluster = _up(world, tmp_path, workers=2)
    fake = world.fake
    assert provider.disruptions(cluster) == {ALL, DATA_PLANE, API_SERVER, RESTART}

    provider.take_away(cluster, ALL, stopping.NEVER)
    assert all(n["paused"] for n in fake.nodes(NAME).values()) and fake.api_state(NAME) == FROZEN
    provider.bring_back(cluster, ALL, stopping.NEVER)
    assert not any(n["paused"] for n in fake.nodes(NAME).values()) and fake.api_state(NAME) == OPEN

    provider.take_away(cluster, DATA_PLANE, stopping.NEVER)
    nodes = fake.nodes(NAME)
    assert [n["networks"] for n in nodes.values() if n["role"] == "worker"] == [[], []]
    assert nodes[f"{NAME}-control-plane"]["networks"] == ["kind"] and fake.api_state(NAME) == OPEN
    provider.bring_back(cluster, DATA_PLANE, stopping.NEVER)
    provider.bring_back(cluster, DATA_PLANE, stopping.NEVER)  # idempotent: connected already is fine
    assert fake.data_plane_up(NAME)

    provider.take_away(cluster, API_SERVER, stopping.NEVER)
    assert fake.api_state(NAME) == FROZEN and fake.data_plane_up(NAME)
    assert not any(n["paused"] for n in fake.nodes(NAME).values())
    provider.bring_back(cluster, API_SERVER, stopping.NEVER)
    assert fake.api_state(NAME) == OPEN


def test_restart_parks_the_three_manifests_until_stopped_and_puts_them_back(world: KindWorld, tmp_path: Path) -> None:
    provider, cluster = _up(world, tmp_path)
    before = world.fake.nodes(NAME)[f"{NAME}-control-plane"]
    provider.restart_control_plane(cluster, stopping.NEVER)
    after = world.fake.nodes(NAME)[f"{NAME}-control-plane"]
    assert sorted(after["files"]) == sorted(before["files"])  # etcd never moved, the others back in place
    moved = [c[3:] for c in world.fake.calls() if c[:2] == ["docker", "exec"] and c[3:4] == ["mv"]]
    assert [m[1].rsplit("/", 1)[1] for m in moved] == [
        "kube-apiserver.yaml", "kube-controller-manager.yaml", "kube-scheduler.yaml"]
    assert all(m[1].startswith(MANIFESTS) and not m[2].startswith(MANIFESTS) for m in moved)
    assert after["generation"] > before["generation"] and world.fake.api_state(NAME) == OPEN


def test_without_workers_there_is_no_data_plane_to_take_away(world: KindWorld, tmp_path: Path) -> None:
    provider, cluster = _up(world, tmp_path, workers=0)
    assert DATA_PLANE not in provider.disruptions(cluster)
    with pytest.raises(ConfigError) as refused:
        provider.take_away(cluster, DATA_PLANE, stopping.NEVER)
    assert "has no workers to cut off" in str(refused.value) and "workers=1" in str(refused.value)


def test_kind_cannot_upgrade_in_place(world: KindWorld, tmp_path: Path) -> None:
    provider, cluster = _up(world, tmp_path)
    with pytest.raises(ConfigError, match=r"--k8s-version 1\.32"):
        provider.upgrade_control_plane(cluster, "1.32", stopping.NEVER)
