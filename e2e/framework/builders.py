"""Object builders: plain manifests (dicts) the typed client sends as they are, and `create` for them.

Every pod built here passes the Pod Security "restricted" profile: non-root, no privilege escalation,
all capabilities dropped, the RuntimeDefault seccomp profile.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kubernetes import client

DEFAULT_AGNHOST_IMAGE = "registry.k8s.io/e2e-test-images/agnhost:2.53"
DEFAULT_BUSYBOX_IMAGE = "docker.io/library/busybox:1.36.1"
DEFAULT_GIT_IMAGE = "docker.io/alpine/git:2.47.2"
NOBODY = 65534
Manifest = dict[str, Any]


@dataclass(frozen=True)
class Images:
    """Which images the suite runs and how they are pulled (offline clusters point these at a mirror)."""

    agnhost: str = DEFAULT_AGNHOST_IMAGE
    busybox: str = DEFAULT_BUSYBOX_IMAGE
    git: str = DEFAULT_GIT_IMAGE
    pull_policy: str = "IfNotPresent"

    @classmethod
    def from_config(cls, config: Any) -> Images:
        """From the e2e_config fixture; fields it lacks keep their defaults."""
        return cls(
            agnhost=getattr(config, "agnhost_image", None) or DEFAULT_AGNHOST_IMAGE,
            busybox=getattr(config, "busybox_image", None) or DEFAULT_BUSYBOX_IMAGE,
            git=getattr(config, "git_image", None) or DEFAULT_GIT_IMAGE,
            pull_policy=getattr(config, "image_pull_policy", None) or "IfNotPresent",
        )


RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def restricted_pod_security() -> Manifest:
    return {
        "runAsNonRoot": True, "runAsUser": NOBODY, "runAsGroup": NOBODY, "fsGroup": NOBODY,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def meta(name: str, labels: Mapping[str, str] | None = None,
         annotations: Mapping[str, str] | None = None) -> Manifest:
    out: Manifest = {"name": name}
    if labels:
        out["labels"] = dict(labels)
    if annotations:
        out["annotations"] = dict(annotations)
    return out


def verbatim(text: str) -> str:
    """`text` escaped so that the kubelet passes it on unchanged. The kubelet expands `$(VAR)` (a variable
    of the container's env) and turns `$$` into `$` in a container's command, args and env values
    (k8s.io/kubernetes third_party/forked/golang/expansion); with every `$` doubled, what it expands is
    exactly `text`. (Exec commands are not expanded: artifacts.py sends its scripts as they are.)"""
    return text.replace("$", "$$")


def container(name: str, image: str, command: Sequence[str] | None = None, *, pull_policy: str,
              args: Sequence[str] | None = None, env: Mapping[str, str] | None = None,
              mounts: Mapping[str, str] | None = None, port: int | None = None,
              read_only_root: bool = True) -> Manifest:
    """A container with the restricted security context; mounts maps volume name -> mount path.
    Command, args and env values reach the process exactly as given here (`verbatim`)."""
    out: Manifest = {
        "name": name, "image": image, "imagePullPolicy": pull_policy,
        "securityContext": {**RESTRICTED_CONTAINER, "readOnlyRootFilesystem": read_only_root},
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "128Mi"}},
    }
    if command:
        out["command"] = [verbatim(word) for word in command]
    if args:
        out["args"] = [verbatim(word) for word in args]
    if env:
        out["env"] = [{"name": k, "value": verbatim(v)} for k, v in env.items()]
    if mounts:
        out["volumeMounts"] = [{"name": k, "mountPath": v} for k, v in mounts.items()]
    if port:
        out["ports"] = [{"containerPort": port, "name": "http"}]
    return out


RUNNER_POOL_KEY = "fedtest.io/runner-pool"  # the runner pool's label and NoSchedule taint (pool.py)
# The suite's own pods tolerate a runner pool's taint: the pool test makes one while other tests run in
# the same cluster, and on a one-node cluster its taint would keep their pods off the only node.
POOL_TOLERATION = {"key": RUNNER_POOL_KEY, "operator": "Exists", "effect": "NoSchedule"}


def pod_spec(containers: Sequence[Manifest], *, init_containers: Sequence[Manifest] = (),
             volumes: Sequence[Manifest] = (), restart_policy: str = "Never",
             active_deadline_seconds: int | None = None, affinity: Manifest | None = None,
             tolerate_runner_pool: bool = True) -> Manifest:
    """A pod spec; tolerate_runner_pool=False for a pod that must stay out of a runner pool."""
    spec: Manifest = {
        "containers": list(containers), "restartPolicy": restart_policy,
        "securityContext": restricted_pod_security(), "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": 5, "enableServiceLinks": False,
    }
    if tolerate_runner_pool:
        spec["tolerations"] = [dict(POOL_TOLERATION)]
    if init_containers:
        spec["initContainers"] = list(init_containers)
    if volumes:
        spec["volumes"] = list(volumes)
    if active_deadline_seconds is not None:
        spec["activeDeadlineSeconds"] = active_deadline_seconds
    if affinity:
        spec["affinity"] = affinity
    return spec


def pod(name: str, spec: Manifest, labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None) -> Manifest:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta(name, labels, annotations), "spec": spec}


def shell_job(name: str, image: str, script: str, *, pull_policy: str, backoff_limit: int = 0,
              labels: Mapping[str, str] | None = None) -> Manifest:
    """A Job of one busybox-style container running `sh -c script` (never restarted)."""
    spec = pod_spec([container("main", image, ["sh", "-c", script], pull_policy=pull_policy)])
    return job(name, {"metadata": {"labels": dict(labels or {})}, "spec": spec}, backoff_limit=backoff_limit,
               labels=labels)


def job(name: str, template: Manifest, *, backoff_limit: int = 0, labels: Mapping[str, str] | None = None,
        active_deadline_seconds: int | None = None) -> Manifest:
    spec: Manifest = {"template": template, "backoffLimit": backoff_limit}
    if active_deadline_seconds is not None:
        spec["activeDeadlineSeconds"] = active_deadline_seconds
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta(name, labels), "spec": spec}


def cronjob(name: str, schedule: str, job_spec: Manifest, *, concurrency_policy: str = "Allow",
            suspend: bool = False, successful_history: int = 3, failed_history: int = 1,
            time_zone: str | None = None, starting_deadline_seconds: int | None = None) -> Manifest:
    """A CronJob; job_spec is a Job's spec (e.g. shell_job(...)["spec"])."""
    spec: Manifest = {
        "schedule": schedule, "concurrencyPolicy": concurrency_policy, "suspend": suspend,
        "successfulJobsHistoryLimit": successful_history, "failedJobsHistoryLimit": failed_history,
        "jobTemplate": {"spec": job_spec},
    }
    if time_zone:
        spec["timeZone"] = time_zone
    if starting_deadline_seconds is not None:
        spec["startingDeadlineSeconds"] = starting_deadline_seconds
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta(name), "spec": spec}


