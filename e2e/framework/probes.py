"""HTTP probes: one request, or retry until the expected answer comes, bounded by a deadline."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import urllib3
from google.api_core import retry as api_retry
from kubernetes import client

from e2e.framework import waits

_POOL = urllib3.PoolManager(retries=False)


@dataclass(frozen=True)
class Answer:
    status: int
    body: str


class UnexpectedAnswer(Exception):
    """Not (yet) the answer we wait for; retried until the deadline."""


def get(url: str, host: str | None = None, timeout: float = 5.0) -> Answer:
    """One GET; `host` sets the Host header (how an ingress controller picks the rule)."""
    headers = {"Host": host} if host else {}
    resp = _POOL.request("GET", url, headers=headers, timeout=urllib3.Timeout(connect=timeout, read=timeout),
                         redirect=False)
    return Answer(resp.status, resp.data.decode("utf-8", "replace").strip())


def until(url: str, accept: Callable[[Answer], bool], *, what: str, timeout: float | waits.Deadline,
          host: str | None = None) -> Answer:
    """GET until `accept(answer)`; a controller needs a while to program a new Ingress."""
    deadline = timeout if isinstance(timeout, waits.Deadline) else waits.Deadline(timeout)
    seen: list[str] = []

    def attempt() -> Answer:
        try:
            answer = get(url, host)
        except urllib3.exceptions.HTTPError as err:
            seen.append(f"{type(err).__name__}: {err}")
            raise UnexpectedAnswer(seen[-1]) from err
        seen.append(f"HTTP {answer.status}: {answer.body[:200]}")
        if not accept(answer):
            raise UnexpectedAnswer(seen[-1])
        return answer

    policy = api_retry.Retry(predicate=api_retry.if_exception_type(UnexpectedAnswer), initial=0.5,
                             maximum=5.0, multiplier=1.5, timeout=max(deadline.remaining(), 1.0))
    try:
        return policy(attempt)()
    except Exception as err:
        raise waits.WaitTimeout(f"{what} (GET {url}, Host: {host or '-'})", deadline.seconds,
                                seen[-1] if seen else "no answer", seen[-5:-1]) from err


def ingress_override(cluster: Any, option: str | None) -> str | None:
    """--ingress-address wins; else the host port a provider mapped to the controller (kind records
    ingress_host and ingress_http_port in the cluster's metadata); else None: use the Ingress status."""
    if option:
        return option
    meta = getattr(cluster, "metadata", None) or {}
    if meta.get("ingress_host") and meta.get("ingress_http_port"):
        return f"{meta['ingress_host']}:{meta['ingress_http_port']}"
    return None


def ingress_url(api: client.ApiClient, namespace: str, ingress: str, override: str | None,
                timeout: float | waits.Deadline) -> str:
    """http://ADDRESS of the ingress controller: the override (e.g. a kind port mapping), else the
    address the controller wrote into the Ingress status."""
    if override:
        return override if "://" in override else f"http://{override}"
    address = waits.ingress_address(api, namespace, ingress, timeout)
    return f"http://[{address}]" if ":" in address else f"http://{address}"
