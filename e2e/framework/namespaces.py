"""Per-test namespaces: unique, labelled with the run id, deleted within a deadline.

The run-id label is what the end-of-session leak check looks for, so a namespace that
outlives its test (deletion hung, worker killed) is reported rather than forgotten.

A test's teardown asks for the deletion and goes on (`Reaper.delete`): the namespace controller takes
seconds per namespace, and a worker waiting for each one in turn spends much of the run there. The
process awaits them all at once before its session ends (`Reaper.wait`, fedtest.plugin), so the
session's leak check still sees only what was really left.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
from dataclasses import dataclass, field

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from e2e.framework import waits

RUN_LABEL = "fedtest.io/run-id"
TEST_ANNOTATION = "fedtest.io/test"
_MAX = 63


def namespace_name(test_id: str) -> str:
    """A DNS-1123 label from the test's name: readable prefix, random suffix, <= 63 chars."""
    base = test_id.split("::")[-1].split("[")[0]
    slug = re.sub(r"[^a-z0-9]+", "-", base.lower()).strip("-") or "test"
    slug = slug.removeprefix("test-")
    digest = hashlib.sha1(test_id.encode()).hexdigest()[:4]
    suffix = f"{digest}{secrets.token_hex(2)}"
    return f"ft-{slug[: _MAX - len(suffix) - 5].rstrip('-')}-{suffix}"


def create(api: client.ApiClient, name: str, run_id: str, test_id: str,
           labels: dict[str, str] | None = None) -> str:
    body = client.V1Namespace(
        metadata=client.V1ObjectMeta(
            name=name,
            labels={RUN_LABEL: run_id, **(labels or {})},
            annotations={TEST_ANNOTATION: test_id[:1000]},
        )
    )
    client.CoreV1Api(api).create_namespace(body, _request_timeout=30)
    return name


def delete(api: client.ApiClient, name: str, deadline_seconds: float) -> bool:
    """Delete and wait until the namespace is gone; False if it still exists at the deadline."""
    core = client.CoreV1Api(api)
    try:
        core.delete_namespace(name, propagation_policy="Foreground", _request_timeout=30)
    except ApiException as err:
        if err.status == 404:
            return True
        raise
    try:
        waits.gone(core.list_namespace, None, name, "namespace", max(deadline_seconds, 0.001))
    except waits.WaitTimeout:
        return False
    return True


def of_run(api: client.ApiClient, run_id: str) -> list[str]:
    """Namespaces labelled with this run id that still exist (Terminating ones included)."""
    listing = client.CoreV1Api(api).list_namespace(label_selector=f"{RUN_LABEL}={run_id}", _request_timeout=30)
    # Filter again client-side: a selector the server ignored must not make us blame others' namespaces.
    return sorted(ns.metadata.name for ns in listing.items
                  if (ns.metadata.labels or {}).get(RUN_LABEL) == run_id)


@dataclass
class Reaper:
    """Namespaces being deleted whose end has not been awaited yet (one per process: REAPER)."""

    pending: list[tuple[client.ApiClient, str, str]] = field(default_factory=list)  # (api, name, where)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def delete(self, api: client.ApiClient, name: str, where: str) -> None:
        """Ask for the deletion now; `wait` awaits its end."""
        try:
            client.CoreV1Api(api).delete_namespace(name, propagation_policy="Foreground", _request_timeout=30)
        except ApiException as err:
            if err.status == 404:
                return
            raise
        with self.lock:
            self.pending.append((api, name, where))

    def wait(self, deadline_seconds: float) -> list[str]:
        """Await every pending deletion within one shared deadline; 'NAME in WHERE' of those still there."""
        with self.lock:
            pending, self.pending = self.pending, []
        deadline = waits.Deadline(deadline_seconds)
        stuck = []
        for api, name, where in pending:  # deleted side by side: the first wait is most of the others'
            core = client.CoreV1Api(api)
            try:  # one look at least, also past the deadline
                waits.gone(core.list_namespace, None, name, "namespace", max(deadline.remaining(), 1.0))
            except waits.WaitTimeout:
                stuck.append(f"{name} in {where}")
        return stuck


REAPER = Reaper()
