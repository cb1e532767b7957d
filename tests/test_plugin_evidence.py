"""Diagnostics taken when a test fails, before its fixtures tear down what they made (pytester, kmock)."""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from kubernetes import client

from e2e.framework import diagnostics
from tests.standins.kube import KubeStandIn

MANAGED = '[{"manager": "kubectl", "operation": "Apply", "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {}}}]'

SUITE = f'''
import json
import pytest
from kubernetes import client

def config_map(name, data):
    return {{"metadata": {{"name": name, "managedFields": json.loads({MANAGED!r})}}, "data": data}}

def event(name, reason, stamp):
    return {{"metadata": {{"name": name}}, "reason": reason, "type": "Warning", "message": reason + " happened",
             "involvedObject": {{"kind": "Service", "name": "web"}}, "lastTimestamp": stamp}}

@pytest.fixture
def web(kube, namespace):
    """Creates a Service and its settings; deletes both on teardown, as fixtures do."""
    core = client.CoreV1Api(kube)
    core.create_namespaced_service(namespace, {{"metadata": {{"name": "web", "managedFields": json.loads({MANAGED!r})}},
                                               "spec": {{"ports": [{{"port": 80}}]}}}})
    core.create_namespaced_config_map(namespace, config_map("web-settings", {{"mode": "strict"}}))
    core.create_namespaced_event(namespace, event("later", "Unhealthy", "2026-12-01T10:05:00Z"))
    core.create_namespaced_event(namespace, event("earlier", "Scheduled", "2026-12-01T10:01:00Z"))
    yield "web"
    core.delete_namespaced_service("web", namespace)
    core.delete_namespaced_config_map("web-settings", namespace)

@pytest.fixture
def shards(federated_namespace):
    for api in federated_namespace.clients.values():
        client.CoreV1Api(api).create_namespaced_config_map(federated_namespace.name,
                                                           config_map("shard", {{"role": "echo"}}))
    yield federated_namespace
    for api in federated_namespace.clients.values():
        client.CoreV1Api(api).delete_namespaced_config_map("shard", federated_namespace.name)

@pytest.fixture
def half_made(kube, namespace):
    client.CoreV1Api(kube).create_namespaced_config_map(namespace, config_map("half", {{"step": "1"}}))
    raise RuntimeError("the second step of the fixture failed")

def test_web_answers(web):
    assert False, "web did not answer"

def test_shards_agree(shards):
    assert False, "the shards disagree"

def test_after_a_broken_fixture(half_made):
    pass

def test_passes(web):
    assert web == "web"

def test_big(kube, namespace):
    client.CoreV1Api(kube).create_namespaced_config_map(namespace, config_map("big", {{"blob": "x" * 300_000}}))
    assert False, "too big to pass"
'''


def _run(pytester: pytest.Pytester, kubeconfig: Path, artifacts: Path, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_evidence=SUITE)
    return pytester.runpytest(".", "--provider", "existing", "--kubeconfig", str(kubeconfig), "--contexts", "a,b",
                              "--artifacts", str(artifacts), *args)


def _test_dir(artifacts: Path, name: str) -> Path:
    (found,) = [p for p in artifacts.iterdir() if p.is_dir() and p.name.endswith(name)]
    return found


@pytest.fixture
def evidence_run(pytester: pytest.Pytester, tmp_path: Path) -> tuple[KubeStandIn, Path, pytest.RunResult]:
    with KubeStandIn.run(["a", "b"]) as kube:
        kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")
        artifacts = tmp_path / "artifacts"
        result = _run(pytester, kubeconfig, artifacts, "-k", "not big")
        yield kube, artifacts, result


def test_the_dump_holds_what_the_fixture_deleted_on_teardown(evidence_run) -> None:
    kube, artifacts, result = evidence_run
    result.assert_outcomes(passed=2, failed=3, errors=2)
    for name in ("a", "b"):
        assert kube.clusters[name].objects("services") == [] and kube.clusters[name].namespaces() == []
    for cluster in ("a", "b"):
        dump = _test_dir(artifacts, f"test_web_answers[{cluster}]") / cluster
        services = (dump / "services.yaml").read_text()
        assert "name: web" in services and "port: 80" in services
        assert "name: web-settings" in (dump / "configmaps.yaml").read_text()
        assert not [p for p in dump.iterdir() if "managedFields" in p.read_text()]
        events = (dump / "events.txt").read_text().splitlines()
        assert ["Scheduled" in events[0], "Unhealthy" in events[1]] == [True, True], events
        assert (dump / "nodes.yaml").exists()
    assert not [p for p in artifacts.iterdir() if "test_passes" in p.name]


