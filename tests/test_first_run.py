"""A newcomer's first run: a pre-flight that fails says why in every skip, and the JUnit counts what pytest counts."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.standins.fake_kind import FakeKind
from tests.standins.kind_world import on_path
from tests.standins.kube import KubeStandIn

SUITE = '''
def test_on_each_cluster(cluster):
    pass

def test_on_the_set(cluster_set):
    pass

def test_federated(federated_namespace):
    pass
'''


def _closing_counts(stdout: str) -> dict[str, int]:
    line = [ln for ln in stdout.splitlines() if re.search(r"\bin [0-9.]+s\b", ln)][-1]
    counts = {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|skipped|errors?)", line)}
    counts["error"] = counts.pop("errors", 0) + counts.pop("error", 0)
    return counts


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one process", "xdist"])
def test_a_failed_preflight_is_every_skips_reason_and_the_junit_counts_match(
        pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: list[str]) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no kind, no docker
    pytester.makepyfile(test_first=SUITE)
    artifacts = tmp_path / "artifacts"
    result = pytester.runpytest_subprocess(".", "--provider", "kind", "--artifacts", str(artifacts), "-rs",
                                           "-p", "no:randomly", *workers)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    out = result.stdout.str()
    skips = [ln for ln in out.splitlines() if ln.startswith("SKIPPED")]
    assert len(skips) == 3, out
    for line in skips:
        assert "setup failed: Setup: pre-flight: the kind CLI is not on PATH" in line, line
        assert "run with --provider" not in line
    suite = ET.parse(artifacts / "junit_01.xml").getroot().find("testsuite")
    counts = _closing_counts(out)
    assert counts == {"skipped": 3, "error": 1}
    assert int(suite.get("errors")) == counts["error"]
    assert int(suite.get("failures")) == counts.get("failed", 0)
    assert int(suite.get("skipped")) == counts["skipped"]


def test_an_unpinned_node_image_is_said_on_the_console_and_in_the_build_log(
        pytester: pytest.Pytester, tmp_path: Path) -> None:
    fake = FakeKind(tmp_path / "fake").install()
    fake.configure(local_images={"kindest/node:v1.28.7-offline": []})  # built locally: no registry digest
    with on_path(fake), KubeStandIn.run(["any"]) as kube:
        fake.serve({"*": kube.clusters["any"].url})
        pytester.makepyfile(test_one="def test_one(cluster):\n    pass\n")
        artifacts = tmp_path / "artifacts"
        result = pytester.runpytest_subprocess(".", "--provider", "kind", "--artifacts", str(artifacts),
                                               "--provider-opt", "node_image=kindest/node:v1.28.7-offline",
                                               "--provider-opt", "ingress=false", "-p", "no:randomly")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    said = "kind node image kindest/node:v1.28.7-offline is built locally, not pinned by a registry digest"
    assert [ln for ln in result.stdout.lines if said in ln and ln.startswith("fedtest: warning: ")]
    assert said in (artifacts / "build-log.txt").read_text()


def test_a_second_run_publishes_only_its_own_files_and_deletes_none(pytester: pytest.Pytester, tmp_path: Path,
                                                                   kube_ab: tuple[KubeStandIn, Path]) -> None:
    """The artifacts folder outlives a run: what an earlier run (or a person) left there stays, unpublished."""
    _kube, kubeconfig = kube_ab
    pytester.makepyfile(test_one="def test_one(cluster):\n    pass\n")
    artifacts = tmp_path / "artifacts"
    earlier = {"clusters/c-old-1/kubelet.log": "an earlier run's node\n",
               "test_one.py__test_one[a]/a/pods.yaml": "an earlier run's diagnostics\n",
               "notes.txt": "a person's file\n", "junit_01.xml": "<testsuites/>\n"}
    for name, text in earlier.items():
        (artifacts / name).parent.mkdir(parents=True, exist_ok=True)
        (artifacts / name).write_text(text)
    result = pytester.runpytest_subprocess(".", "--provider", "existing", "--kubeconfig", str(kubeconfig),
                                           "--contexts", "a", "--artifacts", str(artifacts), "--build-id", "3",
                                           "-p", "no:randomly")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    published = artifacts / "logs" / "e2e-existing" / "3" / "artifacts"
    names = sorted(str(p.relative_to(published)) for p in published.rglob("*") if p.is_file())
    assert "junit_01.xml" in names and "ledger.json" in names  # rewritten by this run: its own
    assert "test_one" in (published / "junit_01.xml").read_text()
    for name in ("clusters/c-old-1/kubelet.log", "test_one.py__test_one[a]/a/pods.yaml", "notes.txt"):
        assert name not in names
        assert (artifacts / name).read_text() == earlier[name]  # left where it was
    result.stdout.fnmatch_lines(["*3 files an earlier run left in * are not published with this build*"])
