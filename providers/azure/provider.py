"""The azure provider: one resource group per cluster, kubeadm VMs from cloud-init, age-gated sweeping.

Every group carries fedtest-run/-owner/-created/-expires tags, so `leaks(run_id)` and the janitor
(`sweep`) work from Azure's own inventory, even after a crash. Teardown deletes the group.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.resource.resources import models as resource_models

from providers import readiness
from providers.azure import arm
from providers.azure import settings as settings_mod
from providers.azure.build import Built, build_cluster
from providers.base import CapacityError, Cluster, ClusterSpec, Provider, ProviderError
from providers.bootstrap import DEFAULT_K8S_VERSION, BootstrapParams, ClusterPKI, admin_kubeconfig, write_kubeconfig
from providers.bootstrap.nodes import wait_nodes_ready
from providers.existing import ExistingProvider
from providers.readiness import wait_ready


class AzureProvider(Provider):
    name = "azure"

    def _settings(self, for_bring_up: bool = False) -> settings_mod.AzureSettings:
        return settings_mod.parse(self.options.extra, for_bring_up=for_bring_up)

    def plan(self, count: int | None) -> list[ClusterSpec]:
        self._settings(for_bring_up=True)  # bad options fail before anything is created
        return super().plan(count)

    def _cluster_dir(self, name: str) -> Path:
        return self.options.work_dir / name

    # -- up ---------------------------------------------------------------------------------------
    def up(self, spec: ClusterSpec) -> Cluster:
        settings = self._settings(for_bring_up=True)
        pki = ClusterPKI.generate(spec.name)
        pki.save(self._cluster_dir(spec.name) / "pki")
        version = spec.k8s_version or self.options.k8s_version or DEFAULT_K8S_VERSION
        BootstrapParams(spec.name, pki, version).version_parts()  # a bad version fails before any resource
        clients = arm.clients(settings)
        try:
            region, built = self._up_in_some_region(clients, settings, spec, pki, version)
        finally:
            clients.close()
        endpoint = f"https://{built.public_ip}:{settings.api_port}"
        kubeconfig = write_kubeconfig(self.options.work_dir / f"{spec.name}.kubeconfig",
                                      admin_kubeconfig(pki, endpoint, spec.name))
        ready = wait_ready(kubeconfig, spec.name, self.options.deadline_seconds)
        wait_nodes_ready(kubeconfig, spec.name, len(built.vm_names), self.options.deadline_seconds)
        return Cluster(spec.name, self.name, kubeconfig, spec.name, endpoint, ready.version, {
            "resource_group": spec.name, "region": region, "subscription": settings.subscription,
            "vm_size": settings.vm_size, "nodes": str(len(built.vm_names)),
        })

    def _up_in_some_region(self, clients: arm.Clients, settings: settings_mod.AzureSettings, spec: ClusterSpec,
                           pki: ClusterPKI, version: str) -> tuple[str, Built]:
        """Try each region in order; a capacity or quota error deletes the half-made group and moves on."""
        refusals = []
        for region in settings.regions:
            now = dt.datetime.now(dt.UTC)
            tags = arm.tags(self.options.run_id, self.options.owner, spec.name, self.options.ttl, now)
            with arm.translated(f"create resource group {spec.name}", settings, region):
                clients.resources.resource_groups.create_or_update(
                    spec.name, resource_models.ResourceGroup(location=region, tags=tags))
            try:
                built = build_cluster(clients, settings, group=spec.name, region=region, tags=tags, pki=pki,
                                      k8s_version=version, workers=spec.workers)
            except CapacityError as err:
                refusals.append(f"{region}: {err.problem}")
                self._delete_group(clients, settings, spec.name)
                continue
            return region, built
        raise CapacityError(f"no region had room for cluster {spec.name} ({'; '.join(refusals)})",
                            "add regions (--provider-opt regions=a,b,c), pick a smaller vm_size or raise quota")

    # -- down, is_up, logs ------------------------------------------------------------------------
    def _delete_group(self, clients: arm.Clients, settings: settings_mod.AzureSettings, group: str) -> bool:
        """Delete a group and wait for it; False when it was already gone."""
        with arm.translated(f"delete resource group {group}", settings):
            try:
                clients.resources.resource_groups.begin_delete(group).result()
            except ResourceNotFoundError:
                return False
        return True

    def down(self, cluster: Cluster) -> None:
        settings = self._settings()
        clients = arm.clients(settings)
        try:
            self._delete_group(clients, settings, cluster.metadata.get("resource_group", cluster.name))
        finally:
            clients.close()
        shutil.rmtree(self._cluster_dir(cluster.name) / "pki", ignore_errors=True)

    def is_up(self, cluster: Cluster) -> bool:
        """The resource group exists and the API server is ready (an address alone may be reused)."""
        settings = self._settings()
        group = cluster.metadata.get("resource_group", cluster.name)
        clients = arm.clients(settings)
        try:
            with arm.translated(f"look up resource group {group}", settings):
                if not clients.resources.resource_groups.check_existence(group):
                    return False
        finally:
            clients.close()
        return readiness.answers(cluster.kubeconfig, cluster.context, min(10.0, self.options.deadline_seconds))

    def dump_logs(self, cluster: Cluster, dest: Path) -> list[Path]:
        """Nodes and kube-system events (through the API) plus each VM's Azure instance view."""
        written = ExistingProvider(self.options).dump_logs(cluster, dest)
        settings = self._settings()
        group = cluster.metadata.get("resource_group", cluster.name)
        clients = arm.clients(settings)
        views = {}
        try:
            with arm.translated(f"read the VMs of {group}", settings):
                for vm in clients.compute.virtual_machines.list(group):
                    view = clients.compute.virtual_machines.instance_view(group, vm.name)
                    views[vm.name] = [{"code": s.code, "message": s.display_status} for s in view.statuses or []]
        except ProviderError as err:
            views["error"] = [{"code": "unavailable", "message": str(err)}]
        finally:
            clients.close()
        path = dest / "azure-instance-views.json"
        path.write_text(json.dumps(views, indent=2), encoding="utf-8")
        return [*written, path]

    # -- inventory: leaks and the janitor ---------------------------------------------------------
    def _groups(self, clients: arm.Clients, settings: settings_mod.AzureSettings,
                tag: str, value: str | None = None) -> list[resource_models.ResourceGroup]:
        query = f"tagName eq '{tag}'" + (f" and tagValue eq '{value}'" if value is not None else "")
        with arm.translated("list resource groups", settings):
            return list(clients.resources.resource_groups.list(filter=query))

    def leaks(self, run_id: str) -> list[str]:
        settings = self._settings()
        clients = arm.clients(settings)
        try:
            groups = self._groups(clients, settings, arm.TAG_RUN, run_id)
        finally:
            clients.close()
        return sorted(f"resource group {g.name} ({g.location})" for g in groups
                      if (g.tags or {}).get(arm.TAG_RUN) == run_id)

    def sweep(self, now: dt.datetime, dry_run: bool = False) -> list[str]:
        """Delete groups whose fedtest-expires is in the past. Unparsable or future expiry: left alone."""
        settings = self._settings()
        clients = arm.clients(settings)
        swept = []
        try:
            expired = []
            for group in self._groups(clients, settings, arm.TAG_EXPIRES):
                expires = arm.parse_iso_utc((group.tags or {}).get(arm.TAG_EXPIRES, ""))
                if expires is not None and expires < now:
                    expired.append((group, expires))
            pollers = []
            for group, expires in sorted(expired, key=lambda pair: pair[0].name):
                run = (group.tags or {}).get(arm.TAG_RUN, "?")
                swept.append(f"resource group {group.name} (run {run}, expired {arm.iso_utc(expires)})")
                if not dry_run:
                    with arm.translated(f"delete resource group {group.name}", settings):
                        try:
                            pollers.append(clients.resources.resource_groups.begin_delete(group.name))
                        except ResourceNotFoundError:
                            continue
            for poller in pollers:
                with arm.translated("delete an expired resource group", settings):
                    try:
                        poller.result()
                    except ResourceNotFoundError:
                        continue
        finally:
            clients.close()
        return swept
