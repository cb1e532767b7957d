"""Disruption for kind clusters: node containers paused or cut from the network, control-plane parts
stopped or restarted inside the control-plane node.

  all         every node container paused (`docker pause`): the API server and every pod hang, as a
              region gone dark does, and unpause brings them back as they were
  data-plane  the worker containers disconnected from kind's network: their pods and NodePorts stop
              answering while the API server stays (needs workers)
  api-server  the API server process frozen (SIGSTOP through its container's pid from crictl):
              connections to it hang, the nodes and their pods keep running
  restart     the kube-apiserver, kube-controller-manager and kube-scheduler static-pod manifests moved
              out of /etc/kubernetes/manifests until the kubelet has stopped them, then moved back (as
              `kubeadm upgrade` replaces them); returns once the API server is ready again
A kind node image fixes the Kubernetes version, so kind offers no upgrade.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from providers import stopping
from providers.base import ALL, API_SERVER, DATA_PLANE, RESTART, Cluster, ConfigError, ProviderError, check_mode
from providers.kind import tool
from providers.readiness import wait_ready

MANIFESTS = "/etc/kubernetes/manifests"
PARKED = "/etc/kubernetes/fedtest-parked"  # where restart parks the manifests, outside the kubelet's view
RESTARTED = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
COMMAND_SECONDS = 60.0


class KindDisruption:
    """The disruption verbs of KindProvider (a mixin: it needs the provider's tools() and options)."""

    options: Any
    stop: Any
    tools: Callable[[], tool.Toolchain]  # KindProvider's

    # --- helpers ---------------------------------------------------------------------------
    def _engine(self, args: list[str], what: str, stop: stopping.StopSignal) -> str:
        tools = self.tools()
        return tool.run_tool(tools, [tools.engine, *args], COMMAND_SECONDS, what,
                             f"check `{tools.engine} ps` for the cluster's node containers", stop)

    def nodes(self, cluster: Cluster, stop: stopping.StopSignal = stopping.NEVER) -> list[str]:
        """The cluster's node containers (`kind get nodes`), control plane first."""
        out = tool.run_kind(self.tools(), ["get", "nodes", "--name", cluster.name], COMMAND_SECONDS,
                            f"kind get nodes of {cluster.name}", "check the cluster still exists", stop)
        names = sorted(line.strip() for line in out.splitlines() if line.strip())
        return sorted(names, key=lambda n: not n.endswith("-control-plane"))

    def _split(self, cluster: Cluster, stop: stopping.StopSignal) -> tuple[str, list[str]]:
        nodes = self.nodes(cluster, stop)
        planes = [n for n in nodes if n.endswith("-control-plane")]
        if not planes:
            raise ProviderError(f"kind cluster {cluster.name} has no control-plane node",
                                f"check `kind get nodes --name {cluster.name}`")
        return planes[0], [n for n in nodes if not n.endswith("-control-plane")]

    @staticmethod
    def _network() -> str:
        return os.environ.get("KIND_EXPERIMENTAL_DOCKER_NETWORK") or "kind"

    def _in_node(self, node: str, argv: list[str], what: str, stop: stopping.StopSignal) -> str:
        return self._engine(["exec", node, *argv], what, stop)

    def _component_ids(self, node: str, name: str, stop: stopping.StopSignal) -> list[str]:
        out = self._in_node(node, ["crictl", "ps", "-q", "--name", name], f"crictl ps {name} in {node}", stop)
        return [line.strip() for line in out.splitlines() if line.strip()]

    def _signal_api_server(self, node: str, signal: str, stop: stopping.StopSignal) -> None:
        ids = self._component_ids(node, "kube-apiserver", stop)
        if not ids:
            raise ProviderError(f"no kube-apiserver container runs in {node}", f"check `crictl ps` in {node}")
        for container in ids:
            pid = self._in_node(node, ["crictl", "inspect", "--output", "go-template", "--template",
                                       "{{.info.pid}}", container], f"the pid of kube-apiserver in {node}", stop)
            self._in_node(node, ["sh", "-c", f'kill -{signal} "$1"', "sh", pid.strip()],
                          f"SIG{signal} to kube-apiserver in {node}", stop)

    # --- the capability --------------------------------------------------------------------
    def disruptions(self, cluster: Cluster) -> frozenset[str]:
        _plane, workers = self._split(cluster, self.stop)
        return frozenset({ALL, API_SERVER, RESTART} | ({DATA_PLANE} if workers else set()))

    def take_away(self, cluster: Cluster, mode: str, stop: stopping.StopSignal) -> None:
        check_mode(mode)
        stopping.check(stop, f"{mode} outage of {cluster.name}")
        plane, workers = self._split(cluster, stop)
        if mode == ALL:
            self._engine(["pause", plane, *workers], f"pausing the nodes of {cluster.name}", stop)
        elif mode == DATA_PLANE:
            if not workers:
                raise ConfigError(f"kind cluster {cluster.name} has no workers to cut off",
                                  "bring kind clusters up with --provider-opt workers=1 or more")
            for node in workers:
                self._engine(["network", "disconnect", self._network(), node], f"cutting {node} off", stop)
        else:
            self._signal_api_server(plane, "STOP", stop)

    def bring_back(self, cluster: Cluster, mode: str, stop: stopping.StopSignal) -> None:
        check_mode(mode)
        plane, workers = self._split(cluster, stop)
        if mode == ALL:
            paused = self._engine(["ps", "--filter", "status=paused", "--format", "{{.Names}}"],
                                  "listing paused containers", stop).split()
            nodes = [n for n in (plane, *workers) if n in paused]
            if nodes:
                self._engine(["unpause", *nodes], f"unpausing the nodes of {cluster.name}", stop)
        elif mode == DATA_PLANE:
            for node in workers:
                try:
                    self._engine(["network", "connect", self._network(), node], f"reconnecting {node}", stop)
                except tool.KindCommandFailed as err:
                    if "already exists" not in str(err):  # connected already: nothing to bring back
                        raise
        else:
            self._signal_api_server(plane, "CONT", stop)

    def restart_control_plane(self, cluster: Cluster, stop: stopping.StopSignal) -> None:
        plane, _workers = self._split(cluster, stop)
        stopping.check(stop, f"restarting the control plane of {cluster.name}")
        deadline = self.options.deadline_seconds
        files = [f"{name}.yaml" for name in RESTARTED]
        self._in_node(plane, ["mkdir", "-p", PARKED], f"a parking folder in {plane}", stop)
        try:
            for name in files:
                self._in_node(plane, ["mv", f"{MANIFESTS}/{name}", f"{PARKED}/{name}"], f"parking {name}", stop)
            self._until(lambda: not any(self._component_ids(plane, n, stop) for n in RESTARTED), deadline, stop,
                        f"the kubelet of {plane} to stop {', '.join(RESTARTED)}")
        finally:
            for name in files:
                self._in_node(plane, ["sh", "-c", 'test ! -f "$1" || mv "$1" "$2"', "sh", f"{PARKED}/{name}",
                                      f"{MANIFESTS}/{name}"], f"restoring {name}", stopping.NEVER)
        wait_ready(cluster.kubeconfig, cluster.context, deadline, stop)

    def upgrade_control_plane(self, cluster: Cluster, version: str, stop: stopping.StopSignal) -> None:
        raise ConfigError(f"kind cannot upgrade {cluster.name} in place: its node image fixes the version",
                          f"bring a kind cluster up with --k8s-version {version} instead")

    @staticmethod
    def _until(done: Callable[[], bool], deadline: float, stop: stopping.StopSignal, what: str) -> None:
        until = time.monotonic() + deadline
        while not done():
            if time.monotonic() >= until:
                raise ProviderError(f"timed out after {deadline:g}s waiting for {what}",
                                    "check the node's kubelet (kind export logs)")
            stopping.sleep(0.5, stop, f"waiting for {what}")
