"""The suite's fixtures on their failure paths: the CronJob boards after a failed test and after a board
that could not be made, and the namespaces whose deletion the session awaits (namespaces.Reaper)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from kubernetes import client

from e2e import conftest as e2e_conftest
from e2e.framework import cronboard, namespaces
from fedtest.settings import Settings
from providers.base import Cluster
from tests.framework.conftest import Clusters

RUN_ID = "run-fixtures"


@pytest.fixture
def reaper(monkeypatch: pytest.MonkeyPatch) -> namespaces.Reaper:
    fresh = namespaces.Reaper()
    monkeypatch.setattr(namespaces, "REAPER", fresh)
    return fresh


@pytest.fixture
def run_view(tmp_path: Path) -> Any:
    """What the fixtures read of the run (fedtest.lifecycle.ClusterSet): run id, settings, diagnostics."""
    settings = Settings(artifacts=tmp_path / "artifacts", namespace_deadline=5)
    return SimpleNamespace(run_id=RUN_ID, settings=settings,
                           diagnostics_dir=lambda test_id: tmp_path / "diagnostics" / test_id.replace("/", "_"))


@pytest.fixture
def cluster_set(clusters: Clusters, tmp_path: Path) -> list[Cluster]:
    kubeconfig = clusters.kube.write_kubeconfig(tmp_path / "kubeconfig-fixtures")
    return [Cluster(name, "existing", kubeconfig, name) for name in ("east", "west")]


def of_run(clusters: Clusters) -> dict[str, list[str]]:
    return {name: namespaces.of_run(api, RUN_ID) for name, api in clusters.clients.items()}


def boards(request: Any, run_view: Any, cluster_set: list[Cluster], tmp_path: Path) -> Iterator[Any]:
    config = SimpleNamespace()  # the default images
    return e2e_conftest.cron_boards.__wrapped__(request, run_view, cluster_set, config)  # type: ignore[attr-defined]


def test_boards_after_a_failed_test_are_dumped_then_deleted(clusters: Clusters, cluster_set: list[Cluster],
                                                            run_view: Any, reaper: namespaces.Reaper,
                                                            tmp_path: Path) -> None:
    request = SimpleNamespace(session=SimpleNamespace(testsfailed=0))
    fixture = boards(request, run_view, cluster_set, tmp_path)
    made = next(fixture)
    assert sorted(made) == ["east", "west"]
    request.session.testsfailed = 1  # a cron test failed while the boards were up
    assert next(fixture, None) is None  # the teardown ran to its end
    dumped = run_view.diagnostics_dir(e2e_conftest.CRON_TEST_ID)
    for name, board in made.items():
        assert (dumped / name / "cronjobs.yaml").exists(), sorted(p.name for p in (dumped / name).iterdir())
        assert (board.namespace, name) in {(ns, where) for _, ns, where in reaper.pending}
    assert reaper.wait(5) == []
    assert of_run(clusters) == {"east": [], "west": []}


def test_a_board_that_cannot_be_made_leaves_no_namespace(clusters: Clusters, cluster_set: list[Cluster],
                                                         run_view: Any, reaper: namespaces.Reaper,
                                                         tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made = cronboard.Board.create

    def refused_in_west(api: client.ApiClient, namespace: str, images: Any, **kwargs: Any) -> Any:
        if api.configuration.host == clusters.clients["west"].configuration.host:
            raise client.ApiException(status=403, reason="Forbidden")
        return made(api, namespace, images, **kwargs)

    monkeypatch.setattr(cronboard.Board, "create", staticmethod(refused_in_west))
    request = SimpleNamespace(session=SimpleNamespace(testsfailed=0))
    with pytest.raises(client.ApiException):
        next(boards(request, run_view, cluster_set, tmp_path))
    assert sorted(where for _, _, where in reaper.pending) == ["east", "west"]
    assert reaper.wait(5) == []
    assert of_run(clusters) == {"east": [], "west": []}


def test_the_reaper_names_a_namespace_still_there_at_its_deadline(clusters: Clusters, east: client.ApiClient,
                                                                   reaper: namespaces.Reaper) -> None:
    namespaces.create(east, "ft-gone", RUN_ID, "t::gone")
    namespaces.create(east, "ft-stuck", RUN_ID, "t::stuck")
    reaper.delete(east, "ft-gone", "east")
    reaper.pending.append((east, "ft-stuck", "east"))  # asked, but the namespace stays (a finalizer hangs)
    assert reaper.wait(1) == ["ft-stuck in east"]
    assert reaper.pending == []


def test_deleting_a_namespace_already_gone_leaves_nothing_to_await(east: client.ApiClient,
                                                                   reaper: namespaces.Reaper) -> None:
    reaper.delete(east, "ft-never-made", "east")
    assert reaper.pending == []
