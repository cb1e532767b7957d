"""The provider contract: the four verbs every cluster provider implements, its capabilities and errors.

Like kubetest2's deployers (pkg/types/types.go: a handful of verbs, optional capabilities as
separate interfaces), a provider is small and the harness around it does the rest: the ledger,
parallel bring-up, JUnit infra cases and teardown after a crash.

Verbs (every provider):
  up(spec) -> Cluster     bring one cluster up; return once its API server is ready
  down(cluster)           delete it; idempotent ("already gone" is success), works from a ledger entry
  is_up(cluster) -> bool  True when the provider's resources exist and the API server answers ready,
                          False when they are gone or the API server does not answer; raises a
                          ProviderError when the provider's own API (the cloud) cannot be asked, since
                          "cannot tell" is not "down"
  dump_logs(cluster, dest) -> files   write what helps debug the cluster under dest

Capabilities (separate, checked by the contract kit wherever a provider has them):
  Inventory: leaks(run_id) -> the run's resources still present. Every provider that owns its
             clusters must have it; the kit fails one that does not.
  Sweeper:   sweep(now, dry_run) -> expired resources deleted (the janitor).
  Disruption: take a whole cluster away and bring it back (OUTAGE_MODES: everything, only the data
             plane, only the API server), restart its control plane, upgrade it to a version.
             disruptions(cluster) says which of these the provider can do to that cluster now (for
             `existing`, which commands its settings give); the suite skips, saying so, what is missing.

The run's stop signal (providers.stopping) is `provider.stop`: up, the readiness waits and every
disruption return promptly, raising providers.stopping.Stopped, once it is set.
"""

from __future__ import annotations

import abc
import dataclasses
import datetime as dt
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from fedtest.errors import FedtestError


class ProviderError(FedtestError):
    """A provider failure a user can act on; str(err) is one line naming the problem and the fix."""


class ConfigError(ProviderError):
    """Bad input: a flag, a file or an option that cannot work."""


class ClusterUnreachable(ProviderError):
    """An API server did not answer at all."""


class AuthError(ProviderError):
    """An API server answered 401 or 403."""


class DeadlineExceeded(ProviderError):
    """A wait ran out of time; the message says what was awaited."""


class CapacityError(ProviderError):
    """The cloud had no room (stockout, quota); a provider may retry elsewhere."""


@dataclass(frozen=True)
class ProviderOptions:
    """What the run tells a provider: shared settings plus provider-specific `extra` options."""

    work_dir: Path
    run_id: str
    owner: str = "fedtest"
    ttl: dt.timedelta = dt.timedelta(hours=6)
    k8s_version: str | None = None
    kubeconfig: Path | None = None
    contexts: tuple[str, ...] = ()
    image_registry: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)
    deadline_seconds: float = 600.0


@dataclass(frozen=True)
class ClusterSpec:
    """One cluster to bring up. `index` is its position in the run's cluster set."""

    name: str
    index: int = 0
    k8s_version: str | None = None
    workers: int = 1
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Cluster:
    """A cluster that is up (or was): enough to reach it, tear it down and report on it."""

    name: str
    provider: str
    kubeconfig: Path
    context: str
    endpoint: str = ""
    version: str = ""
    metadata: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["kubeconfig"] = str(self.kubeconfig)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Cluster:
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        values["kubeconfig"] = Path(values["kubeconfig"])
        values["metadata"] = dict(values.get("metadata") or {})
        return cls(**values)


@dataclass(frozen=True)
class NoSettings:
    """The settings of a provider that takes none."""


def run_prefix(run_id: str) -> str:
    """The name prefix of a run's clusters: fedtest-<last 8 characters of the run id>-."""
    return f"fedtest-{run_id[-8:]}-"


