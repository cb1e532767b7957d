"""The dispatcher's Role: what it grants, that it is enough to run jobs, and that nothing else is asked;
with the stand-in's TokenRequest API and RBAC authorizer (tests/standins/rbac.py)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from kubernetes import client

from e2e import test_least_privilege as suite
from e2e.framework import builders, privilege, waits
from e2e.framework.runner import JobDescription, Launcher, Step
from tests.framework.conftest import NAMESPACE, Clusters
from tests.standins.rbac import Attributes, StandInRBAC, attributes

NAMESPACED_CORE = {"pods", "pods/log", "pods/exec", "configmaps", "events"}


def test_the_role_grants_only_namespaced_job_work() -> None:
    role = privilege.role("r", privilege.DISPATCHER_RULES)
    granted = {(res, verb) for rule in role["rules"] for res in rule["resources"] for verb in rule["verbs"]}
    assert {res for res, _ in granted} == NAMESPACED_CORE
    assert all(rule["apiGroups"] == [""] for rule in role["rules"])
    assert not any("*" in rule["resources"] or "*" in rule["verbs"] for rule in role["rules"])
    assert not {verb for _, verb in granted} & {"escalate", "bind", "impersonate", "update", "patch",
                                               "deletecollection"}
    assert ("pods/log", "get") in granted and ("pods", "watch") in granted and ("pods", "get") not in granted
    assert {("pods/exec", "get"), ("pods/exec", "create")} <= granted  # websocket exec: get, and create on 1.35+


def test_the_token_client_keeps_the_server_and_drops_every_other_credential(tmp_path: Path) -> None:
    conf = client.Configuration(host="https://203.0.113.9:6443")
    conf.ssl_ca_cert, conf.cert_file, conf.key_file = "ca.crt", "admin.crt", "admin.key"
    conf.username, conf.password = "admin", "hunter2"
    conf.api_key = {"authorization": "Bearer admin-token"}
    scoped = privilege.client_for_token(client.ApiClient(conf), "minted").configuration
    assert (scoped.host, scoped.ssl_ca_cert) == ("https://203.0.113.9:6443", "ca.crt")
    assert scoped.api_key == {"authorization": "Bearer minted"}
    assert (scoped.cert_file, scoped.key_file, scoped.username, scoped.password) == (None, None, None, None)
    assert conf.api_key == {"authorization": "Bearer admin-token"}  # the admin client is untouched


@pytest.mark.parametrize("method, path, params, expected", [
    ("GET", "/api/v1/namespaces/w/pods", {"watch": "true"}, Attributes("watch", "", "pods", "w", None)),
    ("GET", "/api/v1/namespaces/w/pods/p/log", {}, Attributes("get", "", "pods/log", "w", "p")),
    ("POST", "/api/v1/namespaces/w/pods/p/eviction", {}, Attributes("create", "", "pods/eviction", "w", "p")),
    ("GET", "/api/v1/nodes", {}, Attributes("list", "", "nodes", None, None)),
    ("DELETE", "/apis/batch/v1/namespaces/w/jobs", {}, Attributes("deletecollection", "batch", "jobs", "w",
                                                                  None)),
    ("GET", "/version", {}, None),
])
def test_the_stand_in_authorizer_reads_requests_as_kube_apiserver(method: str, path: str, params: dict,
                                                                  expected: Attributes | None) -> None:
    assert attributes(method, path, params) == expected


@pytest.fixture
def rbac(clusters: Clusters) -> StandInRBAC:
    with clusters.kubelet("east"), StandInRBAC.serving(clusters.kube, "east") as authorizer:
        yield authorizer


def test_the_role_is_enough_to_run_jobs_and_nothing_else_is_asked(rbac: StandInRBAC, east: client.ApiClient,
                                                                  tmp_path: Path) -> None:
    identity = privilege.grant_dispatcher(east, NAMESPACE)
    with privilege.client_for_token(east, privilege.mint_token(east, identity)) as api:
        assert privilege.whoami(api) == identity.username
        launcher = Launcher(api, NAMESPACE, builders.Images(), tmp_path)
        done = launcher.run(JobDescription("scoped", "r", [Step("s", "echo in scope")], source_files={"a": "a"}), 30)
        running = launcher.start(JobDescription("slow", "r", [Step("s", "sleep 30")], source_files={"a": "a"}))
        with pytest.raises(waits.WaitTimeout):  # a timeout lists the pod's events: that rule is used too
            running.follow(1)
    assert done.phase == "Succeeded" and "in scope" in done.log
    mine = [d for d in rbac.decisions if d.user == identity.username]
    denied = {(d.attributes.resource, d.attributes.verb) for d in mine if not d.allowed}
    assert denied == {("storageclasses", "list")}  # cluster-scoped: the cache falls back to emptyDir
    used = {(d.attributes.resource, d.attributes.verb) for d in mine if d.allowed}
    granted = {(res, verb) for rule in privilege.DISPATCHER_RULES for res in rule["resources"]
               for verb in rule["verbs"]}
    assert used == granted, f"granted but never needed: {sorted(granted - used)}"
    assert all(d.attributes.namespace == NAMESPACE for d in mine if d.allowed)


def test_the_suites_least_privilege_test_holds_on_the_stand_ins(rbac: StandInRBAC, east: client.ApiClient,
                                                                tmp_path: Path) -> None:
    suite.test_dispatcher_runs_jobs_as_a_service_account_and_is_refused_the_rest(
        east, NAMESPACE, "elsewhere", SimpleNamespace(artifacts=tmp_path))
    refused = {(d.attributes.resource, d.attributes.verb, d.attributes.namespace)
               for d in rbac.decisions if not d.allowed}
    assert {("secrets", "get", NAMESPACE), ("secrets", "list", NAMESPACE), ("nodes", "list", None),
            ("pods", "create", "elsewhere")} <= refused


def test_a_role_without_exec_create_loses_the_artifacts_with_the_servers_words(
        rbac: StandInRBAC, east: client.ApiClient, tmp_path: Path) -> None:
    """Websocket exec is a GET; kube-apiserver 1.35+ (and the stand-in) also checks `create` on the upgrade."""
    rules = [r if r["resources"] != ["pods/exec"] else {**r, "verbs": ["get"]} for r in privilege.DISPATCHER_RULES]
    identity = privilege.grant_dispatcher(east, NAMESPACE, rules=rules)
    with privilege.client_for_token(east, privilege.mint_token(east, identity)) as api:
        result = Launcher(api, NAMESPACE, builders.Images(), tmp_path).run(
            JobDescription("no-exec", "r", [Step("s", 'echo x > "$ARTIFACTS/x"')], source_files={"a": "a"}), 30)
    assert (result.phase, result.artifacts) == ("Succeeded", [])
    assert 'cannot create resource "pods/exec"' in result.artifacts_error, result.artifacts_error
    assert "\n" not in result.artifacts_error
