"""Clusters leased from one running API server: a lease is a record file, the provider's inventory.

LoopbackProvider keeps the whole contract. ForgetfulProvider declares the inventory capability but
never implemented leaks(): the contract kit and the registry name the missing verb.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from providers.base import INVENTORY, Cluster, ClusterSpec, Provider, run_prefix
from providers.readiness import wait_ready
from providers.settings import setting


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("")
    return value.rstrip("/")


@dataclass(frozen=True)
class LoopbackSettings:
    server: str = setting("", "URL of the API server clusters are leased from.", check=_http_url,
                          what="an http(s) URL", example="http://127.0.0.1:8080", needed="always")


class _Leases(Provider):
    Settings = LoopbackSettings
    settings: LoopbackSettings

    def _leases(self) -> Path:
        return self.options.work_dir / "leases"

    def _lease(self, name: str) -> Path:
        return self._leases() / f"{name}.json"

    def up(self, spec: ClusterSpec) -> Cluster:
        self._leases().mkdir(parents=True, exist_ok=True)
        self._lease(spec.name).write_text(json.dumps({"run_id": self.options.run_id}), encoding="utf-8")
        kubeconfig = self.options.work_dir / f"{spec.name}.kubeconfig"
        kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": spec.name,
            "clusters": [{"name": spec.name, "cluster": {"server": self.settings.server}}],
            "users": [{"name": spec.name, "user": {"token": "lease"}}],
            "contexts": [{"name": spec.name, "context": {"cluster": spec.name, "user": spec.name}}],
        }), encoding="utf-8")
        ready = wait_ready(kubeconfig, spec.name, self.options.deadline_seconds)
        return Cluster(spec.name, self.name, kubeconfig, spec.name, ready.endpoint, ready.version)

    def down(self, cluster: Cluster) -> None:
        self._lease(cluster.name).unlink(missing_ok=True)

    def is_up(self, cluster: Cluster) -> bool:
        return self._lease(cluster.name).is_file() and self.answers(cluster)

    def dump_logs(self, cluster: Cluster, dest: Path) -> list[Path]:
        dest.mkdir(parents=True, exist_ok=True)
        path = dest / "lease.txt"
        path.write_text(f"{cluster.name} leased from {self.settings.server}\n", encoding="utf-8")
        return [path]


class LoopbackProvider(_Leases):
    name = "loopback"
    capabilities = frozenset({INVENTORY})

    def leaks(self, run_id: str) -> list[str]:
        folder = self._leases()
        found = sorted(folder.glob(f"{run_prefix(run_id)}*.json")) if folder.is_dir() else []
        return [f"lease {path.stem}" for path in found]


class ForgetfulProvider(_Leases):
    name = "loopback-forgetful"
    capabilities = frozenset({INVENTORY})
