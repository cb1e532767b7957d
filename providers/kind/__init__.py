"""kind clusters on the local container engine, driven through the kind CLI.

Each cluster gets its own kubeconfig file and kind config in the work dir, its own ingress host
ports, the node image the table pins for the installed kind release, and ingress-nginx installed
and awaited. `up` is safe to call from the parallel bring-up threads; `down` treats an absent
cluster as success; every failure is one line naming the problem and the fix.

Settings (--provider-opt KEY=VALUE) are declared in KindSettings below.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import yaml

from providers.base import (
    DISRUPTION,
    INVENTORY,
    Cluster,
    ClusterSpec,
    Provider,
    ProviderError,
    ProviderOptions,
    run_prefix,
)
from providers.kind import images, ingress, tool
from providers.kind.config import LISTEN_ADDRESS, PortAllocator, cluster_config
from providers.kind.disruption import KindDisruption
from providers.readiness import api_client, wait_ready
from providers.settings import setting

LOG = logging.getLogger(__name__)
_CREATE_SLACK_SECONDS = 600.0  # image pulls happen before kind's own --wait starts counting
_DELETE_TIMEOUT_SECONDS = 300.0
_EXPORT_TIMEOUT_SECONDS = 300.0


def _engine(value: str) -> str:
    if value not in tool.ENGINES:
        raise ValueError("")
    return value


@dataclass(frozen=True)
class KindSettings:
    node_image: str = setting(
        "", "Node image instead of the table's for --k8s-version: pinned by digest, or built locally "
        "(`kind build node-image`; tag or image id, accepted with a warning).",
        example="kindest/node:v1.37.0@sha256:...")
    engine: str = setting("", "Container engine: docker or podman (default: $KIND_EXPERIMENTAL_PROVIDER, "
                          "else the first on PATH).", check=_engine, what="docker or podman", example="podman")
    ingress: bool = setting(True, "Install ingress-nginx (its images go through --image-registry).")
    workers: int = setting(0, "Worker nodes per cluster besides the control plane.", bounds=(0, 50),
                           example="2")


class KindProvider(KindDisruption, Provider):
    name = "kind"
    Settings = KindSettings
    capabilities = frozenset({INVENTORY, DISRUPTION})
    settings: KindSettings

    def __init__(self, options: ProviderOptions) -> None:
        super().__init__(options)
        self._lock = threading.Lock()
        self._tools: tool.Toolchain | None = None
        self._ports = PortAllocator()
        self._warned: set[str] = set()

    @classmethod
    def runs_here(cls) -> str:
        """kind on PATH and a container engine that answers (`fedtest list`); raises a one-line ConfigError."""
        found = tool.find()
        return f"kind {found.kind_version}, {found.engine} {found.engine_version}"

    def tools(self) -> tool.Toolchain:
        """kind and its engine, checked once per provider (raises a one-line ConfigError)."""
        with self._lock:
            if self._tools is None:
                self._tools = tool.find(self.settings.engine or None)
            return self._tools

    def node_image(self, spec: ClusterSpec) -> images.NodeImage:
        tools = self.tools()
        image = images.choose(tools.kind_version, spec.k8s_version or self.options.k8s_version,
                              self.settings.node_image or None, lambda ref: tool.image_digests(tools, ref))
        with self._lock:
            if not image.pinned and image.image not in self._warned:
                self._warned.add(image.image)
                LOG.warning("kind node image %s is built locally, not pinned by a registry digest: "
                            "results cannot be reproduced elsewhere", image.image)
        return image

    def plan(self, count: int | None) -> list[ClusterSpec]:
        """Fail fast, before anything is created, on a missing kind or engine or an unsupported version."""
        specs = super().plan(count)
        for spec in specs:
            self.node_image(spec)
        return specs

    def kubeconfig_path(self, name: str) -> Path:
        return self.options.work_dir / f"{name}.kubeconfig"

    def config_path(self, name: str) -> Path:
        return self.options.work_dir / f"{name}.kind.yaml"

    def up(self, spec: ClusterSpec) -> Cluster:
        tools = self.tools()
        image = self.node_image(spec)
        work_dir = self.options.work_dir
        work_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        ports = self._ports.pair()
        config_file = self.config_path(spec.name)
        config_file.write_text(yaml.safe_dump(cluster_config(ports, spec.workers), sort_keys=False),
                               encoding="utf-8")
        kubeconfig = self.kubeconfig_path(spec.name)
        deadline = self.options.deadline_seconds
        try:
            tool.run_kind(
                tools,
                ["create", "cluster", "--name", spec.name, "--kubeconfig", str(kubeconfig),
                 "--config", str(config_file), "--image", image.image, "--wait", f"{max(1, int(deadline))}s"],
                timeout=deadline + _CREATE_SLACK_SECONDS,
                what=f"kind create cluster {spec.name}",
                fix=f"check `{tools.engine} info`; if it half-exists: kind delete cluster --name {spec.name}",
                stop=self.stop,
            )
        except ProviderError:
            self._ports.release(ports)
            raise
        context = f"kind-{spec.name}"
        ready = wait_ready(kubeconfig, context, deadline, self.stop)
        if self.settings.ingress:
            api = api_client(kubeconfig, context)
            try:
                ingress.install(api, deadline, self.options.image_registry)
            finally:
                api.close()
        metadata = {
            "kind_version": tools.kind_version,
            "engine": tools.engine,
            "engine_version": tools.engine_version,
            "node_image": image.image,
            "node_image_pinned": str(image.pinned).lower(),
            "workers": str(spec.workers),
            "kind_config": str(config_file),
            "ingress_class": ingress.INGRESS_CLASS if self.settings.ingress else "",
            "ingress_host": LISTEN_ADDRESS,
            "ingress_http_port": str(ports.http),
            "ingress_https_port": str(ports.https),
        }
        return Cluster(spec.name, self.name, kubeconfig, context, ready.endpoint, ready.version, metadata)

    def clusters(self) -> list[str]:
        """Names of every kind cluster on this engine (`kind get clusters`)."""
        out = tool.run_kind(self.tools(), ["get", "clusters"], timeout=_DELETE_TIMEOUT_SECONDS,
                            what="kind get clusters", fix=f"check `{self.tools().engine} info`")
        return [line.strip() for line in out.splitlines() if line.strip()]

    def down(self, cluster: Cluster) -> None:
        """Delete the cluster and its kubeconfig; a cluster that is already gone is success."""
        if cluster.name in self.clusters():
            tool.run_kind(
                self.tools(),
                ["delete", "cluster", "--name", cluster.name,
                 "--kubeconfig", str(self.kubeconfig_path(cluster.name))],
                timeout=_DELETE_TIMEOUT_SECONDS,
                what=f"kind delete cluster {cluster.name}",
                fix=f"check `{self.tools().engine} ps -a` for {cluster.name}-* containers "
                    "and retry `python -m providers down`",
            )
        for path in (self.kubeconfig_path(cluster.name), self.config_path(cluster.name)):
            path.unlink(missing_ok=True)

    def is_up(self, cluster: Cluster) -> bool:
        if cluster.name not in self.clusters():
            return False
        return self.answers(cluster)

    def dump_logs(self, cluster: Cluster, dest: Path) -> list[Path]:
        """`kind export logs`: node journals, container logs, kind and engine versions."""
        dest.mkdir(parents=True, exist_ok=True)
        try:
            tool.run_kind(self.tools(), ["export", "logs", str(dest), "--name", cluster.name],
                          timeout=_EXPORT_TIMEOUT_SECONDS, what=f"kind export logs for {cluster.name}",
                          fix="check the cluster's node containers still exist")
        except ProviderError as err:
            failure = dest / "kind-export-logs-error.txt"
            failure.write_text(f"{err}\n", encoding="utf-8")
            return [failure]
        return sorted(p for p in dest.rglob("*") if p.is_file())

    def leaks(self, run_id: str) -> list[str]:
        """kind clusters named for `run_id` that still exist."""
        prefix = run_prefix(run_id)
        return [f"kind cluster {name}" for name in self.clusters() if name.startswith(prefix)]


__all__ = ["KindProvider"]
