"""Create one cluster's resources inside its resource group: network, addresses, NICs and kubeadm VMs.

Layout: VNet 10.0.0.0/16 with one subnet 10.0.0.0/24 guarded by an NSG that opens only the API
port, and only to `api_cidr`; a NAT gateway gives the nodes outbound access (packages, images).
The control plane has a static public IP (known before the VM boots, so it goes into the API
server certificate) and the static private IP workers join through.
"""

from __future__ import annotations

import base64
import dataclasses
from dataclasses import dataclass

from azure.mgmt.compute import models as compute
from azure.mgmt.network import models as network
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from providers.azure.arm import Clients, translated
from providers.azure.settings import AzureSettings
from providers.bootstrap import BootstrapParams, render_control_plane, render_worker

VNET_CIDR, SUBNET_CIDR, CONTROL_PLANE_IP = "10.0.0.0/16", "10.0.0.0/24", "10.0.0.4"
ADMIN_USER = "fedtest"


@dataclass(frozen=True)
class Built:
    public_ip: str
    vm_names: tuple[str, ...]


def _throwaway_ssh_key() -> str:
    """Azure demands an SSH key for Linux VMs; the harness never logs in, so the private half is dropped."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                         serialization.PublicFormat.OpenSSH).decode()


def _public_ip(arm: Clients, settings: AzureSettings, group: str, region: str, tags: dict[str, str],
               name: str) -> tuple[str, str]:
    """A static Standard public IP: its address is known before any VM boots. Returns (id, address)."""
    with translated(f"create public IP address {name}", settings, region):
        pip = arm.network.public_ip_addresses.begin_create_or_update(group, name, network.PublicIPAddress(
            location=region, tags=tags, sku=network.PublicIPAddressSku(name="Standard"),
            public_ip_allocation_method="Static",
        )).result()
    return pip.id, pip.ip_address


def _network(arm: Clients, settings: AzureSettings, group: str, region: str, tags: dict[str, str]) -> str:
    """NSG (API port from api_cidr only), NAT gateway (outbound for apt and images: new Azure subnets
    have no default outbound access) and the VNet whose subnet uses both; returns the subnet id."""
    rule = network.SecurityRule(
        name="kube-apiserver", protocol="Tcp", access="Allow", direction="Inbound", priority=100,
        source_address_prefix=settings.api_cidr, source_port_range="*",
        destination_address_prefix="*", destination_port_range=str(settings.api_port))
    with translated("create the network security group", settings, region):
        nsg = arm.network.network_security_groups.begin_create_or_update(
            group, f"{group}-nsg", network.NetworkSecurityGroup(location=region, tags=tags, security_rules=[rule]),
        ).result()
    nat_ip_id, _address = _public_ip(arm, settings, group, region, tags, f"{group}-nat")
    with translated("create the NAT gateway", settings, region):
        nat = arm.network.nat_gateways.begin_create_or_update(group, f"{group}-nat", network.NatGateway(
            location=region, tags=tags, sku=network.NatGatewaySku(name="Standard"),
            public_ip_addresses=[network.SubResource(id=nat_ip_id)],
        )).result()
    with translated("create the virtual network", settings, region):
        vnet = arm.network.virtual_networks.begin_create_or_update(group, f"{group}-vnet", network.VirtualNetwork(
            location=region, tags=tags, address_space=network.AddressSpace(address_prefixes=[VNET_CIDR]),
            subnets=[network.Subnet(name="nodes", address_prefix=SUBNET_CIDR,
                                    network_security_group=network.NetworkSecurityGroup(id=nsg.id),
                                    nat_gateway=network.SubResource(id=nat.id))],
        )).result()
    return vnet.subnets[0].id


def _nic(arm: Clients, settings: AzureSettings, group: str, region: str, tags: dict[str, str], name: str,
         subnet_id: str, public_ip_id: str | None) -> str:
    ipconfig = network.NetworkInterfaceIPConfiguration(name="ipconfig1", subnet=network.Subnet(id=subnet_id))
    if public_ip_id:
        ipconfig.private_ip_allocation_method = "Static"
        ipconfig.private_ip_address = CONTROL_PLANE_IP
        ipconfig.public_ip_address = network.PublicIPAddress(id=public_ip_id)
    with translated(f"create network interface {name}", settings, region):
        return arm.network.network_interfaces.begin_create_or_update(group, name, network.NetworkInterface(
            location=region, tags=tags, ip_configurations=[ipconfig])).result().id


def _vm(settings: AzureSettings, region: str, tags: dict[str, str], name: str, nic_id: str,
        user_data: str, ssh_key: str) -> compute.VirtualMachine:
    publisher, offer, sku, version = settings.image_reference
    return compute.VirtualMachine(
        location=region, tags=tags,
        hardware_profile=compute.HardwareProfile(vm_size=settings.vm_size),
        storage_profile=compute.StorageProfile(
            image_reference=compute.ImageReference(publisher=publisher, offer=offer, sku=sku, version=version),
            os_disk=compute.OSDisk(create_option="FromImage", delete_option="Delete",
                                   managed_disk=compute.ManagedDiskParameters(storage_account_type="StandardSSD_LRS"))),
        os_profile=compute.OSProfile(
            computer_name=name, admin_username=ADMIN_USER,
            custom_data=base64.b64encode(user_data.encode()).decode(),
            linux_configuration=compute.LinuxConfiguration(
                disable_password_authentication=True,
                ssh=compute.SshConfiguration(public_keys=[compute.SshPublicKey(
                    path=f"/home/{ADMIN_USER}/.ssh/authorized_keys", key_data=ssh_key)]))),
        network_profile=compute.NetworkProfile(network_interfaces=[
            compute.NetworkInterfaceReference(id=nic_id, primary=True)]),
        diagnostics_profile=compute.DiagnosticsProfile(boot_diagnostics=compute.BootDiagnostics(enabled=True)),
    )


def build_cluster(arm: Clients, settings: AzureSettings, *, group: str, region: str, tags: dict[str, str],
                  params: BootstrapParams, workers: int) -> Built:
    """Everything but the resource group; VMs are created in parallel and all awaited."""
    subnet_id = _network(arm, settings, group, region, tags)
    public_ip_id, public_ip = _public_ip(arm, settings, group, region, tags, f"{group}-api")
    params = dataclasses.replace(params, api_sans=(public_ip,), control_plane_address=CONTROL_PLANE_IP)
    ssh_key = _throwaway_ssh_key()
    names = [f"{group}-cp", *(f"{group}-w{i + 1}" for i in range(workers))]
    bodies = []
    for index, name in enumerate(names):
        nic_id = _nic(arm, settings, group, region, tags, f"{name}-nic", subnet_id,
                      public_ip_id if index == 0 else None)
        user_data = render_control_plane(params) if index == 0 else render_worker(params)
        bodies.append((name, _vm(settings, region, tags, name, nic_id, user_data, ssh_key)))
    pollers = []
    for name, body in bodies:
        with translated(f"create virtual machine {name} ({settings.vm_size})", settings, region):
            pollers.append((name, arm.compute.virtual_machines.begin_create_or_update(group, name, body)))
    for name, poller in pollers:
        with translated(f"create virtual machine {name} ({settings.vm_size})", settings, region):
            poller.result()
    return Built(public_ip, tuple(names))
