"""An Azure world for tests: the fake ARM, a kmock API server, and a control-plane stand-in that
boots from the control plane's cloud-init, wired so AzureProvider.up can finish on loopback.

The fake's public IP is 127.0.0.1 and the API port is the stand-in's (--provider-opt api_port=...),
so the kubeconfig the provider assembles reaches the stand-in, which serves mutual TLS with a
certificate from the CA found in the VM's custom data and relays to kmock.
"""

from __future__ import annotations

import base64
import contextlib
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from providers.azure import AzureProvider
from providers.base import ProviderOptions
from providers.readiness import api_client
from tests.standins.fake_arm import FakeArm
from tests.standins.fake_vm import ControlPlaneStandIn, register_node
from tests.standins.kube import KubeStandIn

RUN = "20261122-020000-abc123"
_CLEARED = ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_SUBSCRIPTION_ID",
            "AZURE_TOKEN_CREDENTIALS", "MSI_ENDPOINT", "IMDS_ENDPOINT")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class AzureWorld:
    arm: FakeArm
    control_plane: ControlPlaneStandIn
    work_dir: Path
    base_opts: dict[str, str]
    kube: KubeStandIn | None = None
    kube_api: Any = None

    def provider(self, deadline: float = 30.0, run_id: str = RUN, **extra: str) -> AzureProvider:
        options = ProviderOptions(work_dir=self.work_dir, run_id=run_id, owner="ci",
                                  extra={**self.base_opts, **extra}, deadline_seconds=deadline)
        return AzureProvider(options)

    def user_data(self, vm: str) -> str:
        resource = next(r for r in self.arm.resources_in(vm.rsplit("-", 1)[0]) if r["name"] == vm)
        return base64.b64decode(resource["properties"]["osProfile"]["customData"]).decode()


@contextlib.contextmanager
def azure_world(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AzureWorld]:
    for name in _CLEARED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(folder / "home"))
    # Managed identity's IMDS probe must never leave the machine: aim it at a closed loopback port.
    monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", f"http://127.0.0.1:{closed_port()}")
    with (FakeArm.run(folder / "arm") as arm, KubeStandIn.run(["api"]) as kube,
          ControlPlaneStandIn.run(kube.clusters["api"].url, folder / "vm") as control_plane):
        for key, value in arm.env().items():
            monkeypatch.setenv(key, value)
        kube_api = api_client(kube.write_kubeconfig(folder / "standin.kubeconfig"), "api")

        def boot(name: str, resource: dict[str, Any]) -> None:
            user_data = base64.b64decode(resource["properties"]["osProfile"]["customData"]).decode()
            if name.endswith("-cp"):
                control_plane.boot(user_data)
            register_node(kube_api, name)

        def serving() -> bool:
            """The control-plane VM runs and no NSG rule denies the API port (as a client outside sees it)."""
            with arm.lock:
                planes = [r for r in arm.store.values() if r.get("type", "").lower().endswith("virtualmachines")
                          and r["name"].endswith("-cp")]
                fenced = any(rule["properties"]["access"] == "Deny" for r in arm.store.values()
                             for rule in r.get("properties", {}).get("securityRules", []) if "properties" in rule)
            return bool(planes) and all(p.get("_power", "running") == "running" for p in planes) and not fenced

        def power(name: str, running: bool) -> None:
            client.CoreV1Api(kube_api).patch_node_status(name, {"status": {"conditions": [
                {"type": "Ready", "status": "True" if running else "False"}]}})

        arm.on_vm.append(boot)
        arm.on_power.append(power)
        control_plane.serving = serving
        opts = {"api_cidr": "127.0.0.1/32", "regions": "westeurope,northeurope", "arm_endpoint": arm.url,
                "poll_seconds": "0", "api_port": str(control_plane.port)}
        try:
            yield AzureWorld(arm, control_plane, folder / "work", opts, kube, kube_api)
        finally:
            kube_api.close()
