"""Azure Resource Manager plumbing: SDK clients, and ARM errors as one-line errors."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
from azure.identity import CredentialUnavailableError, DefaultAzureCredential
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.resource.resources import ResourceManagementClient

from providers.azure.settings import AzureSettings
from providers.base import AuthError, CapacityError, ConfigError, ProviderError

# The region has no room or the subscription no quota: worth retrying elsewhere.
CAPACITY_CODES = frozenset({
    "SkuNotAvailable", "AllocationFailed", "ZonalAllocationFailed", "OverconstrainedAllocationRequest",
    "OverconstrainedZonalAllocationRequest", "QuotaExceeded", "ResourceQuotaExceeded",
    "PublicIPCountLimitReached", "SubscriptionQuotaExceeded",
})
UNKNOWN_REGION_CODES = frozenset({"LocationNotAvailableForResourceGroup", "InvalidLocation",
                                  "LocationNotAvailableForResourceType", "NoRegisteredProviderFound"})


@dataclass
class Clients:
    resources: ResourceManagementClient
    network: NetworkManagementClient
    compute: ComputeManagementClient

    def close(self) -> None:
        for sdk_client in (self.resources, self.network, self.compute):
            sdk_client.close()


def clients(settings: AzureSettings) -> Clients:
    """SDK clients on DefaultAzureCredential, so `az login`, a service principal or a managed identity work."""
    credential = DefaultAzureCredential()
    common: dict[str, Any] = {"base_url": settings.arm_endpoint, "polling_interval": settings.poll_seconds,
                              "credential_scopes": [f"{settings.arm_endpoint}/.default"]}
    return Clients(
        ResourceManagementClient(credential, settings.subscription, **common),
        NetworkManagementClient(credential, settings.subscription, **common),
        ComputeManagementClient(credential, settings.subscription, **common),
    )


def error_code(err: HttpResponseError) -> str:
    code = getattr(getattr(err, "error", None), "code", None)
    if code:
        return str(code)
    found = re.search(r"\(([A-Za-z]+)\)|Code: ([A-Za-z]+)", str(err))
    return next((g for g in found.groups() if g), "") if found else ""


def _first_line(err: BaseException) -> str:
    message = getattr(getattr(err, "error", None), "message", None) or str(err)
    line = next((x.strip() for x in str(message).splitlines() if x.strip()), type(err).__name__)
    return line[:240]


def is_capacity(err: HttpResponseError) -> bool:
    code = error_code(err)
    return code in CAPACITY_CODES or (code == "OperationNotAllowed" and "quota" in str(err).lower())


@contextlib.contextmanager
def translated(action: str, settings: AzureSettings, region: str = "") -> Iterator[None]:
    """Turn SDK exceptions raised while doing `action` into one-line ProviderErrors."""
    try:
        yield
    except ProviderError:
        raise
    except CredentialUnavailableError:
        raise _no_credentials() from None
    except ClientAuthenticationError as err:
        if "DefaultAzureCredential" in str(err) or getattr(err, "status_code", None) is None:
            raise _no_credentials() from None
        raise AuthError(f"Azure refused the credentials while trying to {action} ({_first_line(err)})",
                        "log in again (`az login`) or check the service principal's secret") from None
    except HttpResponseError as err:
        code = error_code(err)
        if code in UNKNOWN_REGION_CODES:
            raise ConfigError(f"Azure region {region!r} cannot be used ({code})",
                              "pass --provider-opt regions=westeurope,... with regions your subscription has"
                              ) from None
        if code in ("AuthorizationFailed", "LinkedAuthorizationFailed", "InvalidAuthenticationToken"):
            raise AuthError(f"not allowed to {action} in subscription {settings.subscription} ({code})",
                            "grant the identity Contributor on the subscription") from None
        if code in ("SubscriptionNotFound", "InvalidSubscriptionId"):
            raise ConfigError(f"Azure subscription {settings.subscription!r} not found ({code})",
                              "pass --provider-opt subscription=ID of a subscription you can use") from None
        if is_capacity(err):
            raise CapacityError(f"no capacity to {action} in {region or 'Azure'} ({code})",
                                "try other regions (--provider-opt regions=...) or a smaller vm_size") from None
        raise ProviderError(f"Azure failed to {action} ({code or 'HTTP ' + str(err.status_code)}: "
                            f"{_first_line(err)})", "see the Azure activity log of the resource group") from None


def _no_credentials() -> AuthError:
    return AuthError("no Azure credentials found (DefaultAzureCredential tried environment, managed identity "
                     "and developer tools)", "run `az login`, or set AZURE_TENANT_ID, AZURE_CLIENT_ID and "
                     "AZURE_CLIENT_SECRET for a service principal")
