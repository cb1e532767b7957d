# TEMPORARY: replaced by the root conftest.py
"""Stand-in fixtures so `pytest e2e --collect-only` works before the root conftest.py lands."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from e2e.framework import builders

NO_CLUSTERS = "no cluster set: the root conftest.py (which brings clusters up) is not in this checkout"


@dataclass
class E2EConfig:
    image_registry: str | None = None
    image_pull_policy: str = "IfNotPresent"
    agnhost_image: str = builders.DEFAULT_AGNHOST_IMAGE
    busybox_image: str = builders.DEFAULT_BUSYBOX_IMAGE
    ingress_address: str | None = None
    artifacts: Path = Path("_artifacts")
    run_id: str = "local"


@pytest.fixture(scope="session")
def e2e_config() -> E2EConfig:
    return E2EConfig()


@pytest.fixture
def cluster() -> Any:
    pytest.skip(NO_CLUSTERS)


@pytest.fixture
def kube(cluster: Any) -> Any:
    pytest.skip(NO_CLUSTERS)


@pytest.fixture
def namespace(cluster: Any) -> str:
    pytest.skip(NO_CLUSTERS)


@pytest.fixture
def cluster_set() -> list[Any]:
    return []


@pytest.fixture
def federated_namespace(cluster_set: list[Any]) -> Any:
    pytest.skip(NO_CLUSTERS)
