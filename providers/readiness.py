"""Is an API server there, authorised, and ready? Shared by every provider's up and is_up.

Retries with a deadline go through google-api-core's retry (exponential backoff, overall timeout), slept
on the run's stop signal; only connection failures and not-ready answers are retried, 401/403 fail at once.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import urllib3
import yaml
from google.api_core.exceptions import RetryError
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from providers import stopping
from providers.base import AuthError, ClusterUnreachable, ConfigError, DeadlineExceeded, ProviderError

log = logging.getLogger(__name__)  # what a bring-up waits for: the run's progress lines show it


@dataclass(frozen=True)
class Readiness:
    endpoint: str
    version: str


class _NotReady(Exception):
    """Retried: the server answered but /readyz was not ok yet."""


def check_kubeconfig(kubeconfig: Path, contexts: list[str]) -> None:
    """One-line errors for a missing or malformed kubeconfig and for unknown contexts."""
    if not kubeconfig.is_file():
        raise ConfigError(f"kubeconfig {kubeconfig} does not exist", "pass --kubeconfig PATH to a readable file")
    try:
        known, _active = config.list_kube_config_contexts(str(kubeconfig))
    except (ConfigException, OSError, ValueError, TypeError, AttributeError, yaml.YAMLError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConfigError(f"kubeconfig {kubeconfig} is not valid ({first})",
                          "fix the file or pass another") from None
    names = [c["name"] for c in known or []]
    for ctx in contexts:
        if ctx not in names:
            raise ConfigError(
                f"context {ctx!r} is not in kubeconfig {kubeconfig}",
                f"use one of: {', '.join(names) or '(none)'}",
            )


def api_client(kubeconfig: Path, context: str, retries: int | None = None) -> client.ApiClient:
    """A client for `context`; `retries=0` turns off urllib3's own retries (3 by default), so a call's
    timeout is its bound: what waits that retry on their own want, against a frozen API server."""
    try:
        configuration = client.Configuration()
        config.load_kube_config(str(kubeconfig), context=context, client_configuration=configuration)
        if retries is not None:
            configuration.retries = retries
        return client.ApiClient(configuration)
    except (ConfigException, OSError, ValueError, TypeError, AttributeError, yaml.YAMLError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConfigError(f"context {context!r} in {kubeconfig} is unusable ({first})",
                          "fix the kubeconfig") from None


def get_raw(api: client.ApiClient, path: str, timeout: float) -> tuple[int, str]:
    """GET a non-resource path (/readyz, /livez) with the client's own auth; (status, body)."""
    request = api.param_serialize("GET", path, auth_settings=["BearerToken"])
    response = api.call_api(*request, _request_timeout=timeout)
    response.read()
    return response.status, (response.data or b"").decode("utf-8", "replace").strip()


PER_CALL_SECONDS = 5.0  # one probe's bound: a frozen API server holds a wait (and an abort) no longer


def wait_ready(kubeconfig: Path, context: str, deadline_seconds: float,
               stop: stopping.StopSignal = stopping.NEVER) -> Readiness:
    """Wait until /version and /readyz answer, or raise a one-line ProviderError (Stopped on the stop signal)."""
    api = api_client(kubeconfig, context, retries=0)
    endpoint = api.configuration.host
    started = time.monotonic()
    seen: dict[str, str] = {}

    def probe() -> Readiness:
        per_call = max(1.0, min(PER_CALL_SECONDS, deadline_seconds - (time.monotonic() - started)))
        try:
            info = client.VersionApi(api).get_code(_request_timeout=per_call)
            status, body = get_raw(api, "/readyz", per_call)
        except ApiException as err:
            if err.status in (401, 403):
                raise AuthError(
                    f"API server of context {context!r} at {endpoint} answered {err.status} "
                    f"({'unauthorized' if err.status == 401 else 'forbidden'})",
                    "refresh the credentials in the kubeconfig or use a user with access",
                ) from None
            seen["last"] = f"HTTP {err.status}"
            log.info("API server of %s at %s answered HTTP %s", context, endpoint, err.status)
            raise _NotReady() from None
        except urllib3.exceptions.HTTPError as err:
            seen["last"] = "connection failed"
            seen.setdefault("connect", str(getattr(err, "reason", err)))
            log.info("API server of %s at %s not answering yet (%s)", context, endpoint, seen["connect"])
            raise
        if status in (401, 403):
            raise ApiException(status=status, reason=body[:80])
        if status != 200 or body != "ok":
            seen["last"] = f"/readyz answered {status} {body[:80]!r}"
            log.info("API server of %s at %s not ready yet: %s", context, endpoint, seen["last"])
            raise _NotReady()
        seen["answered"] = "yes"
        return Readiness(endpoint, info.git_version)

    try:
        return stopping.retrying(probe, retry_on=(_NotReady, urllib3.exceptions.HTTPError), stop=stop,
                                 what=f"waiting for the API server of context {context!r}", timeout=deadline_seconds)
    except RetryError:
        waited = f"{deadline_seconds:g}s"
        if "answered" not in seen and seen.get("last") == "connection failed":
            raise ClusterUnreachable(
                f"API server of context {context!r} at {endpoint} is unreachable after {waited}",
                "check the cluster is running and the server address in the kubeconfig",
            ) from None
        raise DeadlineExceeded(
            f"API server of context {context!r} at {endpoint} not ready within {waited} "
            f"(last: {seen.get('last', 'no answer')})",
            "wait for the control plane or raise the deadline",
        ) from None
    finally:
        api.close()


def answers(kubeconfig: Path, context: str, deadline_seconds: float = 10.0,
            stop: stopping.StopSignal = stopping.NEVER) -> bool:
    """is_up's question for any provider: does the API server say it is ready, within the deadline?"""
    try:
        wait_ready(kubeconfig, context, deadline_seconds, stop)
    except stopping.Stopped:
        raise
    except ProviderError:
        return False
    return True
