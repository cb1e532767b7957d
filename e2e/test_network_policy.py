"""A default-deny NetworkPolicy keeps runner pods off the API server's service and other namespaces'
services while DNS still works; skipped, saying so, on clusters that do not enforce NetworkPolicy."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from e2e.framework import builders, netpol, waits
from e2e.framework.runner import Launcher

pytestmark = pytest.mark.long  # started early: e2e/conftest.py

JOB_TIMEOUT = 600
READY_TIMEOUT = 300


def serve(kube: client.ApiClient, namespace: str, name: str, images: builders.Images) -> str:
    """An HTTP server and its Service; returns the URL a pod elsewhere uses (through DNS)."""
    builders.create(kube, namespace, builders.hostname_server(name, images))
    builders.create(kube, namespace, builders.service(name, {"app": name}))
    waits.endpoints_ready(kube, namespace, name, 1, READY_TIMEOUT)
    return f"http://{name}.{namespace}.svc/"


def test_default_deny_keeps_runner_pods_in_while_dns_works(launcher: Launcher, kube: client.ApiClient,
                                                           namespace: str, other_namespace: str, cluster: Any,
                                                           record_property: Any) -> None:
    target = serve(kube, other_namespace, "target", launcher.images)
    probe = serve(kube, other_namespace, "probe", launcher.images)
    builders.create(kube, other_namespace, netpol.deny_ingress("probe-deny", {"app": "probe"}))
    api = netpol.api_service_url(kube)
    baseline = launcher.run(netpol.reach_job("baseline", {
        "target": (target, "reached"), "api": (api, "reached"), "probe": (probe, "blocked")}), JOB_TIMEOUT)
    before = netpol.verdicts(baseline.log)
    assert (baseline.phase, before.get("target"), before.get("api")) == ("Succeeded", "reached", "reached"), \
        f"without a policy a runner pod must reach both: {before}\n{baseline.log}"
    if before.get("probe") != "blocked":
        pytest.skip(netpol.not_enforced_reason(cluster, before.get("probe", "unknown")))
    builders.create(kube, namespace, netpol.runner_default_deny())
    confined = launcher.run(netpol.reach_job("confined", {
        "target": (target, "blocked"), "api": (api, "blocked")}), JOB_TIMEOUT)
    after = netpol.verdicts(confined.log)
    assert confined.phase == "Succeeded", confined
    assert after == {"target": "blocked", "api": "blocked"}, f"{after}\n{confined.log}"  # "no-dns": DNS broke
    record_property("api_service_url", api)
