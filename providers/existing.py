"""Clusters that already exist, named by contexts of a kubeconfig (--kubeconfig, --contexts a,b).

The harness does not own these clusters: up only checks they answer, down leaves them be, and
having made nothing it has no inventory (the contract kit skips no_leaks for clusters marked owned=false).

Disruption goes through commands given as settings, so any fleet can be driven: each is split like a
shell line, then {cluster}, {context}, {kubeconfig}, {mode} and {version} are filled into its words (no
shell runs). A disruption whose command is not set is not offered, and the suite skips it saying so.
"""

from __future__ import annotations

import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from providers import stopping
from providers.base import (
    API_SERVER,
    DATA_PLANE,
    DISRUPTION,
    OUTAGE_MODES,
    RESTART,
    UPGRADE,
    Cluster,
    ClusterSpec,
    ConfigError,
    DeadlineExceeded,
    Provider,
    ProviderError,
    check_mode,
)
from providers.clusterlogs import dump_api_side
from providers.readiness import check_kubeconfig, wait_ready
from providers.settings import setting

PLACEHOLDERS = ("cluster", "context", "kubeconfig", "mode", "version")


class CommandFailed(ProviderError):
    """A disruption command exited nonzero; the message carries its last output line."""


def _command(value: str) -> str:
    try:
        words = shlex.split(value)
    except ValueError as err:
        raise ValueError(str(err)) from None
    for word in words:
        try:
            word.format(**{p: "" for p in PLACEHOLDERS})
        except (KeyError, IndexError, ValueError) as err:
            raise ValueError(f"placeholder {err} is not one of {{{'}, {'.join(PLACEHOLDERS)}}}") from None
    return value


def _modes(value: tuple[str, ...]) -> tuple[str, ...]:
    for pair in value:
        mode, sep, word = pair.partition("=")
        if not sep or not word or mode not in OUTAGE_MODES:
            raise ValueError(f"{pair!r} is not MODE=WORD with MODE one of {', '.join(OUTAGE_MODES)}")
    return value


@dataclass(frozen=True)
class ExistingSettings:
    outage_command: str = setting(
        "", "Command that takes a cluster away in {mode} (see outage_modes); empty: no outages.",
        check=_command, what="a command line", example="../shared/bed/outage {cluster} on {mode}")
    restore_command: str = setting(
        "", "Command that brings a cluster back after an outage in {mode}.", check=_command,
        what="a command line", example="../shared/bed/outage {cluster} off")
    restart_command: str = setting(
        "", "Command that restarts a cluster's control plane; empty: no restarts.", check=_command,
        what="a command line", example="../shared/bed/restart-control-plane {cluster}")
    upgrade_command: str = setting(
        "", "Command that upgrades a cluster's control plane and nodes to {version}; empty: no upgrades.",
        check=_command, what="a command line", example="upgrade-fleet {context} {version}")
    outage_modes: tuple[str, ...] = setting(
        ("all=all", f"{DATA_PLANE}={DATA_PLANE}", f"{API_SERVER}={API_SERVER}"),
        "Outage modes the outage command offers, as MODE=WORD: {mode} becomes WORD.", check=_modes,
        what="MODE=WORD pairs", example="all=full,data-plane=network,api-server=api")
    command_timeout: float = setting(600.0, "Seconds a disruption command may take.", bounds=(1, None))


class ExistingProvider(Provider):
    name = "existing"
    Settings = ExistingSettings
    capabilities = frozenset({DISRUPTION})
    settings: ExistingSettings

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
        ready = wait_ready(kubeconfig, spec.name, self.options.deadline_seconds, self.stop)
        return Cluster(spec.name, self.name, kubeconfig, spec.name, ready.endpoint, ready.version,
                       {"owned": "false"})

    def down(self, cluster: Cluster) -> None:
        """Nothing to delete: the cluster is not ours. Idempotent by construction."""

    def is_up(self, cluster: Cluster) -> bool:
        return self.answers(cluster)

    def dump_logs(self, cluster: Cluster, dest: Path) -> list[Path]:
        """Nodes and kube-system events: what we may read of a cluster we do not own."""
        return dump_api_side(cluster, dest)

    # --- disruption, through the commands of the settings ------------------------------------
    def _mode_words(self) -> dict[str, str]:
        return dict(pair.split("=", 1) for pair in self.settings.outage_modes)

    def disruptions(self, cluster: Cluster) -> frozenset[str]:
        s = self.settings
        offered = set(self._mode_words()) if s.outage_command and s.restore_command else set()
        if s.restart_command:
            offered.add(RESTART)
        if s.upgrade_command:
            offered.add(UPGRADE)
        return frozenset(offered)

    def _run(self, key: str, cluster: Cluster, stop: Any, **values: str) -> None:
        template = getattr(self.settings, key)
        if not template:
            raise ConfigError(f"--provider existing has no {key}", f"pass --provider-opt {key}=COMMAND")
        fill = {"cluster": cluster.name, "context": cluster.context, "kubeconfig": str(cluster.kubeconfig),
                "mode": "", "version": "", **values}
        argv = [word.format(**fill) for word in shlex.split(template)]
        what = f"{key.removesuffix('_command')} of {cluster.name} (`{shlex.join(argv)}`)"
        timeout = self.settings.command_timeout
        try:
            done = stopping.run(argv, timeout, stop, what)
        except subprocess.TimeoutExpired:
            raise DeadlineExceeded(f"{what} did not finish within {timeout:g}s",
                                   "check the command or raise --provider-opt command_timeout") from None
        except OSError as err:
            raise ConfigError(f"{what} cannot run ({err.strerror or err})",
                              f"fix --provider-opt {key}") from None
        if done.returncode != 0:
            said = [ln.strip() for ln in (done.stderr or done.stdout).splitlines() if ln.strip()]
            raise CommandFailed(f"{what} exited {done.returncode} ({said[-1][:300] if said else 'no output'})",
                                "run it by hand to see why")

    def take_away(self, cluster: Cluster, mode: str, stop: Any) -> None:
        check_mode(mode)
        self._run("outage_command", cluster, stop, mode=self._mode_words().get(mode, mode))

    def bring_back(self, cluster: Cluster, mode: str, stop: Any) -> None:
        check_mode(mode)
        self._run("restore_command", cluster, stop, mode=self._mode_words().get(mode, mode))

    def restart_control_plane(self, cluster: Cluster, stop: Any) -> None:
        self._run("restart_command", cluster, stop)

    def upgrade_control_plane(self, cluster: Cluster, version: str, stop: Any) -> None:
        self._run("upgrade_command", cluster, stop, version=version)
