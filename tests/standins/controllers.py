"""A test-side "deployment controller" for KubeStandIn clusters (kmock runs no controllers).

While running it watches Deployments in every stand-in cluster and marks each one Available,
as the real controller manager would once its pods are ready.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import urllib3
from kubernetes import client, watch

from tests.standins.kube import KubeStandIn

AVAILABLE = {"status": {
    "replicas": 1, "readyReplicas": 1, "availableReplicas": 1,
    "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}],
}}


def _api(url: str) -> client.ApiClient:
    conf = client.Configuration(host=url)
    conf.api_key = {"authorization": "Bearer standin"}
    return client.ApiClient(conf)


def _mark_available(url: str, stop: threading.Event, marked: list[str]) -> None:
    api = _api(url)
    apps = client.AppsV1Api(api)
    try:
        while not stop.is_set():
            stream = watch.Watch()
            try:
                for event in stream.stream(apps.list_deployment_for_all_namespaces, _request_timeout=0.5):
                    dep = event["object"]
                    conds = (dep.status.conditions if dep.status else None) or []
                    if event["type"] == "DELETED" or any(c.type == "Available" for c in conds):
                        continue
                    name, namespace = dep.metadata.name, dep.metadata.namespace
                    apps.patch_namespaced_deployment_status(name, namespace, AVAILABLE)
                    marked.append(f"{dep.metadata.namespace}/{dep.metadata.name}")
            except (urllib3.exceptions.HTTPError, client.ApiException):
                pass  # read timeout (checks `stop`) or the server went away at the end of the test
            finally:
                stream.stop()
    finally:
        api.close()


@contextlib.contextmanager
def deployments_become_available(kube: KubeStandIn) -> Iterator[list[str]]:
    """Yield the list of "namespace/name" marked so far; stops the watchers on exit."""
    stop = threading.Event()
    marked: list[str] = []
    threads = [threading.Thread(target=_mark_available, args=(c.url, stop, marked), daemon=True,
                                name=f"standin-deployments-{name}") for name, c in kube.clusters.items()]
    for thread in threads:
        thread.start()
    try:
        yield marked
    finally:
        stop.set()
        for thread in threads:
            thread.join(5)
