"""What tests read about the run: images (already through the --image-registry mirror) and addresses."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from providers.options import mirrored  # images through --image-registry, the one rule for providers and tests

__all__ = ["E2EConfig", "mirrored"]

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

