"""Pick the kind node image for a Kubernetes version from the table kept in node_images.yaml.

Pinning is data, not code: the installed kind's release selects the images built for it, and an
unknown release or version fails before any cluster is created, naming what is supported.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from providers.base import ConfigError

TABLE = Path(__file__).with_name("node_images.yaml")
OVERRIDE_HINT = "or pass --provider-opt node_image=IMAGE@sha256:..."


@dataclass(frozen=True)
class NodeImage:
    image: str
    k8s_version: str  # without the leading "v"; "" when the image was given by the user


@functools.cache
def table() -> dict[str, dict[str, Any]]:
    return yaml.safe_load(TABLE.read_text(encoding="utf-8"))["releases"]


def _by_version(release: dict[str, Any]) -> list[str]:
    return sorted(release["images"], key=lambda v: tuple(int(p) for p in v.split(".")), reverse=True)


def supported(kind_release: str) -> list[str]:
    """The Kubernetes versions with a node image for `kind_release` (newest first); [] if unknown."""
    release = table().get(kind_release)
    return _by_version(release) if release else []


def choose(kind_release: str, k8s_version: str | None, override: str | None = None) -> NodeImage:
    """The node image for `k8s_version` ("1.35", "1.35.8" or None for the release default)."""
    if override:
        if "@sha256:" not in override:
            raise ConfigError(f"node image {override!r} is not pinned by digest",
                              "pass it as kindest/node:vX.Y.Z@sha256:... from the kind release notes")
        return NodeImage(override, "")
    release = table().get(kind_release)
    if release is None:
        raise ConfigError(
            f"kind {kind_release} is not in the node image table ({TABLE.name})",
            f"install kind {' or '.join(sorted(table(), reverse=True))}, add its images to the table, "
            f"{OVERRIDE_HINT}",
        )
    wanted = (k8s_version or release["default"]).lstrip("v")
    versions = _by_version(release)
    exact = [v for v in versions if v == wanted]
    same_minor = [v for v in versions if wanted.count(".") == 1 and v.startswith(wanted + ".")]
    chosen = (exact or same_minor or [None])[0]
    if chosen is None:
        raise ConfigError(
            f"Kubernetes {wanted} has no node image for kind {kind_release}",
            f"use --k8s-version with one of: {', '.join(versions)} ({OVERRIDE_HINT})",
        )
    return NodeImage(release["images"][chosen], chosen)
