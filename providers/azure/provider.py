"""The azure provider: one resource group per cluster, kubeadm VMs from cloud-init, age-gated sweeping.

The verbs come from the VM-cluster base (providers/bootstrap/cluster.py); this module supplies
Azure's hooks. Every group carries the run tags (providers/bootstrap/tags.py, Azure's encoding), so
`leaks(run_id)` and the janitor (`sweep`) work from Azure's own inventory, even after a crash.
Teardown deletes the group.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager

from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.resource.resources import models as resource_models

from providers.azure import arm
from providers.azure.build import build_cluster
from providers.azure.settings import AzureSettings
from providers.base import Cluster, ClusterSpec, ProviderError
from providers.bootstrap import BootstrapParams
from providers.bootstrap import tags as tag_model
from providers.bootstrap.cluster import Placement, Tagged, VMClusterProvider


class AzureProvider(VMClusterProvider):
    name = "azure"
    Settings = AzureSettings
    encoding = tag_model.AZURE
    location_key = "regions"
    size_key = "vm_size"
    settings: AzureSettings

    @contextmanager
    def _arm(self) -> Iterator[arm.Clients]:
        with closing(arm.clients(self.settings)) as clients:
            yield clients

    @staticmethod
    def _group(cluster: Cluster) -> str:
        return cluster.metadata.get("resource_group", cluster.name)

    # --- hooks ---------------------------------------------------------------------------
    def create_in(self, location: str, spec: ClusterSpec, tags: dict[str, str], params: BootstrapParams) -> Placement:
        with self._arm() as clients:
            with arm.translated(f"create resource group {spec.name}", self.settings, location):
                clients.resources.resource_groups.create_or_update(
                    spec.name, resource_models.ResourceGroup(location=location, tags=tags))
            built = build_cluster(clients, self.settings, group=spec.name, region=location, tags=tags,
                                  params=params, workers=spec.workers)
        return Placement(built.public_ip, {"resource_group": spec.name, "subscription": self.settings.subscription,
                                           "vm_size": self.settings.vm_size})

    def delete_cluster(self, name: str, run_id: str, where: Mapping[str, str]) -> None:
        """Delete the cluster's group and wait for it; a group already gone is success."""
        group = where.get("resource_group", name)
        with self._arm() as clients, arm.translated(f"delete resource group {group}", self.settings):
            try:
                clients.resources.resource_groups.begin_delete(group).result()
            except ResourceNotFoundError:
                return

    def exists(self, cluster: Cluster) -> bool:
        group = self._group(cluster)
        with self._arm() as clients, arm.translated(f"look up resource group {group}", self.settings):
            return bool(clients.resources.resource_groups.check_existence(group))

    def console_logs(self, cluster: Cluster) -> dict[str, str]:
        """Each VM's Azure instance view (provisioning and power states, with their messages)."""
        group = self._group(cluster)
        views: dict[str, list[dict[str, str]]] = {}
        try:
            with self._arm() as clients, arm.translated(f"read the VMs of {group}", self.settings):
                for vm in clients.compute.virtual_machines.list(group):
                    view = clients.compute.virtual_machines.instance_view(group, vm.name)
                    views[vm.name] = [{"code": s.code, "message": s.display_status} for s in view.statuses or []]
        except ProviderError as err:
            views["error"] = [{"code": "unavailable", "message": str(err)}]
        return {"azure-instance-views.json": json.dumps(views, indent=2)}

    def tagged(self, wanted: Mapping[str, str] | None = None, has: str | None = None) -> list[Tagged]:
        """Resource groups by tag (ARM filters on one tag; the rest are matched here)."""
        tag, value = next(iter(wanted.items())) if wanted else (has, None)
        query = f"tagName eq '{tag}'" + (f" and tagValue eq '{value}'" if value is not None else "")
        with self._arm() as clients, arm.translated("list resource groups", self.settings):
            groups = list(clients.resources.resource_groups.list(filter=query))
        found = [Tagged(f"resource group {g.name} ({g.location})", dict(g.tags or {}), g.name) for g in groups]
        if wanted:
            return [t for t in found if all(t.tags.get(k) == v for k, v in wanted.items())]
        return [t for t in found if has in t.tags]

    def delete_tagged(self, items: list[Tagged]) -> list[str]:
        """Start every group's delete, then await them all; a group already gone counts as deleted."""
        pollers = []
        with self._arm() as clients:
            for item in items:
                with arm.translated(f"delete resource group {item.handle}", self.settings):
                    try:
                        pollers.append((item.label, clients.resources.resource_groups.begin_delete(item.handle)))
                    except ResourceNotFoundError:
                        pollers.append((item.label, None))
            for _label, poller in pollers:
                with arm.translated("delete an expired resource group", self.settings):
                    try:
                        if poller is not None:
                            poller.result()
                    except ResourceNotFoundError:
                        continue
        return [label for label, _poller in pollers]
