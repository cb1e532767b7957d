"""The scrubber knows every credential the run used: any kubeconfig, any size, exec plugins, token files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from providers.base import Cluster, ClusterSpec, ProviderOptions
from providers.ledger import UP, Ledger
from tests.conftest import ROOT
from upload.scrub import REDACTED, Scrubber


def _kubeconfig(path: Path, user: dict, padding: int = 0) -> Path:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "c",
        "users": [{"name": "u", "user": user}],
        "preferences": {"padding": "p" * padding},
    }
    path.write_text(yaml.safe_dump(doc))
    return path


def _leaks(scrubber: Scrubber, values: list[str]) -> list[str]:
    clean, _count = scrubber.scrub_text(" | ".join(values))
    return [v for v in values if v in clean]


def test_a_kubeconfig_over_1_mib_is_read(tmp_path):
    kubeconfig = _kubeconfig(tmp_path / "big", {"token": "big-kubeconfig-token-0451"}, padding=3 << 20)
    assert kubeconfig.stat().st_size > 1 << 20
    assert _leaks(Scrubber({"KUBECONFIG": str(kubeconfig)}), ["big-kubeconfig-token-0451"]) == []


def test_exec_plugin_env_values_and_arguments_are_known(tmp_path):
    plugin = {
        "apiVersion": "client.authentication.k8s.io/v1",
        "command": "kubelogin",
        "env": [{"name": "AZURE_CLIENT_ID", "value": "exec-env-client-id-77"},
                {"name": "AAD_LOGIN_SECRET", "value": "exec-env-secret-88"}],
        "args": ["get-token", "--client-secret", "exec-arg-secret-99", "--server-id=exec-flag-value-11",
                 "--cluster-name"],
    }
    scrubber = Scrubber({"KUBECONFIG": str(_kubeconfig(tmp_path / "kc", {"exec": plugin}))})
    values = ["exec-env-client-id-77", "exec-env-secret-88", "exec-arg-secret-99", "exec-flag-value-11"]
    assert _leaks(scrubber, values) == []
    assert scrubber.scrub_text("kubelogin --cluster-name c1")[1] == 0  # a flag's name is no secret


def test_token_file_client_key_file_and_auth_provider_config(tmp_path):
    (tmp_path / "sa.token").write_text("token-from-a-file-3141\n")
    key_line = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSj"
    (tmp_path / "client.key").write_text(f"-----BEGIN PRIVATE KEY-----\n{key_line}\n-----END PRIVATE KEY-----\n")
    user = {
        "tokenFile": "sa.token",  # relative: to the kubeconfig's folder
        "client-key": str(tmp_path / "client.key"),
        "username": "admin",
        "password": "kubeconfig-password-2718",
        "auth-provider": {"name": "oidc", "config": {"idp-issuer-url": "https://issuer.example",
                                                     "refresh-token": "oidc-refresh-1618",
                                                     "apikey": "custom-provider-apikey-1414"}},
    }
    scrubber = Scrubber({})
    scrubber.add_kubeconfigs([str(_kubeconfig(tmp_path / "kc", user))])
    values = ["token-from-a-file-3141", key_line, "kubeconfig-password-2718", "oidc-refresh-1618",
              "custom-provider-apikey-1414"]
    assert _leaks(scrubber, values) == []
    assert "https://issuer.example" in scrubber.scrub_text("issuer https://issuer.example")[0]


def test_kubeconfig_lists_are_read_like_kubeconfig(tmp_path):
    first = _kubeconfig(tmp_path / "one", {"token": "first-list-token-1"})
    second = _kubeconfig(tmp_path / "two", {"token": "second-list-token-2"})
    scrubber = Scrubber({})
    scrubber.add_kubeconfigs([f"{first}{os.pathsep}{second}", None])
    assert _leaks(scrubber, ["first-list-token-1", "second-list-token-2"]) == []


SUITE = '''
def test_prints_the_kubeconfig(namespace):
    print("kubeconfig user token:", "kc-flag-token-5e1d9a")
    assert False, "printed"
'''


def test_a_run_given_kubeconfig_without_the_variable_publishes_no_token(pytester, kube_ab, tmp_path, monkeypatch):
    """--kubeconfig with $KUBECONFIG unset: the token is still known, in the log, the JUnit, everywhere."""
    kube, _kubeconfig_ab = kube_ab
    kubeconfig = kube.write_kubeconfig(tmp_path / "flag-kubeconfig", token="kc-flag-token-5e1d9a")
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    pytester.makeconftest((ROOT / "conftest.py").read_text())
    pytester.makepyfile(test_suite=SUITE)
    results = tmp_path / "results"
    result = pytester.runpytest_subprocess(
        ".", "--provider", "existing", "--kubeconfig", str(kubeconfig), "--contexts", "a",
        "--artifacts", str(tmp_path / "art"), "--results", str(results), "--job", "e2e-flag", "--build-id", "5",
        timeout=120)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    build = results / "logs/e2e-flag/5"
    assert REDACTED in (build / "build-log.txt").read_text()
    published = [p for p in results.rglob("*") if p.is_file()]
    assert any(p.name.startswith("junit") for p in published)
    for path in published:
        assert "kc-flag-token-5e1d9a" not in path.read_text(errors="replace"), path
    assert int(json.loads((build / "finished.json").read_text())["metadata"]["redacted-values"]) >= 2


def test_fedtest_abort_knows_the_kubeconfig_the_ledger_recorded(tmp_path):
    """The post-build step runs in another process, without the run's flags: the ledger names the kubeconfig."""
    kubeconfig = _kubeconfig(tmp_path / "flag-kubeconfig", {"token": "ledger-kubeconfig-token-6"})
    cluster_kubeconfig = _kubeconfig(tmp_path / "c1.kubeconfig", {"token": "cluster-own-token-7"})
    work = tmp_path / "work"
    (work / "c1" / "pki").mkdir(parents=True)
    key_line = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7"
    (work / "c1" / "pki" / "ca.key").write_text(f"-----BEGIN PRIVATE KEY-----\n{key_line}\n-----END PRIVATE KEY-----\n")
    artifacts = tmp_path / "artifacts"
    ledger = Ledger.create(artifacts, "r1", "existing", ProviderOptions(work_dir=work, run_id="r1",
                                                                        kubeconfig=kubeconfig))
    ledger.record(ClusterSpec("c1"), UP, Cluster("c1", "existing", cluster_kubeconfig, "c1"))
    (artifacts / "build-log.txt").write_text(
        f"connecting with ledger-kubeconfig-token-6\nthen cluster-own-token-7\nkey {key_line}\n")
    results = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, "-m", "upload", "abort", "--results", str(results), "--job", "nightly",
         "--build-id", "3", "--artifacts", str(artifacts)],
        capture_output=True, text=True, timeout=60, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    log = (results / "logs/nightly/3/build-log.txt").read_text()
    assert log.startswith(f"connecting with {REDACTED}\nthen {REDACTED}\nkey {REDACTED}\n")
