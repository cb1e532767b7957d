"""Kubernetes API clients for the clusters of the set, one per cluster and process."""

from __future__ import annotations

import threading

from kubernetes import client

from providers.base import Cluster
from providers.readiness import api_client

_clients: dict[tuple[str, str], client.ApiClient] = {}
_lock = threading.Lock()


def client_for(cluster: Cluster) -> client.ApiClient:
    """A cached ApiClient for the cluster's kubeconfig and context (cheap to ask for again)."""
    key = (str(cluster.kubeconfig), cluster.context)
    with _lock:
        if key not in _clients:
            _clients[key] = api_client(cluster.kubeconfig, cluster.context)
        return _clients[key]


def close_all() -> None:
    with _lock:
        for api in _clients.values():
            api.close()
        _clients.clear()
