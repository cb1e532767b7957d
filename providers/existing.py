"""Clusters that already exist, named by contexts of a kubeconfig (--kubeconfig, --contexts a,b).

The harness does not own these clusters: up only checks they answer, down leaves them be, and
having made nothing it has no inventory (the contract kit skips no_leaks for clusters marked owned=false).
"""

from __future__ import annotations

from pathlib import Path

from providers.base import Cluster, ClusterSpec, ConfigError, Provider
from providers.clusterlogs import dump_api_side
from providers.readiness import check_kubeconfig, wait_ready


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
        return self.answers(cluster)

    def dump_logs(self, cluster: Cluster, dest: Path) -> list[Path]:
        """Nodes and kube-system events: what we may read of a cluster we do not own."""
        return dump_api_side(cluster, dest)
