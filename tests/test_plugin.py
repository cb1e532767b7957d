"""The pytest plugin (conftest.py) itself, run in-process with pytester on a tiny suite."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.standins.kube import KubeStandIn

TINY_SUITE = '''
from kubernetes import client

def test_namespace_is_there(kube, namespace, fedtest_run):
    ns = client.CoreV1Api(kube).read_namespace(namespace)
    assert ns.metadata.labels["fedtest.io/run-id"] == fedtest_run.run_id

def test_fails_with_a_pod(kube, namespace):
    pod = {"metadata": {"name": "runner"}, "spec": {"containers": [{"name": "steps", "image": "busybox"}]}}
    client.CoreV1Api(kube).create_namespaced_pod(namespace, pod)
    assert False, "the step failed"
'''


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_tiny=TINY_SUITE)
    return pytester


def _junit(artifacts: Path) -> dict[str, ET.Element]:
    root = ET.parse(artifacts / "junit_01.xml").getroot()
    return {case.get("name"): case for case in root.iter("testcase")}


def _outcome(case: ET.Element) -> str:
    for tag in ("failure", "error", "skipped"):
        if case.find(tag) is not None:
            return tag
    return "passed"


def test_namespaces_created_and_removed_even_when_a_test_fails(suite, kube_ab, tmp_path):
    kube, kubeconfig = kube_ab
    artifacts = tmp_path / "artifacts"
    result = suite.runpytest(".", "--provider", "existing", "--kubeconfig", str(kubeconfig), "--contexts", "a,b",
                             "--artifacts", str(artifacts))
    result.assert_outcomes(passed=2, failed=2)
    assert kube.clusters["a"].namespaces() == [] and kube.clusters["b"].namespaces() == []
    # The failing test's namespace held a pod: its evidence was written before deletion.
    failed_dirs = [p for p in artifacts.iterdir() if "test_fails_with_a_pod" in p.name]
    assert len(failed_dirs) == 2
    for d in failed_dirs:
        cluster_dir = d / d.name[-2]  # test_tiny.py__test_fails_with_a_pod[a] -> its cluster a
        assert (cluster_dir / "pods.yaml").read_text().count("name: runner") == 1
        assert (cluster_dir / "events.yaml").exists()
    assert not [p for p in artifacts.iterdir() if "test_namespace_is_there" in p.name]


def test_infra_phases_are_junit_cases_of_their_own(suite, kube_ab, tmp_path):
    _kube, kubeconfig = kube_ab
    artifacts = tmp_path / "artifacts"
    suite.runpytest(".", "--provider", "existing", "--kubeconfig", str(kubeconfig), "--contexts", "a,b",
                    "--artifacts", str(artifacts))
    cases = _junit(artifacts)
    assert _outcome(cases["Setup: existing up a"]) == "passed"
    assert _outcome(cases["Setup: existing up b"]) == "passed"
    assert _outcome(cases["Teardown: existing down a"]) == "passed"
    assert _outcome(cases["Teardown: leaked namespaces"]) == "passed"
    failing = cases["test_tiny.py::test_fails_with_a_pod[b]"]
    assert _outcome(failing) == "failure"
    assert "the step failed" in failing.find("failure").get("message")
    props = {p.get("name"): p.get("value") for p in failing.iter("property")}
    assert props["cluster"] == "b" and props["provider"] == "existing"
    assert float(cases["Setup: existing up a"].get("time")) >= 0


def test_with_xdist_clusters_come_up_once(pytester, kube_ab, tmp_path):
    kube, kubeconfig = kube_ab
    pytester.makepyfile(test_tiny=TINY_SUITE.split("def test_fails")[0] + "\n".join(
        f"def test_more_{i}(namespace):\n    assert namespace\n" for i in range(4)))
    artifacts = tmp_path / "artifacts"
    result = pytester.runpytest(".", "-n", "2", "--provider", "existing", "--kubeconfig", str(kubeconfig),
                                "--contexts", "a,b", "--artifacts", str(artifacts))
    result.assert_outcomes(passed=10)
    for name in ("a", "b"):
        assert kube.clusters[name].requests_to("/readyz") == 1  # one bring-up check, not one per worker
        assert kube.clusters[name].namespaces() == []
    cases = _junit(artifacts)
    assert sorted(n for n in cases if n.startswith("Setup")) == [
        "Setup: existing up a", "Setup: existing up b", "Setup: pre-flight"]
    assert len([n for n in cases if n.startswith("test_tiny.py")]) == 10
    ledger = json.loads((artifacts / "ledger.json").read_text())
    assert [c["state"] for c in ledger["clusters"]] == ["down", "down"]


def test_a_leaked_namespace_fails_the_run_as_an_infra_case(pytester, kube_ab, tmp_path):
    _kube, kubeconfig = kube_ab
    pytester.makepyfile(test_leak='''
from kubernetes import client
def test_leaves_one_behind(kube, fedtest_run):
    body = {"metadata": {"name": "left-behind", "labels": {"fedtest.io/run-id": fedtest_run.run_id}}}
    client.CoreV1Api(kube).create_namespace(body)
''')
    artifacts = tmp_path / "artifacts"
    result = pytester.runpytest(".", "--provider", "existing", "--kubeconfig", str(kubeconfig), "--contexts", "a",
                                "--artifacts", str(artifacts))
    result.assert_outcomes(passed=1, errors=1)  # the infra failure counts in pytest's closing line
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    leak = _junit(artifacts)["Teardown: leaked namespaces"]
    assert _outcome(leak) == "error" and "a/left-behind" in leak.find("error").get("message")
    result.stdout.fnmatch_lines(["*Teardown: leaked namespaces*FAILED: 1 namespaces*a/left-behind*"])


def test_a_cluster_that_fails_to_come_up_skips_its_tests_and_fails_the_run(pytester, tmp_path):
    with KubeStandIn.run(["a", "b"], status={"b": 403}) as kube:
        kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")
        pytester.makepyfile(test_tiny=TINY_SUITE.split("def test_fails")[0])
        artifacts = tmp_path / "artifacts"
        result = pytester.runpytest(".", "--provider", "existing", "--kubeconfig", str(kubeconfig),
                                    "--contexts", "a,b", "--artifacts", str(artifacts))
    result.assert_outcomes(passed=1, skipped=1, errors=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*1 passed, 1 skipped, 1 error*"])
    cases = _junit(artifacts)
    setup_b = cases["Setup: existing up b"]
    assert _outcome(setup_b) == "error" and "403" in setup_b.find("error").get("message")
    skipped = cases["test_tiny.py::test_namespace_is_there[b]"]
    assert "cluster b is not up" in skipped.find("skipped").get("message")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--kubeconfig", "{missing}", "--contexts", "a"], "kubeconfig * does not exist: pass --kubeconfig*"),
        (["--kubeconfig", "{kc}", "--contexts", "a,zz"], "context 'zz' is not in kubeconfig*use one of: a, b"),
        (["--kubeconfig", "{kc}"], "*needs the contexts to use: pass --contexts a,b"),
        (["--kubeconfig", "{kc}", "--contexts", "a", "--clusters", "2"], "--clusters 2 does not match*"),
        (["--kubeconfig", "{kc}", "--contexts", "a", "--k8s-version", "latest"], "*not a Kubernetes version*"),
        # tox -e e2e-existing without FEDTEST_CONTEXTS passes an empty value: our one line, not pytest's usage
        (["--kubeconfig", "{kc}", "--contexts="], "*needs the contexts to use: pass --contexts a,b"),
    ],
)
def test_bad_provider_input_is_a_failed_preflight_in_a_complete_build(pytester, kube_ab, tmp_path, args, expected):
    """Once the results destination is valid, every run leaves a build: bad settings fail its Setup case."""
    _kube, kubeconfig = kube_ab
    pytester.makepyfile(test_x="def test_x(namespace):\n    pass\n")
    args = [a.format(missing=tmp_path / "nope", kc=kubeconfig) for a in args]
    artifacts = tmp_path / "artifacts"
    result = pytester.runpytest_subprocess(".", "--provider", "existing", "--artifacts", str(artifacts),
                                           "--build-id", "7", *args)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([f"*Setup: pre-flight*FAILED: {expected}", "*1 skipped, 1 error*"])
    assert "Traceback" not in result.stderr.str() + result.stdout.str()
    preflight = _junit(artifacts)["Setup: pre-flight"]
    assert _outcome(preflight) == "error"
    build = artifacts / "logs" / "e2e-existing"
    finished = json.loads((build / "7" / "finished.json").read_text())
    assert finished["result"] == "FAILURE" and finished["metadata"]["failure"] == "infra"
    assert finished["metadata"]["failed-steps"] == "Setup: pre-flight"
    assert (build / "latest-build.txt").read_text().strip() == "7"


def test_without_a_provider_cluster_tests_skip_with_the_reason(pytester):
    pytester.makepyfile(test_x="def test_x(namespace):\n    pass\n")
    result = pytester.runpytest(".", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*no clusters: run with --provider*"])


def test_provider_settings_from_the_environment_are_checked_like_flags(pytester, kube_ab, monkeypatch, tmp_path):
    _kube, kubeconfig = kube_ab
    monkeypatch.setenv("FEDTEST_PROVIDER_OPTS", "region=westeurope novalue")
    pytester.makepyfile(test_x="def test_x(namespace):\n    pass\n")
    result = pytester.runpytest_subprocess(".", "--provider", "existing", "--kubeconfig", str(kubeconfig),
                                           "--contexts", "a", "--artifacts", str(tmp_path / "artifacts"))
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*Setup: pre-flight*FAILED: --provider-opt 'novalue' is not KEY=VALUE*"])


def test_the_plugin_is_registered_once_with_this_repository_conftest(pytester, kube_ab, tmp_path):
    """Installed through its pytest11 entry point, and the root conftest.py does not register it again."""
    _kube, kubeconfig = kube_ab
    from tests.conftest import ROOT

    pytester.makeconftest((ROOT / "conftest.py").read_text())
    pytester.makepyfile(test_once='''
import fedtest.plugin

def test_registered_once(request, namespace):
    plugins = [p for p in request.config.pluginmanager.get_plugins() if p is fedtest.plugin]
    assert len(plugins) == 1
''')
    result = pytester.runpytest_subprocess(".", "--provider", "existing", "--kubeconfig", str(kubeconfig),
                                           "--contexts", "a", "--artifacts", str(tmp_path / "artifacts"))
    result.assert_outcomes(passed=1)


def test_an_unwritable_results_bucket_is_a_usage_error_within_its_deadline(pytester, kube_ab, tmp_path):
    import socket

    _kube, kubeconfig = kube_ab
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    pytester.makepyfile(test_x="def test_x(namespace):\n    pass\n")
    pytester._monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{port}")
    result = pytester.runpytest_subprocess(".", "--provider", "existing", "--kubeconfig", str(kubeconfig),
                                           "--contexts", "a", "--results", "gs://b/logs/j", "--results-deadline",
                                           "2", "--artifacts", str(tmp_path / "artifacts"), timeout=60)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: gave up to read gs://b/logs/j/e2e-existing/latest-build.txt after "
                                 f"retrying for 2s at http://127.0.0.1:{port}*"])


def test_the_reach_window_reaches_the_tests_config(pytester, kube_ab, tmp_path):
    _kube, kubeconfig = kube_ab
    pytester.makepyfile(test_x="def test_x(e2e_config):\n    assert e2e_config.reach_window == 7.5\n")
    result = pytester.runpytest(".", "--provider", "existing", "--kubeconfig", str(kubeconfig), "--contexts", "a",
                                "--artifacts", str(tmp_path / "artifacts"), "--reach-window", "7.5")
    result.assert_outcomes(passed=1)
