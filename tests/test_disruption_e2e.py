"""The e2e disruption tests (e2e/test_outage.py, e2e/test_upgrade.py) run by the plugin against stand-ins:
they skip fast, with the reason and before making anything, where the provider cannot disrupt; and the
outage test runs its rounds through the `existing` provider's bed commands and records its figures."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.conftest import ROOT
from tests.lifecycle_runs import UNUSED_PLUGINS
from tests.standins.federation_world import federation_world
from tests.standins.kube import KubeStandIn

OUTAGE, UPGRADE = str(ROOT / "e2e" / "test_outage.py"), str(ROOT / "e2e" / "test_upgrade.py")


def _run(tmp_path: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *UNUSED_PLUGINS, "-p", "no:randomly",
               "-rs", "--provider", "existing", "--artifacts", str(tmp_path / "artifacts"), *args]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_XDIST_WORKER", "FEDTEST_UPGRADE_VERSION")}
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)


def _properties(artifacts: Path) -> dict[str, dict[str, str]]:
    root = ET.parse(artifacts / "junit_01.xml").getroot()
    return {case.get("name", ""): {p.get("name", ""): p.get("value", "") for p in case.iter("property")}
            for case in root.iter("testcase")}


def test_without_disruption_commands_every_disruption_test_skips_fast_saying_what_is_missing(tmp_path: Path) -> None:
    with KubeStandIn.run(["a", "b"]) as kube:
        kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")
        done = _run(tmp_path, OUTAGE, UPGRADE, "--kubeconfig", str(kubeconfig), "--contexts", "a,b")
        made = [r for name in ("a", "b") for r in kube.clusters[name].requests()
                if str(r.method).upper().endswith("POST") and "/namespaces" in str(r.url)]
    assert "5 skipped" in done.stdout, done.stdout[-3000:]
    assert "provider existing offers no all disruption for a (it offers: none)" in done.stdout
    assert "provider existing offers no restart disruption for b" in done.stdout
    assert "outage_command=" in done.stdout
    assert made == [], "a skipped disruption test created namespaces"


def test_the_outage_test_fails_over_through_the_bed_commands_and_records_its_figures(tmp_path: Path) -> None:
    topology = {"c1": ("eu-1a", "eu-1"), "c2": ("eu-1b", "eu-1")}
    with federation_world(tmp_path / "fed", ["c1", "c2"]) as world, world.controllers_for("steady", topology):
        opts = [f"--provider-opt={key}={value}" for key, value in world.outage.commands().items()]
        done = _run(tmp_path, OUTAGE, "--kubeconfig", str(world.outage.kubeconfig), "--contexts", "c1,c2",
                    "--reach-window", "3", *opts)
        calls = world.outage.calls()
    assert "1 passed" in done.stdout, done.stdout[-4000:]
    assert calls.count("outage c1 on full") == 3 and calls.count("outage c1 on network") == 3
    assert calls.count("outage c1 on api") == 3 and not any("c2" in c for c in calls)
    props = next(p for name, p in _properties(tmp_path / "artifacts").items() if "test_a_steady_client" in name)
    assert float(props["outage_rounds"]) == 9
    assert float(props["outage_failover_seconds_p99"]) <= 3.0
    assert float(props["outage_request_rate"]) >= 4.5
    for mode in ("all", "data_plane", "api_server"):
        assert float(props[f"outage_{mode}_rounds"]) == 3 and f"outage_{mode}_rejoin_seconds_p50" in props
