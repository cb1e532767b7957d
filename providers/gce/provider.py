"""GCEProvider: one kubeadm cluster per spec on Compute Engine, found again by its labels.

up: network, firewalls, a reserved address, the control-plane VM (cloud-init from the shared
bootstrap, with the locally made CA), then the workers; the admin kubeconfig is written from the
reserved address, and up returns once /readyz answers and every node is Ready. On a capacity
error (ZONE_RESOURCE_POOL_EXHAUSTED, QUOTA_EXCEEDED) what was made is deleted and the next zone
is tried. Other failures leave the resources for `down`, which the harness runs for every cluster
its ledger lists as failed, and which deletes by label, so it works after a crash too.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import threading
from pathlib import Path

from providers import readiness
from providers.base import CapacityError, Cluster, ClusterSpec, ConfigError, Provider, ProviderOptions
from providers.bootstrap import (
    DEFAULT_K8S_VERSION,
    BootstrapParams,
    ClusterPKI,
    admin_kubeconfig,
    render_control_plane,
    render_worker,
    write_kubeconfig,
)
from providers.bootstrap.nodes import wait_nodes_ready
from providers.gce import labels as lbl
from providers.gce.resources import CONTROL_PLANE, ROLE, WORKER, Cloud, Names, Resource
from providers.gce.settings import Compute, Settings
from providers.readiness import wait_ready

# GCE names are [a-z]([-a-z0-9]*[a-z0-9])? up to 63; the longest suffix added is "-internal".
_CLUSTER_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,48}[a-z0-9])?$")
# Serial consoles show cloud-init and kubeadm output: bootstrap tokens and keys must not leave.
_SECRETS = (
    re.compile(r"\b[a-z0-9]{6}\.[a-z0-9]{16}\b"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
)


def scrub(text: str) -> str:
    for pattern in _SECRETS:
        text = pattern.sub("[REDACTED]", text)
    return text


class GCEProvider(Provider):
    name = "gce"

    def __init__(self, options: ProviderOptions) -> None:
        super().__init__(options)
        self._lock = threading.Lock()
        self._clouds: dict[str, Cloud] = {}
        self._checked_zones: set[str] = set()

    # --- plumbing ------------------------------------------------------------------------
    def _settings(self, create: bool, project: str | None = None) -> Settings:
        options = self.options
        if project and "project" not in options.extra:
            options = dataclasses.replace(options, extra={**options.extra, "project": project})
        return Settings.from_options(options, create=create)

    def _cloud(self, settings: Settings) -> Cloud:
        """One set of clients per project, shared by the threads bringing clusters up."""
        with self._lock:
            if settings.project not in self._clouds:
                self._clouds[settings.project] = Cloud(Compute(settings), self.options.deadline_seconds)
            return self._clouds[settings.project]

    def _check_zones(self, cloud: Cloud, settings: Settings) -> None:
        for zone in settings.zones:
            if zone in self._checked_zones:
                continue
            if not cloud.check_zone(zone):
                raise ConfigError(f"zone {zone} does not exist in project {settings.project}",
                                  "pick zones from `gcloud compute zones list` for --provider-opt zones=")
            self._checked_zones.add(zone)

    def _k8s_version(self, spec: ClusterSpec) -> str:
        return spec.k8s_version or self.options.k8s_version or DEFAULT_K8S_VERSION

    def _cluster_labels(self, cluster_name: str, run_id: str | None = None) -> dict[str, str]:
        return {lbl.RUN: lbl.value(run_id or self.options.run_id), lbl.CLUSTER: lbl.value(cluster_name)}

    # --- verbs ---------------------------------------------------------------------------
    def plan(self, count: int | None) -> list[ClusterSpec]:
        """Options and credentials are checked here, so bad input stops the run before any bring-up."""
        self._cloud(self._settings(create=True))
        return super().plan(count)

    def up(self, spec: ClusterSpec) -> Cluster:
        if not _CLUSTER_NAME.match(spec.name):
            raise ConfigError(f"cluster name {spec.name!r} cannot name GCE resources",
                              "use lowercase letters, digits and '-', starting with a letter, at most 50")
        settings = self._settings(create=True)
        cloud = self._cloud(settings)
        self._check_zones(cloud, settings)
        labels = lbl.for_cluster(self.options.run_id, self.options.owner, spec.name,
                                 dt.datetime.now(dt.UTC), self.options.ttl)
        cluster_dir = self.options.work_dir / spec.name
        pki = ClusterPKI.generate(spec.name)
        BootstrapParams(spec.name, pki, self._k8s_version(spec)).version_parts()  # fails before any resource
        pki.save(cluster_dir / "pki")
        failures = []
        for zone in settings.zones:
            try:
                return self._up_in_zone(cloud, settings, spec, zone, labels, pki)
            except CapacityError as err:
                failures.append(f"{zone}: {err.problem}")
                cloud.delete(cloud.find(self._cluster_labels(spec.name)))
        raise CapacityError(f"no zone had room for cluster {spec.name} ({'; '.join(failures)})",
                            "add zones with --provider-opt zones=a,b or raise the project's quota")

    def _up_in_zone(self, cloud: Cloud, settings: Settings, spec: ClusterSpec, zone: str,
                    labels: dict[str, str], pki: ClusterPKI) -> Cluster:
        names = Names(spec.name)
        cloud.create_network(names, labels)
        cloud.create_firewalls(names, labels, settings.api_cidr, settings.api_port)
        public_ip = cloud.reserve_address(names, labels, zone)
        params = BootstrapParams(spec.name, pki, self._k8s_version(spec), api_sans=(public_ip,),
                                 api_port=settings.api_port)
        control_plane = cloud.instance_body(names.control_plane, names, labels, zone,
                                            render_control_plane(params), public_ip, CONTROL_PLANE)
        cloud.create_instances(zone, [control_plane])
        private_ip = cloud.internal_ip(zone, names.control_plane)
        worker_params = dataclasses.replace(params, control_plane_address=private_ip)
        cloud.create_instances(zone, [
            cloud.instance_body(names.worker(i), names, labels, zone, render_worker(worker_params), role=WORKER)
            for i in range(spec.workers)])
        endpoint = f"https://{public_ip}:{settings.api_port}"
        kubeconfig = write_kubeconfig(self.options.work_dir / f"{spec.name}.kubeconfig",
                                      admin_kubeconfig(pki, endpoint, spec.name))
        ready = wait_ready(kubeconfig, spec.name, self.options.deadline_seconds)
        nodes = wait_nodes_ready(kubeconfig, spec.name, 1 + spec.workers, self.options.deadline_seconds)
        return Cluster(spec.name, self.name, kubeconfig, spec.name, endpoint, ready.version, {
            "project": settings.project, "zone": zone, "run_id": self.options.run_id,
            "network": names.network, "control_plane": names.control_plane, "nodes": ",".join(sorted(nodes)),
        })

    def down(self, cluster: Cluster) -> None:
        """Delete every resource labelled with this run and cluster; none left is success."""
        settings = self._settings(create=False, project=cluster.metadata.get("project"))
        cloud = self._cloud(settings)
        cloud.delete(cloud.find(self._cluster_labels(cluster.name, cluster.metadata.get("run_id"))))

    def is_up(self, cluster: Cluster) -> bool:
        """The control-plane VM exists and its API server is ready."""
        try:
            settings = self._settings(create=False, project=cluster.metadata.get("project"))
            found = self._cloud(settings).find(self._cluster_labels(cluster.name, cluster.metadata.get("run_id")))
        except Exception:  # is_up answers, never raises: an unreachable cloud means "not up"
            return False
        if not any(r.kind == "instance" and r.labels.get(ROLE) == CONTROL_PLANE for r in found):
            return False
        return readiness.answers(cluster.kubeconfig, cluster.context, min(10.0, self.options.deadline_seconds))

    def dump_logs(self, cluster: Cluster, dest: Path) -> list[Path]:
        """Each VM's serial console (cloud-init and kubeadm output), secrets scrubbed."""
        settings = self._settings(create=False, project=cluster.metadata.get("project"))
        cloud = self._cloud(settings)
        found = cloud.find(self._cluster_labels(cluster.name, cluster.metadata.get("run_id")))
        dest.mkdir(parents=True, exist_ok=True)
        written = []
        for res in sorted((r for r in found if r.kind == "instance"), key=lambda r: r.name):
            path = dest / f"{res.name}.serial.log"
            path.write_text(scrub(cloud.serial_output(res.where, res.name)), encoding="utf-8")
            written.append(path)
        return written

    def leaks(self, run_id: str) -> list[str]:
        cloud = self._cloud(self._settings(create=False))
        return sorted(str(r) for r in cloud.find({lbl.RUN: lbl.value(run_id)}))

    def sweep(self, now: dt.datetime, dry_run: bool = False) -> list[str]:
        """Delete what carries a fedtest-expires in the past; unlabelled or live resources stay."""
        cloud = self._cloud(self._settings(create=False))
        expired: list[Resource] = [r for r in cloud.find(has=lbl.EXPIRES) if lbl.expired(r.labels, now)]
        if dry_run:
            return sorted(str(r) for r in expired)
        return sorted(cloud.delete(expired))
