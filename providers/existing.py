"""Clusters that already exist, named by contexts of a kubeconfig (--kubeconfig, --contexts a,b).

The harness does not own these clusters: up only checks they answer, down leaves them be.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from kubernetes import client

from providers import readiness
from providers.base import Cluster, ClusterSpec, ConfigError, Provider
from providers.readiness import api_client, check_kubeconfig, wait_ready


class ExistingProvider(Provider):
    name = "existing"

    def _kubeconfig(self) -> Path:
        if self.options.kubeconfig is None:
            raise ConfigError("--provider existing needs a kubeconfig", "pass --kubeconfig PATH")
        return self.options.kubeconfig

    def plan(self, count: int | None) -> list[ClusterSpec]:
        kubeconfig = self._kubeconfig()
        contexts = list(self.options.contexts)
        if not contexts:
            raise ConfigError("--provider existing needs the contexts to use", "pass --contexts a,b")
        if len(set(contexts)) != len(contexts):
            raise ConfigError(f"--contexts names a context twice ({','.join(contexts)})", "list each once")
        if count is not None and count != len(contexts):
            raise ConfigError(
                f"--clusters {count} does not match the {len(contexts)} contexts given",
                "drop --clusters or list that many contexts",
            )
        check_kubeconfig(kubeconfig, contexts)
        return [ClusterSpec(name=ctx, index=i) for i, ctx in enumerate(contexts)]

    def up(self, spec: ClusterSpec) -> Cluster:
        kubeconfig = self._kubeconfig()
        ready = wait_ready(kubeconfig, spec.name, self.options.deadline_seconds)
        return Cluster(spec.name, self.name, kubeconfig, spec.name, ready.endpoint, ready.version,
                       {"owned": "false"})

    def down(self, cluster: Cluster) -> None:
        """Nothing to delete: the cluster is not ours. Idempotent by construction."""

    def is_up(self, cluster: Cluster) -> bool:
        return readiness.answers(cluster.kubeconfig, cluster.context, min(10.0, self.options.deadline_seconds))

    def dump_logs(self, cluster: Cluster, dest: Path) -> list[Path]:
        """Nodes and kube-system events: what we may read of a cluster we do not own."""
        dest.mkdir(parents=True, exist_ok=True)
        api = api_client(cluster.kubeconfig, cluster.context)
        core = client.CoreV1Api(api)
        written = []
        for filename, fetch in (
            ("nodes.yaml", lambda: core.list_node(_request_timeout=30)),
            ("kube-system-events.yaml", lambda: core.list_namespaced_event("kube-system", _request_timeout=30)),
        ):
            try:
                data = api.sanitize_for_serialization(fetch())
            except Exception as err:
                data = {"error": f"{type(err).__name__}: {err}"}
            path = dest / filename
            path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
            written.append(path)
        api.close()
        return written
