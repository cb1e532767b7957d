"""Ingress v1: host and path rules through the cluster's ingress controller, and the default backend.

Skipped, saying so, when the cluster has no IngressClass. The controller's address comes from the
Ingress status unless --ingress-address or the provider's port mapping (kind) overrides it.
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from e2e.framework import builders, capabilities, probes, waits
from e2e.framework.builders import Route

DEPLOY = 300
ROUTING = 180


def ingress_class_or_skip(kube: client.ApiClient, cluster: Any) -> str:
    name, why = capabilities.ingress_class(kube, cluster.name)
    if name is None:
        pytest.skip(why)
    return name


def backends(kube: client.ApiClient, namespace: str, e2e_config: Any, names: list[str]) -> None:
    """A hostname server and a Service per name; returns when each has a ready endpoint."""
    images = builders.Images.from_config(e2e_config)
    for name in names:
        builders.create(kube, namespace, builders.hostname_server(name, images))
        builders.create(kube, namespace, builders.service(name, {"app": name}))
    deadline = waits.Deadline(DEPLOY)
    for name in names:
        waits.endpoints_ready(kube, namespace, name, 1, deadline)


def served_by(backend: str) -> Any:
    return lambda answer: answer.status == 200 and answer.body.startswith(f"{backend}-")


def test_host_and_path_rules_reach_the_right_backend(kube: client.ApiClient, cluster: Any, namespace: str,
                                                     e2e_config: Any) -> None:
    class_name = ingress_class_or_skip(kube, cluster)
    backends(kube, namespace, e2e_config, ["alpha", "beta"])
    host = f"{namespace}.fedtest.example"
    builders.create(kube, namespace, builders.ingress("routes", [
        Route(host, "/alpha", "alpha"), Route(host, "/beta", "beta")], class_name=class_name))
    base = probes.ingress_url(kube, namespace, "routes", probes.ingress_override(cluster, e2e_config.ingress_address),
                              ROUTING)
    deadline = waits.Deadline(ROUTING)
    alpha = probes.until(f"{base}/alpha", served_by("alpha"), what="/alpha served by alpha", host=host,
                         timeout=deadline)
    beta = probes.until(f"{base}/beta/deeper", served_by("beta"), what="/beta/deeper served by beta",
                        host=host, timeout=deadline)
    assert alpha.body.startswith("alpha-") and beta.body.startswith("beta-")
    unrouted = probes.until(f"{base}/gamma", lambda _answer: True, what="any answer for /gamma", host=host,
                            timeout=deadline)  # retried only while the controller does not answer at all
    assert unrouted.status == 404 or not unrouted.body.startswith(("alpha-", "beta-")), unrouted


def test_unknown_host_gets_the_default_backend(kube: client.ApiClient, cluster: Any, namespace: str,
                                               e2e_config: Any) -> None:
    class_name = ingress_class_or_skip(kube, cluster)
    backends(kube, namespace, e2e_config, ["alpha", "fallback"])
    host = f"{namespace}.fedtest.example"
    builders.create(kube, namespace, builders.ingress("routes", [Route(host, "/", "alpha")],
                                                      class_name=class_name))
    builders.create(kube, namespace, builders.ingress("fallback", [], class_name=class_name,
                                                      default_backend="fallback"))
    base = probes.ingress_url(kube, namespace, "routes", probes.ingress_override(cluster, e2e_config.ingress_address),
                              ROUTING)
    deadline = waits.Deadline(ROUTING)
    known = probes.until(f"{base}/", served_by("alpha"), what="the known host served by alpha", host=host,
                         timeout=deadline)
    unknown = probes.until(f"{base}/", served_by("fallback"), what="an unknown host served by the default "
                           "backend", host=f"unknown.{namespace}.fedtest.example", timeout=deadline)
    assert known.body.startswith("alpha-") and unknown.body.startswith("fallback-")
