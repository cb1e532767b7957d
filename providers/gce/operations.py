"""Call compute/v1 and await its operations, turning every failure into one line.

Capacity problems (stockouts, quota) become CapacityError, so `up` can try the next zone;
permission problems become AuthError; anything else a ProviderError naming what was attempted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import requests
from google.api_core import exceptions as gexc
from google.api_core import retry as api_retry
from google.api_core.exceptions import RetryError
from google.auth.exceptions import GoogleAuthError
from google.cloud import compute_v1

from providers.base import AuthError, CapacityError, ClusterUnreachable, DeadlineExceeded, ProviderError
from providers.gce.settings import Compute

CAPACITY_CODES = frozenset({
    "ZONE_RESOURCE_POOL_EXHAUSTED", "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS", "QUOTA_EXCEEDED",
    "quotaExceeded", "RESOURCE_EXHAUSTED",
})
_DONE = compute_v1.Operation.Status.DONE
T = TypeVar("T")


class _Pending(Exception):
    """Retried: the operation is not DONE yet."""


def _reasons(err: gexc.GoogleAPICallError) -> list[str]:
    found = [e.get("reason", "") for e in (err.errors or []) if isinstance(e, dict)]
    return [r for r in [*found, err.reason or ""] if r]


def call(what: str, fn: Callable[[], T]) -> T:
    """Run one API call; NotFound and Conflict pass through for the caller to judge."""
    try:
        return fn()
    except (gexc.NotFound, gexc.Conflict):
        raise
    except gexc.GoogleAPICallError as err:
        message = (err.message or "").splitlines()[0][:200] if err.message else type(err).__name__
        reasons = _reasons(err)
        if CAPACITY_CODES.intersection(reasons) or "QUOTA_EXCEEDED" in message:
            raise CapacityError(f"GCE has no room to {what} ({message})", "try another zone") from None
        if isinstance(err, gexc.Unauthorized | gexc.Forbidden):
            raise AuthError(f"GCE refused to {what} (HTTP {err.code}: {message})",
                            "use credentials with the Compute Admin role on the project") from None
        raise ProviderError(f"GCE failed to {what} (HTTP {err.code}: {message})",
                            "check the project and options") from None
    except GoogleAuthError as err:
        raise AuthError(f"Google Cloud credentials failed while trying to {what} ({err})",
                        "refresh them with `gcloud auth application-default login`") from None
    except requests.exceptions.RequestException as err:
        raise ClusterUnreachable(f"compute API unreachable while trying to {what} ({type(err).__name__})",
                                 "check the network and --provider-opt api_endpoint") from None


def wait(compute: Compute, operation: Any, what: str, deadline_seconds: float) -> compute_v1.Operation:
    """Await `operation` through the operations client of its scope (zone, region or global)."""
    project = compute.settings.project
    name = operation.name
    zone = (operation.zone or "").rsplit("/", 1)[-1]
    region = (operation.region or "").rsplit("/", 1)[-1]
    if zone:
        def poll_once() -> compute_v1.Operation:
            return compute.zone_operations.wait(project=project, zone=zone, operation=name)
    elif region:
        def poll_once() -> compute_v1.Operation:
            return compute.region_operations.wait(project=project, region=region, operation=name)
    else:
        def poll_once() -> compute_v1.Operation:
            return compute.global_operations.wait(project=project, operation=name)

    def poll() -> compute_v1.Operation:
        result = call(f"await {what}", poll_once)
        if result.status != _DONE:
            raise _Pending()
        return result

    retrying = api_retry.Retry(predicate=api_retry.if_exception_type(_Pending),
                               initial=0.05, maximum=5.0, multiplier=2.0, timeout=deadline_seconds)
    started = time.monotonic()
    try:
        done = retrying(poll)()
    except RetryError:
        raise DeadlineExceeded(f"GCE did not finish {what} within {time.monotonic() - started:.0f}s",
                               "look at the operation in the console or raise the deadline") from None
    errors = list(done.error.errors) if done.error else []
    if errors:
        first = errors[0]
        where = f" in {zone or region}" if zone or region else ""
        if any(e.code in CAPACITY_CODES for e in errors):
            raise CapacityError(f"GCE has no room to {what}{where} ({first.code})", "try another zone")
        raise ProviderError(f"GCE failed to {what}{where} ({first.code}: {first.message[:200]})",
                            "check the project and options")
    return done


def ignore_missing(fn: Callable[[], T]) -> T | None:
    """Deletes treat "already gone" as success."""
    try:
        return fn()
    except gexc.NotFound:
        return None
