"""Wait until a kubeadm cluster has all its nodes Ready: list + watch rounds bounded by one deadline.

Rounds are retried through google-api-core's retry (backoff, overall timeout), so a dropped watch,
an expired resourceVersion (410) or a read timeout starts a fresh list + watch without spinning. A round
watches for at most ROUND_SECONDS and the backoff sleeps on the run's stop signal, so an abort ends the
wait within a round.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import urllib3
from google.api_core.exceptions import RetryError
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from providers import stopping
from providers.base import DeadlineExceeded
from providers.readiness import api_client

ROUND_SECONDS = 2.0


class _NotYet(Exception):
    """A watch round ended before enough nodes were Ready."""


def _is_ready(node: Any) -> bool:
    conditions = (node.status.conditions if node.status else None) or []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)


def wait_nodes_ready(kubeconfig: Path, context: str, expected: int, deadline_seconds: float,
                     stop: stopping.StopSignal = stopping.NEVER) -> list[str]:
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
        stopping.check(stop, f"waiting for the nodes of context {context!r}")
        window = min(remaining, ROUND_SECONDS)
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

    try:
        return stopping.retrying(one_round, retry_on=(_NotYet, ApiException, urllib3.exceptions.HTTPError),
                                 stop=stop, what=f"waiting for the nodes of context {context!r}",
                                 timeout=deadline_seconds, initial=0.1, maximum=1.0)
    except RetryError:
        not_ready = sorted(n for n, ok in ready.items() if not ok)
        raise DeadlineExceeded(
            f"{sum(ready.values())} of {expected} nodes of context {context!r} Ready after {deadline_seconds:g}s"
            f" (not Ready: {', '.join(not_ready) or 'none'}; {len(ready)} registered)",
            "check the VMs' cloud-init output (kubeadm join) or raise the deadline") from None
    finally:
        api.close()
