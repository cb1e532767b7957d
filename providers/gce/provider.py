"""GCEProvider: one kubeadm cluster per spec on Compute Engine, found again by its labels.

The verbs come from the VM-cluster base (providers/bootstrap/cluster.py); this module supplies
GCE's hooks. create_in: network, firewalls, a reserved address, the control-plane VM (cloud-init
from the shared bootstrap, with the locally made CA), then the workers. A capacity error
(ZONE_RESOURCE_POOL_EXHAUSTED, QUOTA_EXCEEDED) makes the base delete what was made and try the
next zone. Other failures leave the resources for `down`, which deletes by label, so it works after
a crash too.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Mapping, Sequence

from providers import stopping
from providers.base import Cluster, ClusterSpec, ConfigError, ProviderOptions
from providers.bootstrap import BootstrapParams, render_control_plane, render_worker
from providers.bootstrap.cluster import Placement, Tagged, VMClusterProvider
from providers.bootstrap.disruption import Machine
from providers.gce import labels as lbl
from providers.gce.resources import CONTROL_PLANE, ROLE, WORKER, Cloud, Names
from providers.gce.settings import Compute, Settings

# GCE names are [a-z]([-a-z0-9]*[a-z0-9])? up to 63; the longest suffix added is "-internal".
_CLUSTER_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,48}[a-z0-9])?$")


class GCEProvider(VMClusterProvider):
    name = "gce"
    Settings = Settings
    encoding = lbl.ENCODING
    location_key = "zones"
    size_key = "machine_type"
    settings: Settings

    def __init__(self, options: ProviderOptions) -> None:
        super().__init__(options)
        self._lock = threading.Lock()
        self._clouds: dict[str, Cloud] = {}
        self._checked_zones: set[str] = set()

    def _cloud(self, project: str | None = None) -> Cloud:
        """One set of clients per project, shared by the threads bringing clusters up."""
        settings = self.settings
        if project and project != settings.project:
            settings = dataclasses.replace(settings, project=project)
        with self._lock:
            if settings.project not in self._clouds:
                self._clouds[settings.project] = Cloud(Compute(settings), self.options.deadline_seconds)
            return self._clouds[settings.project]

    def _of(self, name: str, run_id: str) -> dict[str, str]:
        return self.encoding.of_cluster(name, run_id)

    # --- hooks ---------------------------------------------------------------------------
    def plan(self, count: int | None) -> list[ClusterSpec]:
        """Credentials are checked here too, so a bad setup stops the run before any bring-up."""
        specs = super().plan(count)
        self._cloud()
        return specs

    def check_name(self, name: str) -> None:
        if not _CLUSTER_NAME.match(name):
            raise ConfigError(f"cluster name {name!r} cannot name GCE resources",
                              "use lowercase letters, digits and '-', starting with a letter, at most 50")

    def prepare(self) -> None:
        cloud = self._cloud()
        for zone in self.settings.zones:
            if zone in self._checked_zones:
                continue
            if not cloud.check_zone(zone):
                raise ConfigError(f"zone {zone} does not exist in project {self.settings.project}",
                                  "pick zones from `gcloud compute zones list` for --provider-opt zones=")
            self._checked_zones.add(zone)

    def create_in(self, location: str, spec: ClusterSpec, tags: dict[str, str], params: BootstrapParams) -> Placement:
        cloud, zone, names = self._cloud(), location, Names(spec.name)
        cloud.create_network(names, tags)
        cloud.create_firewalls(names, tags, self.settings.api_cidr, self.settings.api_port)
        public_ip = cloud.reserve_address(names, tags, zone)
        params = dataclasses.replace(params, api_sans=(public_ip,))
        control_plane = cloud.instance_body(names.control_plane, names, tags, zone,
                                            render_control_plane(params), public_ip, CONTROL_PLANE)
        cloud.create_instances(zone, [control_plane])
        worker_params = dataclasses.replace(params, control_plane_address=cloud.internal_ip(zone, names.control_plane))
        cloud.create_instances(zone, [
            cloud.instance_body(names.worker(i), names, tags, zone, render_worker(worker_params), role=WORKER)
            for i in range(spec.workers)])
        return Placement(public_ip, {"project": self.settings.project, "network": names.network,
                                     "control_plane": names.control_plane})

    def delete_cluster(self, name: str, run_id: str, where: Mapping[str, str]) -> None:
        cloud = self._cloud(where.get("project"))
        cloud.delete(cloud.find(self._of(name, run_id)))

    def exists(self, cluster: Cluster) -> bool:
        found = self._cloud(cluster.metadata.get("project")).find(
            self._of(cluster.name, cluster.metadata.get("run_id", self.options.run_id)))
        return any(r.kind == "instance" and r.labels.get(ROLE) == CONTROL_PLANE for r in found)

    def console_logs(self, cluster: Cluster) -> dict[str, str]:
        """Each VM's serial console: cloud-init and kubeadm output."""
        cloud = self._cloud(cluster.metadata.get("project"))
        found = cloud.find(self._of(cluster.name, cluster.metadata.get("run_id", self.options.run_id)))
        return {f"{r.name}.serial.log": cloud.serial_output(r.where, r.name) for r in found if r.kind == "instance"}

    def tagged(self, wanted: Mapping[str, str] | None = None, has: str | None = None) -> list[Tagged]:
        return [Tagged(str(r), r.labels, r) for r in self._cloud().find(wanted, has)]

    def delete_tagged(self, items: list[Tagged]) -> list[str]:
        return self._cloud().delete([item.handle for item in items])  # type: ignore[misc]

    # --- disruption hooks ------------------------------------------------------------------
    def machines(self, cluster: Cluster) -> list[Machine]:
        found = self._cloud(cluster.metadata.get("project")).find(
            self._of(cluster.name, cluster.metadata.get("run_id", self.options.run_id)))
        machines = [Machine(r.name, r.labels.get(ROLE, WORKER), r.where) for r in found if r.kind == "instance"]
        return sorted(machines, key=lambda m: (m.role != CONTROL_PLANE, m.name))

    def power(self, cluster: Cluster, machines: Sequence[Machine], running: bool, stop: stopping.StopSignal) -> None:
        cloud = self._cloud(cluster.metadata.get("project"))
        for zone in sorted({str(m.handle) for m in machines}):
            stopping.check(stop, f"{'starting' if running else 'stopping'} the VMs of {cluster.name}")
            cloud.power(zone, [m.name for m in machines if m.handle == zone], running)

    def fence_api(self, cluster: Cluster, fenced: bool, stop: stopping.StopSignal) -> None:
        stopping.check(stop, f"{'fencing' if fenced else 'opening'} the API port of {cluster.name}")
        self._cloud(cluster.metadata.get("project")).fence(Names(cluster.name), self.settings.api_port, fenced)
