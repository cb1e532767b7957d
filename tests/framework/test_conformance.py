"""The conformance tester against the stand-in API and a fake kubelet that plays the upstream image
(a stand-in e2e.test) and runs the pod's real results container with `sh`."""

from __future__ import annotations

import re
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from e2e.framework import conformance_pod as shapes
from e2e.framework import conformance_report as report
from e2e.framework import kube
from e2e.framework.conformance import (
    ConformanceResult,
    ConformanceSettings,
    conformance_metadata,
    run_conformance,
    run_on_clusters,
)
from providers.base import Cluster
from tests.framework.conftest import Clusters
from tests.standins.conformance_kubelet import Behaviour, FakeConformanceKubelet, Spec, Suite, add_api_service
from upload import lint

SPECS = [
    Spec("[sig-node] Pods should be submitted and removed [NodeConformance] [Conformance]"),
    Spec("[sig-cli] Kubectl client Simple pod should contain last line of the log [Conformance]"),
    Spec("[sig-cli] Kubectl client Simple pod should support exec [Conformance]"),
    Spec("[sig-network] Services should serve a basic endpoint from pods [Conformance]",
         outcome="skipped", message="Only supported for providers [gce gke]"),
    Spec("[sig-storage] CSI mock volume should not be run [Feature:CSI]"),
]
FAILING = Spec("[sig-apps] Deployment should run the lifecycle of a Deployment [Conformance]", outcome="failed",
               message="timed out waiting for the condition")
LEFTOVER_KINDS = ("pods", "serviceaccounts", "clusterrolebindings", "configmaps", "namespaces")
# test/conformance/image/go-runner (v1.28) reads these and no other variable; KUBE_TEST_REPO_LIST is e2e.test's
GO_RUNNER_READS = {"E2E_FOCUS", "E2E_SKIP", "E2E_PROVIDER", "E2E_PARALLEL", "E2E_DRYRUN", "E2E_EXTRA_GINKGO_ARGS",
                   "E2E_EXTRA_ARGS", "E2E_EXTRA_ARGS_SEP", "RESULTS_DIR", "KUBECONFIG", "GINKGO_BIN", "TEST_BIN",
                   "KUBE_TEST_REPO_LIST"}


@pytest.fixture
def standins(clusters: Clusters, tmp_path: Path) -> Iterator[Clusters]:
    yield clusters
    kube.close_all()


def cluster(tmp_path: Path, name: str = "east") -> Cluster:
    return Cluster(name=name, provider="existing", kubeconfig=tmp_path / "kubeconfig", context=name)


@contextmanager
def fake_kubelet(clusters: Clusters, suite: Suite, behaviour: Behaviour | None = None,
                 name: str = "east") -> Iterator[Behaviour]:
    behaviour = behaviour or Behaviour()
    with FakeConformanceKubelet(clusters.kube, name, clusters.clients[name], suite, behaviour):
        yield behaviour


def leftovers(clusters: Clusters, name: str = "east") -> dict[str, list[str]]:
    standin = clusters.kube.clusters[name]
    return {kind: [o["metadata"]["name"] for o in standin.objects(kind)] for kind in LEFTOVER_KINDS
            if standin.objects(kind)}


def run(tmp_path: Path, settings: ConformanceSettings | None = None, *, name: str = "east",
        deadline: float = 60.0, stop: threading.Event | None = None,
        lines: list[str] | None = None) -> ConformanceResult:
    log = lines.append if lines is not None else (lambda _line: None)
    return run_conformance(cluster(tmp_path, name), settings or ConformanceSettings(), tmp_path / "artifacts",
                           deadline_seconds=deadline, stop=stop or threading.Event(), log=log)


