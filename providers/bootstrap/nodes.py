"""Wait until a kubeadm cluster has all its nodes Ready: list + watch rounds bounded by one deadline.

Rounds are retried through google-api-core's Retry (backoff, overall timeout), so a dropped watch,
an expired resourceVersion (410) or a read timeout starts a fresh list + watch without spinning.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import urllib3
from google.api_core import retry as api_retry
from google.api_core.exceptions import RetryError
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from providers.base import DeadlineExceeded
from providers.readiness import api_client


class _NotYet(Exception):
    """A watch round ended before enough nodes were Ready."""


def _is_ready(node: Any) -> bool:
    conditions = (node.status.conditions if node.status else None) or []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)


def wait_nodes_ready(kubeconfig: Path, context: str, expected: int, deadline_seconds: float) -> list[str]:
    """Return the Ready nodes' names once `expected` are Ready; DeadlineExceeded names the laggards."""
    api = api_client(kubeconfig, context)
    core = client.CoreV1Api(api)
    until = time.monotonic() + deadline_seconds
    ready: dict[str, bool] = {}

    def done() -> list[str] | None:
        names = sorted(n for n, ok in ready.items() if ok)
        return names if len(names) >= expected else None

    def one_round() -> list[str]:
        remaining = max(1.0, until - time.monotonic())
        listed = core.list_node(_request_timeout=min(30.0, remaining))
        ready.clear()
        ready.update({n.metadata.name: _is_ready(n) for n in listed.items})
        if names := done():
            return names
        window = min(remaining, 300.0)
        for event in watch.Watch().stream(core.list_node, resource_version=listed.metadata.resource_version or None,
                                          timeout_seconds=max(1, int(window)), _request_timeout=window + 1):
            node = event["object"]
            if event["type"] == "DELETED":
                ready.pop(node.metadata.name, None)
            else:
                ready[node.metadata.name] = _is_ready(node)
            if names := done():
                return names
            if time.monotonic() >= until:
                break
        raise _NotYet()

    retrying = api_retry.Retry(
        predicate=api_retry.if_exception_type(_NotYet, ApiException, urllib3.exceptions.HTTPError),
        initial=0.5, maximum=10.0, multiplier=2.0, timeout=deadline_seconds)
    try:
        return retrying(one_round)()
    except RetryError:
        not_ready = sorted(n for n, ok in ready.items() if not ok)
        raise DeadlineExceeded(
            f"{sum(ready.values())} of {expected} nodes of context {context!r} Ready after {deadline_seconds:g}s"
            f" (not Ready: {', '.join(not_ready) or 'none'}; {len(ready)} registered)",
            "check the VMs' cloud-init output (kubeadm join) or raise the deadline") from None
    finally:
        api.close()
