"""Install ingress-nginx from the manifest kept next to this module, and wait until it serves.

Applied with the official client (kubernetes.utils.create_from_yaml); objects that already exist
are accepted, so a repeated install is harmless. The wait has one overall deadline and two parts:
a watch on the controller Deployment, then its admission webhook answering. The Deployment's
Available=True is not enough: with one replica and maxUnavailable 1 it holds from the start, while
the controller still waits for its certgen secret, and until it serves its webhook every Ingress
create fails with `failed calling webhook ... connection refused`. Nothing can be watched for the
webhook, so a server-side dry run of an Ingress (stores nothing) is retried, with back-off, until the
webhook answers; a timeout says what was last seen.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import urllib3
import yaml
from kubernetes import client, utils, watch
from kubernetes.client.rest import ApiException

from providers.base import ClusterUnreachable, DeadlineExceeded, ProviderError
from providers.options import mirrored

LOG = logging.getLogger(__name__)  # what the bring-up waits for: the run's heartbeat says it
MANIFEST = Path(__file__).with_name("ingress-nginx.yaml")
NAMESPACE = "ingress-nginx"
CONTROLLER = "ingress-nginx-controller"
INGRESS_CLASS = "nginx"
WEBHOOK = "validate.nginx.ingress.kubernetes.io"
_PROBE_BACKOFF = (0.2, 2.0)  # first and longest pause between dry runs while the webhook refuses


@functools.cache
def _parsed_manifest() -> tuple[dict[str, Any], ...]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return tuple(doc for doc in yaml.load_all(MANIFEST.read_text(encoding="utf-8"), Loader=loader) if doc)


def _pod_specs(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj.get("spec") or {}
    template = (spec.get("template") or {}).get("spec")
    return [template] if template else []


def manifest_objects(image_registry: str | None = None) -> list[dict[str, Any]]:
    """The manifest's objects (parsed once per process; each caller gets its own copy), every
    container image through `image_registry` when one is given."""
    objects = copy.deepcopy(list(_parsed_manifest()))
    for obj in objects:
        for pod in _pod_specs(obj):
            for container in [*pod.get("initContainers", []), *pod.get("containers", [])]:
                container["image"] = mirrored(container["image"], image_registry)
    return objects


def images(image_registry: str | None = None) -> list[str]:
    """Every image the manifest runs, as the cluster will pull it."""
    return sorted({c["image"] for obj in manifest_objects(image_registry) for pod in _pod_specs(obj)
                   for c in [*pod.get("initContainers", []), *pod.get("containers", [])]})


def apply(api: client.ApiClient, image_registry: str | None = None) -> int:
    """Create every object of the manifest; return how many it holds."""
    objects = manifest_objects(image_registry)
    try:
        utils.create_from_yaml(api, yaml_objects=objects)
    except utils.FailToCreateError as err:
        failed = [e for e in err.api_exceptions if getattr(e, "status", None) != 409]
        if failed:
            first = failed[0]
            raise ProviderError(
                f"applying {MANIFEST.name} failed for {len(failed)} objects "
                f"(first: HTTP {getattr(first, 'status', '?')} {getattr(first, 'reason', first)})",
                "check the API server answers and the kubeconfig user may create cluster-wide objects",
            ) from None
    except urllib3.exceptions.HTTPError as err:
        raise ClusterUnreachable(f"applying {MANIFEST.name} failed: API server unreachable ({err})",
                                 "check the cluster is running") from None
    return len(objects)


def _availability(dep: client.V1Deployment) -> tuple[bool, str]:
    status = dep.status or client.V1DeploymentStatus()
    wanted = (dep.spec.replicas if dep.spec and dep.spec.replicas is not None else 1)
    for cond in status.conditions or []:
        if cond.type == "Available" and cond.status == "True":
            return True, "Available"
    available = status.available_replicas or 0
    detail = f"{available}/{wanted} replicas available"
    for cond in status.conditions or []:
        if cond.message:
            detail += f", {cond.type}: {cond.message}"
    return available >= wanted > 0, detail


def wait_available(api: client.ApiClient, deadline_seconds: float,
                   namespace: str = NAMESPACE, name: str = CONTROLLER, until: float | None = None) -> None:
    """Watch Deployment namespace/name until it is available, or raise DeadlineExceeded.
    `until` (time.monotonic()) ends the wait earlier, when it shares a deadline of `deadline_seconds`."""
    apps = client.AppsV1Api(api)
    deadline = time.monotonic() + deadline_seconds if until is None else until
    last = "not created yet"
    while (remaining := deadline - time.monotonic()) > 0:
        stream = watch.Watch()
        try:
            for event in stream.stream(apps.list_namespaced_deployment, namespace,
                                       field_selector=f"metadata.name={name}",
                                       timeout_seconds=max(1, int(remaining)), _request_timeout=remaining):
                dep = event["object"]
                if dep.metadata.name != name:
                    continue
                ready, last = _availability(dep)
                if ready:
                    return
        except (urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.ProtocolError):
            pass  # nothing arrived before the deadline, or the stream broke: the loop re-checks the time
        except urllib3.exceptions.HTTPError as err:
            raise ClusterUnreachable(f"watching {namespace}/{name} failed: API server unreachable ({err})",
                                     "check the cluster is running") from None
        finally:
            stream.stop()
    raise DeadlineExceeded(
        f"ingress controller Deployment {namespace}/{name} not available within {deadline_seconds:g}s "
        f"(last: {last})",
        f"check image pulls and the {NAMESPACE} pods, or raise --deadline",
    )


def _probe_ingress() -> dict[str, Any]:
    backend = {"service": {"name": "fedtest-admission-probe", "port": {"number": 80}}}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "fedtest-admission-probe", "namespace": NAMESPACE},
            "spec": {"ingressClassName": INGRESS_CLASS, "defaultBackend": backend}}


def _webhook_answered(err: ApiException) -> bool:
    """The webhook answered when it denied the request, or when only storage refused it (409)."""
    return err.status == 409 or (err.status == 400 and "denied the request" in str(err.body or ""))


def wait_admission(api: client.ApiClient, deadline_seconds: float, until: float | None = None) -> None:
    """Dry-run an Ingress until ingress-nginx's admission webhook answers, or raise DeadlineExceeded."""
    networking = client.NetworkingV1Api(api)
    deadline = time.monotonic() + deadline_seconds if until is None else until
    pause, last = _PROBE_BACKOFF[0], "not tried yet"
    pauses = threading.Event()  # never set: a sleep that is explicit about being one
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            networking.create_namespaced_ingress(NAMESPACE, _probe_ingress(), dry_run="All",
                                                 _request_timeout=max(1.0, min(remaining, 15.0)))
            return
        except ApiException as err:
            if _webhook_answered(err):
                return
            message = _status_message(err)
            if err.status != 500 or WEBHOOK not in message:
                raise ProviderError(f"checking ingress-nginx's admission webhook failed (HTTP {err.status}: {message})",
                                    f"check the {NAMESPACE} pods and the kubeconfig user may create Ingresses",
                                    ) from None
            last = message
        except (urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.ProtocolError) as err:
            last = f"{type(err).__name__}"
        except urllib3.exceptions.HTTPError as err:
            raise ClusterUnreachable(f"checking ingress-nginx's admission webhook failed: API server unreachable "
                                     f"({err})", "check the cluster is running") from None
        pauses.wait(min(pause, max(0.0, deadline - time.monotonic())))
        pause = min(pause * 2, _PROBE_BACKOFF[1])
    raise DeadlineExceeded(
        f"admission webhook of ingress-nginx not answering within {deadline_seconds:g}s (last: {last[:300]})",
        f"check the {NAMESPACE} controller pod and its admission jobs (certgen), or raise --deadline",
    )


def _status_message(err: ApiException) -> str:
    try:
        return str(json.loads(err.body or "{}").get("message") or err.reason)
    except ValueError:
        return str(err.reason)


def install(api: client.ApiClient, deadline_seconds: float, image_registry: str | None = None) -> None:
    """Apply the manifest, then wait (one deadline) for the controller and for its admission webhook."""
    apply(api, image_registry)
    until = time.monotonic() + deadline_seconds  # the waits share one deadline
    LOG.info("waiting for ingress-nginx's controller Deployment to be available")
    wait_available(api, deadline_seconds, until=until)
    LOG.info("waiting for ingress-nginx's admission webhook to answer (a dry-run Ingress)")
    wait_admission(api, deadline_seconds, until=until)
