"""GCE settings (declared in `Settings`, parsed by providers/settings.py), credentials, compute/v1 clients.

Credentials come from google.auth.default. Only when api_endpoint is a loopback URL (an emulator
on this machine, which cannot check tokens) are AnonymousCredentials used, so a real endpoint
never receives an unauthenticated call and a test never needs real credentials.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import google.auth
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials, Credentials
from google.auth.exceptions import DefaultCredentialsError
from google.cloud import compute_v1

from providers import settings as settings_mod
from providers.base import AuthError, ProviderOptions
from providers.bootstrap.cluster import VMSettings
from providers.settings import setting

DEFAULT_ZONES = ("europe-west1-b",)
DEFAULT_IMAGE = "projects/ubuntu-os-cloud/global/images/family/ubuntu-2404-lts-amd64"
DEFAULT_MACHINE_TYPE = "e2-standard-2"
_ZONE = re.compile(r"^[a-z]+(-[a-z]+)?-[a-z]+\d+-[a-z]$")
_MACHINE_TYPE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)+$")
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]


def _matching(pattern: re.Pattern[str]) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        items = value if isinstance(value, tuple) else (value,)
        if not all(pattern.match(item) for item in items):
            raise ValueError("")
        return value
    return check


def _endpoint(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("")
    return raw.rstrip("/")


def _key_file_project() -> str | None:
    """The project_id of the service-account key the nightly job binds to FEDTEST_GCE_CREDENTIALS."""
    path = os.environ.get("FEDTEST_GCE_CREDENTIALS")
    if not path:
        return None
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # credentials() names the unreadable file
    return data.get("project_id") if isinstance(data, dict) else None


@dataclass(frozen=True)
class Settings(VMSettings):
    project: str = setting("", "GCE project (last resort: the project_id of the key in "
                           "$FEDTEST_GCE_CREDENTIALS).", env=("GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"),
                           fallback=_key_file_project, needed="always", missing="no GCE project given",
                           example="ID")
    zones: tuple[str, ...] = setting(DEFAULT_ZONES, "Zones, tried in order on stockout or quota errors.",
                                     check=_matching(_ZONE), what="a list of GCE zones",
                                     example="europe-west1-b,europe-west4-a")
    machine_type: str = setting(DEFAULT_MACHINE_TYPE, "Machine type of every VM.", check=_matching(_MACHINE_TYPE),
                                what="a machine type", example=DEFAULT_MACHINE_TYPE)
    image: str = setting(DEFAULT_IMAGE, "Boot image (Ubuntu, for the kubeadm packages).")
    disk_gb: int = setting(30, "Boot disk size in GB.", bounds=(10, 65536))
    api_endpoint: str = setting("", "A compute/v1 endpoint other than Google's (a loopback one is an emulator, "
                                "reached without credentials).", check=_endpoint, what="an http(s) URL",
                                example="http://127.0.0.1:8080")

    @property
    def emulator(self) -> bool:
        """A loopback compute endpoint: a local emulator, reached without credentials."""
        return bool(self.api_endpoint) and urlsplit(self.api_endpoint).hostname in _LOOPBACK

    @classmethod
    def from_options(cls, options: ProviderOptions, create: bool = True) -> Settings:
        """The settings of `options.extra`; `create` also demands what only bring-up needs (api_cidr)."""
        parsed = settings_mod.parse(cls, options.extra, "gce")
        if create:
            settings_mod.require(parsed, "gce", "up")
        return parsed


def credentials(settings: Settings) -> Credentials:
    if settings.emulator:
        return AnonymousCredentials()
    # The nightly job binds the cloud key apart from the bucket writer's GOOGLE_APPLICATION_CREDENTIALS.
    key_file = os.environ.get("FEDTEST_GCE_CREDENTIALS")
    try:
        if key_file:
            creds, _project = google.auth.load_credentials_from_file(key_file, scopes=_SCOPES)
        else:
            creds, _project = google.auth.default(scopes=_SCOPES)
    except DefaultCredentialsError as err:
        text = " ".join(str(err).split())
        problem = ("no Google Cloud credentials found" if "not found" in text
                   else f"Google Cloud credentials are unusable ({text.split('. ')[0][:150]})")
        raise AuthError(problem,
                        "run `gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS "
                        "to a service-account key file") from None
    return creds


class Compute:
    """Every compute/v1 client the provider uses, built with the same credentials and options.

    Operations are awaited through the operations clients here, never `op.result()`, which
    polls through a client of its own that ignores api_endpoint.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._kwargs: dict[str, Any] = {"credentials": credentials(settings), "transport": "rest"}
        if settings.api_endpoint:
            self._kwargs["client_options"] = ClientOptions(api_endpoint=settings.api_endpoint)

    @cached_property
    def zones(self) -> compute_v1.ZonesClient:
        return compute_v1.ZonesClient(**self._kwargs)

    @cached_property
    def networks(self) -> compute_v1.NetworksClient:
        return compute_v1.NetworksClient(**self._kwargs)

    @cached_property
    def firewalls(self) -> compute_v1.FirewallsClient:
        return compute_v1.FirewallsClient(**self._kwargs)

    @cached_property
    def addresses(self) -> compute_v1.AddressesClient:
        return compute_v1.AddressesClient(**self._kwargs)

    @cached_property
    def instances(self) -> compute_v1.InstancesClient:
        return compute_v1.InstancesClient(**self._kwargs)

    @cached_property
    def zone_operations(self) -> compute_v1.ZoneOperationsClient:
        return compute_v1.ZoneOperationsClient(**self._kwargs)

    @cached_property
    def region_operations(self) -> compute_v1.RegionOperationsClient:
        return compute_v1.RegionOperationsClient(**self._kwargs)

    @cached_property
    def global_operations(self) -> compute_v1.GlobalOperationsClient:
        return compute_v1.GlobalOperationsClient(**self._kwargs)


def region_of(zone: str) -> str:
    return zone.rsplit("-", 1)[0]
