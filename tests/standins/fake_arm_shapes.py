"""Request-shape checks of the fake ARM: what real ARM rejects with 400, per resource type."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.standins.fake_arm import FakeArm


class ArmError(Exception):
    def __init__(self, status: int, code: str, message: str = "") -> None:
        super().__init__(code)
        self.status, self.code, self.message = status, code, message or code


def require(body: Any, key: str) -> Any:
    if not isinstance(body, dict) or key not in body or body[key] in (None, ""):
        raise ArmError(400, "InvalidRequestContent", f"The request content is missing '{key}'.")
    return body[key]


def _nsg(fake: FakeArm, res: dict[str, Any]) -> None:
    for rule in res["properties"].get("securityRules", []):
        props = require(rule, "properties")
        for key in ("protocol", "access", "direction", "priority", "sourceAddressPrefix", "destinationPortRange"):
            require(props, key)
        rule["id"] = f"{res['id']}/securityRules/{rule['name']}"


def _vnet(fake: FakeArm, res: dict[str, Any]) -> None:
    if not require(require(res["properties"], "addressSpace"), "addressPrefixes"):
        raise ArmError(400, "InvalidRequestContent", "addressSpace.addressPrefixes is empty")
    for subnet in res["properties"].get("subnets", []):
        props = require(subnet, "properties")
        require(props, "addressPrefix")
        if "networkSecurityGroup" in props:
            fake.exists(props["networkSecurityGroup"]["id"], "network security group")
        if "natGateway" in props:
            fake.exists(props["natGateway"]["id"], "NAT gateway")
        subnet["id"] = f"{res['id']}/subnets/{require(subnet, 'name')}"
        fake.store[subnet["id"].lower()] = {**subnet, "type": "Microsoft.Network/virtualNetworks/subnets"}


def _public_ip(fake: FakeArm, res: dict[str, Any]) -> None:
    require(res["properties"], "publicIPAllocationMethod")
    res["properties"]["ipAddress"] = fake.public_ip


def _nat_gateway(fake: FakeArm, res: dict[str, Any]) -> None:
    if (res.get("sku") or {}).get("name") != "Standard":
        raise ArmError(400, "InvalidParameter", "a NAT gateway needs sku Standard")
    for ip in res["properties"].get("publicIpAddresses", []):
        address = fake.exists(require(ip, "id"), "public IP address")
        if (address.get("sku") or {}).get("name") != "Standard":
            raise ArmError(400, "NatGatewayCannotBeAssociatedWithBasicSkuPublicIp", "needs a Standard public IP")


def _nic(fake: FakeArm, res: dict[str, Any]) -> None:
    configs = require(res["properties"], "ipConfigurations")
    for config in configs:
        props = require(config, "properties")
        fake.exists(require(require(props, "subnet"), "id"), "subnet")
        if "publicIPAddress" in props:
            fake.exists(props["publicIPAddress"]["id"], "public IP address")
        if props.get("privateIPAllocationMethod") == "Static":
            require(props, "privateIPAddress")


def _vm(fake: FakeArm, res: dict[str, Any]) -> None:
    props = res["properties"]
    require(require(props, "hardwareProfile"), "vmSize")
    image = require(require(props, "storageProfile"), "imageReference")
    for key in ("publisher", "offer", "sku", "version"):
        require(image, key)
    os_profile = require(props, "osProfile")
    require(os_profile, "computerName")
    require(os_profile, "adminUsername")
    try:
        base64.b64decode(require(os_profile, "customData"), validate=True)
    except ValueError:
        raise ArmError(400, "InvalidParameter", "customData is not base64") from None
    linux = os_profile.get("linuxConfiguration") or {}
    if linux.get("disablePasswordAuthentication") and not (linux.get("ssh") or {}).get("publicKeys"):
        raise ArmError(400, "InvalidParameter", "an SSH public key is required without a password")
    for nic in require(require(props, "networkProfile"), "networkInterfaces"):
        fake.exists(require(nic, "id"), "network interface")


VALIDATORS: dict[str, Callable[[FakeArm, dict[str, Any]], None]] = {
    "microsoft.network/networksecuritygroups": _nsg,
    "microsoft.network/virtualnetworks": _vnet,
    "microsoft.network/publicipaddresses": _public_ip,
    "microsoft.network/networkinterfaces": _nic,
    "microsoft.network/natgateways": _nat_gateway,
    "microsoft.compute/virtualmachines": _vm,
}
