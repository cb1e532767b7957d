"""Fixtures of the suite's own tests (the run's fixtures, clusters and namespaces, are the root plugin's)."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from e2e.framework import builders
from e2e.framework.runner import Launcher


@pytest.fixture
def launcher(kube: client.ApiClient, namespace: str, e2e_config: Any) -> Launcher:
    """Runner pods in the test's namespace, with the run's (mirrored) images; results under artifacts."""
    return Launcher(kube, namespace, builders.Images.from_config(e2e_config),
                    e2e_config.artifacts / "runner-pods" / namespace)
