"""Fixtures of the suite's own tests (the run's fixtures, clusters and namespaces, are the root plugin's)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from e2e.framework import builders, namespaces
from e2e.framework.runner import Launcher


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
