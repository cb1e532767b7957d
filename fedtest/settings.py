"""A run's settings as typed values: what the pytest options (or another front end) decided."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from e2e.framework.builders import DEFAULT_AGNHOST_IMAGE, DEFAULT_BUSYBOX_IMAGE, DEFAULT_GIT_IMAGE
from e2e.framework.config import DEFAULT_REACH_WINDOW
from e2e.framework.conformance import ConformanceSettings
from e2e.framework.diagnostics import DEFAULT_CAP_MIB


@dataclass(frozen=True)
class Settings:
    provider: str | None = None
    clusters: int | None = None
    kubeconfig: str | None = None
    contexts: str | None = None
    keep_clusters: bool = False
    artifacts: Path = Path("_artifacts")
    work_dir: str | None = None
    k8s_version: str | None = None
    image_registry: str | None = None
    image_pull_policy: str = "IfNotPresent"
    agnhost_image: str = DEFAULT_AGNHOST_IMAGE
    busybox_image: str = DEFAULT_BUSYBOX_IMAGE
    git_image: str = DEFAULT_GIT_IMAGE
    ingress_address: str | None = None
    provider_opts: tuple[str, ...] = ()
    bringup_deadline: float = 900.0
    namespace_deadline: float = 120.0
    reach_window: float = DEFAULT_REACH_WINDOW
    diagnostics_cap_mib: float = DEFAULT_CAP_MIB
    # the build record
    results: str | None = None
    job: str | None = None
    build_id: str | None = None
    deadline: float | None = None
    abort_reserve: float = 300.0
    results_deadline: float = 30.0
    progress_every: float = 30.0
    conformance: ConformanceSettings | None = None  # the upstream suite after the tests (--conformance)

    @property
    def build_log(self) -> Path:
        return self.artifacts / "build-log.txt"