class Provider(abc.ABC):
    """Base of every provider: set `name` (and `Settings`, a dataclass of `providers.settings.setting`
    fields) and implement the four verbs. `self.settings` holds the parsed settings."""

    name: ClassVar[str] = ""
    Settings: ClassVar[type[Any]] = NoSettings
    # Declared capabilities ("inventory", "sweeper"); the contract kit fails a provider missing their verbs.
    capabilities: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, options: ProviderOptions) -> None:
        from providers import settings as settings_mod  # settings imports this module's errors

        self.options = options
        # The run's stop signal (anything with wait(timeout) -> bool); the harness sets it before bring-up.
        self.stop: Any = threading.Event()
        self.settings = settings_mod.parse(self.Settings, options.extra, self.name)

    def plan(self, count: int | None) -> list[ClusterSpec]:
        """The specs of a cluster set of `count` clusters (default 1); names are unique in the run.

        Settings needed to create clusters are demanded here, before anything is created.
        """
        from providers import settings as settings_mod

        count = 1 if count is None else count
        if count < 1:
            raise ConfigError(f"--clusters {count} is not a cluster count", "pass --clusters 1 or more")
        settings_mod.require(self.settings, self.name, "up")
        workers = getattr(self.settings, "workers", ClusterSpec.workers)
        prefix = run_prefix(self.options.run_id)
        return [ClusterSpec(name=f"{prefix}{i + 1}", index=i, k8s_version=self.options.k8s_version, workers=workers)
                for i in range(count)]

    @abc.abstractmethod
    def up(self, spec: ClusterSpec) -> Cluster:
        """Bring one cluster up and return it once its API server is ready."""

    @abc.abstractmethod
    def down(self, cluster: Cluster) -> None:
        """Delete the cluster; idempotent. `cluster` may be all a ledger holds (name, provider, paths)."""

    @abc.abstractmethod
    def is_up(self, cluster: Cluster) -> bool:
        """See the module docstring: True, False, or a ProviderError when the provider cannot tell."""

    @abc.abstractmethod
    def dump_logs(self, cluster: Cluster, dest: Path) -> list[Path]:
        """Write what helps debug the cluster under `dest`; return the files written."""

    def answers(self, cluster: Cluster) -> bool:
        """Does the cluster's API server say it is ready (within min(10 s, the deadline))?"""
        from providers import readiness

        return readiness.answers(cluster.kubeconfig, cluster.context, min(10.0, self.options.deadline_seconds),
                                 stop=self.stop)


INVENTORY, SWEEPER, DISRUPTION = "inventory", "sweeper", "disruption"
ALL, DATA_PLANE, API_SERVER = "all", "data-plane", "api-server"
OUTAGE_MODES = (ALL, DATA_PLANE, API_SERVER)
RESTART, UPGRADE = "restart", "upgrade"
DISRUPTIONS = (*OUTAGE_MODES, RESTART, UPGRADE)


@runtime_checkable
class Inventory(Protocol):
    """A provider that can list what a run left behind, from the cloud's (or engine's) own records."""

    def leaks(self, run_id: str) -> list[str]:
        """Resources of `run_id` still present; after a run's down, anything listed is a leak."""
        ...


@runtime_checkable
class Sweeper(Protocol):
    """A provider whose resources carry an expiry, so a janitor can delete what has expired."""

    def sweep(self, now: dt.datetime, dry_run: bool = False) -> list[str]:
        """Delete resources whose expiry has passed; return what was (or would be) deleted."""
        ...


@runtime_checkable
class Disruption(Protocol):
    """A provider that can take a cluster away and bring it back, and restart or upgrade its control plane.

    Every verb returns once the provider's own action is done (containers paused, VMs stopped, the
    upgrade applied); callers measure what follows with their own watches. `stop` is the run's stop
    signal: on abort a verb ends promptly with providers.stopping.Stopped.
    """

    def disruptions(self, cluster: Cluster) -> frozenset[str]:
        """Which of DISRUPTIONS this provider can do to `cluster`; an empty set when none."""
        ...

    def take_away(self, cluster: Cluster, mode: str, stop: Any) -> None:
        """Make the cluster unavailable in `mode` (one of OUTAGE_MODES)."""
        ...

    def bring_back(self, cluster: Cluster, mode: str, stop: Any) -> None:
        """Undo take_away(cluster, mode); idempotent."""
        ...

    def restart_control_plane(self, cluster: Cluster, stop: Any) -> None:
        """Restart the control-plane components (API server, controller manager, scheduler)."""
        ...

    def upgrade_control_plane(self, cluster: Cluster, version: str, stop: Any) -> None:
        """Upgrade the control plane, then each worker (drained, upgraded, uncordoned), to `version`."""
        ...


CAPABILITY_VERBS: dict[str, tuple[tuple[str, ...], type]] = {
    INVENTORY: (("leaks",), Inventory), SWEEPER: (("sweep",), Sweeper),
    DISRUPTION: (("disruptions", "take_away", "bring_back", "restart_control_plane", "upgrade_control_plane"),
                 Disruption),
}


def missing_verbs(provider: Provider | type[Provider]) -> list[str]:
    """The verbs of capabilities a provider declares but does not implement, e.g. ["leaks"]."""
    return [verb for capability, (verbs, _protocol) in CAPABILITY_VERBS.items() if capability in provider.capabilities
            for verb in verbs if not callable(getattr(provider, verb, None))]


def capability_of(verb: str) -> str:
    """The capability a verb belongs to ("take_away" -> "disruption")."""
    return next(c for c, (verbs, _p) in CAPABILITY_VERBS.items() if verb in verbs)


def disruption(provider: Provider) -> Disruption | None:
    """The provider's disruption capability, when it declares and implements it."""
    declared = DISRUPTION in provider.capabilities and isinstance(provider, Disruption)
    return provider if declared and not missing_verbs(provider) else None


def check_mode(mode: str) -> None:
    if mode not in OUTAGE_MODES:
        raise ConfigError(f"outage mode {mode!r} is unknown", f"use one of: {', '.join(OUTAGE_MODES)}")
