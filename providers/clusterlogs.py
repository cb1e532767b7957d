"""What any provider may read of a cluster through its API server: nodes and kube-system events.

Shared by the providers whose own logs say little about Kubernetes (existing, the VM clouds);
a failed read is written as the file's content, so the dump never hides why it is thin.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from kubernetes import client

from providers.base import Cluster
from providers.readiness import api_client


def dump_api_side(cluster: Cluster, dest: Path) -> list[Path]:
    """nodes.yaml and kube-system-events.yaml under `dest`; returns the files written."""
    dest.mkdir(parents=True, exist_ok=True)
    api = api_client(cluster.kubeconfig, cluster.context)
    core = client.CoreV1Api(api)
    written = []
    try:
        for filename, fetch in (
            ("nodes.yaml", lambda: core.list_node(_request_timeout=30)),
            ("kube-system-events.yaml", lambda: core.list_namespaced_event("kube-system", _request_timeout=30)),
        ):
            try:
                data = api.sanitize_for_serialization(fetch())
            except Exception as err:
                data = {"error": f"{type(err).__name__}: {err}"}
            path = dest / filename
            path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
            written.append(path)
    finally:
        api.close()
    return written
