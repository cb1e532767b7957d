"""What tests read about the run: images (already through the --image-registry mirror) and addresses."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_REACH_WINDOW = 20.0  # seconds a federated shard's address may take to answer (--reach-window)


@dataclass(frozen=True)
class E2EConfig:
    run_id: str
    artifacts: Path
    provider: str
    image_pull_policy: str
    agnhost_image: str
    busybox_image: str
    git_image: str
    ingress_address: str | None
    reach_window: float = DEFAULT_REACH_WINDOW


def mirrored(ref: str, registry: str | None) -> str:
    """`ref` through a mirror: registry.k8s.io/x/y:t -> MIRROR/x/y:t, busybox:1 -> MIRROR/busybox:1."""
    if not registry:
        return ref
    first, _, rest = ref.partition("/")
    path = rest if rest and ("." in first or ":" in first or first == "localhost") else ref
    return f"{registry.rstrip('/')}/{path}"
