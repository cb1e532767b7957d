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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The clock-bound tests first (stable order otherwise): their minutes then pass while the other
    tests run on the other workers, instead of starting once those are done."""
    items.sort(key=lambda item: CLOCK_BOUND not in getattr(item, "fixturenames", ()))


@pytest.fixture
def launcher(kube: client.ApiClient, namespace: str, e2e_config: Any) -> Launcher:
    """Runner pods in the test's namespace, with the run's (mirrored) images; results under artifacts."""
    return Launcher(kube, namespace, builders.Images.from_config(e2e_config),
                    e2e_config.artifacts / "runner-pods" / namespace)


@pytest.fixture
def other_namespace(request: pytest.FixtureRequest, fedtest_run: Any, kube: client.ApiClient) -> Iterator[str]:
    """A second namespace of the test in the same cluster (labelled with the run id, deleted after)."""
    name = namespaces.create(kube, namespaces.namespace_name(request.node.nodeid), fedtest_run.run_id,
                             request.node.nodeid)
    yield name
    if not namespaces.delete(kube, name, fedtest_run.settings.namespace_deadline):
        pytest.fail(f"namespace {name} not deleted within {fedtest_run.settings.namespace_deadline:g}s",
                    pytrace=False)


@pytest.fixture(scope="session")
def cron_boards(request: pytest.FixtureRequest, fedtest_run: Any, cluster_set: list[Any],
                e2e_config: Any) -> Iterator[dict[str, Board]]:
    """Every CronJob the cron tests need, created at once in each cluster (one namespace per cluster)."""
    images = builders.Images.from_config(e2e_config)
    boards: dict[str, Board] = {}
    failed_before = request.session.testsfailed
    test_id = "e2e/test_cronjobs.py::cron_board"
    try:
        for cluster in cluster_set:
            api = kube_clients.client_for(cluster)
            name = namespaces.create(api, namespaces.namespace_name(test_id), fedtest_run.run_id, test_id)
            boards[cluster.name] = Board.create(api, name, images)
        yield boards
    finally:
        deadline = fedtest_run.settings.namespace_deadline
        for cluster_name, board in boards.items():
            if request.session.testsfailed > failed_before:
                diagnostics.dump_namespace(board.api, board.namespace,
                                           fedtest_run.diagnostics_dir(test_id) / cluster_name)
            if not namespaces.delete(board.api, board.namespace, deadline):
                pytest.fail(f"namespace {board.namespace} not deleted within {deadline:g}s in {cluster_name}",
                            pytrace=False)


@pytest.fixture
def cron_board(cluster: Any, cron_boards: dict[str, Board]) -> Board:
    """The cluster's CronJobs, shared by the cron tests of this worker."""
    if cluster.name not in cron_boards:
        pytest.skip(f"cluster {cluster.name} was not up when the CronJobs were created")
    return cron_boards[cluster.name]
