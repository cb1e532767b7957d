"""Pick the kind node image for a Kubernetes version from the table kept in node_images.yaml.

Pinning is data, not code: the installed kind's release selects the images built for it, and an
unknown release or version fails before any cluster is created, naming what is supported.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from providers.base import ConfigError

TABLE = Path(__file__).with_name("node_images.yaml")
OVERRIDE_HINT = "or pass --provider-opt node_image=IMAGE@sha256:..."
RELEASES = "https://github.com/kubernetes-sigs/kind/releases"


@dataclass(frozen=True)
class NodeImage:
    image: str
    k8s_version: str  # without the leading "v"; "" when the image was given by the user
    pinned: bool = True  # False for an image built locally, which has no registry digest


# What the container engine knows of a local image: its registry digests ([] when built locally),
# or None when the engine has no such image.
Inspect = Callable[[str], "list[str] | None"]


@functools.cache
def table() -> dict[str, dict[str, Any]]:
    return yaml.safe_load(TABLE.read_text(encoding="utf-8"))["releases"]


def _by_version(release: dict[str, Any]) -> list[str]:
    return sorted(release["images"], key=lambda v: tuple(int(p) for p in v.split(".")), reverse=True)


def supported(kind_release: str) -> list[str]:
    """The Kubernetes versions with a node image for `kind_release` (newest first); [] if unknown."""
    release = table().get(kind_release)
    return _by_version(release) if release else []


def _elsewhere(wanted: str, kind_release: str) -> str:
    """Where a version missing from `kind_release` can be had: another release in the table, or a build."""
    for release in sorted(table(), reverse=True):
        versions = [v for v in _by_version(table()[release]) if v == wanted or v.startswith(wanted + ".")]
        if release != kind_release and versions:
            image = table()[release]["images"][versions[0]]
            return f"kind {release} has it: install that release or pass --provider-opt node_image={image}"
    patch = wanted if wanted.count(".") == 2 else f"{wanted}.0"
    return (f"for {wanted}, install the kind release whose notes list it ({RELEASES}) and pass its image as "
            f"--provider-opt node_image=..., or build one (`kind build node-image v{patch}`) and pass its tag")


def _local(override: str, inspect: Inspect | None) -> NodeImage:
    """An image given without a digest: accepted only when built locally (the engine has no registry digest)."""
    digests = inspect(override) if inspect is not None else None
    if digests is None:
        raise ConfigError(f"node image {override!r} is not pinned by digest and not in the local image store",
                          "pass it as kindest/node:vX.Y.Z@sha256:... from the kind release notes, "
                          "or build it locally first (`kind build node-image`)")
    if digests:
        raise ConfigError(f"node image {override!r} is not pinned by digest",
                          f"pass it pinned, as {digests[0]}")
    return NodeImage(override, "", pinned=False)


def choose(kind_release: str, k8s_version: str | None, override: str | None = None,
           inspect: Inspect | None = None) -> NodeImage:
    """The node image for `k8s_version` ("1.35", "1.35.8" or None for the release default).

    An `override` must be pinned by digest, or be built locally (tag or image id): `inspect` asks the
    engine, and such an image comes back with pinned=False for the caller to warn about.
    """
    if override:
        if "@sha256:" not in override:
            return _local(override, inspect)
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
            f"use --k8s-version with one of: {', '.join(versions)}; {_elsewhere(wanted, kind_release)}",
        )
    return NodeImage(release["images"][chosen], chosen)
