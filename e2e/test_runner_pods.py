"""Runner pods: one pod per CI job, launched, followed, collected and destroyed by the harness."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from e2e.framework import builders, podtimes, waits
from e2e.framework.runner import JOB_LABEL, JobDescription, Launcher, Step, source_config_map_name

REPOSITORY = "https://example.test/fedtest/sample-app.git"
SOURCE = {
    "README.md": "sample app checked out offline from a ConfigMap\n",
    "scripts/build.sh": "echo \"hello from $(basename \"$PWD\")\"\n",
}
JOB_TIMEOUT = 300


def offline_job(name: str, steps: list[Step], **kwargs: Any) -> JobDescription:
    return JobDescription(name, REPOSITORY, steps, source_files=SOURCE, **kwargs)


def leftovers(kube: client.ApiClient, namespace: str, job: str) -> list[str]:
    """Pods and ConfigMaps the job left behind."""
    core = client.CoreV1Api(kube)
    pods = core.list_namespaced_pod(namespace, label_selector=f"{JOB_LABEL}={job}").items
    found = [f"pod/{p.metadata.name}" for p in pods if (p.metadata.labels or {}).get(JOB_LABEL) == job]
    try:
        core.read_namespaced_config_map(source_config_map_name(job), namespace)
        found.append("configmap")
    except ApiException as err:
        if err.status != 404:
            raise
    return found


def test_passing_job_succeeds_with_logs_and_artifacts(launcher: Launcher, kube: client.ApiClient,
                                                      namespace: str, record_property: Any) -> None:
    job = offline_job("passing", [
        Step("build", "mkdir -p \"$ARTIFACTS/reports\" && "
                      "sh scripts/build.sh | tee \"$ARTIFACTS/build.txt\""),
        Step("test", "grep -q hello \"$ARTIFACTS/build.txt\" && echo ok > \"$ARTIFACTS/reports/test.txt\" "
                     "&& echo tests passed"),
    ])
    result = launcher.run(job, JOB_TIMEOUT)
    record_property("runner_cache_volume", result.cache)
    assert result.phase == "Succeeded", result
    assert result.exit_code == 0
    assert result.steps_started == ["build", "test"]
    assert "hello from src" in result.log and "tests passed" in result.log
    unpacked = launcher.artifacts_dir / job.name / "artifacts"
    names = sorted(p.relative_to(unpacked).as_posix() for p in result.artifacts)
    assert names == ["build.txt", "reports/test.txt"]
    build = next(p for p in result.artifacts if p.name == "build.txt")
    assert build.read_text().strip() == "hello from src"
    assert result.artifacts_error == ""
    assert [phase for phase, _ in result.phases][-1] == "Succeeded"
    assert leftovers(kube, namespace, job.name) == []


def test_failing_step_surfaces_exit_code_and_step(launcher: Launcher) -> None:
    job = offline_job("failing", [Step("prepare", "echo preparing"),
                                  Step("lint", "echo lint failed >&2; exit 7"),
                                  Step("publish", "echo must not run")])
    result = launcher.run(job, JOB_TIMEOUT)
    assert result.phase == "Failed", result
    assert result.exit_code == 7
    assert result.failed_step == "lint"
    assert result.steps_started == ["prepare", "lint"]
    assert "lint failed" in result.log and "must not run" not in result.log


@pytest.mark.long
def test_artifacts_past_the_kubelet_log_limit_arrive_whole(launcher: Launcher, record_property: Any) -> None:
    """12 MiB, more than the kubelet's default log rotation size: the artifacts never pass through the
    log; the copy is checked against the sha256 computed in the pod."""
    size = 12 * 1024 * 1024
    job = offline_job("big-artifacts", [Step("make", f'head -c {size} /dev/urandom > "$ARTIFACTS/big.bin" && '
                                                     'sha256sum "$ARTIFACTS/big.bin" > "$ARTIFACTS/in-pod.sha256"')])
    result = launcher.run(job, JOB_TIMEOUT)
    assert (result.phase, result.artifacts_error) == ("Succeeded", ""), result
    files = {p.name: p for p in result.artifacts}
    assert files["big.bin"].stat().st_size == size
    received = hashlib.sha256(files["big.bin"].read_bytes()).hexdigest()
    assert received == files["in-pod.sha256"].read_text().split()[0]
    record_property("runner_artifact_transfers", result.artifact_transfers)


def test_job_past_its_deadline_is_stopped(launcher: Launcher) -> None:
    job = offline_job("overdue", [Step("hang", "sleep 600")], deadline_seconds=15)
    result = launcher.run(job, JOB_TIMEOUT)
    assert result.phase == "Failed", result
    assert result.reason == "DeadlineExceeded", result


def test_cancellation_mid_run_leaves_nothing(launcher: Launcher, kube: client.ApiClient,
                                             namespace: str) -> None:
    job = offline_job("cancelled", [Step("long", "echo started; sleep 600")])
    running = launcher.start(job)
    waits.pod_phase(kube, namespace, running.pod_name, ["Running"], JOB_TIMEOUT)
    running.cancel()
    result = running.follow(120)
    assert result.phase == "Cancelled", result
    assert leftovers(kube, namespace, job.name) == []


@pytest.mark.long
def test_twenty_concurrent_jobs_all_finish(launcher: Launcher, record_property: Any) -> None:
    jobs = [offline_job(f"parallel-{i:02d}", [Step("work", f"echo job {i}; sleep 3")]) for i in range(20)]
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        results = list(pool.map(lambda j: launcher.run(j, 600), jobs))
    failed = [f"{r.name}: {r.phase} {r.reason}" for r in results if r.phase != "Succeeded"]
    assert not failed, failed
    latencies = sorted(r.startup_seconds for r in results if r.startup_seconds is not None)
    assert len(latencies) == len(jobs), [r.phases for r in results]
    record_property("pod_startup_p50_seconds", round(podtimes.percentile(latencies, 50), 3))
    record_property("pod_startup_p99_seconds", round(podtimes.percentile(latencies, 99), 3))
    record_property("pod_startup_max_seconds", latencies[-1])
    # the cluster's own startup from the pods' timestamps, and launcher/cluster: the harness's overhead
    for name, value in podtimes.startup_properties(latencies, [r.timeline for r in results]).items():
        record_property(name, value)


def test_runner_pods_pass_the_restricted_pod_security_profile(launcher: Launcher, kube: client.ApiClient,
                                                              namespace: str, e2e_config: Any) -> None:
    core = client.CoreV1Api(kube)
    core.patch_namespace(namespace, {"metadata": {"labels": {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest"}}})
    images = builders.Images.from_config(e2e_config)
    privileged = builders.pod("privileged-probe", {"containers": [{
        "name": "main", "image": images.busybox, "imagePullPolicy": images.pull_policy,
        "command": ["true"], "securityContext": {"privileged": True}}], "restartPolicy": "Never"})
    with pytest.raises(ApiException) as rejected:  # the label is enforced here, so this proves something
        builders.create(kube, namespace, privileged)
    assert rejected.value.status == 403 and "PodSecurity" in (rejected.value.body or ""), rejected.value
    result = launcher.run(offline_job("restricted", [Step("build", "id -u && sh scripts/build.sh")]),
                          JOB_TIMEOUT)
    assert result.phase == "Succeeded", result
    assert "65534" in result.log
