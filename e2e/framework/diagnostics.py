"""Evidence from a namespace, written before anything is deleted: events, pod logs, objects.

Secret objects are never dumped. Each collector is independent: one failing call (an RBAC
gap, a pod already gone) is noted in errors.txt and the rest are still written.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

_LOG_BYTES = 10 * 1024 * 1024


def test_dir(artifacts: Path, test_id: str) -> Path:
    """artifacts/<test id>/, with the test id made safe as a folder name."""
    safe = re.sub(r"[^A-Za-z0-9_.\-\[\]]+", "_", test_id.replace("::", "__")).strip("_")
    return artifacts / safe[:200]


def _objects(api: client.ApiClient, namespace: str) -> dict[str, Callable[[], Any]]:
    core, apps, batch = client.CoreV1Api(api), client.AppsV1Api(api), client.BatchV1Api(api)
    net = client.NetworkingV1Api(api)
    kw = {"_request_timeout": 30}
    return {
        "events": lambda: core.list_namespaced_event(namespace, **kw),
        "pods": lambda: core.list_namespaced_pod(namespace, **kw),
        "services": lambda: core.list_namespaced_service(namespace, **kw),
        "endpoints": lambda: core.list_namespaced_endpoints(namespace, **kw),
        "configmaps": lambda: core.list_namespaced_config_map(namespace, **kw),
        "persistentvolumeclaims": lambda: core.list_namespaced_persistent_volume_claim(namespace, **kw),
        "deployments": lambda: apps.list_namespaced_deployment(namespace, **kw),
        "jobs": lambda: batch.list_namespaced_job(namespace, **kw),
        "cronjobs": lambda: batch.list_namespaced_cron_job(namespace, **kw),
        "ingresses": lambda: net.list_namespaced_ingress(namespace, **kw),
    }


def dump_namespace(api: client.ApiClient, namespace: str, dest: Path) -> list[Path]:
    """Write <kind>.yaml for each kind and <pod>.<container>.log for each container."""
    dest.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    errors: list[str] = []
    pods: list[Any] = []
    for kind, fetch in _objects(api, namespace).items():
        try:
            listing = fetch()
        except Exception as err:
            errors.append(f"{kind}: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")
            continue
        if kind == "pods":
            pods = listing.items
        path = dest / f"{kind}.yaml"
        path.write_text(yaml.safe_dump(api.sanitize_for_serialization(listing), sort_keys=False), encoding="utf-8")
        written.append(path)
    core = client.CoreV1Api(api)
    for pod in pods:
        containers = [c.name for c in (pod.spec.init_containers or []) + (pod.spec.containers or [])]
        for container in containers:
            for previous in (False, True):
                try:
                    text = core.read_namespaced_pod_log(
                        pod.metadata.name, namespace, container=container, previous=previous,
                        limit_bytes=_LOG_BYTES, _request_timeout=30,
                    )
                except Exception as err:
                    if not previous:
                        errors.append(f"log {pod.metadata.name}/{container}: {type(err).__name__}")
                    continue
                suffix = ".previous.log" if previous else ".log"
                path = dest / f"{pod.metadata.name}.{container}{suffix}"
                path.write_text(text if isinstance(text, str) else str(text), encoding="utf-8")
                written.append(path)
    if errors:
        path = dest / "errors.txt"
        path.write_text("\n".join(errors) + "\n", encoding="utf-8")
        written.append(path)
    return written
