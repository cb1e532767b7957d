"""HTTP probes, ingress addresses, and the skip logic of the suite."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from kubernetes import client

from e2e import test_ingress
from e2e.framework import capabilities, probes, waits
from tests.framework.conftest import NAMESPACE
from tests.lifecycle_runs import UNUSED_PLUGINS
from tests.standins.httpserver import serving

ROOT = Path(__file__).resolve().parents[2]


def test_until_retries_until_the_expected_backend_answers() -> None:
    answers = iter([(503, "no endpoints"), (404, "default backend - 404"), (200, "alpha-6f7c")])
    seen_hosts: list[str | None] = []

    def reply(handler: object) -> tuple[int, str]:
        seen_hosts.append(handler.headers.get("Host"))  # type: ignore[attr-defined]
        return next(answers, (200, "alpha-6f7c"))

    with serving(reply) as port:
        answer = probes.until(f"http://127.0.0.1:{port}/alpha", test_ingress.served_by("alpha"),
                              what="alpha", host="app.example", timeout=20)
    assert answer == probes.Answer(200, "alpha-6f7c")
    assert seen_hosts == ["app.example"] * 3


def test_until_gives_up_at_its_deadline_naming_url_host_and_last_answer() -> None:
    with serving(lambda _h: (404, "default backend - 404")) as port, \
            pytest.raises(waits.WaitTimeout) as caught:
        probes.until(f"http://127.0.0.1:{port}/beta", test_ingress.served_by("beta"), what="beta",
                     host="app.example", timeout=1.5)
    text = str(caught.value)
    assert f"GET http://127.0.0.1:{port}/beta, Host: app.example" in text
    assert "HTTP 404: default backend - 404" in text


def test_ingress_url_comes_from_the_override_or_the_ingress_status(east: client.ApiClient) -> None:
    assert probes.ingress_url(east, NAMESPACE, "web", "127.0.0.1:8080", 1) == "http://127.0.0.1:8080"
    assert probes.ingress_url(east, NAMESPACE, "web", "https://lb.example", 1) == "https://lb.example"
    net = client.NetworkingV1Api(east)
    status = {"loadBalancer": {"ingress": [{"ip": "2001:db8::5"}]}}
    net.create_namespaced_ingress(NAMESPACE, {"metadata": {"name": "web", "namespace": NAMESPACE},
                                              "spec": {"rules": []}, "status": status})
    assert probes.ingress_url(east, NAMESPACE, "web", None, 5) == "http://[2001:db8::5]"


def ingress_class(name: str, default: bool = False) -> dict:
    annotations = {capabilities.DEFAULT_CLASS_ANNOTATION: "true"} if default else {}
    return {"metadata": {"name": name, "annotations": annotations},
            "spec": {"controller": f"example.test/{name}"}}


def test_ingress_class_choice_and_the_skip_when_there_is_none(east: client.ApiClient) -> None:
    net = client.NetworkingV1Api(east)
    name, why = capabilities.ingress_class(east, "east")
    assert name is None and "cluster east has no IngressClass: install an ingress controller" in why
    with pytest.raises(pytest.skip.Exception, match="has no IngressClass"):
        test_ingress.ingress_class_or_skip(east, SimpleNamespace(name="east"))
    net.create_ingress_class(ingress_class("nginx"))
    assert capabilities.ingress_class(east, "east")[0] == "nginx"
    net.create_ingress_class(ingress_class("traefik"))
    name, why = capabilities.ingress_class(east, "east")
    assert name is None and "none is marked default" in why
    net.create_ingress_class(ingress_class("haproxy", default=True))
    assert capabilities.ingress_class(east, "east")[0] == "haproxy"


def test_federation_needs_two_clusters_up() -> None:
    one = [SimpleNamespace(name="kind-1")]
    assert "at least 2 clusters up, 1 up (kind-1)" in (capabilities.federation_skip_reason(one) or "")
    assert "0 up (none)" in (capabilities.federation_skip_reason([]) or "")
    assert capabilities.federation_skip_reason([*one, SimpleNamespace(name="kind-2")]) is None


EXPECTED = {
    "test_runner_pods.py": ["test_passing_job_succeeds_with_logs_and_artifacts",
                            "test_failing_step_surfaces_exit_code_and_step",
                            "test_job_past_its_deadline_is_stopped",
                            "test_cancellation_mid_run_leaves_nothing",
                            "test_twenty_concurrent_jobs_all_finish",
                            "test_runner_pods_pass_the_restricted_pod_security_profile"],
    "test_fail_fast.py": ["test_missing_image_tag_fails_fast_with_the_pull_error",
                          "test_invalid_image_reference_fails_fast", "test_missing_config_map_key_fails_fast",
                          "test_pod_no_node_can_take_fails_after_a_short_grace"],
    "test_dispatcher.py": ["test_dispatcher_keeps_at_most_k_runner_pods_alive_in_fifo_order"],
    "test_least_privilege.py": ["test_dispatcher_runs_jobs_as_a_service_account_and_is_refused_the_rest"],
    "test_node_recycling.py": ["test_evicted_runner_pod_is_retried_and_nothing_is_lost",
                               "test_drained_node_retry_lands_on_another_node"],
    "test_runner_pool.py": ["test_runner_pods_land_only_on_the_runner_pool"],
    "test_network_policy.py": ["test_default_deny_keeps_runner_pods_in_while_dns_works"],
    "test_checkout_and_cache.py": ["test_checkout_at_a_commit_from_an_in_cluster_git_server_with_a_shared_cache"],
    "test_cronjobs.py": ["test_cronjob_fires_within_its_minute", "test_forbid_never_overlaps_runs",
                         "test_replace_replaces_a_running_job", "test_suspend_stops_scheduling",
                         "test_history_limits_hold", "test_time_zone_is_applied"],
    "test_ingress.py": ["test_host_and_path_rules_reach_the_right_backend",
                        "test_unknown_host_gets_the_default_backend"],
    "test_federation.py": ["test_every_shard_becomes_healthy_and_status_aggregates",
                           "test_resolver_falls_over_to_a_healthy_shard_and_comes_back",
                           "test_deleting_the_federated_service_removes_every_shard"],
}


def test_the_e2e_suite_collects_every_test() -> None:
    done = subprocess.run([sys.executable, "-m", "pytest", *UNUSED_PLUGINS, "e2e", "--collect-only", "-q"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    for module, names in EXPECTED.items():
        for name in names:
            assert f"e2e/{module}::{name}" in done.stdout, f"{module}::{name} not collected"


def test_nothing_in_e2e_sleeps() -> None:
    sleepers = []
    for path in sorted((ROOT / "e2e").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name == "sleep":
                    sleepers.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert sleepers == []


def test_the_suites_ingress_tests_hold_on_stand_ins(clusters: Any) -> None:
    """The e2e ingress tests' own assertions, with a fake controller routing by the Ingress objects."""
    from tests.standins.ingress import fake_ingress_controller
    from tests.standins.workload_controllers import FakeControllers

    api = clusters.clients["east"]
    client.NetworkingV1Api(api).create_ingress_class(ingress_class("fake", default=True))
    with FakeControllers("east", api, node_port=30080), fake_ingress_controller(api, "east") as port:
        config = SimpleNamespace(ingress_address=f"127.0.0.1:{port}")
        east = SimpleNamespace(name="east")
        test_ingress.test_host_and_path_rules_reach_the_right_backend(api, east, "routing", config)
        test_ingress.test_unknown_host_gets_the_default_backend(api, east, "fallback", config)


def test_ingress_address_comes_from_the_option_then_the_providers_port_mapping() -> None:
    from e2e.framework.probes import ingress_override
    from providers.base import Cluster

    kind = Cluster("c1", "kind", Path("kc"), "kind-c1",
                   metadata={"ingress_host": "127.0.0.1", "ingress_http_port": "32080"})
    cloud = Cluster("c2", "gce", Path("kc"), "c2")
    assert ingress_override(kind, None) == "127.0.0.1:32080"
    assert ingress_override(kind, "lb.example:8080") == "lb.example:8080"
    assert ingress_override(cloud, None) is None  # the Ingress status decides
