"""The azure provider's options (--provider-opt KEY=VALUE), validated into one-line errors."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from providers.base import ConfigError
from providers.bootstrap import API_PORT

DEFAULT_REGIONS = ("westeurope", "northeurope")
DEFAULT_VM_SIZE = "Standard_D2s_v5"  # kubeadm wants 2 vCPUs on the control plane
DEFAULT_IMAGE = "Canonical:ubuntu-24_04-lts:server:latest"
ARM_ENDPOINT = "https://management.azure.com"
KNOWN = ("subscription", "regions", "api_cidr", "vm_size", "image", "api_port", "arm_endpoint", "poll_seconds")
_REGION = re.compile(r"^[a-z0-9]+$")


@dataclass(frozen=True)
class AzureSettings:
    subscription: str
    regions: tuple[str, ...] = DEFAULT_REGIONS
    api_cidr: str = ""
    vm_size: str = DEFAULT_VM_SIZE
    image: tuple[str, str, str, str] = tuple(DEFAULT_IMAGE.split(":"))  # type: ignore[assignment]
    api_port: int = API_PORT
    arm_endpoint: str = ARM_ENDPOINT
    poll_seconds: float = 15.0


def _opt(extra: Mapping[str, str], key: str, default: str) -> str:
    return (extra.get(key) or default).strip()


def parse(extra: Mapping[str, str], *, for_bring_up: bool) -> AzureSettings:
    """Read and check the options; `for_bring_up` also demands what only `up` needs (api_cidr)."""
    unknown = sorted(set(extra) - set(KNOWN))
    if unknown:
        raise ConfigError(f"unknown azure option {unknown[0]!r}", f"use one of: {', '.join(KNOWN)}")
    subscription = _opt(extra, "subscription", os.environ.get("AZURE_SUBSCRIPTION_ID", ""))
    if not subscription:
        raise ConfigError("no Azure subscription given",
                          "pass --provider-opt subscription=ID or set AZURE_SUBSCRIPTION_ID")
    regions = tuple(r.strip().lower() for r in _opt(extra, "regions", ",".join(DEFAULT_REGIONS)).split(",")
                    if r.strip())
    bad = [r for r in regions if not _REGION.match(r)]
    if not regions or bad:
        raise ConfigError(f"regions {extra.get('regions', '')!r} is not a list of Azure region names",
                          "pass --provider-opt regions=westeurope,northeurope")
    api_cidr = _opt(extra, "api_cidr", "")
    if api_cidr:
        try:
            api_cidr = str(ipaddress.ip_network(api_cidr, strict=True))
        except ValueError as err:
            raise ConfigError(f"api_cidr {api_cidr!r} is not a CIDR ({err})",
                              "pass --provider-opt api_cidr=203.0.113.7/32 (your address)") from None
    elif for_bring_up:
        raise ConfigError("no api_cidr given: the API port would be open to nobody",
                          "pass --provider-opt api_cidr=203.0.113.7/32 (the address the harness runs from)")
    image = tuple(_opt(extra, "image", DEFAULT_IMAGE).split(":"))
    if len(image) != 4 or not all(image):
        raise ConfigError(f"image {extra.get('image')!r} is not PUBLISHER:OFFER:SKU:VERSION",
                          f"pass --provider-opt image={DEFAULT_IMAGE}")
    try:
        api_port = int(_opt(extra, "api_port", str(API_PORT)))
        poll_seconds = float(_opt(extra, "poll_seconds", "15"))
    except ValueError:
        raise ConfigError("api_port and poll_seconds must be numbers",
                          "pass --provider-opt api_port=6443 poll_seconds=15") from None
    if not 0 < api_port < 65536 or poll_seconds < 0:
        raise ConfigError(f"api_port {api_port} or poll_seconds {poll_seconds:g} is out of range",
                          "use a TCP port (1-65535) and a non-negative number of seconds")
    arm_endpoint = _opt(extra, "arm_endpoint", ARM_ENDPOINT).rstrip("/")
    if not arm_endpoint.startswith("https://"):
        raise ConfigError(f"arm_endpoint {arm_endpoint!r} is not an https URL",
                          f"pass --provider-opt arm_endpoint={ARM_ENDPOINT}")
    return AzureSettings(subscription, regions, api_cidr, _opt(extra, "vm_size", DEFAULT_VM_SIZE),
                         image, api_port, arm_endpoint, poll_seconds)  # type: ignore[arg-type]