def eventually(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        threading.Event().wait(0.05)
    raise AssertionError(f"not within {timeout}s: {check}")


def following(lines: list[str]) -> None:
    """Wait until the tester reports progress from the suite's log: it then watches the running pod.

    (kmock lists without a resourceVersion, so a watch misses what happens between its list and its
    start; a real API server replays it. The margin keeps that window out of these tests.)"""
    eventually(lambda: any(" specs, " in line for line in lines))
    threading.Event().wait(0.3)


def cases(path: Path) -> dict[str, ET.Element]:
    return {c.get("name", ""): c for c in ET.parse(path).getroot().iter("testcase")}


def test_a_passing_run_merges_its_junit_copies_the_results_and_leaves_nothing(
        standins: Clusters, tmp_path: Path) -> None:
    lines: list[str] = []
    settings = ConformanceSettings(progress_seconds=0.2, run_id="run-17")
    with fake_kubelet(standins, Suite(SPECS, line_seconds=0.15)) as seen:
        result = run(tmp_path, settings, lines=lines)
    assert (result.error, result.ok, result.passed, result.failed, result.skipped) == ("", True, 3, 0, 1)
    assert result.image == "registry.k8s.io/conformance:v1.31.2"  # the stand-in server says v1.31.2
    assert result.junit == tmp_path / "artifacts" / "junit_conformance_east.xml"
    merged = cases(result.junit)
    assert sorted(merged) == sorted(f"{s.name} [east]" for s in SPECS[:4])  # filter skips are gone
    skipped = merged[f"{SPECS[3].name} [east]"].find("skipped")
    assert skipped is not None and "Only supported for providers" in skipped.get("message", "")
    props = {p.get("name"): p.get("value") for p in merged[f"{SPECS[0].name} [east]"].iter("property")}
    assert props["cluster"] == "east" and props["provider"] == "existing"
    out = tmp_path / "artifacts" / "conformance" / "east"
    assert "Will run 4 of 7389 specs" in (out / "e2e.log").read_text()
    assert sorted(p.name for p in out.iterdir()) == ["e2e.log"]  # the report lives on only merged
    assert any(re.search(r"ran [123] of 4 specs, 0 failed", line) for line in lines), lines  # while it runs
    assert lines[-1].startswith("conformance east: ok, 3 passed, 0 failed, 1 skipped")
    (pod,) = seen.seen_pods
    assert pod["metadata"]["labels"]["fedtest.io/run-id"] == "run-17"
    assert leftovers(standins) == {}
    assert lint.lint_artifact_files(lint.artifact_files(tmp_path / "artifacts")) == []


def test_the_pod_runs_ginkgo_as_a_cluster_admin_service_account(standins: Clusters, tmp_path: Path) -> None:
    stop = threading.Event()
    core = standins.kube.clusters["east"]
    with fake_kubelet(standins, Suite(SPECS, hang=True)) as seen, ThreadPoolExecutor(1) as pool:
        settings = ConformanceSettings(focus="Simple pod should", skip=r"\[Serial\]", parallel=4,
                                       progress_seconds=0.1)
        lines: list[str] = []
        future = pool.submit(run, tmp_path, settings, stop=stop, lines=lines)
        following(lines)
        (binding,) = core.objects("clusterrolebindings")
        (account,) = core.objects("serviceaccounts")
        namespace = account["metadata"]["namespace"]
        stop.set()
        result = future.result(30)
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                  "name": "cluster-admin"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "conformance", "namespace": namespace}]
    spec = seen.seen_pods[0]["spec"]
    assert (spec["serviceAccountName"], spec["automountServiceAccountToken"]) == ("conformance", True)
    assert spec["restartPolicy"] == "Never" and spec["activeDeadlineSeconds"] <= 60
    runner, carrier = spec["containers"]
    env = {e["name"]: e["value"] for e in runner["env"]}
    assert env["E2E_FOCUS"] == "Simple pod should" and env["E2E_SKIP"] == r"\[Serial\]"
    assert env["E2E_EXTRA_GINKGO_ARGS"] == "--procs=4 -v" and "E2E_DRYRUN" not in env
    assert env["RESULTS_DIR"] == "/tmp/results"
    assert set(env) <= GO_RUNNER_READS  # nothing go-runner ignores (E2E_VERBOSITY, E2E_USE_GO_RUNNER)
    assert [m["mountPath"] for m in runner["volumeMounts"]] == ["/tmp/results", "/etc/fedtest-conformance"]
    assert [m["mountPath"] for m in carrier["volumeMounts"]] == ["/tmp/results"]
    assert spec["volumes"] == [{"name": "results", "emptyDir": {}},
                               {"name": "config", "configMap": {"name": "fedtest-conformance"}}]
    assert runner["securityContext"]["allowPrivilegeEscalation"] is False
    assert carrier["image"] == "docker.io/library/busybox:1.36.1"
    assert result.aborted and result.error.startswith("aborted at ran 2 of 2 specs")
    assert leftovers(standins) == {}


