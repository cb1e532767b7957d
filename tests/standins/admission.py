"""What stands between a pod and its containers on a real node, for the fake kubelet.

- scheduling: a node whose labels match the pod's nodeSelector, whose NoSchedule/NoExecute taints
  the pod tolerates, and that is not cordoned (the Node objects of the stand-in API; with none,
  one implicit node), else the scheduler's PodScheduled=False/Unschedulable condition and message;
- image references: the grammar of distribution/reference (what containerd parses), else the
  kubelet's InvalidImageName; a registry that lacks the image answers NotFound, which the kubelet
  reports as ErrImagePull and then, during its back-off, ImagePullBackOff;
- env from ConfigMaps: a missing ConfigMap or key is the kubelet's CreateContainerConfigError.

Messages are the ones kube-scheduler, the kubelet and containerd write.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException

IMPLICIT_NODE = {"metadata": {"name": "standin-node", "labels": {
    "kubernetes.io/hostname": "standin-node", "kubernetes.io/os": "linux"}}, "spec": {}}

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9A-Fa-f]{32,}"
REFERENCE = re.compile(rf"^(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*(?::{_TAG})?(?:@{_DIGEST})?$")


def normalized(image: str) -> str:
    """busybox:1 -> docker.io/library/busybox:1, as containerd names what it pulls."""
    first, _, rest = image.partition("/")
    if not rest or not ("." in first or ":" in first or first == "localhost"):
        image = f"docker.io/{image if rest else 'library/' + image}"
    name = image.split("@")[0]
    return image if ":" in name.rsplit("/", 1)[-1] or "@" in image else f"{image}:latest"


def invalid_image(image: str) -> str | None:
    """The kubelet's InvalidImageName message, or None for a reference that parses."""
    if REFERENCE.match(image):
        return None
    detail = "invalid reference format"
    if image.lower() != image and REFERENCE.match(image.lower()):
        detail += ": repository name must be lowercase"
    return f'Failed to apply default image tag "{image}": couldn\'t parse image name "{image}": {detail}'


def pull_error(image: str) -> str:
    ref = normalized(image)
    return (f'rpc error: code = NotFound desc = failed to pull and unpack image "{ref}": failed to resolve '
            f'reference "{ref}": {ref}: not found')


def backoff_message(image: str) -> str:
    return f'Back-off pulling image "{image}"'


def _tolerated(taint: dict[str, Any], tolerations: list[dict[str, Any]]) -> bool:
    for tol in tolerations:
        if tol.get("effect") and tol["effect"] != taint.get("effect"):
            continue
        if tol.get("operator") == "Exists" and (not tol.get("key") or tol["key"] == taint.get("key")):
            return True
        if tol.get("key") == taint.get("key") and tol.get("value", "") == taint.get("value", ""):
            return True
    return False


@dataclass(frozen=True)
class Placement:
    node: str | None
    unschedulable: str = ""


def schedule(pod: dict[str, Any], nodes: list[dict[str, Any]]) -> Placement:
    """The first node that fits, or None and the scheduler's message."""
    spec = pod["spec"]
    selector = spec.get("nodeSelector") or {}
    tolerations = spec.get("tolerations") or []
    candidates = nodes or [IMPLICIT_NODE]
    reasons: dict[str, int] = {}
    for node in candidates:
        labels = node["metadata"].get("labels") or {}
        taints = [t for t in (node.get("spec") or {}).get("taints") or []
                  if t.get("effect") in ("NoSchedule", "NoExecute")]
        untolerated = [t for t in taints if not _tolerated(t, tolerations)]
        if (node.get("spec") or {}).get("unschedulable"):
            why = "node(s) were unschedulable"
        elif any(labels.get(k) != v for k, v in selector.items()):
            why = "node(s) didn't match Pod's node affinity/selector"
        elif untolerated:
            t = untolerated[0]
            why = f"node(s) had untolerated taint {{{t['key']}: {t.get('value', '')}}}"
        else:
            return Placement(node["metadata"]["name"])
        reasons[why] = reasons.get(why, 0) + 1
    total = len(candidates)
    parts = ", ".join(f"{n} {why}" for why, n in sorted(reasons.items()))
    return Placement(None, f"0/{total} nodes are available: {parts}. preemption: 0/{total} nodes are "
                           f"available: {total} Preemption is not helpful for scheduling.")


def config_env_error(core: client.CoreV1Api, namespace: str, container: dict[str, Any]) -> str | None:
    """Resolve env valueFrom configMapKeyRef into plain values; the kubelet's message if one is missing."""
    for item in container.get("env") or []:
        ref = (item.get("valueFrom") or {}).get("configMapKeyRef")
        if not ref:
            continue
        try:
            data = core.read_namespaced_config_map(ref["name"], namespace).data or {}
        except ApiException as err:
            if err.status != 404:
                raise
            data = None
        if data is None or ref["key"] not in data:
            if ref.get("optional"):
                continue
            if data is None:
                return f'configmap "{ref["name"]}" not found'
            return f"couldn't find key {ref['key']} in ConfigMap {namespace}/{ref['name']}"
        item["value"] = data[ref["key"]]
    return None


def waiting_reason(core: client.CoreV1Api, namespace: str, container: dict[str, Any],
                   unpullable: Collection[str]) -> tuple[str, str] | None:
    """Why the kubelet cannot start this container yet: (reason, message), or None."""
    image = container.get("image", "")
    invalid = invalid_image(image)
    if invalid:
        return "InvalidImageName", invalid
    if image in unpullable or normalized(image) in unpullable:
        return "ErrImagePull", pull_error(image)
    config = config_env_error(core, namespace, container)
    if config:
        return "CreateContainerConfigError", config
    return None


def ready_node(name: str, taints: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """A Node object as a kubelet registers it: hostname label, Ready, optional taints."""
    return {"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "spec": {"taints": taints} if taints else {},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}}


def add_nodes(api: client.ApiClient, *names: str) -> None:
    core = client.CoreV1Api(api)
    for name in names:
        core.create_node(ready_node(name))
