"""What a cluster (or the set) can do; a missing capability becomes a skip reason naming what is missing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException

DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"


def ingress_class(api: client.ApiClient, cluster: str) -> tuple[str | None, str]:
    """The IngressClass to use (the default one, else the only one) or None and why."""
    try:
        classes = client.NetworkingV1Api(api).list_ingress_class(_request_timeout=(5, 15)).items
    except ApiException as err:
        return None, f"cluster {cluster}: IngressClasses cannot be listed (HTTP {err.status})"
    if not classes:
        return None, (f"cluster {cluster} has no IngressClass: install an ingress controller "
                      "(e.g. ingress-nginx) to run the ingress tests")
    for ic in classes:
        if (ic.metadata.annotations or {}).get(DEFAULT_CLASS_ANNOTATION) == "true":
            return ic.metadata.name, f"default IngressClass {ic.metadata.name}"
    if len(classes) == 1:
        return classes[0].metadata.name, f"the only IngressClass, {classes[0].metadata.name}"
    names = sorted(ic.metadata.name for ic in classes)
    return None, (f"cluster {cluster} has {len(names)} IngressClasses {names} and none is marked default: "
                  f"annotate one with {DEFAULT_CLASS_ANNOTATION}=true")


def federation_skip_reason(clusters: Sequence[Any]) -> str | None:
    """Federation needs two clusters that are up."""
    if len(clusters) >= 2:
        return None
    names = ", ".join(getattr(c, "name", str(c)) for c in clusters) or "none"
    return (f"federation needs at least 2 clusters up, {len(clusters)} up ({names}): "
            "run with --clusters 2 or more")
