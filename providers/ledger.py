"""The run's ledger: a JSON file in the artifacts folder listing every cluster a run brought up.

It is written before each bring-up starts and after each state change, atomically, so that
teardown (`python -m providers down`) and the janitor still know what exists after a crash,
and so pytest-xdist workers can find the clusters the controller brought up.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from providers.base import Cluster, ClusterSpec, ConfigError, ProviderOptions

FILENAME = "ledger.json"
VERSION = 1

CREATING, UP, FAILED, DOWN = "creating", "up", "failed", "down"


def recorded_options(options: ProviderOptions, settings: list[str]) -> dict[str, Any]:
    """What `fedtest down` and `status` need to rebuild the same provider: never a secret setting."""
    return {
        "work_dir": str(options.work_dir),
        "k8s_version": options.k8s_version,
        "kubeconfig": str(options.kubeconfig) if options.kubeconfig else None,
        "contexts": list(options.contexts),
        "image_registry": options.image_registry,
        "deadline_seconds": options.deadline_seconds,
        "settings": settings,
    }


@dataclass
class Entry:
    name: str
    state: str
    index: int = 0
    cluster: Cluster | None = None
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state,
            "index": self.index,
            "cluster": self.cluster.to_dict() if self.cluster else None,
            "error": self.error,
        }


@dataclass
class Ledger:
    path: Path
    run_id: str
    provider: str
    created: str = ""
    entries: dict[str, Entry] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)  # how to rebuild the provider: never secrets
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @classmethod
    def create(cls, artifacts: Path, run_id: str, provider: str, options: ProviderOptions | None = None,
               settings: list[str] | None = None) -> Ledger:
        """`settings`: the provider's non-secret settings as KEY=VALUE (providers.registry.settings_pairs)."""
        path = artifacts / FILENAME
        ledger = cls(path, run_id, provider, dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                     options=recorded_options(options, settings or []) if options else {})
        ledger.save()
        return ledger

    @classmethod
    def load(cls, path: Path) -> Ledger:
        if path.is_dir() or path.suffix != ".json":
            path = path / FILENAME
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"no ledger at {path}", "pass the --artifacts folder of the run") from None
        except (OSError, ValueError) as err:
            raise ConfigError(f"ledger {path} is unreadable ({err})", "check the file") from None
        if not isinstance(data, dict) or data.get("version") != VERSION:
            raise ConfigError(f"ledger {path} has an unknown format", f"expected version {VERSION}")
        options = data.get("options") if isinstance(data.get("options"), dict) else {}
        ledger = cls(path, data["run_id"], data["provider"], data.get("created", ""), options=options)
        for raw in data.get("clusters", []):
            cluster = Cluster.from_dict(raw["cluster"]) if raw.get("cluster") else None
            ledger.entries[raw["name"]] = Entry(
                raw["name"], raw["state"], raw.get("index", 0), cluster, raw.get("error", "")
            )
        return ledger

    def save(self) -> None:
        data = {
            "version": VERSION,
            "run_id": self.run_id,
            "provider": self.provider,
            "created": self.created,
            "options": self.options,
            "clusters": [e.to_dict() for e in sorted(self.entries.values(), key=lambda e: e.index)],
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".ledger-", dir=self.path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=2)
            out.write("\n")
        os.replace(tmp, self.path)

    def record(self, spec_or_name: ClusterSpec | str, state: str, cluster: Cluster | None = None,
               error: str = "") -> None:
        """Set one cluster's state and persist at once (thread-safe: bring-up is parallel)."""
        with self._lock:
            if isinstance(spec_or_name, ClusterSpec):
                name, index = spec_or_name.name, spec_or_name.index
            else:
                name = spec_or_name
                index = self.entries[name].index if name in self.entries else len(self.entries)
            old = self.entries.get(name)
            self.entries[name] = Entry(name, state, index, cluster or (old.cluster if old else None), error)
            self.save()

    def clusters(self, state: str = UP) -> list[Cluster]:
        return [e.cluster for e in sorted(self.entries.values(), key=lambda e: e.index)
                if e.state == state and e.cluster is not None]

    def pending_teardown(self) -> list[Entry]:
        """Entries that may still hold resources: anything not known to be down."""
        return [e for e in sorted(self.entries.values(), key=lambda e: e.index) if e.state != DOWN]
