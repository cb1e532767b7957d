"""Create, find and delete one cluster's GCE resources; find and delete by label.

A cluster is: a VPC network, two firewall rules (the API port from api_cidr; everything between
the cluster's own nodes), a reserved external address for the control plane (so its certificate
and the kubeconfig can name it before the VM exists) and the instances. Deletion goes in
dependency order (instances, firewalls, addresses, network); missing resources count as deleted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from google.api_core.exceptions import Conflict, NotFound
from google.cloud import compute_v1

from providers.base import ProviderError
from providers.gce import labels as lbl
from providers.gce import operations as ops
from providers.gce.settings import Compute, region_of

KIND_ORDER = ("instance", "firewall", "address", "network")
ROLE, CONTROL_PLANE, WORKER = "fedtest-role", "control-plane", "worker"  # an instance label


@dataclass(frozen=True)
class Resource:
    """One labelled resource; `where` is its zone, region or "global"."""

    kind: str
    name: str
    where: str
    labels: Mapping[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.kind} {self.where}/{self.name}"


@dataclass(frozen=True)
class Names:
    cluster: str

    @property
    def network(self) -> str:
        return f"{self.cluster}-net"

    @property
    def api_firewall(self) -> str:
        return f"{self.cluster}-api"

    @property
    def internal_firewall(self) -> str:
        return f"{self.cluster}-internal"

    @property
    def address(self) -> str:
        return f"{self.cluster}-api-ip"

    @property
    def fence_firewall(self) -> str:
        return f"{self.cluster}-fence"

    @property
    def control_plane(self) -> str:
        return f"{self.cluster}-cp"

    def worker(self, index: int) -> str:
        return f"{self.cluster}-w{index + 1}"


class Cloud:
    """The operations of one provider instance on one project."""

    def __init__(self, compute: Compute, deadline_seconds: float) -> None:
        self.compute = compute
        self.project = compute.settings.project
        self.deadline = deadline_seconds

    def _await(self, operation: Any, what: str) -> compute_v1.Operation:
        return ops.wait(self.compute, operation, what, self.deadline)

    def check_zone(self, zone: str) -> bool:
        try:
            ops.call(f"look up zone {zone}", lambda: self.compute.zones.get(project=self.project, zone=zone))
        except NotFound:
            return False
        return True

    # --- create --------------------------------------------------------------------------
    def create_network(self, names: Names, labels: Mapping[str, str]) -> None:
        body = compute_v1.Network(name=names.network, auto_create_subnetworks=True,
                                  description=lbl.to_description(labels))
        op = ops.call(f"create network {names.network}",
                      lambda: self.compute.networks.insert(project=self.project, network_resource=body))
        self._await(op, f"create network {names.network}")

    def create_firewalls(self, names: Names, labels: Mapping[str, str], api_cidr: str, api_port: int) -> None:
        network = f"projects/{self.project}/global/networks/{names.network}"
        rules = [
            compute_v1.Firewall(
                name=names.api_firewall, network=network, direction="INGRESS", source_ranges=[api_cidr],
                target_tags=[names.cluster], description=lbl.to_description(labels),
                allowed=[compute_v1.Allowed(I_p_protocol="tcp", ports=[str(api_port)])]),
            compute_v1.Firewall(
                name=names.internal_firewall, network=network, direction="INGRESS",
                source_tags=[names.cluster], target_tags=[names.cluster],
                description=lbl.to_description(labels),
                allowed=[compute_v1.Allowed(I_p_protocol=p) for p in ("tcp", "udp", "icmp", "ipip")]),
        ]
        firewalls = self.compute.firewalls
        started = [(rule.name, ops.call(f"create firewall {rule.name}", lambda r=rule: firewalls.insert(
            project=self.project, firewall_resource=r))) for rule in rules]
        for name, op in started:
            self._await(op, f"create firewall {name}")

    def reserve_address(self, names: Names, labels: Mapping[str, str], zone: str) -> str:
        region = region_of(zone)
        body = compute_v1.Address(name=names.address, address_type="EXTERNAL", labels=dict(labels))
        op = ops.call(f"reserve address {names.address}", lambda: self.compute.addresses.insert(
            project=self.project, region=region, address_resource=body))
        self._await(op, f"reserve address {names.address}")
        found = ops.call(f"read address {names.address}", lambda: self.compute.addresses.get(
            project=self.project, region=region, address=names.address))
        return found.address

    def instance_body(self, name: str, names: Names, labels: Mapping[str, str], zone: str, user_data: str,
                      nat_ip: str | None = None, role: str = WORKER) -> compute_v1.Instance:
        settings = self.compute.settings
        access = compute_v1.AccessConfig(name="external-nat", type_="ONE_TO_ONE_NAT")
        if nat_ip:
            access.nat_i_p = nat_ip
        return compute_v1.Instance(
            name=name, machine_type=f"zones/{zone}/machineTypes/{settings.machine_type}",
            labels={**labels, ROLE: role}, tags=compute_v1.Tags(items=[names.cluster]),
            disks=[compute_v1.AttachedDisk(
                boot=True, auto_delete=True, type_="PERSISTENT",
                initialize_params=compute_v1.AttachedDiskInitializeParams(
                    source_image=settings.image, disk_size_gb=settings.disk_gb, labels=dict(labels)))],
            network_interfaces=[compute_v1.NetworkInterface(
                network=f"projects/{self.project}/global/networks/{names.network}", access_configs=[access])],
            metadata=compute_v1.Metadata(items=[compute_v1.Items(key="user-data", value=user_data)]),
        )

    def create_instances(self, zone: str, bodies: list[compute_v1.Instance]) -> None:
        """Start every insert first, then await them all, so N VMs boot together."""
        instances = self.compute.instances
        started = []
        for body in bodies:
            op = ops.call(f"create instance {body.name} in {zone}", lambda b=body: instances.insert(
                project=self.project, zone=zone, instance_resource=b))
            started.append((body.name, op))
        for name, op in started:
            self._await(op, f"create instance {name}")

    def internal_ip(self, zone: str, name: str) -> str:
        found = ops.call(f"read instance {name}", lambda: self.compute.instances.get(
            project=self.project, zone=zone, instance=name))
        return found.network_interfaces[0].network_i_p

    def serial_output(self, zone: str, name: str) -> str:
        instances = self.compute.instances
        found = ops.call(f"read the serial console of {name}", lambda: instances.get_serial_port_output(
            project=self.project, zone=zone, instance=name))
        return found.contents

    # --- disruption ----------------------------------------------------------------------
    def power(self, zone: str, names: list[str], running: bool) -> None:
        """Stop or start instances together; return once every operation is done."""
        verb = "start" if running else "stop"
        call = self.compute.instances.start if running else self.compute.instances.stop
        started = [(name, ops.call(f"{verb} instance {name}", lambda n=name: call(
            project=self.project, zone=zone, instance=n))) for name in names]
        for name, op in started:
            self._await(op, f"{verb} instance {name}")

    def fence(self, names: Names, api_port: int, fenced: bool) -> None:
        """A deny rule on the API port above the cluster's own rules (priority 0), or its removal."""
        firewalls = self.compute.firewalls
        if not fenced:
            name = names.fence_firewall
            op = ops.ignore_missing(lambda: ops.call(f"delete firewall {name}", lambda: firewalls.delete(
                project=self.project, firewall=name)))
            if op is not None:
                self._await(op, f"delete firewall {names.fence_firewall}")
            return
        api_rule = ops.call(f"read firewall {names.api_firewall}", lambda: firewalls.get(
            project=self.project, firewall=names.api_firewall))
        rule = compute_v1.Firewall(
            name=names.fence_firewall, network=api_rule.network, direction="INGRESS", priority=0,
            source_ranges=["0.0.0.0/0"], target_tags=[names.cluster], description=api_rule.description,
            denied=[compute_v1.Denied(I_p_protocol="tcp", ports=[str(api_port)])])
        try:
            op = ops.call(f"create firewall {rule.name}", lambda: firewalls.insert(
                project=self.project, firewall_resource=rule))
        except Conflict:  # fenced already
            return
        self._await(op, f"create firewall {rule.name}")

    # --- find ----------------------------------------------------------------------------
    def find(self, wanted: Mapping[str, str] | None = None, has: str | None = None) -> list[Resource]:
        """Resources whose labels include `wanted`, or that carry the label `has`."""
        flt = lbl.filter_expression(wanted) if wanted else f"labels.{has}:*"

        def keep(found: Mapping[str, str]) -> bool:
            if wanted:
                return all(found.get(k) == v for k, v in wanted.items())
            return has in found

        out: list[Resource] = []
        instances = ops.call("list instances", lambda: list(self.compute.instances.aggregated_list(
            request=compute_v1.AggregatedListInstancesRequest(project=self.project, filter=flt))))
        for scope, listing in instances:
            out += [Resource("instance", i.name, scope.rsplit("/", 1)[-1], dict(i.labels))
                    for i in listing.instances if keep(i.labels)]
        addresses = ops.call("list addresses", lambda: list(self.compute.addresses.aggregated_list(
            request=compute_v1.AggregatedListAddressesRequest(project=self.project, filter=flt))))
        for scope, listing in addresses:
            out += [Resource("address", a.name, scope.rsplit("/", 1)[-1], dict(a.labels))
                    for a in listing.addresses if keep(a.labels)]
        for kind, lister in (("firewall", self.compute.firewalls), ("network", self.compute.networks)):
            items = ops.call(f"list {kind}s", lambda c=lister: list(c.list(project=self.project)))
            for item in items:
                found = lbl.from_description(item.description)
                if found and keep(found):
                    out.append(Resource(kind, item.name, "global", found))
        return out

    # --- delete --------------------------------------------------------------------------
    def delete(self, resources: list[Resource]) -> list[str]:
        """Delete in dependency order, each kind's deletes in flight together; return what went.

        One failure does not stop the others (a janitor run should clear what it can); the first
        is raised at the end, with a count of the rest.
        """
        deleted: list[str] = []
        failed: list[ProviderError] = []

        def attempt(fn: Callable[[], Any]) -> Any:
            try:
                return ops.ignore_missing(fn)
            except ProviderError as err:
                failed.append(err)
                return False

        for kind in KIND_ORDER:
            batch = [r for r in resources if r.kind == kind]
            started = [(r, attempt(lambda r=r: ops.call(f"delete {r}", self._deleter(r)))) for r in batch]
            for res, op in started:
                if op is False:
                    continue
                if op is None or attempt(lambda res=res, op=op: self._await(op, f"delete {res}")) is not False:
                    deleted.append(str(res))
        if failed:
            more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
            raise type(failed[0])(failed[0].problem + more, failed[0].fix)
        return deleted

    def _deleter(self, res: Resource) -> Callable[[], Any]:
        c, p = self.compute, self.project
        return {
            "instance": lambda: c.instances.delete(project=p, zone=res.where, instance=res.name),
            "firewall": lambda: c.firewalls.delete(project=p, firewall=res.name),
            "address": lambda: c.addresses.delete(project=p, region=res.where, address=res.name),
            "network": lambda: c.networks.delete(project=p, network=res.name),
        }[res.kind]
