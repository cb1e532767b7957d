"""The azure provider's settings, declared for the shared parser (providers/settings.py)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from providers import settings as settings_mod
from providers.bootstrap.cluster import VMSettings
from providers.settings import setting

DEFAULT_REGIONS = ("westeurope", "northeurope")
DEFAULT_VM_SIZE = "Standard_D2s_v5"  # kubeadm wants 2 vCPUs on the control plane
DEFAULT_IMAGE = "Canonical:ubuntu-24_04-lts:server:latest"
ARM_ENDPOINT = "https://management.azure.com"
_REGION = re.compile(r"^[a-z0-9]+$")


def _regions(value: tuple[str, ...]) -> tuple[str, ...]:
    regions = tuple(r.lower() for r in value)
    if not all(_REGION.match(r) for r in regions):
        raise ValueError("")
    return regions


def _image(value: str) -> str:
    if len(value.split(":")) != 4 or not all(value.split(":")):
        raise ValueError("")
    return value


def _https(value: str) -> str:
    if not value.startswith("https://"):
        raise ValueError("")
    return value.rstrip("/")


@dataclass(frozen=True)
class AzureSettings(VMSettings):
    subscription: str = setting("", "Azure subscription id.", env=("AZURE_SUBSCRIPTION_ID",), needed="always",
                                missing="no Azure subscription given", example="ID")
    regions: tuple[str, ...] = setting(DEFAULT_REGIONS, "Regions, tried in order on capacity or quota errors.",
                                       check=_regions, what="a list of Azure region names",
                                       example="westeurope,northeurope")
    vm_size: str = setting(DEFAULT_VM_SIZE, "VM size of every node.")
    image: str = setting(DEFAULT_IMAGE, "Marketplace image as PUBLISHER:OFFER:SKU:VERSION (Ubuntu).",
                         check=_image, what="PUBLISHER:OFFER:SKU:VERSION", example=DEFAULT_IMAGE)
    arm_endpoint: str = setting(ARM_ENDPOINT, "Azure Resource Manager endpoint (another cloud, or an emulator).",
                                check=_https, what="an https URL", example=ARM_ENDPOINT)
    poll_seconds: float = setting(15.0, "Seconds between polls of long-running ARM operations.", bounds=(0, None))

    @property
    def image_reference(self) -> tuple[str, str, str, str]:
        publisher, offer, sku, version = self.image.split(":")
        return publisher, offer, sku, version


def parse(extra: Mapping[str, str], *, for_bring_up: bool) -> AzureSettings:
    """The settings of `extra`; `for_bring_up` also demands what only `up` needs (api_cidr)."""
    parsed: AzureSettings = settings_mod.parse(AzureSettings, extra, "azure")
    if for_bring_up:
        settings_mod.require(parsed, "azure", "up")
    return parsed