def test_failing_tests_are_test_failures_not_a_tester_error(standins: Clusters, tmp_path: Path) -> None:
    with fake_kubelet(standins, Suite([*SPECS, FAILING])):
        result = run(tmp_path)
    assert (result.error, result.ok, result.passed, result.failed) == ("", False, 3, 1)
    assert result.error == ""  # the tester worked: its infra case passes
    failure = cases(result.junit)[f"{FAILING.name} [east]"].find("failure")
    assert failure is not None and failure.get("message") == "[FAILED] timed out waiting for the condition"
    assert "conformance east: FAILED, 3 passed, 1 failed" in result.line()
    assert leftovers(standins) == {}


def test_clusters_in_parallel_get_their_own_rows(standins: Clusters, tmp_path: Path) -> None:
    lines: list[str] = []
    with fake_kubelet(standins, Suite(SPECS)), fake_kubelet(standins, Suite([*SPECS, FAILING]), name="west"):
        east, west = run_on_clusters([cluster(tmp_path, "east"), cluster(tmp_path, "west")], ConformanceSettings(),
                                     tmp_path / "artifacts", deadline_seconds=60, stop=threading.Event(),
                                     log=lines.append)
    assert (east.cluster, west.cluster) == ("east", "west")
    assert {line.split(":")[0] for line in lines} == {"conformance east", "conformance west"}
    assert (east.ok, west.ok, west.failed) == (True, False, 1)
    east_names, west_names = set(cases(east.junit)), set(cases(west.junit))
    assert not east_names & west_names
    assert {n.removesuffix(" [east]") for n in east_names} < {n.removesuffix(" [west]") for n in west_names}
    assert lint.lint_artifact_files(lint.artifact_files(tmp_path / "artifacts")) == []
    assert leftovers(standins, "east") == {} and leftovers(standins, "west") == {}


def test_a_dry_run_lists_the_focused_tests_without_running_them(standins: Clusters, tmp_path: Path) -> None:
    lines: list[str] = []
    with fake_kubelet(standins, Suite([*SPECS, FAILING])) as seen:
        result = run(tmp_path, ConformanceSettings(focus="Simple pod should", dry_run=True), lines=lines)
    env = {e["name"]: e["value"] for e in seen.seen_pods[0]["spec"]["containers"][0]["env"]}
    assert env["E2E_DRYRUN"] == "true"
    assert result.error == "" and result.junit is None
    assert result.listed == sorted([SPECS[1].name, SPECS[2].name])
    assert (tmp_path / "artifacts" / "conformance" / "east" / "tests.txt").read_text().splitlines() == result.listed
    assert f"conformance east: would run: {SPECS[1].name}" in lines
    assert not list((tmp_path / "artifacts").glob("junit*.xml"))
    assert leftovers(standins) == {}


def test_a_timeout_ends_the_run_keeps_the_log_and_cleans_up(standins: Clusters, tmp_path: Path) -> None:
    with fake_kubelet(standins, Suite(SPECS, hang=True)):
        result = run(tmp_path, ConformanceSettings(timeout=3))
    assert result.error.startswith("timed out after 3s at ran 3 of 4 specs"), result.error
    assert not result.ok and not result.aborted and result.junit is None
    assert "Will run 4 of 7389 specs" in (tmp_path / "artifacts" / "conformance" / "east" / "e2e.log").read_text()
    assert leftovers(standins) == {}


def test_the_run_deadline_bounds_the_suite_and_keeps_time_for_clean_up(standins: Clusters, tmp_path: Path) -> None:
    with fake_kubelet(standins, Suite(SPECS, hang=True)):
        started = time.monotonic()
        result = run(tmp_path, deadline=8.0)
    assert result.error.startswith("timed out after 6s"), result.error  # 8 s minus a quarter for clean-up
    assert time.monotonic() - started < 8.0
    assert leftovers(standins) == {}


