"""GCE settings from --provider-opt KEY=VALUE, credentials, and the compute/v1 clients.

Options: project (else GOOGLE_CLOUD_PROJECT / CLOUDSDK_CORE_PROJECT), zones (tried in order on
capacity errors), api_cidr (who may reach the API port; required), machine_type, image, disk_gb,
api_port, api_endpoint (a compute/v1 endpoint other than Google's, e.g. a local emulator).

Credentials come from google.auth.default. Only when api_endpoint is a loopback URL (an emulator
on this machine, which cannot check tokens) are AnonymousCredentials used, so a real endpoint
never receives an unauthenticated call and a test never needs real credentials.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
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

from providers.base import AuthError, ConfigError, ProviderOptions

DEFAULT_ZONES = ("europe-west1-b",)
DEFAULT_IMAGE = "projects/ubuntu-os-cloud/global/images/family/ubuntu-2404-lts-amd64"
DEFAULT_MACHINE_TYPE = "e2-standard-2"
KNOWN_OPTIONS = frozenset({
    "project", "zones", "api_cidr", "machine_type", "image", "disk_gb", "api_port", "api_endpoint"})
_ZONE = re.compile(r"^[a-z]+(-[a-z]+)?-[a-z]+\d+-[a-z]$")
_MACHINE_TYPE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)+$")
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]


def _opt(name: str) -> str:
    return f"--provider-opt {name}="


@dataclass(frozen=True)
class Settings:
    project: str
    zones: tuple[str, ...]
    api_cidr: str
    machine_type: str = DEFAULT_MACHINE_TYPE
    image: str = DEFAULT_IMAGE
    disk_gb: int = 30
    api_port: int = 6443
    api_endpoint: str | None = None

    @property
    def emulator(self) -> bool:
        """A loopback compute endpoint: a local emulator, reached without credentials."""
        return self.api_endpoint is not None and urlsplit(self.api_endpoint).hostname in _LOOPBACK

    @classmethod
    def from_options(cls, options: ProviderOptions, create: bool = True) -> Settings:
        """Validate every option up front: one line per problem, before anything is created.

        api_cidr is needed only to create; down, leaks and sweep work without it.
        """
        extra = dict(options.extra)
        unknown = sorted(set(extra) - KNOWN_OPTIONS)
        if unknown:
            raise ConfigError(f"unknown gce option {unknown[0]!r}",
                              f"use one of: {', '.join(sorted(KNOWN_OPTIONS))}")
        project = (extra.get("project") or os.environ.get("GOOGLE_CLOUD_PROJECT")
                   or os.environ.get("CLOUDSDK_CORE_PROJECT") or _key_file_project())
        if not project:
            raise ConfigError("no GCE project given",
                              f"pass {_opt('project')}ID or set GOOGLE_CLOUD_PROJECT")
        zones = tuple(z.strip() for z in extra.get("zones", ",".join(DEFAULT_ZONES)).split(",") if z.strip())
        bad_zone = next((z for z in zones if not _ZONE.match(z)), None)
        if not zones or bad_zone is not None:
            raise ConfigError(f"{_opt('zones')}{extra.get('zones')} is not a list of GCE zones",
                              f"write it as {_opt('zones')}europe-west1-b,europe-west4-a")
        machine_type = extra.get("machine_type", DEFAULT_MACHINE_TYPE)
        if not _MACHINE_TYPE.match(machine_type):
            raise ConfigError(f"{_opt('machine_type')}{machine_type} is not a machine type",
                              f"write it as {_opt('machine_type')}e2-standard-2")
        return cls(
            project=project, zones=zones, api_cidr=_cidr(extra.get("api_cidr"), create),
            machine_type=machine_type, image=extra.get("image", DEFAULT_IMAGE),
            disk_gb=_int(extra, "disk_gb", 30, 10, 65536), api_port=_int(extra, "api_port", 6443, 1, 65535),
            api_endpoint=_endpoint(extra.get("api_endpoint")),
        )


def _cidr(raw: str | None, required: bool) -> str:
    if not raw and not required:
        return ""
    if not raw:
        raise ConfigError("no CIDR may reach the cluster API port",
                          f"pass {_opt('api_cidr')}203.0.113.7/32 (your address) or a wider range")
    try:
        return str(ipaddress.ip_network(raw.strip(), strict=True))
    except ValueError as err:
        raise ConfigError(f"{_opt('api_cidr')}{raw} is not a CIDR ({err})",
                          f"write it as {_opt('api_cidr')}203.0.113.0/24") from None


def _int(extra: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = extra.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ConfigError(f"{_opt(name)}{raw} is not a number from {low} to {high}",
                          f"pass e.g. {_opt(name)}{default}")
    return int(raw)


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


def _endpoint(raw: str | None) -> str | None:
    if raw is None:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{_opt('api_endpoint')}{raw} is not an http(s) URL",
                          f"write it as {_opt('api_endpoint')}http://127.0.0.1:8080")
    return raw.rstrip("/")


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
