"""--conformance in a real fedtest run: after the suite, in each cluster, merged into the same build."""

from __future__ import annotations

import json
from contextlib import ExitStack

import pytest

from tests.framework.test_conformance import SPECS, leftovers
from tests.framework.test_conformance_upstream import UPSTREAM
from tests.lifecycle_runs import junit_outcomes
from tests.standins.conformance_kubelet import FakeConformanceKubelet, Suite


def test_conformance_runs_after_the_suite_in_each_cluster_and_joins_the_build(pytester, clusters, tmp_path):
    pytester.makepyfile(test_own="def test_own(namespace):\n    assert namespace\n")
    artifacts = tmp_path / "artifacts"
    with ExitStack() as stack:
        for name in ("east", "west"):
            stack.enter_context(FakeConformanceKubelet(clusters.kube, name, clusters.clients[name], Suite(SPECS)))
        result = pytester.runpytest(
            ".", "--provider", "existing", "--kubeconfig", str(tmp_path / "kubeconfig"), "--contexts", "east,west",
            "--artifacts", str(artifacts), "--job", "j", "--build-id", "4",
            "--conformance", "--conformance-focus", "Simple pod should")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    build = artifacts / "logs" / "j" / "4"
    own = junit_outcomes(build / "artifacts" / "junit_01.xml")
    assert own["Conformance: east"] == own["Conformance: west"] == "passed"
    assert own["test_own.py::test_own[east]"] == "passed"
    for name in ("east", "west"):
        upstream = junit_outcomes(build / "artifacts" / f"junit_conformance_{name}.xml")
        assert sorted(upstream) == sorted(f"{s.name} [{name}]" for s in SPECS if "Simple pod should" in s.name)
        assert set(upstream.values()) == {"passed"}
        assert leftovers(clusters, name) == {}  # nothing the tester created survives
    finished = json.loads((build / "finished.json").read_text())
    assert finished["result"] == "SUCCESS" and "conformance-image" in finished["metadata"]
    result.stdout.fnmatch_lines(["*conformance: 2 cluster(s)*", "*Conformance: east*ok*"])


def test_conformance_options_are_checked_like_any_other(pytester, clusters, tmp_path):
    pytester.makepyfile(test_own="def test_own(namespace):\n    assert namespace\n")
    result = pytester.runpytest(".", "--provider", "existing", "--kubeconfig", str(tmp_path / "kubeconfig"),
                                "--contexts", "east", "--conformance", "--conformance-parallel", "0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --conformance-parallel 0 is not a process count*"])


def test_a_preset_dry_run_in_parallel_lists_its_specs_and_prints_the_focus_as_typed(pytester, clusters, tmp_path):
    pytester.makepyfile(test_own="def test_own(namespace):\n    assert namespace\n")
    artifacts = tmp_path / "artifacts"
    with FakeConformanceKubelet(clusters.kube, "east", clusters.clients["east"], Suite(UPSTREAM, line_seconds=0)):
        result = pytester.runpytest(
            ".", "--provider", "existing", "--kubeconfig", str(tmp_path / "kubeconfig"), "--contexts", "east",
            "--artifacts", str(artifacts), "--conformance", "--conformance-preset", "smoke",
            "--conformance-dry-run", "--conformance-parallel", "3")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    listed = (artifacts / "conformance" / "east" / "tests.txt").read_text().splitlines()
    assert len(listed) == 27 and all(name.startswith("[sig-") for name in listed)
    output = result.stdout.str() + result.stderr.str()
    assert r"preset smoke, focus \[sig-api-machinery\] (" in output and "\\\\[" not in output
    assert "dry run in one process" in output


def test_a_preset_and_a_focus_together_are_a_usage_error(pytester, clusters, tmp_path):
    pytester.makepyfile(test_own="def test_own(namespace):\n    assert namespace\n")
    result = pytester.runpytest(".", "--provider", "existing", "--kubeconfig", str(tmp_path / "kubeconfig"),
                                "--contexts", "east", "--conformance", "--conformance-preset", "smoke",
                                "--conformance-focus", "Pods")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --conformance-preset smoke and --conformance-focus both select specs*"])
