"""The provider registry, the ledger, the existing provider's errors and the providers CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fedtest import clusters as clusterset
from providers import ledger as ledger_mod
from providers import options, registry
from providers.base import AuthError, Cluster, ClusterSpec, ClusterUnreachable, ConfigError, DeadlineExceeded
from providers.existing import ExistingProvider
from tests.conftest import ROOT
from tests.standins.kube import KubeStandIn


def _existing(tmp_path: Path, kubeconfig: Path | None, contexts: str, deadline: float = 5.0) -> ExistingProvider:
    opts = options.build(run_id="r1", kubeconfig=str(kubeconfig) if kubeconfig else None, contexts=contexts,
                         work_dir=str(tmp_path / "work"), deadline_seconds=deadline)
    return ExistingProvider(opts)


# --- registry -------------------------------------------------------------------------------
def test_registry_lists_the_built_in_providers_through_entry_points():
    assert {"existing", "kind", "gce", "azure"} <= set(registry.names())
    assert registry.load("existing") is ExistingProvider


def test_registry_names_the_known_providers_for_an_unknown_one():
    with pytest.raises(ConfigError, match=r"unknown provider 'nope': use one of: .*existing"):
        registry.load("nope")


def test_registry_reports_a_plugin_that_fails_to_import(monkeypatch):
    from importlib.metadata import EntryPoint

    broken = EntryPoint("broken", "no_such_module_anywhere:Provider", registry.GROUP)
    monkeypatch.setattr(registry, "_entry_points", lambda: {"broken": broken})
    with pytest.raises(ConfigError, match=r"provider 'broken' failed to load \(ModuleNotFoundError"):
        registry.load("broken")


# --- ledger ---------------------------------------------------------------------------------
def test_ledger_survives_a_crash_and_lists_what_to_tear_down(tmp_path):
    ledger = ledger_mod.Ledger.create(tmp_path, "run-1", "kind")
    specs = [ClusterSpec("c1", 0), ClusterSpec("c2", 1), ClusterSpec("c3", 2)]
    ledger.record(specs[0], ledger_mod.CREATING)
    ledger.record(specs[0], ledger_mod.UP, Cluster("c1", "kind", tmp_path / "c1.kubeconfig", "kind-c1"))
    ledger.record(specs[1], ledger_mod.CREATING)  # the process dies here, mid-bring-up
    ledger.record(specs[2], ledger_mod.CREATING)
    ledger.record("c3", ledger_mod.DOWN)
    reloaded = ledger_mod.Ledger.load(tmp_path)
    assert reloaded.run_id == "run-1" and reloaded.provider == "kind"
    assert [e.name for e in reloaded.pending_teardown()] == ["c1", "c2"]
    assert reloaded.clusters()[0].kubeconfig == tmp_path / "c1.kubeconfig"
    assert not list(tmp_path.glob(".ledger-*")), "no temporary files left behind"


def test_ledger_load_errors_are_one_line(tmp_path):
    with pytest.raises(ConfigError, match=r"no ledger at .*: pass the --artifacts folder"):
        ledger_mod.Ledger.load(tmp_path)
    (tmp_path / "ledger.json").write_text("{not json")
    with pytest.raises(ConfigError, match="is unreadable"):
        ledger_mod.Ledger.load(tmp_path)
    (tmp_path / "ledger.json").write_text(json.dumps({"version": 99}))
    with pytest.raises(ConfigError, match="unknown format"):
        ledger_mod.Ledger.load(tmp_path)


def test_teardown_after_a_crash_downs_half_made_clusters(tmp_path):
    downed: list[str] = []

    class Recording(ExistingProvider):
        def down(self, cluster: Cluster) -> None:
            downed.append(cluster.name)

    ledger = ledger_mod.Ledger.create(tmp_path, "run-1", "existing")
    ledger.record(ClusterSpec("half-made", 0), ledger_mod.CREATING)
    ledger.record(ClusterSpec("gone", 1), ledger_mod.DOWN)
    provider = Recording(options.build(run_id="run-1", work_dir=str(tmp_path)))
    results = clusterset.tear_down(provider, ledger_mod.Ledger.load(tmp_path), tmp_path)
    assert downed == ["half-made"] and [r.ok for r in results] == [True]
    assert ledger_mod.Ledger.load(tmp_path).entries["half-made"].state == ledger_mod.DOWN


# --- the existing provider ----------------------------------------------------------------
def test_existing_brings_up_every_context_and_records_versions(kube_ab, tmp_path):
    _kube, kubeconfig = kube_ab
    provider = _existing(tmp_path, kubeconfig, "a,b")
    specs = provider.plan(None)
    assert [s.name for s in specs] == ["a", "b"]
    ledger = ledger_mod.Ledger.create(tmp_path, "r1", "existing")
    results = clusterset.bring_up(provider, specs, ledger)
    assert all(r.ok for r in results), [r.error for r in results]
    assert [r.value.version for r in results] == ["v1.31.2", "v1.31.2"]
    assert all(provider.is_up(r.value) for r in results)
    written = provider.dump_logs(results[0].value, tmp_path / "dump")
    assert {p.name for p in written} == {"nodes.yaml", "kube-system-events.yaml"}


@pytest.mark.parametrize(
    ("kubeconfig", "contexts", "message"),
    [
        ("missing", "a", r"kubeconfig .*missing does not exist: pass --kubeconfig PATH"),
        ("good", "a,zz", r"context 'zz' is not in kubeconfig .*: use one of: a, b"),
        ("good", "", r"needs the contexts to use: pass --contexts a,b"),
        ("good", "a,a", r"names a context twice"),
        ("garbage", "a", r"kubeconfig .* is not valid"),
        (None, "a", r"needs a kubeconfig: pass --kubeconfig PATH"),
    ],
)
def test_existing_input_errors(kube_ab, tmp_path, kubeconfig, contexts, message):
    _kube, good = kube_ab
    garbage = tmp_path / "garbage"
    garbage.write_text("clusters: [unclosed")
    path = {"good": good, "missing": tmp_path / "missing", "garbage": garbage, None: None}[kubeconfig]
    with pytest.raises(ConfigError, match=message) as err:
        _existing(tmp_path, path, contexts).plan(None)
    assert "\n" not in str(err.value)


def test_existing_unreachable_server_is_named(tmp_path):
    with KubeStandIn.run(["a"]) as kube:
        kubeconfig = kube.write_kubeconfig(tmp_path / "kc")
    # The server is gone now: its port refuses connections.
    with pytest.raises(ClusterUnreachable, match=r"context 'a' at http://127.0.0.1:\d+ is unreachable after 1s"):
        _existing(tmp_path, kubeconfig, "a", deadline=1).up(ClusterSpec("a"))


@pytest.mark.parametrize("status", [401, 403])
def test_existing_auth_failures_fail_at_once(tmp_path, status):
    with KubeStandIn.run(["a"], status={"a": status}) as kube:
        kubeconfig = kube.write_kubeconfig(tmp_path / "kc")
        with pytest.raises(AuthError, match=f"answered {status}.*refresh the credentials"):
            _existing(tmp_path, kubeconfig, "a", deadline=30).up(ClusterSpec("a"))
        assert kube.clusters["a"].requests_to("/version") == 1  # no retries on 401/403


def test_existing_not_ready_until_the_deadline(tmp_path):
    with KubeStandIn.run(["a"], not_ready=("a",)) as kube:
        kubeconfig = kube.write_kubeconfig(tmp_path / "kc")
        with pytest.raises(DeadlineExceeded, match=r"not ready within 1s \(last: /readyz answered 500"):
            _existing(tmp_path, kubeconfig, "a", deadline=1).up(ClusterSpec("a"))
        assert kube.clusters["a"].requests_to("/readyz") >= 2  # it retried until the deadline


# --- the CLI --------------------------------------------------------------------------------
def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "providers", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def test_cli_lists_every_built_in_provider(tmp_path):
    out = _cli("list", cwd=tmp_path).stdout
    names = {line.split()[0] for line in out.splitlines()}
    assert {"existing", "kind", "gce", "azure"} <= names
    assert "existing     ok" in out


def test_cli_up_status_down_round_trip(kube_ab, tmp_path):
    _kube, kubeconfig = kube_ab
    up = _cli("up", "--provider", "existing", "--kubeconfig", str(kubeconfig), "--contexts", "a,b",
              "--artifacts", "arts", cwd=tmp_path)
    assert up.returncode == 0, up.stderr
    assert "Setup: existing up a: up" in up.stdout
    status = _cli("status", "--artifacts", "arts", cwd=tmp_path)
    assert "a                        up (answering)" in status.stdout
    down = _cli("down", "--artifacts", "arts", cwd=tmp_path)
    assert down.returncode == 0 and "Teardown: existing down b: down" in down.stdout
    again = _cli("down", "--artifacts", "arts", cwd=tmp_path)
    assert again.returncode == 0 and "nothing to tear down" in again.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["up", "--provider", "nope"], "unknown provider 'nope': use one of:"),
        (["up", "--provider", "existing", "--kubeconfig", "/nonexistent", "--contexts", "a"], "does not exist"),
        (["up", "--provider", "existing", "--contexts", "a", "--provider-opt", "novalue",
          "--kubeconfig", "/x"], "--provider-opt 'novalue' is not KEY=VALUE"),
        (["down", "--artifacts", "nowhere"], "no ledger at nowhere/ledger.json"),
        (["status", "--artifacts", "nowhere"], "no ledger at"),
    ],
)
def test_cli_errors_are_one_line(tmp_path, args, message):
    result = _cli(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr
    assert result.stderr.startswith("fedtest: error: ") and "Traceback" not in result.stderr