def test_a_federation_test_is_dumped_in_every_cluster_with_an_index(evidence_run) -> None:
    _kube, artifacts, _result = evidence_run
    test_dir = _test_dir(artifacts, "test_shards_agree")
    for cluster in ("a", "b"):
        assert "name: shard" in (test_dir / cluster / "configmaps.yaml").read_text()
    index = (test_dir / "index.txt").read_text()
    assert index.startswith("Diagnostics of test_evidence.py::test_shards_agree\n")
    assert "when its call phase failed, before any fixture's teardown ran" in index
    assert "failure: AssertionError: the shards disagree" in index
    assert "cluster a, namespace ft-shards-agree-" in index and "cluster b, namespace" in index
    assert "a/configmaps.yaml" in index and "b/services.yaml" in index and "nothing cut" in index
    junit = ET.parse(artifacts / "junit_01.xml").getroot()
    (case,) = [c for c in junit.iter("testcase") if c.get("name") == "test_evidence.py::test_shards_agree"]
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert props["diagnostics"] == f"{test_dir.name}/index.txt"


def test_a_fixture_that_fails_in_setup_leaves_what_it_made_in_the_dump(evidence_run) -> None:
    _kube, artifacts, result = evidence_run
    dump = _test_dir(artifacts, "test_after_a_broken_fixture[a]")
    assert "name: half" in (dump / "a" / "configmaps.yaml").read_text()
    index = (dump / "index.txt").read_text()
    assert "when its setup phase failed" in index and "the second step of the fixture failed" in index
    result.stdout.fnmatch_lines(["*fedtest diagnostics*", "*/index.txt"])  # where to look, in the failure's report
    assert f"{dump / 'index.txt'}" in result.stdout.str()


def test_the_cap_per_test_cuts_and_says_so(pytester: pytest.Pytester, kube_ab, tmp_path: Path) -> None:
    _kube, kubeconfig = kube_ab
    artifacts = tmp_path / "artifacts"
    result = _run(pytester, kubeconfig, artifacts, "-k", "big", "--diagnostics-cap", "0.1")
    result.assert_outcomes(failed=2)
    test_dir = _test_dir(artifacts, "test_big[a]")
    sizes = sum(p.stat().st_size for p in test_dir.rglob("*") if p.is_file() and p.name != "index.txt")
    assert sizes < 0.1 * 1024 * 1024 + 4096  # the cut markers are the only bytes past the cap
    index = (test_dir / "index.txt").read_text()
    assert "file(s) cut at the cap, marked CUT below" in index
    cut_lines = [line for line in index.splitlines() if line.strip().startswith("CUT")]
    assert cut_lines and any("the per-test cap of 102.4 KiB was reached" in line for line in cut_lines), index
    assert "--- cut at" in (test_dir / "a" / "configmaps.yaml").read_text()


def test_a_cap_of_nothing_is_refused_in_one_line(pytester: pytest.Pytester, kube_ab, tmp_path: Path) -> None:
    _kube, kubeconfig = kube_ab
    result = _run(pytester, kubeconfig, tmp_path / "art", "--diagnostics-cap", "0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --diagnostics-cap must be above 0 MiB: pass e.g. --diagnostics-cap 20"])


def test_a_pods_line_names_its_unready_conditions_and_each_containers_state() -> None:
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="echo-7d9f"),
        status=client.V1PodStatus(
            phase="Running",
            conditions=[client.V1PodCondition(type="PodScheduled", status="True"),
                        client.V1PodCondition(type="Ready", status="False", reason="ContainersNotReady")],
            container_statuses=[client.V1ContainerStatus(
                name="app", image="agnhost", image_id="", ready=False, restart_count=3,
                state=client.V1ContainerState(waiting=client.V1ContainerStateWaiting(reason="CrashLoopBackOff")),
                last_state=client.V1ContainerState(terminated=client.V1ContainerStateTerminated(
                    exit_code=137, reason="OOMKilled")))]))
    assert diagnostics.pod_state(pod) == ("echo-7d9f  Running  Ready=False (ContainersNotReady)  app: waiting "
                                          "(CrashLoopBackOff), 3 restarts, last terminated (OOMKilled, exit 137)")


def test_a_cluster_that_does_not_answer_is_noted_once_not_waited_for_per_kind(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    configuration = client.Configuration(host=f"http://127.0.0.1:{port}")
    configuration.retries = 0
    with client.ApiClient(configuration) as api:
        found = diagnostics.dump_namespace(api, "gone", "ns", tmp_path / "gone", diagnostics.Budget(1024))
    assert len(found.errors) == 1, found.errors
    assert found.errors[0].startswith("events: ") and "the rest of gone's dump is skipped" in found.errors[0]
