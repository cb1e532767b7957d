"""A fake GCE project whose VMs "boot" into a loopback Kubernetes API, for the gce provider's tests.

Wiring (why the provider needs no test-only code path): the fake hands every reserved address
and instance the natIP 127.0.0.1; the provider's real `api_port` option is set to the port of a
ControlPlaneStandIn, so the kubeconfig the provider writes (https://127.0.0.1:PORT, the cluster
CA, the admin client certificate) reaches it unchanged. When the fake inserts an instance, the
world reads its cloud-init like the VM would: the control plane's cloud-config boots the stand-in
(mutual TLS from the handed-over CA), and every VM registers a Ready node (NotReady with
`ready_nodes=False`) in the Kubernetes stand-in.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client

from providers.base import ProviderOptions
from providers.gce import GCEProvider
from tests.standins.fake_gce import FakeGCE
from tests.standins.fake_vm import ControlPlaneStandIn, register_node
from tests.standins.kube import KubeStandIn

RUN_ID = "20261122-030000-abc123"


@dataclass
class GCEWorld:
    fake: FakeGCE
    kube: KubeStandIn
    front: ControlPlaneStandIn
    work_dir: Path
    ready_nodes: bool = True
    booted: list[str] = field(default_factory=list)

    def extra(self, **overrides: str) -> dict[str, str]:
        extra = {
            "project": self.fake.project, "zones": ",".join(self.fake.zones), "api_cidr": "203.0.113.0/24",
            "api_endpoint": self.fake.url, "api_port": str(self.front.port),
        }
        extra.update(overrides)
        return {k: v for k, v in extra.items() if v != ""}

    def options(self, run_id: str = RUN_ID, ttl: dt.timedelta = dt.timedelta(hours=6),
                deadline_seconds: float = 20.0, **overrides: str) -> ProviderOptions:
        return ProviderOptions(work_dir=self.work_dir, run_id=run_id, owner="alice", ttl=ttl,
                               extra=self.extra(**overrides), deadline_seconds=deadline_seconds)

    def provider(self, **kwargs: Any) -> GCEProvider:
        return GCEProvider(self.options(**kwargs))

    def nodes(self) -> list[str]:
        return sorted(n["metadata"]["name"] for n in self.kube.clusters["gce"].objects("nodes"))

    def _boot(self, instance: dict[str, Any]) -> None:
        items = instance.get("metadata", {}).get("items", [])
        user_data = next(i["value"] for i in items if i["key"] == "user-data")
        if instance["labels"].get("fedtest-role") == "control-plane":
            self.front.boot(user_data)
        with client.ApiClient(client.Configuration(host=self.kube.clusters["gce"].url)) as api:
            register_node(api, instance["name"], ready=self.ready_nodes)
        self.booted.append(instance["name"])

    def api_serving(self) -> bool:
        """The control-plane VM runs and no deny rule fences its API port (as a client outside sees it)."""
        with self.fake.lock:
            planes = [i for i in self.fake.instances.values() if i["labels"].get("fedtest-role") == "control-plane"]
            fenced = any(f.get("denied") for f in self.fake.firewalls.values())
        return bool(planes) and all(i["status"] == "RUNNING" for i in planes) and not fenced

    def _power(self, instance: dict[str, Any]) -> None:
        """A stopped VM's node goes NotReady; started again, its kubelet reports Ready."""
        ready = "True" if instance["status"] == "RUNNING" and self.ready_nodes else "False"
        with client.ApiClient(client.Configuration(host=self.kube.clusters["gce"].url)) as api:
            client.CoreV1Api(api).patch_node_status(instance["name"], {"status": {"conditions": [
                {"type": "Ready", "status": ready}]}})

    @classmethod
    @contextlib.contextmanager
    def run(cls, work_dir: Path, **fake_kwargs: Any) -> Iterator[GCEWorld]:
        with FakeGCE.run(**fake_kwargs) as fake, KubeStandIn.run(["gce"]) as kube, \
                ControlPlaneStandIn.run(kube.clusters["gce"].url, work_dir / "control-plane") as front:
            world = cls(fake, kube, front, work_dir)
            fake.on_instance(world._boot)
            fake.on_power(world._power)
            front.serving = world.api_serving
            try:
                yield world
            finally:
                # kmock ends a watch only when it next writes to it: one last event lets the watches
                # whose clients have gone notice it, so the stand-in can stop. (No VM booted: no watch.)
                if world.booted:
                    with client.ApiClient(client.Configuration(host=kube.clusters["gce"].url)) as api:
                        register_node(api, "watch-flush")
