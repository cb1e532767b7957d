"""A kind world for tests and benchmarks: stand-in kind/docker on PATH, one loopback API server per
planned cluster, a deployment "controller" so the ingress wait can finish, and ingress-nginx's
validating webhook as the API server meets it.

The webhook is modelled on what a real cluster shows: the controller Deployment (one replica,
maxUnavailable 1) is Available from the start, while the controller still waits for its certgen
secret; until it serves, every Ingress create (dry run or not) fails with the API server's
`failed calling webhook ... connection refused`. It starts serving `webhook_after` seconds after the
first refused call; a server-side dry run is then answered without storing anything."""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp.web
import kmock

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


INGRESS_PATH = re.compile(r"^/apis/networking\.k8s\.io/v1/namespaces/([^/]+)/ingresses$")
WEBHOOK_REFUSED = (
    'Internal error occurred: failed calling webhook "validate.nginx.ingress.kubernetes.io": failed to call '
    'webhook: Post "https://ingress-nginx-controller-admission.ingress-nginx.svc:443/networking/v1/ingresses'
    '?timeout=10s": dial tcp 10.96.110.23:443: connect: connection refused')


@dataclass
class IngressWebhook:
    """ingress-nginx's admission webhook in one stand-in cluster; `after` None: it never serves."""

    after: float | None
    serving: threading.Event = field(default_factory=threading.Event)
    refused: int = 0
    dry_runs: int = 0
    _timer: threading.Timer | None = None

    def admit(self, request: kmock.Request) -> aiohttp.web.Response | None:
        """The API server's answer when the webhook decides it; None: the emulator answers (and stores)."""
        if not INGRESS_PATH.match(request.url.path) or str(request.method).rsplit(".", 1)[-1].upper() != "POST":
            return None
        if not self.serving.is_set():
            self.refused += 1
            if self.after is not None and self._timer is None:
                self._timer = threading.Timer(self.after, self.serving.set)
                self._timer.daemon = True
                self._timer.start()
            return aiohttp.web.json_response({
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": WEBHOOK_REFUSED, "reason": "InternalError", "code": 500}, status=500)
        if request.params.get("dryRun") == "All":
            self.dry_runs += 1
            return aiohttp.web.json_response(request.data, status=201)  # admitted, not stored
        return None

    def guard(self, emulator: Any) -> None:
        """Admission comes before storage: kmock stores a create before any reaction runs, so the
        webhook goes in front of the emulator's own handler."""
        handle = emulator._handle

        async def admitted(request: kmock.Request) -> aiohttp.web.StreamResponse:
            answer = self.admit(request)
            return answer if answer is not None else await handle(request)

        emulator._handle = admitted

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


@dataclass
class KindWorld:
    fake: FakeKind
    kube: KubeStandIn
    marked: list[str]
    webhooks: dict[str, IngressWebhook] = field(default_factory=dict)

    def provider(self, root: Path, **kwargs: Any) -> KindProvider:
        """A KindProvider whose options are `options(root, **kwargs)`."""
        return KindProvider(options(root, **kwargs))


@contextlib.contextmanager
def kind_world(root: Path, names: list[str], controller: bool = True, webhook_after: float | None = 0.0,
               gated: bool = False) -> Iterator[KindWorld]:
    """Stand-in kind on PATH whose clusters `names` are served by KubeStandIn API servers; ingress-nginx's
    webhook in each serves `webhook_after` seconds after it first refused a call (None: never). `gated`: each
    API server through a gate that follows its node containers (paused, API server stopped: see
    FakeKind.api_state)."""
    fake = FakeKind(root / "fake").install()
    with on_path(fake), KubeStandIn.run(names) as kube, contextlib.ExitStack() as gates:
        urls = {name: kube.clusters[name].url for name in names}
        if gated:
            for name in names:
                gate = gates.enter_context(Gate.run(kube.clusters[name].server.port,
                                                    lambda n=name: fake.api_state(n)))
                urls[name] = f"http://127.0.0.1:{gate.port}"
        fake.serve(urls)
        webhooks = {name: IngressWebhook(webhook_after) for name in names}
        for name, webhook in webhooks.items():
            webhook.guard(kube.clusters[name].emulator)
        try:
            if controller:
                with deployments_become_available(kube) as marked:
                    yield KindWorld(fake, kube, marked, webhooks)
            else:
                yield KindWorld(fake, kube, [], webhooks)
        finally:
            for webhook in webhooks.values():
                webhook.stop()


def cluster_names(count: int, run_id: str = RUN_ID) -> list[str]:
    """The names Provider.plan gives a run's clusters (from the base's prefix, not re-derived)."""
    return [f"{run_prefix(run_id)}{i + 1}" for i in range(count)]
