"""The runner-pod launcher against the stand-in API and the fake kubelet, which runs the pod's
checkout and steps scripts for real with `sh` on this machine."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from kubernetes import client

from e2e.framework import builders, waits
from e2e.framework.runner import (
    JOB_LABEL,
    CachePlan,
    JobDescription,
    JobSpecError,
    Launcher,
    Step,
    runner_pod,
)
from tests.framework.conftest import NAMESPACE, Clusters

SOURCE = {"README.md": "sample app\n", "scripts/build.sh": "echo \"building in $(basename \"$PWD\")\"\n"}
REPO = "https://example.test/sample.git"


@pytest.fixture
def launcher(clusters: Clusters, east: client.ApiClient, tmp_path: Path) -> Launcher:
    with clusters.kubelet("east"):
        yield Launcher(east, NAMESPACE, builders.Images(), tmp_path / "artifacts")


def offline(name: str, *steps: Step, **kwargs: object) -> JobDescription:
    return JobDescription(name, REPO, list(steps), source_files=SOURCE, **kwargs)


def leftovers(clusters: Clusters) -> list[str]:
    cluster = clusters.kube.clusters["east"]
    return [f"{kind}/{o['metadata']['name']}" for kind in ("pods", "configmaps")
            for o in cluster.objects(kind, NAMESPACE)]


def test_passing_job_succeeds_with_log_and_artifacts(launcher: Launcher, clusters: Clusters) -> None:
    job = offline("passing",
                  Step("build", "mkdir -p \"$ARTIFACTS/reports\"; "
                                "sh scripts/build.sh | tee \"$ARTIFACTS/out.txt\""),
                  Step("test", "cat README.md; echo ok > \"$ARTIFACTS/reports/junit.txt\""))
    result = launcher.run(job, 60)
    assert (result.phase, result.exit_code, result.failed_step) == ("Succeeded", 0, None)
    assert result.steps_started == ["build", "test"]
    assert "building in src" in result.log and "sample app" in result.log
    assert result.artifacts_error == ""
    unpacked = launcher.artifacts_dir / "passing" / "artifacts"
    names = sorted(p.relative_to(unpacked).as_posix() for p in result.artifacts)
    assert names == ["out.txt", "reports/junit.txt"]
    assert (unpacked / "out.txt").read_text() == "building in src\n"
    assert (launcher.artifacts_dir / "passing" / "steps.log").read_text() == result.log
    assert [phase for phase, _ in result.phases] == ["Pending", "Running", "Succeeded"]
    assert result.startup_seconds is not None
    assert result.cache.startswith("emptyDir: no default StorageClass")
    assert leftovers(clusters) == []


def test_failing_step_surfaces_its_exit_code_and_name(launcher: Launcher, clusters: Clusters) -> None:
    job = offline("failing", Step("prepare", "echo preparing"), Step("lint", "echo bad style >&2; exit 7"),
                  Step("publish", "echo must not run"))
    result = launcher.run(job, 60)
    assert (result.phase, result.exit_code, result.failed_step) == ("Failed", 7, "lint")
    assert result.steps_started == ["prepare", "lint"]
    assert "bad style" in result.log and "must not run" not in result.log
    assert leftovers(clusters) == []


def test_deadline_ends_the_job_with_deadline_exceeded(launcher: Launcher) -> None:
    result = launcher.run(offline("overdue", Step("hang", "sleep 30"), deadline_seconds=1), 60)
    assert (result.phase, result.reason) == ("Failed", "DeadlineExceeded")


def test_cancellation_mid_run_leaves_nothing(launcher: Launcher, clusters: Clusters,
                                             east: client.ApiClient) -> None:
    running = launcher.start(offline("cancelled", Step("long", "echo started; sleep 30")))
    waits.pod_phase(east, NAMESPACE, running.pod_name, ["Running"], 30)
    running.cancel()
    result = running.follow(30)
    assert result.phase == "Cancelled"
    assert leftovers(clusters) == []


def test_a_job_outliving_its_wait_keeps_its_log_and_leaves_nothing(launcher: Launcher, clusters: Clusters,
                                                                    east: client.ApiClient) -> None:
    running = launcher.start(offline("slow", Step("long", "echo partial output; sleep 30")))
    waits.pod_phase(east, NAMESPACE, running.pod_name, ["Running"], 30)
    with pytest.raises(waits.WaitTimeout, match="runner pod runner-slow to finish"):
        running.follow(2)
    assert "partial output" in (launcher.artifacts_dir / "slow" / "steps.log").read_text()
    assert leftovers(clusters) == []


def test_git_checkout_and_a_failing_checkout(launcher: Launcher, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "VERSION").write_text("1.2.3\n")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.test"]
    subprocess.run([*git[:3], "init", "-q"], check=True)
    subprocess.run([*git, "add", "VERSION"], check=True)
    subprocess.run([*git, "commit", "-qm", "v1"], check=True)
    result = launcher.run(JobDescription("from-git", str(repo), [Step("show", "cat VERSION")]), 60)
    assert result.phase == "Succeeded", result
    assert "1.2.3" in result.log
    missing = launcher.run(JobDescription("no-repo", str(tmp_path / "missing"), [Step("show", "true")]), 60)
    assert (missing.phase, missing.failed_step) == ("Failed", "checkout")
    assert missing.exit_code not in (None, 0)


def test_jobs_of_one_repository_share_a_claim_when_there_is_a_default_storage_class(
        launcher: Launcher, east: client.ApiClient, clusters: Clusters) -> None:
    client.StorageV1Api(east).create_storage_class({
        "metadata": {"name": "standard",
                     "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "example.test/local"})
    first = launcher.run(offline("warm", Step("fill", "echo warmed-by-first > \"$CACHE/marker\"")), 60)
    second = launcher.run(offline("reuse", Step("read", "cat \"$CACHE/marker\"")), 60)
    other = launcher.run(JobDescription("other-repo", "https://example.test/other.git",
                                        [Step("read", "cat \"$CACHE/marker\" || echo cold")],
                                        source_files=SOURCE), 60)
    assert first.phase == second.phase == other.phase == "Succeeded"
    assert "warmed-by-first" in second.log and "cold" in other.log
    assert "PersistentVolumeClaim runner-cache-" in first.cache and "'standard'" in first.cache
    claims = [o["metadata"]["name"] for o in clusters.kube.clusters["east"].objects("persistentvolumeclaims")]
    assert len(claims) == 2  # one per repository, kept for the next job


def test_concurrent_jobs_all_finish(launcher: Launcher, clusters: Clusters) -> None:
    # the e2e suite runs 20 on a real cluster; the stand-in ignores selectors, so every watcher sees
    # every pod's events and the cost grows with the square of the count: 8 keep this test quick
    jobs = [offline(f"parallel-{i:02d}", Step("work", f"echo job {i}")) for i in range(8)]
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        results = list(pool.map(lambda j: launcher.run(j, 120), jobs))
    assert [r.phase for r in results] == ["Succeeded"] * len(jobs)
    assert all(f"job {i}" in r.log for i, r in enumerate(results))
    assert all(r.startup_seconds is not None for r in results)
    assert leftovers(clusters) == []


def test_runner_pod_meets_the_restricted_profile() -> None:
    plan = CachePlan({"name": "cache", "emptyDir": {}}, "emptyDir", "test")
    pod = runner_pod(offline("shape", Step("a", "true"), deadline_seconds=60), builders.Images(), plan)
    spec = pod["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["activeDeadlineSeconds"] == 60 and spec["restartPolicy"] == "Never"
    for c in spec["containers"] + spec["initContainers"]:
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["runAsNonRoot"] is True and sc["seccompProfile"] == {"type": "RuntimeDefault"}
        assert c["imagePullPolicy"] == "IfNotPresent"
    allowed = {"configMap", "emptyDir", "persistentVolumeClaim", "secret", "projected", "downwardAPI"}
    assert all(set(v) - {"name"} <= allowed for v in spec["volumes"])
    assert pod["metadata"]["labels"][JOB_LABEL] == "shape"


@pytest.mark.parametrize("job, problem", [
    (JobDescription("Bad_Name", REPO, [Step("a", "true")]), "job name 'Bad_Name'"),
    (JobDescription("empty", REPO, []), "has no steps"),
    (JobDescription("ok", REPO, [Step("Has Space", "true")]), "step name 'Has Space'"),
])
def test_bad_job_descriptions_are_refused_with_the_fix(job: JobDescription, problem: str) -> None:
    with pytest.raises(JobSpecError, match=problem) as caught:
        job.validate()
    assert "use lowercase" in str(caught.value) or "give at least one" in str(caught.value)


def test_the_suites_runner_pod_tests_hold_on_the_fake_kubelet(launcher: Launcher,
                                                              east: client.ApiClient) -> None:
    """The e2e tests' own assertions, run against the stand-in (the real cluster is the e2e run)."""
    from e2e import test_runner_pods as suite

    properties: dict[str, object] = {}
    suite.test_passing_job_succeeds_with_logs_and_artifacts(launcher, east, NAMESPACE, properties.__setitem__)
    assert str(properties["runner_cache_volume"]).startswith("emptyDir")
    suite.test_failing_step_surfaces_exit_code_and_step(launcher)
    suite.test_artifacts_past_the_kubelet_log_limit_arrive_whole(launcher, properties.__setitem__)
    assert properties["runner_artifact_transfers"] == 4
    suite.test_cancellation_mid_run_leaves_nothing(launcher, east, NAMESPACE)
