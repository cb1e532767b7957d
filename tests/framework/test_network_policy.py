"""NetworkPolicy: the policies' shapes, the reach probe's verdicts (the script run with a stand-in wget),
and the skip on a cluster that does not enforce policies. Enforcement itself needs a real network plugin."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from kubernetes import client

from e2e import test_network_policy as suite
from e2e.framework import builders, netpol
from e2e.framework.jobspec import JOB_LABEL
from e2e.framework.runner import Launcher
from tests.framework.conftest import NAMESPACE, Clusters
from tests.standins.workload_controllers import FakeControllers

STUB_WGET = r"""#!/bin/sh
for a; do url=$a; done
tally="$STUB_DIR/$(printf %s "$url" | tr -c 'a-z0-9' _)"
n=$(cat "$tally" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$tally"
case "$url" in
  *dns*) echo "wget: bad address 'dns.example'" >&2; exit 1 ;;
  *drop*) echo "wget: download timed out" >&2; exit 1 ;;
  *refuse*) echo "wget: can't connect to remote host (10.0.0.1): Connection refused" >&2; exit 1 ;;
  *hang*) exec sleep 30 ;;
  *late*) if [ "$n" -lt 3 ]; then echo "wget: download timed out" >&2; exit 1; fi; echo hello ;;
  *error*|*:443/) echo "wget: server returned error: HTTP/1.1 400 Bad Request" >&2; exit 1 ;;  # :443: plain HTTP to TLS
  *) echo "<html>hello</html>" ;;
esac
"""


@pytest.fixture
def stub_wget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "wget").write_text(STUB_WGET)
    (bin_dir / "wget").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("STUB_DIR", str(tmp_path))
    return bin_dir


def run_reach(calls: str, tries: int = 3) -> dict[str, str]:
    """The probe as a step runs it: `sh -ec`, so a command that fails outside a test ends the step. (The
    machine's POSIX sh: busybox's would run its own wget ahead of the stand-in on PATH.)"""
    env = {**os.environ, "TRIES": str(tries), "REACH_TIMEOUT": "1", "REACH_PAUSE": "0.1"}
    done = subprocess.run(["sh", "-ec", netpol.REACH_SCRIPT + calls], env=env, capture_output=True, text=True,
                          timeout=60, check=True)
    return netpol.verdicts(done.stdout)


def test_reach_verdicts_from_what_wget_says(stub_wget: Path) -> None:
    seen = run_reach("\n".join([
        "reach ok http://ok.example/ reached", "reach dns http://dns.example/ reached",
        "reach drop http://drop.example/ blocked", "reach refuse http://refuse.example/ blocked",
        "reach hang http://hang.example/ blocked", "reach error http://error.example/ reached"]), tries=1)
    assert seen == {"ok": "reached", "dns": "no-dns", "drop": "blocked", "refuse": "blocked", "hang": "blocked",
                    "error": "reached"}


def test_reach_tries_again_until_the_expected_verdict_or_the_last_try(stub_wget: Path) -> None:
    assert run_reach("reach late http://late.example/ reached", tries=5) == {"late": "reached"}
    assert run_reach("reach late2 http://late2.example/ reached", tries=2) == {"late2": "blocked"}
    assert run_reach("reach ok http://ok.example/ blocked", tries=2) == {"ok": "reached"}


def test_the_default_deny_lets_runner_pods_send_only_dns() -> None:
    spec = netpol.runner_default_deny()["spec"]
    assert spec["podSelector"] == {"matchExpressions": [{"key": JOB_LABEL, "operator": "Exists"}]}
    assert spec["policyTypes"] == ["Ingress", "Egress"] and "ingress" not in spec
    assert spec["egress"] == [{"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}]
    probe = netpol.deny_ingress("p", {"app": "probe"})["spec"]
    assert probe == {"podSelector": {"matchLabels": {"app": "probe"}}, "policyTypes": ["Ingress"]}


def test_the_reach_job_names_its_targets() -> None:
    job = netpol.reach_job("j", {"api": ("http://10.96.0.1:443/", "blocked")})
    assert job.steps[0].run.endswith("reach api 'http://10.96.0.1:443/' blocked")
    assert job.env == {"TRIES": str(netpol.TRIES)}


def test_api_service_url_from_the_kubernetes_service(east: client.ApiClient) -> None:
    core = client.CoreV1Api(east)
    core.create_namespaced_service("default", {"metadata": {"name": "kubernetes", "namespace": "default"},
                                               "spec": {"clusterIP": "fd00:10:96::1", "ports": [{"port": 443}]}})
    assert netpol.api_service_url(east) == "http://[fd00:10:96::1]:443/"


def test_the_suites_test_skips_where_policies_are_not_enforced(clusters: Clusters, east: client.ApiClient,
                                                               stub_wget: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Everything answers (the stand-in wget ignores policies, as a plugin without policy support does)."""
    monkeypatch.setattr(netpol, "TRIES", 2)
    client.CoreV1Api(east).create_namespaced_service("default", {
        "metadata": {"name": "kubernetes", "namespace": "default"},
        "spec": {"clusterIP": "10.96.0.1", "ports": [{"port": 443}]}})
    with clusters.kubelet("east", tools=stub_wget), FakeControllers("east", east, node_port=30080):
        launcher = Launcher(east, NAMESPACE, builders.Images(), tmp_path / "artifacts")
        expected = "cluster east does not enforce NetworkPolicy: a pod behind a deny-all-ingress policy was " \
                   "still reached after 2 tries"
        with pytest.raises(pytest.skip.Exception, match=expected):
            suite.test_default_deny_keeps_runner_pods_in_while_dns_works(
                launcher, east, NAMESPACE, "elsewhere", SimpleNamespace(name="east"), lambda *_: None)
    policies = client.NetworkingV1Api(east).list_namespaced_network_policy("elsewhere").items
    assert [p.metadata.name for p in policies] == ["probe-deny"]
