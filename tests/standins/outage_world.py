"""Clusters that can be taken away: KubeStandIn API servers behind gates, and the fake bed's commands.

Each cluster's kubeconfig entry goes through its gate (`CLUSTER:api` in the state file), so a frozen
gate is an API server that hangs and a refused one is an API server that is gone. `commands()` are
the `existing` provider's settings written as for the bed (../shared/bed/outage's words).
"""

from __future__ import annotations

import contextlib
import shlex
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.standins.fake_bed import api_key, data_key
from tests.standins.gate import OPEN, Gate, read_state
from tests.standins.kube import KubeStandIn

BED_MODES = "all=full,data-plane=network,api-server=api"


@dataclass
class OutageWorld:
    kube: KubeStandIn
    gates: dict[str, Gate]
    state: Path
    kubeconfig: Path

    def commands(self, restart: bool = True) -> dict[str, str]:
        bed = f"{shlex.quote(sys.executable)} -m tests.standins.fake_bed {shlex.quote(str(self.state))}"
        commands = {"outage_command": f"{bed} outage {{cluster}} on {{mode}}",
                    "restore_command": f"{bed} outage {{cluster}} off", "outage_modes": BED_MODES}
        if restart:
            commands["restart_command"] = f"{bed} restart-control-plane {{cluster}}"
        return commands

    def api_state(self, cluster: str) -> str:
        return read_state(self.state, api_key(cluster))

    def data_plane_up(self, cluster: str) -> bool:
        return read_state(self.state, data_key(cluster)) == OPEN

    def calls(self) -> list[str]:
        path = Path(f"{self.state}.calls")
        return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


@contextlib.contextmanager
def outage_world(root: Path, names: list[str], **kube_kwargs: Any) -> Iterator[OutageWorld]:
    root.mkdir(parents=True, exist_ok=True)
    state = root / "bed-state.json"
    with KubeStandIn.run(names, **kube_kwargs) as kube, contextlib.ExitStack() as stack:
        gates = {name: stack.enter_context(Gate.run(kube.clusters[name].server.port,
                                                    lambda n=name: read_state(state, api_key(n))))
                 for name in names}
        config = kube.kubeconfig()
        for entry in config["clusters"]:
            entry["cluster"]["server"] = f"http://127.0.0.1:{gates[entry['name']].port}"
        kubeconfig = root / "kubeconfig"
        kubeconfig.write_text(yaml.safe_dump(config), encoding="utf-8")
        yield OutageWorld(kube, gates, state, kubeconfig)
