"""A fake ingress controller for the stand-in API: an HTTP server on 127.0.0.1 that routes by the
Ingress objects it reads (host, Prefix/Exact paths, an Ingress without rules as the default backend)
and answers the way agnhost serve-hostname would: with a pod name of the chosen Service
(<service>-<cluster>-0, the names FakeControllers gives pods)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

from kubernetes import client

from tests.standins.httpserver import serving


def route(ingresses: list[Any], host: str, path: str) -> str | None:
    """The Service an ingress controller would pick, or None (its own 404 backend)."""
    best: tuple[int, str] | None = None
    for ing in ingresses:
        for rule in ing.spec.rules or []:
            if rule.host and rule.host != host:
                continue
            for p in (rule.http.paths if rule.http else None) or []:
                prefix = p.path.rstrip("/")
                if p.path_type == "Exact":
                    hit = path == p.path
                else:
                    hit = not prefix or path == prefix or path.startswith(prefix + "/")
                if hit and (best is None or len(p.path) > best[0]):
                    best = (len(p.path), p.backend.service.name)
    if best is not None:
        return best[1]
    for ing in ingresses:
        if not ing.spec.rules and ing.spec.default_backend:
            return str(ing.spec.default_backend.service.name)
    return None


@contextlib.contextmanager
def fake_ingress_controller(api: client.ApiClient, cluster: str) -> Iterator[int]:
    """Yields the port; the test passes 127.0.0.1:PORT as the ingress address override."""
    net = client.NetworkingV1Api(api)

    def reply(handler: BaseHTTPRequestHandler) -> tuple[int, str]:
        host = (handler.headers.get("Host") or "").split(":")[0]
        service = route(net.list_ingress_for_all_namespaces().items, host, handler.path.split("?")[0])
        return (404, "default backend - 404") if service is None else (200, f"{service}-{cluster}-0")

    with serving(reply) as port:
        yield port