def test_an_abort_before_the_start_creates_nothing(standins: Clusters, tmp_path: Path) -> None:
    stop = threading.Event()
    stop.set()
    result = run(tmp_path, stop=stop)
    assert (result.aborted, result.error) == (True, "aborted before it started")
    assert standins.requests("east") == []


def test_an_image_that_cannot_be_pulled_is_an_infra_failure(standins: Clusters, tmp_path: Path) -> None:
    settings = ConformanceSettings(image="registry.k8s.io/conformance:v9.9.9", image_registry="mirror.example:5000")
    with fake_kubelet(standins, Suite(SPECS), Behaviour(pull_error="ImagePullBackOff")) as seen:
        result = run(tmp_path, settings)
    assert seen.seen_pods[0]["spec"]["containers"][0]["image"] == "mirror.example:5000/conformance:v9.9.9"
    assert result.image == "mirror.example:5000/conformance:v9.9.9"
    assert "container conformance cannot start: ImagePullBackOff" in result.error
    assert "--conformance-image" in result.error and "\n" not in result.error
    assert (result.case_name, result.properties["cluster"]) == ("Conformance: east", "east")
    assert leftovers(standins) == {}


def test_a_pod_that_is_never_scheduled_is_an_infra_failure(standins: Clusters, tmp_path: Path) -> None:
    with fake_kubelet(standins, Suite(SPECS), Behaviour(unschedulable=True)):
        result = run(tmp_path, ConformanceSettings(start_timeout=1.0))
    assert result.error.startswith("the conformance pod did not start within 1s"), result.error
    assert "Insufficient memory" in result.error
    assert leftovers(standins) == {}


def test_missing_rbac_rights_fail_with_the_fix_and_clean_up(standins: Clusters, tmp_path: Path) -> None:
    emulator = standins.emulator("east")
    add_api_service(standins.clients["east"])
    standins.kube.call(lambda: emulator["post /apis/rbac.authorization.k8s.io/v1/clusterrolebindings"] << 403)
    result = run(tmp_path)
    assert result.error.startswith("cannot create ClusterRoleBinding fedtest-conformance-"), result.error
    assert "needs cluster-admin" in result.error
    assert leftovers(standins) == {}


def test_a_suite_without_junit_is_a_tester_error_with_its_log(standins: Clusters, tmp_path: Path) -> None:
    with fake_kubelet(standins, Suite(SPECS, write_junit=False)):
        result = run(tmp_path)
    assert result.error == ("e2e.test ended (exit 0 Completed) without junit_01.xml: "
                            "see conformance/east/e2e.log")
    assert "Ran 4 of 7389 Specs" in (tmp_path / "artifacts" / "conformance" / "east" / "e2e.log").read_text()
    assert leftovers(standins) == {}


def test_a_pod_deleted_by_someone_else_is_a_tester_error(standins: Clusters, tmp_path: Path) -> None:
    with fake_kubelet(standins, Suite(SPECS, hang=True)) as seen, ThreadPoolExecutor(1) as pool:
        lines: list[str] = []
        future = pool.submit(run, tmp_path, ConformanceSettings(progress_seconds=0.1), lines=lines)
        following(lines)
        pod = seen.seen_pods[0]["metadata"]
        client.CoreV1Api(standins.clients["east"]).delete_namespaced_pod(pod["name"], pod["namespace"])
        result = future.result(30)
    assert "was deleted by someone else" in result.error and not result.aborted
    assert leftovers(standins) == {}


@pytest.mark.parametrize(("version", "tag"), [
    ("v1.31.2", "v1.31.2"), ("v1.30.4-gke.1348000", "v1.30.4"), ("v1.29.7+k3s1", "v1.29.7"),
    ("v1.28.13-eks-a737599", "v1.28.13"), ("v1.32.0-rc.1", "v1.32.0-rc.1"), ("1.31.0", "v1.31.0"),
])
def test_the_image_tag_follows_the_server_version(version: str, tag: str) -> None:
    assert shapes.image_tag(version) == tag


def test_a_version_without_a_patch_level_asks_for_an_image() -> None:
    with pytest.raises(shapes.ConformanceError, match=r"^server version 'v1.31' is not .*--conformance-image"):
        shapes.image_tag("v1.31")


