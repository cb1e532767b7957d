"""Fixtures of the suite's own tests (the run's fixtures, clusters and namespaces, are the root plugin's)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from e2e.framework import builders, diagnostics, namespaces
from e2e.framework import kube as kube_clients
from e2e.framework.cronboard import Board
from e2e.framework.runner import Launcher

CLOCK_BOUND = "cron_board"  # tests that wait for the clock: started first, so others run while it ticks
LONG = "long"  # the mark of a test that waits a minute or more on its cluster (registered in pyproject.toml)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The clock-bound tests first, then the long ones (stable order otherwise): xdist hands tests out in
    this order, so the longest waits overlap the many short tests instead of starting last."""
    items.sort(key=lambda item: (CLOCK_BOUND not in getattr(item, "fixturenames", ()), not _long(item)))


def _long(item: Any) -> bool:
    marked = getattr(item, "get_closest_marker", lambda _name: None)
    return marked(LONG) is not None


@pytest.fixture
def launcher(kube: client.ApiClient, namespace: str, e2e_config: Any) -> Launcher:
    """Runner pods in the test's namespace, with the run's (mirrored) images; results under artifacts."""
    return Launcher(kube, namespace, builders.Images.from_config(e2e_config),
                    e2e_config.artifacts / "runner-pods" / namespace)


@pytest.fixture
def other_namespace(request: pytest.FixtureRequest, fedtest_run: Any, kube: client.ApiClient,
                    cluster: Any) -> Iterator[str]:
    """A second namespace of the test in the same cluster (labelled with the run id, deleted after:
    the session awaits the deletion, namespaces.Reaper)."""
    name = namespaces.create(kube, namespaces.namespace_name(request.node.nodeid), fedtest_run.run_id,
                             request.node.nodeid)
    yield name
    namespaces.REAPER.delete(kube, name, cluster.name)


@pytest.fixture(scope="session")
def cron_boards(request: pytest.FixtureRequest, fedtest_run: Any, cluster_set: list[Any],
                e2e_config: Any) -> Iterator[dict[str, Board]]:
    """Every CronJob the cron tests need, created at once in each cluster (one namespace per cluster).
    Every namespace made is deleted after, also when a later cluster's board could not be created."""
    images = builders.Images.from_config(e2e_config)
    boards: dict[str, Board] = {}
    made: dict[str, tuple[client.ApiClient, str]] = {}
    failed_before = request.session.testsfailed
    try:
        for cluster in cluster_set:
            api = kube_clients.client_for(cluster)
            name = namespaces.create(api, namespaces.namespace_name(CRON_TEST_ID), fedtest_run.run_id, CRON_TEST_ID)
            made[cluster.name] = (api, name)
            boards[cluster.name] = Board.create(api, name, images)
        yield boards
    finally:
        remove_boards(fedtest_run, made, dump=request.session.testsfailed > failed_before)


CRON_TEST_ID = "e2e/test_cronjobs.py::cron_board"


def remove_boards(run: Any, made: dict[str, tuple[client.ApiClient, str]], dump: bool) -> None:
    """Each board's namespace dumped when a cron test failed, then deleted (every one, whatever happens to
    the others: the session awaits the deletions and its leak check names any namespace left)."""
    for cluster_name, (api, name) in made.items():
        if dump:
            diagnostics.dump_namespace(api, cluster_name, name, run.diagnostics_dir(CRON_TEST_ID) / cluster_name,
                                       diagnostics.Budget(int(run.settings.diagnostics_cap_mib * 1024**2)))
    for cluster_name, (api, name) in made.items():
        namespaces.REAPER.delete(api, name, cluster_name)


@pytest.fixture
def cron_board(cluster: Any, cron_boards: dict[str, Board]) -> Board:
    """The cluster's CronJobs, shared by the cron tests of this worker."""
    if cluster.name not in cron_boards:
        pytest.skip(f"cluster {cluster.name} was not up when the CronJobs were created")
    return cron_boards[cluster.name]
