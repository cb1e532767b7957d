"""Waits against the stand-in API: they watch (a list and a watch per wait), honour deadlines, relist
on 410 Gone, fail fast, and say what they waited for when time runs out."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client

from e2e.framework import waits
from tests.framework.conftest import NAMESPACE, Clusters


def later(action: Callable[[], Any], delay: float = 0.3) -> threading.Timer:
    timer = threading.Timer(delay, action)
    timer.start()
    return timer


def pod(name: str, phase: str | None = "Pending") -> dict[str, Any]:
    manifest: dict[str, Any] = {"apiVersion": "v1", "kind": "Pod",
                                "metadata": {"name": name, "namespace": NAMESPACE},
                                "spec": {"containers": [{"name": "main", "image": "busybox"}]}}
    if phase:
        manifest["status"] = {"phase": phase}
    return manifest


def job(name: str, owner: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": NAMESPACE}
    if owner:
        meta["ownerReferences"] = [{"apiVersion": "batch/v1", "kind": "CronJob", "name": owner, "uid": owner}]
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta,
            "spec": {"template": {"spec": {"containers": [{"name": "main", "image": "busybox"}],
                                           "restartPolicy": "Never"}}}}


def endpoint_slice(name: str, service: str, ready: list[bool | None]) -> dict[str, Any]:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": {"name": name, "namespace": NAMESPACE, "labels": {waits.SERVICE_NAME_LABEL: service}},
            "endpoints": [{"addresses": [f"10.0.0.{i + 1}"], "conditions": {"ready": r}}
                          for i, r in enumerate(ready)]}


def test_each_wait_watches_instead_of_polling(clusters: Clusters, east: client.ApiClient) -> None:
    core, batch = client.CoreV1Api(east), client.BatchV1Api(east)
    net, discovery = client.NetworkingV1Api(east), client.DiscoveryV1Api(east)
    core.create_namespaced_pod(NAMESPACE, pod("runner"))
    batch.create_namespaced_job(NAMESPACE, job("build"))
    net.create_namespaced_ingress(NAMESPACE, {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                                              "metadata": {"name": "web", "namespace": NAMESPACE},
                                              "spec": {"defaultBackend": {"service": {
                                                  "name": "web", "port": {"number": 80}}}}})
    core.create_namespaced_config_map(NAMESPACE, {"metadata": {"name": "doomed", "namespace": NAMESPACE}})
    waits_done = 0
    before = clusters.reads("east")

    later(lambda: core.patch_namespaced_pod_status("runner", NAMESPACE, {"status": {"phase": "Running"}}))
    assert waits.pod_phase(east, NAMESPACE, "runner", ["Running"], 10).status.phase == "Running"
    waits_done += 1

    later(lambda: batch.patch_namespaced_job_status("build", NAMESPACE, {"status": {"conditions": [
        {"type": "Complete", "status": "True"}]}}))
    assert waits.job_finished(east, NAMESPACE, "build", 10)[1] == "Complete"
    waits_done += 1

    later(lambda: batch.create_namespaced_job(NAMESPACE, job("nightly-29000000", owner="nightly")))
    assert waits.cronjob_next_job(east, NAMESPACE, "nightly", (), 10).metadata.name == "nightly-29000000"
    waits_done += 1

    later(lambda: discovery.create_namespaced_endpoint_slice(NAMESPACE,
                                                             endpoint_slice("web-1", "web", [True])))
    assert waits.endpoints_ready(east, NAMESPACE, "web", 1, 10) == ["10.0.0.1"]
    waits_done += 1

    later(lambda: net.patch_namespaced_ingress_status("web", NAMESPACE, {"status": {"loadBalancer": {
        "ingress": [{"ip": "192.0.2.10"}]}}}))
    assert waits.ingress_address(east, NAMESPACE, "web", 10) == "192.0.2.10"
    waits_done += 1

    later(lambda: core.delete_namespaced_config_map("doomed", NAMESPACE))
    waits.gone(core.list_namespaced_config_map, NAMESPACE, "doomed", "ConfigMap", 10)
    waits_done += 1

    per_wait = (clusters.reads("east") - before) / waits_done
    assert per_wait <= 3, clusters.requests("east")[-20:]


def test_wait_already_satisfied_costs_one_list(clusters: Clusters, east: client.ApiClient) -> None:
    client.CoreV1Api(east).create_namespaced_pod(NAMESPACE, pod("done", phase="Succeeded"))
    before = clusters.reads("east")
    waits.pod_phase(east, NAMESPACE, "done", ["Succeeded"], 10)
    assert clusters.reads("east") - before == 1


def test_timeout_names_what_the_last_state_and_the_events(east: client.ApiClient) -> None:
    core = client.CoreV1Api(east)
    core.create_namespaced_pod(NAMESPACE, pod("stuck"))
    core.create_namespaced_event(NAMESPACE, {
        "metadata": {"name": "stuck.1", "namespace": NAMESPACE}, "type": "Warning", "count": 4,
        "involvedObject": {"kind": "Pod", "name": "stuck", "namespace": NAMESPACE},
        "reason": "FailedScheduling", "message": "0/3 nodes are available: 3 Insufficient cpu."})
    core.create_namespaced_event(NAMESPACE, {
        "metadata": {"name": "other.1", "namespace": NAMESPACE}, "type": "Normal",
        "involvedObject": {"kind": "Pod", "name": "other", "namespace": NAMESPACE},
        "reason": "Pulled", "message": "unrelated"})
    with pytest.raises(waits.WaitTimeout) as caught:
        waits.pod_phase(east, NAMESPACE, "stuck", ["Running"], 1.5)
    text = str(caught.value)
    assert f"waiting for pod {NAMESPACE}/stuck phase in ['Running']" in text
    assert "'phase': 'Pending'" in caught.value.last_state
    assert caught.value.events == ["Warning Pod/stuck FailedScheduling: 0/3 nodes are available: "
                                   "3 Insufficient cpu. (x4)"]


def test_deadline_holds_although_the_server_ignores_timeout_seconds(clusters: Clusters,
                                                                   east: client.ApiClient) -> None:
    client.CoreV1Api(east).create_namespaced_pod(NAMESPACE, pod("slow"))
    before = clusters.reads("east")
    with pytest.raises(waits.WaitTimeout):
        waits.pod_phase(east, NAMESPACE, "slow", ["Running"], 1)
    # list, watch (ended by the client's read timeout), and no polling in between
    assert clusters.reads("east") - before <= 3


def test_watch_expiry_410_gone_relists_and_watches_again(clusters: Clusters, east: client.ApiClient) -> None:
    core = client.CoreV1Api(east)
    core.create_namespaced_pod(NAMESPACE, pod("expiring"))
    emulator = clusters.emulator("east")
    expired = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 410,
               "reason": "Expired", "message": "too old resource version"}
    gone = {"type": "ERROR", "object": expired}
    pods_path = f"/api/v1/namespaces/{NAMESPACE}/pods"
    clusters.kube.call(lambda: emulator[{"watch": "true"}][pods_path][:1] << (gone,))
    later(lambda: core.patch_namespaced_pod_status("expiring", NAMESPACE, {"status": {"phase": "Running"}}),
          0.6)
    assert waits.pod_phase(east, NAMESPACE, "expiring", ["Running"], 10).status.phase == "Running"
    pod_reads = [r for r in clusters.requests("east") if r.startswith("GET") and "/pods" in r]
    lists = [r for r in pod_reads if "watch=true" not in r]
    assert len(lists) == 2, pod_reads  # the first list, and the relist after 410


def test_pod_wait_fails_fast_when_the_pod_ends_elsewhere(east: client.ApiClient) -> None:
    core = client.CoreV1Api(east)
    core.create_namespaced_pod(NAMESPACE, pod("crashing"))
    later(lambda: core.patch_namespaced_pod_status("crashing", NAMESPACE, {"status": {
        "phase": "Failed", "reason": "Evicted", "message": "node low on memory"}}))
    with pytest.raises(waits.WaitFailed, match=r"ended Failed.*Evicted"):
        waits.pod_phase(east, NAMESPACE, "crashing", ["Running"], 30)


def test_job_failed_is_reported_as_failed(east: client.ApiClient) -> None:
    batch = client.BatchV1Api(east)
    batch.create_namespaced_job(NAMESPACE, job("broken"))
    later(lambda: batch.patch_namespaced_job_status("broken", NAMESPACE, {"status": {"conditions": [
        {"type": "FailureTarget", "status": "True"}, {"type": "Failed", "status": "True"}]}}))
    assert waits.job_finished(east, NAMESPACE, "broken", 10)[1] == "Failed"


def test_next_cronjob_run_ignores_known_runs_and_other_cronjobs(east: client.ApiClient) -> None:
    batch = client.BatchV1Api(east)
    batch.create_namespaced_job(NAMESPACE, job("hourly-100", owner="hourly"))
    batch.create_namespaced_job(NAMESPACE, job("daily-100", owner="daily"))
    later(lambda: batch.create_namespaced_job(NAMESPACE, job("daily-101", owner="daily")))
    later(lambda: batch.create_namespaced_job(NAMESPACE, job("hourly-101", owner="hourly")), 0.6)
    found = waits.cronjob_next_job(east, NAMESPACE, "hourly", ["hourly-100"], 10)
    assert found.metadata.name == "hourly-101"


def test_endpoints_count_only_ready_addresses(east: client.ApiClient) -> None:
    discovery = client.DiscoveryV1Api(east)
    discovery.create_namespaced_endpoint_slice(NAMESPACE, endpoint_slice("api-1", "api", [True, False, None]))
    discovery.create_namespaced_endpoint_slice(NAMESPACE, endpoint_slice("other-1", "other", [True, True]))
    assert waits.endpoints_ready(east, NAMESPACE, "api", 2, 5) == ["10.0.0.1", "10.0.0.3"]
    with pytest.raises(waits.WaitTimeout, match="at least 3 ready endpoints of service"):
        waits.endpoints_ready(east, NAMESPACE, "api", 3, 1)


def test_endpoints_fall_back_to_core_endpoints_without_endpoint_slices(tmp_path: Any) -> None:
    from kubernetes import config

    from tests.standins.kube import KubeStandIn

    with KubeStandIn.run(["old"]) as kube:  # no /apis: discovery.k8s.io is not served
        api = config.new_client_from_config(str(kube.write_kubeconfig(tmp_path / "kc")), context="old")
        core = client.CoreV1Api(api)
        later(lambda: core.create_namespaced_endpoints(NAMESPACE, {
            "metadata": {"name": "legacy", "namespace": NAMESPACE},
            "subsets": [{"addresses": [{"ip": "10.1.0.7"}], "notReadyAddresses": [{"ip": "10.1.0.8"}]}]}))
        assert waits.endpoints_ready(api, NAMESPACE, "legacy", 1, 10) == ["10.1.0.7"]
        api.close()


def test_a_watch_that_times_out_inside_the_clients_retries_is_watched_again(monkeypatch: Any) -> None:
    """A watch with no answer for a while surfaces as MaxRetryError(ReadTimeoutError): watch again, don't fail."""
    from types import SimpleNamespace

    import urllib3

    from e2e.framework import waits

    ready = SimpleNamespace(metadata=SimpleNamespace(name="p", labels={}), status="ready")
    watches: list[str | None] = []

    class QuietThenAnswering:
        resource_version = None

        def stream(self, _fn: Any, *_args: Any, resource_version: str | None = None, **_kwargs: Any) -> Any:
            watches.append(resource_version)
            if len(watches) == 1:
                raise urllib3.exceptions.MaxRetryError(None, "/api/v1/pods", urllib3.exceptions.ReadTimeoutError(
                    None, "/api/v1/pods", "Read timed out."))
            yield {"type": "MODIFIED", "object": ready}

        def stop(self) -> None:
            pass

    monkeypatch.setattr(waits.watch, "Watch", QuietThenAnswering)
    listing = SimpleNamespace(items=[], metadata=SimpleNamespace(resource_version="7"))
    target = waits.Target(lambda *a, **k: listing, "work", "pod", name="p")
    found = waits.watch_until(target, lambda objs: objs.get("p"), what="pod p ready", timeout=10)
    assert found is ready and watches == ["7", "7"]