def deployment(name: str, app_container: Manifest, *, replicas: int = 1,
               labels: Mapping[str, str] | None = None) -> Manifest:
    selector = {"app": name}
    spec = pod_spec([app_container], restart_policy="Always")
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(name, {**selector, **(labels or {})}),
        "spec": {"replicas": replicas, "selector": {"matchLabels": selector},
                 "template": {"metadata": {"labels": selector}, "spec": spec}},
    }


def hostname_server(name: str, images: Images, *, replicas: int = 1, port: int = 8080) -> Manifest:
    """agnhost serve-hostname: every HTTP request is answered with the pod's name, so a response
    tells which backend (and which cluster) served it."""
    app = container("server", images.agnhost, args=["serve-hostname", "--http=true", "--udp=false",
                                                    "--tcp=false", f"--port={port}"],
                    pull_policy=images.pull_policy, port=port)
    app["readinessProbe"] = {"httpGet": {"path": "/", "port": port}, "periodSeconds": 2}
    return deployment(name, app, replicas=replicas)


def service(name: str, selector: Mapping[str, str], *, port: int = 80, target_port: int = 8080,
            service_type: str = "ClusterIP") -> Manifest:
    return {
        "apiVersion": "v1", "kind": "Service", "metadata": meta(name),
        "spec": {"type": service_type, "selector": dict(selector),
                 "ports": [{"name": "http", "port": port, "targetPort": target_port, "protocol": "TCP"}]},
    }


@dataclass(frozen=True)
class Route:
    host: str
    path: str
    service: str
    port: int = 80
    path_type: str = "Prefix"


def ingress(name: str, routes: Sequence[Route], *, class_name: str | None,
            default_backend: str | None = None, default_port: int = 80) -> Manifest:
    """networking.k8s.io/v1 Ingress: every path carries a pathType, as v1 requires."""
    rules: dict[str, list[Manifest]] = {}
    for r in routes:
        rules.setdefault(r.host, []).append({
            "path": r.path, "pathType": r.path_type,
            "backend": {"service": {"name": r.service, "port": {"number": r.port}}},
        })
    spec: Manifest = {"rules": [{"host": h, "http": {"paths": p}} for h, p in rules.items()]}
    if class_name:
        spec["ingressClassName"] = class_name
    if default_backend:
        spec["defaultBackend"] = {"service": {"name": default_backend, "port": {"number": default_port}}}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta(name), "spec": spec}


def config_map(name: str, data: Mapping[str, str], labels: Mapping[str, str] | None = None) -> Manifest:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(name, labels), "data": dict(data)}


def pvc(name: str, size: str = "1Gi", labels: Mapping[str, str] | None = None) -> Manifest:
    return {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta(name, labels),
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}},
    }


_CREATORS = {
    "Pod": (client.CoreV1Api, "create_namespaced_pod"),
    "Service": (client.CoreV1Api, "create_namespaced_service"),
    "ConfigMap": (client.CoreV1Api, "create_namespaced_config_map"),
    "PersistentVolumeClaim": (client.CoreV1Api, "create_namespaced_persistent_volume_claim"),
    "Job": (client.BatchV1Api, "create_namespaced_job"),
    "CronJob": (client.BatchV1Api, "create_namespaced_cron_job"),
    "Deployment": (client.AppsV1Api, "create_namespaced_deployment"),
    "Ingress": (client.NetworkingV1Api, "create_namespaced_ingress"),
    "NetworkPolicy": (client.NetworkingV1Api, "create_namespaced_network_policy"),
    "ServiceAccount": (client.CoreV1Api, "create_namespaced_service_account"),
    "Secret": (client.CoreV1Api, "create_namespaced_secret"),
    "Role": (client.RbacAuthorizationV1Api, "create_namespaced_role"),
    "RoleBinding": (client.RbacAuthorizationV1Api, "create_namespaced_role_binding"),
}


def create(api: client.ApiClient, namespace: str, manifest: Manifest) -> Any:
    """Create with strict field validation, so a misspelt field fails here instead of being dropped.

    The namespace is written into the manifest too (as kubectl does), so the object says where it lives.
    """
    api_class, method = _CREATORS[manifest["kind"]]
    manifest = {**manifest, "metadata": {**manifest["metadata"], "namespace": namespace}}
    return getattr(api_class(api), method)(namespace, manifest, field_validation="Strict")
