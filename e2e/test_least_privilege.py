"""Least privilege: the dispatcher runs jobs as a ServiceAccount whose token the TokenRequest API minted,
bound to a Role for the runner namespace, and is refused everything else."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from e2e.framework import builders, privilege
from e2e.framework.dispatcher import Dispatcher
from e2e.framework.runner import JobDescription, Launcher, Step

JOB_TIMEOUT = 300


def forbidden(call: Callable[[], Any]) -> str:
    """The 403's message; fails when the call is allowed or fails otherwise."""
    with pytest.raises(ApiException) as refused:
        call()
    assert refused.value.status == 403, f"expected 403 Forbidden, got {refused.value.status}: {refused.value.body}"
    return str(refused.value.body)


def test_dispatcher_runs_jobs_as_a_service_account_and_is_refused_the_rest(
        kube: client.ApiClient, namespace: str, other_namespace: str, e2e_config: Any) -> None:
    identity = privilege.grant_dispatcher(kube, namespace)
    builders.create(kube, namespace, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "deploy-key"},
                                      "stringData": {"key": "not for runners"}})
    token = privilege.mint_token(kube, identity, seconds=900)
    with privilege.client_for_token(kube, token) as api:
        seen_as = privilege.whoami(api)
        assert seen_as in (None, identity.username), f"the token authenticates as {seen_as}"
        if privilege.can_i(api, "list", "nodes"):
            pytest.skip(f"the cluster lets {identity.username} list nodes without any binding of ours: its "
                        "authorizer is not RBAC-only (e.g. AlwaysAllow), so least privilege cannot be shown")
        artifacts = Path(e2e_config.artifacts) / "least-privilege" / namespace
        launcher = Launcher(api, namespace, builders.Images.from_config(e2e_config), artifacts)
        jobs = [JobDescription(f"scoped-{i}", "https://example.test/scoped.git",
                               [Step("build", f"echo scoped job {i}")], source_files={"README.md": "x\n"})
                for i in range(3)]
        done = Dispatcher(launcher, 2, JOB_TIMEOUT).run_all(jobs)
        assert [d.result.phase if d.result else None for d in done] == ["Succeeded"] * 3, \
            [d.result for d in done]
        core = client.CoreV1Api(api)
        assert identity.username in forbidden(lambda: core.read_namespaced_secret("deploy-key", namespace))
        forbidden(lambda: core.list_namespaced_secret(namespace))
        forbidden(lambda: core.list_node())
        elsewhere = builders.pod("escape", builders.pod_spec([builders.container(
            "main", launcher.images.busybox, ["true"], pull_policy=launcher.images.pull_policy)]))
        forbidden(lambda: builders.create(api, other_namespace, elsewhere))
        assert token not in "".join(p.read_text(errors="replace") for p in artifacts.rglob("*") if p.is_file())
