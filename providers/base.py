"""The provider contract: what every cluster provider implements, and its typed errors.

It mirrors kubetest2's deployer interface (up, down, is_up, dump logs, kubeconfig) so a
provider is small and the harness around it does the rest: the ledger, parallel bring-up,
JUnit infra cases and teardown after a crash.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from fedtest.errors import FedtestError


class ProviderError(FedtestError):
    """A provider failure a user can act on; str(err) is one line naming the problem and the fix."""


class ConfigError(ProviderError):
    """Bad input: a flag, a file or an option that cannot work."""


class NotImplementedYet(ProviderError):
    """The provider is registered but not built yet."""


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


class Provider:
    """Base of every provider. Subclasses set `name` and implement the verbs.

    `down` must be idempotent: the harness calls it after failures, after a crash (from the
    ledger) and from the janitor, so "already gone" is success.
    """

    name: ClassVar[str] = ""
    implemented: ClassVar[bool] = True

    def __init__(self, options: ProviderOptions) -> None:
        self.options = options

    def plan(self, count: int | None) -> list[ClusterSpec]:
        """The specs of a cluster set of `count` clusters (default 1); names are unique in the run."""
        count = 1 if count is None else count
        if count < 1:
            raise ConfigError(f"--clusters {count} is not a cluster count", "pass --clusters 1 or more")
        short = self.options.run_id[-8:]
        return [
            ClusterSpec(name=f"fedtest-{short}-{i + 1}", index=i, k8s_version=self.options.k8s_version)
            for i in range(count)
        ]

    def up(self, spec: ClusterSpec) -> Cluster:
        raise NotImplementedYet(f"provider {self.name!r} is not implemented yet", "use --provider existing")

    def down(self, cluster: Cluster) -> None:
        raise NotImplementedYet(f"provider {self.name!r} is not implemented yet", "use --provider existing")

    def is_up(self, cluster: Cluster) -> bool:
        raise NotImplementedYet(f"provider {self.name!r} is not implemented yet", "use --provider existing")

    def dump_logs(self, cluster: Cluster, dest: Path) -> list[Path]:
        """Write what helps debug the cluster under `dest`; return the files written."""
        return []

    def kubeconfig(self, cluster: Cluster) -> Path:
        return cluster.kubeconfig

    def leaks(self, run_id: str) -> list[str]:
        """Cloud resources of `run_id` still present (after down). Local providers have none."""
        return []

    def sweep(self, now: dt.datetime, dry_run: bool = False) -> list[str]:
        """Delete resources whose expiry has passed; return what was (or would be) deleted."""
        return []
