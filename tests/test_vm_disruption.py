"""The VM base's disruption verbs through gce's and azure's hooks, against the fake clouds."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from providers import stopping
from providers.base import ALL, API_SERVER, DATA_PLANE, RESTART, UPGRADE, ClusterSpec, ConfigError, ProviderError
from providers.bootstrap.disruption import upgrade_script
from providers.readiness import answers
from tests.standins.azure_world import AzureWorld, azure_world
from tests.standins.eviction import StandInEviction
from tests.standins.gce_world import GCEWorld

NAME = "fedtest-abc123-1"


@pytest.fixture
def gce(tmp_path: Path) -> Iterator[GCEWorld]:
    with GCEWorld.run(tmp_path / "work") as world:
        yield world


def test_gce_api_server_outage_is_a_deny_rule_on_the_api_port_and_goes_again(gce: GCEWorld) -> None:
    provider = gce.provider()
    cluster = provider.up(ClusterSpec(NAME, workers=1))
    provider.take_away(cluster, API_SERVER, stopping.NEVER)
    fence = gce.fake.firewalls[f"{NAME}-fence"]
    assert fence["denied"] == [{"IPProtocol": "tcp", "ports": [str(gce.front.port)]}]
    assert fence["priority"] == 0 and fence["targetTags"] == [NAME] and fence["sourceRanges"] == ["0.0.0.0/0"]
    assert fence["description"] == gce.fake.firewalls[f"{NAME}-api"]["description"]  # found by down and the janitor
    assert not answers(cluster.kubeconfig, cluster.context, 2.0)
    provider.take_away(cluster, API_SERVER, stopping.NEVER)  # fenced already: fine
    provider.bring_back(cluster, API_SERVER, stopping.NEVER)
    provider.bring_back(cluster, API_SERVER, stopping.NEVER)  # opened already: fine
    assert f"{NAME}-fence" not in gce.fake.firewalls and answers(cluster.kubeconfig, cluster.context, 5.0)
    assert all(i["status"] == "RUNNING" for i in gce.fake.instances.values())


def test_gce_outages_stop_the_vms_of_their_mode_and_bring_back_waits_for_ready_nodes(gce: GCEWorld) -> None:
    provider = gce.provider()
    cluster = provider.up(ClusterSpec(NAME, workers=2))
    status = lambda: {name: i["status"] for (_zone, name), i in gce.fake.instances.items()}  # noqa: E731
    provider.take_away(cluster, DATA_PLANE, stopping.NEVER)
    assert status() == {f"{NAME}-cp": "RUNNING", f"{NAME}-w1": "TERMINATED", f"{NAME}-w2": "TERMINATED"}
    assert answers(cluster.kubeconfig, cluster.context, 5.0)
    provider.bring_back(cluster, DATA_PLANE, stopping.NEVER)
    assert set(status().values()) == {"RUNNING"}
    provider.take_away(cluster, ALL, stopping.NEVER)
    assert set(status().values()) == {"TERMINATED"}
    provider.bring_back(cluster, ALL, stopping.NEVER)
    with client.ApiClient(client.Configuration(host=gce.kube.clusters["gce"].url)) as api:
        nodes = client.CoreV1Api(api).list_node().items
    assert all(c.status == "True" for n in nodes for c in n.status.conditions if c.type == "Ready")
    stops = [r.path.rsplit("/", 2)[-2:] for r in gce.fake.calls("POST", "/instances/") if r.path.endswith("/stop")]
    assert sorted(stops) == sorted([[f"{NAME}-w1", "stop"], [f"{NAME}-w2", "stop"], [f"{NAME}-cp", "stop"],
                                    [f"{NAME}-w1", "stop"], [f"{NAME}-w2", "stop"]])


def test_gce_offers_no_upgrade_and_says_why(gce: GCEWorld) -> None:
    provider = gce.provider()
    cluster = provider.up(ClusterSpec(NAME, workers=0))
    assert provider.disruptions(cluster) == {ALL, API_SERVER, RESTART}
    with pytest.raises(ConfigError) as refused:
        provider.upgrade_control_plane(cluster, "1.32.1", stopping.NEVER)
    assert "cannot run commands on its VMs" in str(refused.value) and "\n" not in str(refused.value)


def test_an_upgrade_version_must_name_a_patch_release() -> None:
    with pytest.raises(ConfigError, match="is not a patch release"):
        upgrade_script("1.32", "worker")
    text = upgrade_script("v1.32.1", "worker")
    assert text.startswith("#!/usr/bin/env bash\nexport K8S_MINOR=1.32 K8S_PATCH=1.32.1 ROLE=worker\n")
    assert "kubeadm upgrade node" in text and "kubeadm upgrade apply" in text


@pytest.fixture
def azure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AzureWorld]:
    with azure_world(tmp_path, monkeypatch) as world:
        yield world


def test_azure_upgrade_does_the_control_plane_then_drains_upgrades_and_uncordons_each_worker(
        azure: AzureWorld) -> None:
    provider = azure.provider(workers="1")
    cluster = provider.up(ClusterSpec(NAME, workers=1))
    assert UPGRADE in provider.disruptions(cluster)
    core = client.CoreV1Api(azure.kube_api)
    worker = f"{NAME}-w1"
    core.create_namespaced_pod("default", {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "job-1", "namespace": "default"},
        "spec": {"nodeName": worker, "containers": [{"name": "c", "image": "x"}]}})
    seen: list[tuple[str, bool, bool]] = []

    def output(vm: str, script: str) -> str:
        node = core.read_node(worker)
        pods = [p.metadata.name for p in core.list_namespaced_pod("default").items]
        seen.append((vm, bool(node.spec and node.spec.unschedulable), "job-1" in pods))
        return "Enable succeeded: \n[stdout]\nfedtest-exit=0\n"

    azure.arm.run_command_output = output
    assert azure.kube is not None
    with StandInEviction.serving(azure.kube, "api", azure.kube_api) as eviction:
        provider.upgrade_control_plane(cluster, "1.32.1", stopping.NEVER)
    assert [vm for vm, _script in azure.arm.run_commands] == [f"{NAME}-cp", worker]
    assert "ROLE=control-plane" in azure.arm.run_commands[0][1] and "ROLE=worker" in azure.arm.run_commands[1][1]
    assert all("K8S_PATCH=1.32.1" in script for _vm, script in azure.arm.run_commands)
    assert seen == [(f"{NAME}-cp", False, True), (worker, True, False)]  # the worker drained before its upgrade
    assert eviction.evicted == ["default/job-1"]
    node = core.read_node(worker)
    assert not (node.spec and node.spec.unschedulable)


def test_azure_a_failing_script_is_one_line_naming_the_vm(azure: AzureWorld) -> None:
    provider = azure.provider()
    cluster = provider.up(ClusterSpec(NAME, workers=0))
    azure.arm.run_command_output = lambda _vm, _s: ("Enable succeeded: \n[stdout]\nE: Unable to locate package "
                                                    "kubeadm\nfedtest-exit=100\n[stderr]\n")
    with pytest.raises(ProviderError) as failed:
        provider.upgrade_control_plane(cluster, "1.32.1", stopping.NEVER)
    message = str(failed.value)
    assert f"the script on {NAME}-cp failed (exit 100: fedtest-exit=100)" in message or "exit 100" in message
    assert "\n" not in message


def test_azure_api_server_outage_is_a_deny_rule_in_the_nsg(azure: AzureWorld) -> None:
    provider = azure.provider()
    cluster = provider.up(ClusterSpec(NAME, workers=0))
    provider.take_away(cluster, API_SERVER, stopping.NEVER)
    nsg = next(r for r in azure.arm.resources_in(NAME) if r["type"].lower().endswith("networksecuritygroups"))
    fence = next(r for r in nsg["properties"]["securityRules"] if r["name"] == "fedtest-fence")
    assert fence["properties"]["access"] == "Deny" and fence["properties"]["priority"] == 90
    assert not answers(cluster.kubeconfig, cluster.context, 2.0)
    provider.bring_back(cluster, API_SERVER, stopping.NEVER)
    with contextlib.suppress(StopIteration):
        nsg = next(r for r in azure.arm.resources_in(NAME) if r["type"].lower().endswith("networksecuritygroups"))
    assert [r["name"] for r in nsg["properties"]["securityRules"]] == ["kube-apiserver"]
