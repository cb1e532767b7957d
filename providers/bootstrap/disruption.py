"""Disruption for kubeadm clusters on cloud VMs: the verbs are here, a cloud supplies the hooks.

  all         every VM of the cluster stopped, then started again (bring_back waits for the API and
              every node Ready)
  data-plane  the worker VMs stopped, then started (needs workers)
  api-server  the API port firewalled off (a deny rule above the cluster's own), then opened again
  restart     the control-plane VM stopped and started: every control-plane component restarts
  upgrade     where the cloud can run a command on a VM (run_script): scripts/upgrade.sh on the
              control plane (`kubeadm upgrade apply`), then on each worker in turn: drained through
              the Eviction API, upgraded (`kubeadm upgrade node`, kubelet), uncordoned, Ready again

A cloud implements:
  machines(cluster) -> [Machine]                  the cluster's VMs and their roles
  power(cluster, machines, running, stop)         stop or start those VMs; return when done
  fence_api(cluster, fenced, stop)                add or remove the deny rule on the API port
  run_script(cluster, machine, script, stop)      run a shell script as root on the VM (optional:
                                                  `runs_scripts = True` when implemented)
"""

from __future__ import annotations

import abc
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from providers import stopping
from providers.base import (
    ALL,
    API_SERVER,
    DATA_PLANE,
    RESTART,
    UPGRADE,
    Cluster,
    ConfigError,
    ProviderError,
    check_mode,
)
from providers.bootstrap import drain as drain_mod
from providers.bootstrap.nodes import wait_nodes_ready
from providers.bootstrap.render import script
from providers.readiness import api_client, wait_ready

CONTROL_PLANE, WORKER = "control-plane", "worker"
_PATCH_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$")


@dataclass(frozen=True)
class Machine:
    name: str
    role: str  # CONTROL_PLANE or WORKER
    handle: object = None  # whatever the cloud needs (zone, resource id)


def upgrade_script(version: str, role: str) -> str:
    """scripts/upgrade.sh with its parameters set first; `version` must name a patch release."""
    match = _PATCH_VERSION.match(version)
    if not match:
        raise ConfigError(f"upgrade version {version!r} is not a patch release",
                          "name one, e.g. 1.29.3 (kubeadm upgrade apply needs it)")
    major, minor, patch = match.groups()
    header = f"export K8S_MINOR={major}.{minor} K8S_PATCH={major}.{minor}.{patch} ROLE={role}\n"
    body = script("upgrade.sh")
    shebang, _, rest = body.partition("\n")
    return f"{shebang}\n{header}{rest}"


class VMDisruption(abc.ABC):
    """The disruption verbs of VMClusterProvider (a mixin: it needs the provider's options)."""

    runs_scripts: ClassVar[bool] = False
    options: Any
    stop: Any

    # --- hooks -----------------------------------------------------------------------------
    @abc.abstractmethod
    def machines(self, cluster: Cluster) -> list[Machine]:
        """The cluster's VMs, control plane first."""

    @abc.abstractmethod
    def power(self, cluster: Cluster, machines: Sequence[Machine], running: bool, stop: stopping.StopSignal) -> None:
        """Start (running=True) or stop the VMs; return once the cloud says they are."""

    @abc.abstractmethod
    def fence_api(self, cluster: Cluster, fenced: bool, stop: stopping.StopSignal) -> None:
        """Deny (fenced=True) or allow again all traffic to the API port; idempotent both ways."""

    def run_script(self, cluster: Cluster, machine: Machine, text: str, stop: stopping.StopSignal) -> str:
        """Run `text` with bash as root on the VM; return its output (ProviderError when it fails)."""
        raise ConfigError(f"{type(self).__name__} cannot run commands on its VMs",
                          "upgrade the cluster by bringing one up at the new --k8s-version")

    # --- the capability --------------------------------------------------------------------
    def _split(self, cluster: Cluster) -> tuple[Machine, list[Machine]]:
        machines = self.machines(cluster)
        planes = [m for m in machines if m.role == CONTROL_PLANE]
        if not planes:
            raise ProviderError(f"cluster {cluster.name} has no control-plane VM", "check the cloud's console")
        return planes[0], [m for m in machines if m.role == WORKER]

    def disruptions(self, cluster: Cluster) -> frozenset[str]:
        _plane, workers = self._split(cluster)
        offered = {ALL, API_SERVER, RESTART} | ({DATA_PLANE} if workers else set())
        return frozenset(offered | ({UPGRADE} if self.runs_scripts else set()))

    def _deadline(self) -> float:
        return float(self.options.deadline_seconds)

    def _all_ready(self, cluster: Cluster, nodes: int, stop: stopping.StopSignal) -> None:
        wait_ready(cluster.kubeconfig, cluster.context, self._deadline(), stop)
        wait_nodes_ready(cluster.kubeconfig, cluster.context, nodes, self._deadline(), stop)

    def take_away(self, cluster: Cluster, mode: str, stop: stopping.StopSignal) -> None:
        check_mode(mode)
        stopping.check(stop, f"{mode} outage of {cluster.name}")
        plane, workers = self._split(cluster)
        if mode == ALL:
            self.power(cluster, [plane, *workers], False, stop)
        elif mode == DATA_PLANE:
            if not workers:
                raise ConfigError(f"cluster {cluster.name} has no worker VMs to stop",
                                  "bring clusters up with --provider-opt workers=1 or more")
            self.power(cluster, workers, False, stop)
        else:
            self.fence_api(cluster, True, stop)

    def bring_back(self, cluster: Cluster, mode: str, stop: stopping.StopSignal) -> None:
        check_mode(mode)
        plane, workers = self._split(cluster)
        if mode == ALL:
            self.power(cluster, [plane, *workers], True, stop)
            self._all_ready(cluster, 1 + len(workers), stop)
        elif mode == DATA_PLANE:
            self.power(cluster, workers, True, stop)
            self._all_ready(cluster, 1 + len(workers), stop)
        else:
            self.fence_api(cluster, False, stop)
            wait_ready(cluster.kubeconfig, cluster.context, self._deadline(), stop)

    def restart_control_plane(self, cluster: Cluster, stop: stopping.StopSignal) -> None:
        stopping.check(stop, f"restarting the control plane of {cluster.name}")
        plane, _workers = self._split(cluster)
        self.power(cluster, [plane], False, stop)
        self.power(cluster, [plane], True, stop)
        wait_ready(cluster.kubeconfig, cluster.context, self._deadline(), stop)

    def upgrade_control_plane(self, cluster: Cluster, version: str, stop: stopping.StopSignal) -> None:
        """The control plane, then each worker: drained, upgraded, uncordoned, Ready."""
        upgrade_script(version, CONTROL_PLANE)  # a bad version fails before anything changes
        if not self.runs_scripts:
            self.run_script(cluster, self._split(cluster)[0], "", stop)  # raises the cloud's one-line refusal
        stopping.check(stop, f"upgrading {cluster.name}")
        plane, workers = self._split(cluster)
        self.run_script(cluster, plane, upgrade_script(version, CONTROL_PLANE), stop)
        wait_ready(cluster.kubeconfig, cluster.context, self._deadline(), stop)
        api = api_client(cluster.kubeconfig, cluster.context)
        try:
            for worker in workers:
                drain_mod.drain(api, worker.name, self._deadline(), stop)
                try:
                    self.run_script(cluster, worker, upgrade_script(version, WORKER), stop)
                finally:
                    drain_mod.uncordon(api, worker.name)
            wait_nodes_ready(cluster.kubeconfig, cluster.context, 1 + len(workers), self._deadline(), stop)
        finally:
            api.close()