def test_progress_counts_ginkgo_bullets_and_names_failures() -> None:
    progress = report.Progress()
    for line in ["Will run 5 of 7389 specs", "SSSSSSSS••SSS", "------------------------------",
                 "• [FAILED] [3.210 seconds]", "[sig-apps] Deployment should work [Conformance]",
                 "  [FAILED] boom", "• [PANICKED] [0.1 seconds]", "[sig-x] panics"]:
        progress.feed(line)
    assert (progress.total, progress.done, progress.failed) == (5, 4, 2)
    assert progress.line(75) == "ran 4 of 5 specs, 2 failed (1m15s); last failure: [sig-x] panics"
    progress.partial("S•")  # a row ginkgo has not ended yet counts too
    assert progress.line(75).startswith("ran 5 of 5 specs")
    progress.feed("S•S")
    assert (progress.done, progress.pending) == (5, 0)


def test_a_cut_or_missing_archive_is_no_archive() -> None:
    assert report.results_archive("::fedtest-conformance-no-results") is None
    assert report.results_archive("::fedtest-conformance-results-begin\nH4sI") is None
    assert report.results_archive(
        "::fedtest-conformance-results-begin\nnot base64!\n::fedtest-conformance-results-end") is None


def test_upstream_cases_keep_outcomes_and_drop_filter_skips() -> None:
    junit = b"""<testsuites><testsuite name="Kubernetes e2e suite">
      <testcase name="a" classname="K" time="1.5"></testcase>
      <testcase name="b" classname="K" time="0"><skipped message="skipped"/></testcase>
      <testcase name="c" classname="K" time="2"><failure message="" type="failed">[FAILED] boom
at x.go:1</failure><system-err>STEP: one</system-err></testcase>
      <testcase name="d" classname="K" time="0.1"><error message="panicked" type="panicked">stack</error></testcase>
    </testsuite></testsuites>"""
    got = {c.name: c for c in report.upstream_cases(junit)}
    assert sorted(got) == ["a", "c", "d"]
    assert (got["a"].outcome, got["a"].seconds) == ("passed", 1.5)
    assert (got["c"].outcome, got["c"].message, got["c"].stdout) == ("failed", "[FAILED] boom", "STEP: one")
    assert (got["d"].outcome, got["d"].message) == ("error", "panicked")


def test_the_dashboard_headers_name_metadata_the_tester_writes(tmp_path: Path) -> None:
    config = yaml.safe_load((Path(__file__).parents[2] / "dashboard_config" / "fedtest.yaml").read_text())
    headers = {h["configuration_value"] for g in config["test_groups"] for h in g["column_header"]}
    results = [ConformanceResult("east", 1.0, image="registry.k8s.io/conformance:v1.31.2", passed=3),
               ConformanceResult("west", 1.0, image="registry.k8s.io/conformance:v1.30.4", failed=1),
               ConformanceResult("north", 1.0, error="container conformance cannot start: ImagePullBackOff")]
    metadata = conformance_metadata(results)
    assert {h for h in headers if h.startswith("conformance")} <= set(metadata)
    assert metadata == {"conformance-image": "registry.k8s.io/conformance:v1.30.4,registry.k8s.io/conformance:v1.31.2",
                        "conformance": "east=passed,west=failed,north=error"}
    assert conformance_metadata([]) == {}


@pytest.mark.parametrize(("settings", "problem"), [
    (ConformanceSettings(parallel=0), "--conformance-parallel 0 is not a process count: pass 1 or more"),
    (ConformanceSettings(timeout=0), "--conformance-timeout 0 is not a duration: pass seconds above 0"),
    (ConformanceSettings(focus="[Conformance"), "--conformance-focus '[Conformance' is not a regular expression"),
    (ConformanceSettings(skip="(Serial"), "--conformance-skip '(Serial' is not a regular expression"),
])
def test_bad_options_are_one_line_and_create_nothing(standins: Clusters, tmp_path: Path,
                                                     settings: ConformanceSettings, problem: str) -> None:
    with pytest.raises(shapes.ConformanceError, match=re.escape(problem)):
        settings.validate()
    result = run(tmp_path, settings)
    assert result.error.startswith(problem) and "\n" not in result.error
    assert standins.requests("east") == []
