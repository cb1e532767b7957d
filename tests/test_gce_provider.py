"""The gce provider end to end: google-cloud-compute against the fake compute/v1, VMs that "boot"
into a loopback API server trusting the cluster CA (see tests/standins/gce_world.py)."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest
import yaml

from providers.base import CapacityError, Cluster, ClusterSpec, DeadlineExceeded
from providers.gce import labels as lbl
from tests.standins.gce_world import RUN_ID, GCEWorld

NAME = "fedtest-abc123-1"
LABEL_KEYS = {lbl.RUN, lbl.OWNER, lbl.CLUSTER, lbl.CREATED, lbl.EXPIRES}


@pytest.fixture
def world(tmp_path: Path):
    with GCEWorld.run(tmp_path / "work") as w:
        yield w


def _user_data(instance: dict) -> dict:
    value = next(i["value"] for i in instance["metadata"]["items"] if i["key"] == "user-data")
    assert value.startswith("#cloud-config\n")
    return {f["path"]: f["content"] for f in yaml.safe_load(value)["write_files"]}


def _labels_of(kind: str, resource: dict) -> dict[str, str]:
    if kind in ("network", "firewall"):
        return lbl.from_description(resource.get("description", ""))
    return resource.get("labels", {})


def test_up_brings_a_reachable_cluster_and_down_removes_every_resource(world: GCEWorld) -> None:
    provider = world.provider()
    cluster = provider.up(ClusterSpec(NAME, workers=2))

    assert cluster.endpoint == f"https://127.0.0.1:{world.front.port}"
    assert cluster.version == "v1.31.2"
    assert cluster.metadata["zone"] == "europe-west1-b"
    assert stat.S_IMODE(cluster.kubeconfig.stat().st_mode) == 0o600
    assert world.work_dir in cluster.kubeconfig.parents
    assert world.nodes() == [f"{NAME}-cp", f"{NAME}-w1", f"{NAME}-w2"]
    assert set(world.front.client_subjects) == {"fedtest-admin"}  # the locally made admin certificate
    assert provider.is_up(cluster)

    api = world.fake.firewalls[f"{NAME}-api"]
    assert api["sourceRanges"] == ["203.0.113.0/24"]
    assert api["allowed"] == [{"IPProtocol": "tcp", "ports": [str(world.front.port)]}]
    assert world.fake.firewalls[f"{NAME}-internal"]["sourceTags"] == [NAME]
    control_plane = world.fake.instances[("europe-west1-b", f"{NAME}-cp")]
    assert control_plane["machineType"].endswith("/machineTypes/e2-standard-2")
    assert "ubuntu-os-cloud" in control_plane["disks"][0]["initializeParams"]["sourceImage"]
    assert control_plane["networkInterfaces"][0]["accessConfigs"][0]["natIP"] == "127.0.0.1"
    cp_files = _user_data(control_plane)
    init = list(yaml.safe_load_all(cp_files["/etc/fedtest/kubeadm.yaml"]))
    assert init[1]["apiServer"]["certSANs"] == ["127.0.0.1"]
    worker_files = _user_data(world.fake.instances[("europe-west1-b", f"{NAME}-w1")])
    assert "/etc/kubernetes/pki/ca.key" not in worker_files
    join = yaml.safe_load(worker_files["/etc/fedtest/kubeadm.yaml"])
    cp_ip = control_plane["networkInterfaces"][0]["networkIP"]
    assert join["discovery"]["bootstrapToken"]["apiServerEndpoint"] == f"{cp_ip}:{world.front.port}"
    # every operation was awaited to DONE through the operations clients' wait endpoint
    assert world.fake.calls("POST", "/wait")
    assert {op["status"] for op in world.fake.operations.values()} == {"DONE"}

    provider.down(cluster)
    assert world.fake.all_resources() == []
    assert provider.leaks(RUN_ID) == []
    provider.down(cluster)  # idempotent: already gone is success


def test_every_resource_carries_the_run_labels(world: GCEWorld) -> None:
    before = dt.datetime.now(dt.UTC)
    world.provider(ttl=dt.timedelta(hours=3)).up(ClusterSpec(NAME, workers=1))
    resources = world.fake.all_resources()
    assert sorted(kind for kind, _ in resources) == [
        "address", "firewall", "firewall", "instance", "instance", "network"]
    for kind, resource in resources:
        labels = _labels_of(kind, resource)
        assert set(labels) >= LABEL_KEYS, (kind, resource["name"])
        assert labels[lbl.RUN] == RUN_ID and labels[lbl.OWNER] == "alice" and labels[lbl.CLUSTER] == NAME
        created = int(labels[lbl.CREATED])
        assert abs(created - before.timestamp()) < 60
        assert int(labels[lbl.EXPIRES]) - created == 3 * 3600


def test_zone_fallback_deletes_the_half_made_cluster_and_uses_the_next_zone(world: GCEWorld) -> None:
    world.fake.fail_zone("europe-west1-b", "ZONE_RESOURCE_POOL_EXHAUSTED")
    cluster = world.provider().up(ClusterSpec(NAME, workers=1))

    assert cluster.metadata["zone"] == "europe-west4-a"
    prefix = "/compute/v1/projects/fedtest-proj/"
    deleted = {r.path.removeprefix(prefix) for r in world.fake.calls("DELETE", "")}
    assert deleted == {
        f"global/networks/{NAME}-net", f"global/firewalls/{NAME}-api", f"global/firewalls/{NAME}-internal",
        f"regions/europe-west1/addresses/{NAME}-api-ip",  # the refused instance was never made
    }
    assert sorted(world.fake.addresses) == [("europe-west4", f"{NAME}-api-ip")]
    assert sorted(world.fake.instances) == [("europe-west4-a", f"{NAME}-{n}") for n in ("cp", "w1")]


def test_quota_in_every_zone_is_one_line_and_leaves_nothing(world: GCEWorld) -> None:
    world.fake.fail_zone("europe-west1-b", "QUOTA_EXCEEDED")
    world.fake.fail_zone("europe-west4-a", "ZONE_RESOURCE_POOL_EXHAUSTED")
    with pytest.raises(CapacityError) as caught:
        world.provider().up(ClusterSpec(NAME))
    message = str(caught.value)
    assert "\n" not in message
    assert "europe-west1-b" in message and "QUOTA_EXCEEDED" in message
    assert "europe-west4-a" in message and "ZONE_RESOURCE_POOL_EXHAUSTED" in message
    assert "--provider-opt zones=" in message
    assert world.fake.all_resources() == []


def test_nodes_that_never_get_ready_fail_the_wait_in_one_line(world: GCEWorld) -> None:
    world.ready_nodes = False
    with pytest.raises(DeadlineExceeded) as caught:
        world.provider(deadline_seconds=1.5).up(ClusterSpec(NAME))
    assert "0 of 2 nodes" in str(caught.value) and f"{NAME}-cp" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_down_after_a_crash_finds_the_cluster_by_label(world: GCEWorld) -> None:
    world.provider().up(ClusterSpec(NAME))
    made = len(world.fake.all_resources())
    ledger_entry = Cluster(NAME, "gce", world.work_dir / "gone.kubeconfig", "")  # all a ledger may hold
    world.provider(run_id="20261122-040000-def456").down(ledger_entry)  # another run's down
    assert len(world.fake.all_resources()) == made  # touches nothing of this run
    world.provider().down(ledger_entry)  # a fresh provider of this run: by label, no in-memory state
    assert world.fake.all_resources() == []


def test_dump_logs_writes_serial_consoles_without_secrets(world: GCEWorld, tmp_path: Path) -> None:
    provider = world.provider()
    cluster = provider.up(ClusterSpec(NAME))
    written = provider.dump_logs(cluster, tmp_path / "logs")
    assert sorted(p.name for p in written) == [  # the consoles, and the API side the VM base adds
        f"{NAME}-cp.serial.log", f"{NAME}-w1.serial.log", "kube-system-events.yaml", "nodes.yaml"]
    text = next(p for p in written if p.name == f"{NAME}-cp.serial.log").read_text()
    assert "cloud-init" in text and "[REDACTED]" in text
    pki = world.work_dir / NAME / "pki"
    key_lines = (pki / "ca.key").read_text().splitlines()[1:-1]
    assert key_lines and not any(line in text for line in key_lines)
    assert (pki / "bootstrap-token").read_text().strip() not in text
