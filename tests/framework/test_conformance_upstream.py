"""The conformance tester against what registry.k8s.io/conformance:v1.28.7 does on a real cluster.

tests/framework/data holds what that image wrote on a v1.28.7 cluster: the 380 conformance specs its
dry run listed, and two JUnit reports (trimmed to a few filtered specs): five kubectl specs failing
because e2e.test had --host but no kubeconfig, and the same five passing with both. The stand-in
(tests/standins/conformance_kubelet.py) refuses what that image refused.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from e2e.framework import conformance_pod as shapes
from e2e.framework import conformance_report as report
from e2e.framework import kube
from e2e.framework.conformance import ConformanceSettings
from tests.framework.conftest import Clusters
from tests.framework.test_conformance import SPECS, cases, fake_kubelet, leftovers, run
from tests.standins.conformance_kubelet import NO_HOST, Behaviour, Spec, Suite

DATA = Path(__file__).parent / "data"
UPSTREAM_SPECS = (DATA / "conformance-v1.28.7-specs.txt").read_text(encoding="utf-8").splitlines()
UPSTREAM = [Spec(name) for name in UPSTREAM_SPECS] + [
    Spec("[sig-cli] Kubectl client Simple pod should support exec through kubectl proxy", needs_host=True,
         kubectl=True),
    Spec("[sig-storage] CSI mock volume should not be run [Feature:CSI]"),
]
BUSYBOX = ("promoterE2eRegistry", "busybox:1.29-4")
MIRROR = "mirror.example:5000"


@pytest.fixture
def standins(clusters: Clusters) -> Iterator[Clusters]:
    yield clusters
    kube.close_all()


def test_the_real_junit_has_suite_nodes_and_it_prefixes_which_are_not_tests() -> None:
    passed = report.upstream_report((DATA / "ginkgo-v1.28.7-junit-passed.xml").read_bytes())
    failed = report.upstream_report((DATA / "ginkgo-v1.28.7-junit-failed.xml").read_bytes())
    assert passed.suite_failures == failed.suite_failures == []
    names = sorted(c.name for c in passed.specs)
    assert names == sorted(c.name for c in failed.specs) and len(names) == 5
    assert "[sig-cli] Kubectl client Simple pod should support exec through kubectl proxy" in names
    assert not [n for n in names if n.startswith("[") and not n.startswith("[sig-")]  # no [It], no suite node
    assert {c.outcome for c in passed.specs} == {"passed"} and {c.outcome for c in failed.specs} == {"failed"}
    assert all(c.message.startswith("[FAILED] ") and "Please enter Username" in c.details for c in failed.specs)
    assert report.count(passed.specs) == report.Counts(passed=5)


def test_a_failing_suite_node_is_the_testers_error_and_the_specs_keep_their_rows(
        standins: Clusters, tmp_path: Path) -> None:
    with fake_kubelet(standins, Suite(SPECS, failing_suite_node="[SynchronizedBeforeSuite]")):
        result = run(tmp_path)
    assert result.error == ("ginkgo's [SynchronizedBeforeSuite]: [FAILED] [SynchronizedBeforeSuite] failed: "
                            "see conformance/east/e2e.log")
    assert (result.passed, result.failed, result.skipped) == (3, 0, 1)
    assert sorted(cases(result.junit)) == sorted(f"{s.name} [east]" for s in SPECS[:4])


@pytest.mark.parametrize("parallel", [1, 4])
def test_a_dry_run_lists_the_380_upstream_specs_by_name_also_with_parallel(
        standins: Clusters, tmp_path: Path, parallel: int) -> None:
    lines: list[str] = []
    with fake_kubelet(standins, Suite(UPSTREAM, line_seconds=0)) as seen:
        result = run(tmp_path, ConformanceSettings(dry_run=True, parallel=parallel), lines=lines)
    assert result.error == ""
    assert result.listed == sorted(UPSTREAM_SPECS) and len(result.listed) == 380
    env = {e["name"]: e["value"] for e in seen.seen_pods[0]["spec"]["containers"][0]["env"]}
    assert "--procs" not in env.get("E2E_EXTRA_GINKGO_ARGS", "")  # ginkgo refuses to dry-run in parallel
    assert (tmp_path / "artifacts" / "conformance" / "east" / "tests.txt").read_text().splitlines() == result.listed
    (start,) = [line for line in lines if "in namespace" in line]
    assert start.endswith(r"focus \[Conformance\], dry run" + (" in one process (ginkgo dry-runs only serially)"
                                                                 if parallel > 1 else ""))
    assert leftovers(standins) == {}


def test_the_stand_in_refuses_a_parallel_dry_run_as_ginkgo_does(standins: Clusters) -> None:
    plan = shapes.PodPlan("registry.k8s.io/conformance:v1.28.7", "busybox", r"\[Conformance\]", "", 1, True,
                          "IfNotPresent", 60)
    manifest = shapes.pod(plan)
    runner = manifest["spec"]["containers"][0]
    runner["env"].append({"name": "E2E_EXTRA_GINKGO_ARGS", "value": "-v --procs=2"})
    core = client.CoreV1Api(standins.clients["east"])
    core.create_namespace({"metadata": {"name": "dry"}})
    core.create_namespaced_config_map("dry", shapes.config_map(plan, ""))
    with fake_kubelet(standins, Suite(UPSTREAM, line_seconds=0)) as seen:
        core.create_namespaced_pod("dry", manifest)
        waited = 0.0
        while not seen.runs and waited < 20:
            threading.Event().wait(0.05)
            waited += 0.05
    assert seen.runs and seen.runs[0]["outcomes"] == {}  # no spec listed, no JUnit: exit 1


def test_specs_that_need_the_api_servers_url_get_it(standins: Clusters, tmp_path: Path) -> None:
    spec = Spec("[sig-cli] Kubectl client Simple pod should support exec through kubectl proxy", needs_host=True,
                kubectl=True)
    with fake_kubelet(standins, Suite([spec])) as seen:
        result = run(tmp_path, ConformanceSettings(focus="Simple pod"))
    assert (result.error, result.passed, result.failed) == ("", 1, 0), cases(result.junit)
    assert seen.runs[0]["host"] == "https://10.96.0.1:443"  # the `kubernetes` Service, as pods reach it
    env = seen.runs[0]["env"]
    assert env["E2E_EXTRA_ARGS"] == "--host=https://10.96.0.1:443"
    assert env["KUBECONFIG"] == "/etc/fedtest-conformance/kubeconfig"
    config = shapes.in_cluster_kubeconfig("https://[fd00::1]:443")
    assert config["clusters"][0]["name"] == config["current-context"]  # where e2e.test v1.28 looks for --host
    assert config["users"][0]["user"] == {"tokenFile": "/var/run/secrets/kubernetes.io/serviceaccount/token"}
    assert shapes.service_url("fd00::1", 443) == "https://[fd00::1]:443"


def test_without_the_url_the_stand_in_fails_such_specs_as_e2e_test_does(standins: Clusters,
                                                                         tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    spec = Spec("[sig-cli] Kubectl client Simple pod should support exec through kubectl proxy", needs_host=True)
    bare = shapes.ginkgo_env
    monkeypatch.setattr(shapes, "ginkgo_env", lambda plan: {k: v for k, v in bare(plan).items()
                                                            if k not in ("E2E_EXTRA_ARGS", "KUBECONFIG")})
    with fake_kubelet(standins, Suite([spec])):
        result = run(tmp_path, ConformanceSettings(focus="Simple pod"))
    failure = cases(result.junit)[f"{spec.name} [east]"].find("failure")
    assert result.failed == 1 and failure is not None and failure.get("message") == f"[FAILED] {NO_HOST}"


def test_a_cluster_without_the_api_service_is_one_line_and_leaves_nothing(standins: Clusters,
                                                                          tmp_path: Path) -> None:
    result = run(tmp_path)  # no fake kubelet: nothing created the `kubernetes` Service
    assert result.error.startswith("cannot read Service default/kubernetes (HTTP 404"), result.error
    assert "\n" not in result.error and leftovers(standins) == {}


def test_image_registry_reaches_e2e_tests_own_images_through_the_repository_list(
        standins: Clusters, tmp_path: Path) -> None:
    spec = Spec("[sig-node] ConfigMap should be consumable via the environment [Conformance]", image=BUSYBOX)
    node = Behaviour(node_images={f"{MIRROR}/e2e-test-images/busybox:1.29-4"})
    settings = ConformanceSettings(image="registry.k8s.io/conformance:v1.28.7", image_registry=MIRROR)
    with fake_kubelet(standins, Suite([spec]), node) as seen:
        result = run(tmp_path, settings)
    assert (result.error, result.passed, result.failed) == ("", 1, 0), cases(result.junit)
    env = seen.runs[0]["env"]
    assert env["KUBE_TEST_REPO_LIST"] == "/etc/fedtest-conformance/repo-list.yaml"
    listed = yaml.safe_load(shapes.config_map(shapes.PodPlan("i", "b", "f", "", 1, False, "Always", 1,
                                                             repo_list=shapes.repo_list(MIRROR)), "")
                            ["data"]["repo-list.yaml"])
    assert listed["promoterE2eRegistry"] == f"{MIRROR}/e2e-test-images"
    assert listed["dockerLibraryRegistry"] == f"{MIRROR}/library" and listed["gcRegistry"] == MIRROR
    assert not set(shapes.KEPT_REGISTRIES) & set(listed)  # the invalid and authenticated ones stay upstream's


def test_without_a_mirror_the_same_spec_cannot_pull(standins: Clusters, tmp_path: Path) -> None:
    spec = Spec("[sig-node] ConfigMap should be consumable via the environment [Conformance]", image=BUSYBOX)
    node = Behaviour(node_images={f"{MIRROR}/e2e-test-images/busybox:1.29-4"})
    with fake_kubelet(standins, Suite([spec]), node) as seen:
        result = run(tmp_path)
    assert "KUBE_TEST_REPO_LIST" not in seen.runs[0]["env"]
    assert result.failed == 1 and "registry.k8s.io/e2e-test-images/busybox:1.29-4" in str(seen.runs[0]["outcomes"])


def test_focus_and_skip_reach_ginkgo_as_typed_through_the_kubelets_expansion(
        standins: Clusters, tmp_path: Path) -> None:
    focus, skip = r"Simple pod should support exec$|\$(KUBERNETES_SERVICE_HOST)", r"a$$b"
    with fake_kubelet(standins, Suite(SPECS)) as seen:
        run(tmp_path, ConformanceSettings(focus=focus, skip=skip))
    env = seen.runs[0]["env"]
    assert (env["E2E_FOCUS"], env["E2E_SKIP"]) == (focus, skip)


def test_the_smoke_preset_selects_27_of_the_380_specs() -> None:
    focus = shapes.preset_focus("smoke")
    chosen = [name for name in UPSTREAM_SPECS if re.search(focus, name)]
    assert len(chosen) == 27
    assert all("[Serial]" not in name and "[Disruptive]" not in name for name in chosen)
    assert len([name for name in UPSTREAM_SPECS if re.search(shapes.preset_focus("conformance"), name)]) == 380
    with pytest.raises(shapes.ConformanceError, match=r"^--conformance-preset nope is not a preset: pass one of"):
        shapes.preset_focus("nope")


def test_a_preset_and_a_focus_together_are_refused() -> None:
    settings = ConformanceSettings(focus="Pods", preset="smoke")
    with pytest.raises(shapes.ConformanceError, match="--conformance-preset smoke and --conformance-focus both"):
        settings.validate()
    assert ConformanceSettings(focus=shapes.preset_focus("smoke"), preset="smoke").describe().startswith(
        r"preset smoke, focus \[sig-api-machinery\] (")
