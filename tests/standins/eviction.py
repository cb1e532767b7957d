"""The Eviction API for the stand-in API (kmock has no subresources that act).

POST .../pods/NAME/eviction answers 201 as kube-apiserver does, then, in order: the pod gets the
DisruptionTarget condition (reason EvictionByEvictionAPI), a graceful deletion (deletionTimestamp:
the fake kubelet kills its processes), the kubelet's final status (Failed, the main container
terminated with 137) and the removal of the object.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import threading
from collections.abc import Iterator
from typing import Any

import kmock
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.standins.kube import KubeStandIn

EVICTION_PATH = re.compile(r"^/api/v1/namespaces/([^/]+)/pods/([^/]+)/eviction$")


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class StandInEviction:
    """`with StandInEviction.serving(kube, "east", api) as eviction:`; eviction.evicted lists "ns/name"."""

    def __init__(self, api: client.ApiClient, stop_seconds: float = 0.2) -> None:
        self.core = client.CoreV1Api(api)
        self.stop_seconds = stop_seconds
        self.evicted: list[str] = []
        self.threads: list[threading.Thread] = []

    @classmethod
    @contextlib.contextmanager
    def serving(cls, kube: KubeStandIn, cluster: str, api: client.ApiClient) -> Iterator[StandInEviction]:
        eviction = cls(api)
        emulator = kube.clusters[cluster].emulator
        kube.call(lambda: emulator.override << eviction._react)
        yield eviction
        for thread in eviction.threads:
            thread.join(10)

    def _react(self, request: kmock.Request) -> Any:
        match = EVICTION_PATH.match(request.url.path)
        if not match or str(request.method).rsplit(".", 1)[-1].upper() != "POST":
            raise NotImplementedError  # not ours: the emulator answers
        namespace, name = match.groups()
        self.evicted.append(f"{namespace}/{name}")
        thread = threading.Thread(target=self._evict, args=(namespace, name), daemon=True)
        self.threads.append(thread)
        thread.start()
        return kmock.Response(status=201, payload={"kind": "Status", "apiVersion": "v1", "metadata": {},
                                                   "status": "Success", "code": 201})

    def _evict(self, namespace: str, name: str) -> None:
        try:
            pod = self.core.read_namespaced_pod(name, namespace)
            self.core.patch_namespaced_pod_status(name, namespace, {"status": {"conditions": [{
                "type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI",
                "message": "Eviction API: evicting", "lastTransitionTime": _now()}]}})
            self.core.patch_namespaced_pod(name, namespace, {"metadata": {
                "deletionTimestamp": _now(), "deletionGracePeriodSeconds": 5}})
            threading.Event().wait(self.stop_seconds)  # the kubelet stops the containers
            main = pod.spec.containers[0]
            self.core.patch_namespaced_pod_status(name, namespace, {"status": {
                "phase": "Failed", "containerStatuses": [{
                    "name": main.name, "image": main.image, "imageID": "", "ready": False, "restartCount": 0,
                    "state": {"terminated": {"exitCode": 137, "reason": "Error", "finishedAt": _now()}}}]}})
            self.core.delete_namespaced_pod(name, namespace)
        except ApiException:
            return  # the pod was gone already
