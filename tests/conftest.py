"""Fixtures for the harness's own tests: loopback stand-ins and pytester."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lifecycle_runs import UNUSED_PLUGINS
from tests.standins.kube import KubeStandIn

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def kube_ab(tmp_path: Path) -> Iterator[tuple[KubeStandIn, Path]]:
    """Two loopback API servers, contexts `a` and `b`, and a kubeconfig reaching both."""
    with KubeStandIn.run(["a", "b"]) as kube:
        yield kube, kube.write_kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """pytester with this project's pytest-asyncio setting, so inner runs print no deprecation warning,
    and without the plugins no inner suite uses (each pytest process would import them first).

    An in-process inner run loads the installed plugin's packages, already imported by this run, so pytest
    cannot rewrite their asserts (it warns; a user's own run imports them once and gets no warning)."""
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n"
                     "filterwarnings =\n    ignore::pytest.PytestAssertRewriteWarning\n")
    monkeypatch.setenv("PYTEST_ADDOPTS", " ".join(UNUSED_PLUGINS))
    return pytester
