"""The azure provider: one resource group per cluster, kubeadm VMs from cloud-init, age-gated sweeping.

The verbs come from the VM-cluster base (providers/bootstrap/cluster.py); this module supplies
Azure's hooks. Every group carries the run tags (providers/bootstrap/tags.py, Azure's encoding), so
`leaks(run_id)` and the janitor (`sweep`) work from Azure's own inventory, even after a crash.
Teardown deletes the group.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.core.polling import LROPoller
from azure.mgmt.compute import models as compute_models
from azure.mgmt.network import models as network_models
from azure.mgmt.resource.resources import models as resource_models

from providers import stopping
from providers.azure import arm
from providers.azure.build import build_cluster
from providers.azure.settings import AzureSettings
from providers.base import Cluster, ClusterSpec, ProviderError
from providers.bootstrap import BootstrapParams
from providers.bootstrap import tags as tag_model
from providers.bootstrap.cluster import Placement, Tagged, VMClusterProvider
from providers.bootstrap.disruption import CONTROL_PLANE, WORKER, Machine

FENCE_RULE, FENCE_PRIORITY = "fedtest-fence", 90  # above the API rule (100): Azure applies the lowest number
_EXIT = re.compile(r"fedtest-exit=(\d+)")


def _await(poller: LROPoller[Any], stop: stopping.StopSignal, what: str) -> Any:
    """The poller's result, watching the run's stop signal while it runs."""
    while not poller.done():
        poller.wait(0.2)
        stopping.check(stop, what)
    return poller.result()


class AzureProvider(VMClusterProvider):
    """Disruption: VMs powered off and on, a deny rule in the cluster's NSG, scripts through Run Command."""

    name = "azure"
    runs_scripts = True
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

    # --- disruption hooks ------------------------------------------------------------------
    def machines(self, cluster: Cluster) -> list[Machine]:
        group = self._group(cluster)
        with self._arm() as clients, arm.translated(f"list the VMs of {group}", self.settings):
            names = [vm.name for vm in clients.compute.virtual_machines.list(group)]
        machines = [Machine(n, CONTROL_PLANE if n == f"{group}-cp" else WORKER) for n in names]
        return sorted(machines, key=lambda m: (m.role != CONTROL_PLANE, m.name))

    def power(self, cluster: Cluster, machines: Sequence[Machine], running: bool, stop: stopping.StopSignal) -> None:
        group, verb = self._group(cluster), "start" if running else "power off"
        with self._arm() as clients, arm.translated(f"{verb} the VMs of {group}", self.settings):
            vms = clients.compute.virtual_machines
            begin = vms.begin_start if running else vms.begin_power_off
            pollers = [(m.name, begin(group, m.name)) for m in machines]
            for name, poller in pollers:
                _await(poller, stop, f"{verb} {name}")

    def fence_api(self, cluster: Cluster, fenced: bool, stop: stopping.StopSignal) -> None:
        group = self._group(cluster)
        nsg = f"{group}-nsg"
        with self._arm() as clients, arm.translated(f"{'add' if fenced else 'remove'} the fence rule of {nsg}",
                                                    self.settings):
            rules = clients.network.security_rules
            if not fenced:
                with contextlib.suppress(ResourceNotFoundError):  # not fenced: nothing to remove
                    _await(rules.begin_delete(group, nsg, FENCE_RULE), stop, f"removing {FENCE_RULE}")
                return
            rule = network_models.SecurityRule(
                protocol="Tcp", access="Deny", direction="Inbound", priority=FENCE_PRIORITY,
                source_address_prefix="*", source_port_range="*", destination_address_prefix="*",
                destination_port_range=str(self.settings.api_port))
            _await(rules.begin_create_or_update(group, nsg, FENCE_RULE, rule), stop, f"adding {FENCE_RULE}")

    def run_script(self, cluster: Cluster, machine: Machine, text: str, stop: stopping.StopSignal) -> str:
        """Run Command (RunShellScript, as root); the script's exit code comes back as a marker line."""
        group = self._group(cluster)
        lines = ["cat > /tmp/fedtest-script.sh <<'FEDTEST_SCRIPT'", *text.splitlines(), "FEDTEST_SCRIPT",
                 "bash /tmp/fedtest-script.sh; echo fedtest-exit=$?"]
        command = compute_models.RunCommandInput(command_id="RunShellScript", script=lines)
        with self._arm() as clients, arm.translated(f"run a script on {machine.name}", self.settings):
            poller = clients.compute.virtual_machines.begin_run_command(group, machine.name, command)
            result = _await(poller, stop, f"the script on {machine.name}")
        output = "\n".join(status.message or "" for status in (result.value or []))
        code = _EXIT.search(output)
        if code is None or code.group(1) != "0":
            tail = [ln for ln in output.splitlines() if ln.strip() and not ln.startswith("[")][-1:] or ["no output"]
            raise ProviderError(f"the script on {machine.name} failed (exit {code.group(1) if code else 'unknown'}: "
                                f"{tail[0][:200]})", f"see the VM's Run Command output for {group}/{machine.name}")
        return output
