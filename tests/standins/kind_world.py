"""A kind world for tests and benchmarks: stand-in kind/docker on PATH, one loopback API server per
planned cluster, and a deployment "controller" so the ingress wait can finish."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from providers.base import ProviderOptions, run_prefix
from providers.kind import KindProvider
from tests.standins.controllers import deployments_become_available
from tests.standins.fake_kind import FakeKind
from tests.standins.gate import Gate
from tests.standins.kube import KubeStandIn

RUN_ID = "20261122-030000-abc123"


def options(root: Path, run_id: str = RUN_ID, deadline: float = 20.0, k8s_version: str | None = None,
            extra: Mapping[str, str] | None = None) -> ProviderOptions:
    return ProviderOptions(work_dir=root / "work", run_id=run_id, deadline_seconds=deadline,
                           k8s_version=k8s_version, extra=dict(extra or {}))


@contextlib.contextmanager
def on_path(fake: FakeKind) -> Iterator[FakeKind]:
    """PATH holds only the stand-ins while inside (kind and docker resolve to them, nothing else)."""
    saved = {k: os.environ.get(k) for k in ("PATH", "KIND_EXPERIMENTAL_PROVIDER")}
    os.environ["PATH"] = str(fake.bin)
    os.environ.pop("KIND_EXPERIMENTAL_PROVIDER", None)
    try:
        yield fake
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass
class KindWorld:
    fake: FakeKind
    kube: KubeStandIn
    marked: list[str]

    def provider(self, root: Path, **kwargs: Any) -> KindProvider:
        """A KindProvider whose options are `options(root, **kwargs)`."""
        return KindProvider(options(root, **kwargs))


@contextlib.contextmanager
def kind_world(root: Path, names: list[str], controller: bool = True, gated: bool = False) -> Iterator[KindWorld]:
    """Stand-in kind on PATH whose clusters `names` are served by KubeStandIn API servers; `gated`: each
    through a gate that follows its node containers (paused, API server stopped: see FakeKind.api_state)."""
    fake = FakeKind(root / "fake").install()
    with on_path(fake), KubeStandIn.run(names) as kube, contextlib.ExitStack() as gates:
        urls = {name: kube.clusters[name].url for name in names}
        if gated:
            for name in names:
                gate = gates.enter_context(Gate.run(kube.clusters[name].server.port,
                                                    lambda n=name: fake.api_state(n)))
                urls[name] = f"http://127.0.0.1:{gate.port}"
        fake.serve(urls)
        if controller:
            with deployments_become_available(kube) as marked:
                yield KindWorld(fake, kube, marked)
        else:
            yield KindWorld(fake, kube, [])


def cluster_names(count: int, run_id: str = RUN_ID) -> list[str]:
    """The names Provider.plan gives a run's clusters (from the base's prefix, not re-derived)."""
    return [f"{run_prefix(run_id)}{i + 1}" for i in range(count)]
