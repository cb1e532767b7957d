"""Fail-fast on pod states that cannot recover: the classifier on real status shapes, then the launcher
and the waits on the fake kubelet, which reports those shapes as a real kubelet does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from e2e import test_fail_fast as suite
from e2e.framework import builders, podstates, waits
from e2e.framework.runner import JobDescription, Launcher, Placement, Step
from tests.framework.conftest import NAMESPACE, Clusters
from tests.standins import admission

BAD_IMAGE = "docker.io/library/busybox:no-such-tag"
PULL_ERROR = ('rpc error: code = NotFound desc = failed to pull and unpack image "docker.io/library/busybox:'
              'no-such-tag": failed to resolve reference "docker.io/library/busybox:no-such-tag": '
              'docker.io/library/busybox:no-such-tag: not found')
SCHEDULER = ("0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. preemption: 0/1 "
             "nodes are available: 1 Preemption is not helpful for scheduling.")


def waiting(name: str, reason: str, message: str = "") -> dict[str, Any]:
    state: dict[str, Any] = {"reason": reason}
    if message:
        state["message"] = message
    return {"name": name, "image": BAD_IMAGE, "imageID": "", "ready": False, "restartCount": 0,
            "started": False, "state": {"waiting": state}}


def pending(*, init: list[dict[str, Any]] | None = None, main: list[dict[str, Any]] | None = None,
            conditions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": "Pending"}
    if init is not None:
        status["initContainerStatuses"] = init
    if main is not None:
        status["containerStatuses"] = main
    if conditions is not None:
        status["conditions"] = conditions
    return {"metadata": {"name": "runner-x"}, "status": status}


UNSCHEDULABLE = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": SCHEDULER,
                  "lastTransitionTime": "2026-12-01T10:00:00Z"}]

# (case, pod as the API serves it, seconds Unschedulable so far, expected reason or None)
TABLE = [
    ("creating", pending(main=[waiting("steps", "ContainerCreating")]), 0, None),
    ("initializing", pending(init=[waiting("checkout", "PodInitializing")],
                             main=[waiting("steps", "PodInitializing")]), 0, None),
    ("first pull error is retried", pending(main=[waiting("steps", "ErrImagePull", PULL_ERROR)]), 0, None),
    ("back-off after the pull error", pending(main=[waiting(
        "steps", "ImagePullBackOff", f'Back-off pulling image "{BAD_IMAGE}"')]), 0, "ImagePullBackOff"),
    ("init container back-off", pending(init=[waiting("checkout", "ImagePullBackOff", "Back-off")],
                                        main=[waiting("steps", "PodInitializing")]), 0, "ImagePullBackOff"),
    ("invalid reference", pending(main=[waiting("steps", "InvalidImageName", admission.invalid_image(
        "example.test/UPPER:x") or "")]), 0, "InvalidImageName"),
    ("never pull", pending(main=[waiting("steps", "ErrImageNeverPull",
                                         f'Container image "{BAD_IMAGE}" is not present with pull policy of '
                                         'Never')]), 0, "ErrImageNeverPull"),
    ("missing config key", pending(main=[waiting(
        "steps", "CreateContainerConfigError", "couldn't find key absent in ConfigMap work/settings")]), 0,
     "CreateContainerConfigError"),
    ("unschedulable within the grace", pending(conditions=UNSCHEDULABLE), 5, None),
    ("unschedulable past the grace", pending(conditions=UNSCHEDULABLE), 25, "Unschedulable"),
    ("scheduled", pending(conditions=[{"type": "PodScheduled", "status": "True"}]), 99, None),
    ("running", {"metadata": {"name": "r"}, "status": {"phase": "Running", "containerStatuses": [
        {"name": "steps", "image": "b", "imageID": "", "ready": True, "restartCount": 0,
         "state": {"running": {"startedAt": "2026-12-01T10:00:00Z"}}}]}}, 0, None),
]


@pytest.mark.parametrize("pod, seconds, expected", [t[1:] for t in TABLE], ids=[t[0] for t in TABLE])
def test_classifier_table(pod: dict[str, Any], seconds: float, expected: str | None) -> None:
    verdict = podstates.classify(pod, unschedulable_for=seconds, unschedulable_grace=20)
    assert (verdict.reason if verdict else None) == expected
    typed = client.ApiClient().deserialize(json.dumps(pod), "V1Pod", "application/json")  # as a watch gives it
    assert podstates.classify(typed, unschedulable_for=seconds, unschedulable_grace=20) == verdict


def test_the_back_off_verdict_carries_the_pull_error_seen_before() -> None:
    watch = podstates.PodWatch()
    assert watch.check(pending(main=[waiting("steps", "ErrImagePull", PULL_ERROR)])) is None
    verdict = watch.check(pending(main=[waiting("steps", "ImagePullBackOff", f'Back-off pulling image '
                                                                            f'"{BAD_IMAGE}"')]))
    assert verdict is not None and verdict.container == "steps"
    assert verdict.message.startswith('Back-off pulling image "') and PULL_ERROR in verdict.message


def test_unschedulable_grace_counts_from_the_first_sight_and_resets() -> None:
    now = [100.0]
    watch = podstates.PodWatch(unschedulable_grace=10, clock=lambda: now[0])
    stuck = pending(conditions=UNSCHEDULABLE)
    assert watch.check(stuck) is None
    now[0] += 9
    assert watch.check(stuck) is None
    assert watch.check(pending(conditions=[{"type": "PodScheduled", "status": "True"}])) is None
    now[0] += 9
    assert watch.check(stuck) is None  # unschedulable again: a new grace
    now[0] += 10
    verdict = watch.check(stuck)
    assert verdict is not None and verdict.reason == "Unschedulable" and SCHEDULER in verdict.message


@pytest.fixture
def launcher(clusters: Clusters, east: client.ApiClient, tmp_path: Path) -> Launcher:
    unpullable = {suite.with_tag(builders.Images().busybox, suite.MISSING_TAG)}
    with clusters.kubelet("east", unpullable=unpullable):
        yield Launcher(east, NAMESPACE, builders.Images(), tmp_path / "artifacts", unschedulable_grace=1)


def test_a_bad_image_fails_the_job_with_the_kubelets_words_in_seconds(launcher: Launcher,
                                                                     clusters: Clusters) -> None:
    images = builders.Images(busybox=suite.with_tag(builders.Images().busybox, suite.MISSING_TAG))
    job = JobDescription("bad-image", "https://example.test/a.git", [Step("s", "echo must not run")],
                         source_files={"a": "a\n"}, deadline_seconds=600)
    result = launcher.variant(images=images).run(job, 20)  # 20 s: a wait for the deadline fails here
    assert (result.phase, result.reason, result.failed_step) == ("Failed", "ImagePullBackOff", "checkout")
    assert "not found" in result.message and suite.MISSING_TAG in result.message
    assert clusters.kube.clusters["east"].objects("pods", NAMESPACE) == []


def test_pod_wait_fails_fast_with_the_kubelets_reason(clusters: Clusters, east: client.ApiClient) -> None:
    pod = builders.pod("bad", builders.pod_spec([builders.container(
        "main", "example.test/Not/Valid", ["true"], pull_policy="IfNotPresent")]))
    with clusters.kubelet("east"):
        builders.create(east, NAMESPACE, pod)
        with pytest.raises(waits.WaitFailed, match=r"cannot run: InvalidImageName \(container main\): "
                                                   r"Failed to apply default image tag"):
            waits.pod_phase(east, NAMESPACE, "bad", ["Running"], 20)


def test_unschedulable_is_noticed_without_a_new_event(clusters: Clusters, east: client.ApiClient) -> None:
    """The scheduler writes its condition once; the grace runs out with no event to wake the wait."""
    pod = builders.pod("nowhere", {**builders.pod_spec([builders.container(
        "main", builders.Images().busybox, ["true"], pull_policy="IfNotPresent")]),
        "nodeSelector": {"pool": "none"}})
    with clusters.kubelet("east"):
        builders.create(east, NAMESPACE, pod)
        with pytest.raises(waits.WaitFailed, match="cannot run: Unschedulable: 0/1 nodes are available"):
            waits.pod_phase(east, NAMESPACE, "nowhere", ["Running"], 30, unschedulable_grace=1)


def test_the_suites_fail_fast_tests_hold_on_the_fake_kubelet(launcher: Launcher, east: client.ApiClient,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The e2e tests' own assertions, against the stand-in kubelet's status shapes."""
    monkeypatch.setattr(suite, "UNSCHEDULABLE_GRACE", 1)
    suite.test_missing_image_tag_fails_fast_with_the_pull_error(launcher)
    suite.test_invalid_image_reference_fails_fast(launcher)
    suite.test_missing_config_map_key_fails_fast(launcher, east, NAMESPACE)
    suite.test_pod_no_node_can_take_fails_after_a_short_grace(launcher)


def test_placement_reaches_the_pod() -> None:
    from e2e.framework.runner import CachePlan, runner_pod

    toleration = {"key": "fedtest.io/runner-pool", "operator": "Exists", "effect": "NoSchedule"}
    pod = runner_pod(JobDescription("p", "r", [Step("s", "true")], config_env={"X": ("cm", "k")}),
                     builders.Images(), CachePlan({"name": "cache", "emptyDir": {}}, "emptyDir", "t"),
                     Placement({"pool": "runners"}, [toleration]))
    assert pod["spec"]["nodeSelector"] == {"pool": "runners"} and pod["spec"]["tolerations"] == [toleration]
    env = pod["spec"]["containers"][0]["env"]
    assert {"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}} in env


def test_the_fake_kubelet_reports_a_pull_error_then_the_back_off(clusters: Clusters, east: client.ApiClient) -> None:
    """What a watch sees of a pod whose image the registry lacks: the kubelet's two states, in order."""
    seen: list[tuple[str, str]] = []

    def record(objects: dict[str, Any]) -> bool | None:
        pod = objects.get("pull")
        for _name, reason, message in podstates.waiting_states(podstates.as_dict(pod) if pod else {}):
            if not seen or seen[-1][0] != reason:
                seen.append((reason, message))
        return True if seen and seen[-1][0] == "ImagePullBackOff" else None

    pod = builders.pod("pull", builders.pod_spec([builders.container("main", BAD_IMAGE, ["true"],
                                                                     pull_policy="IfNotPresent")]))
    with clusters.kubelet("east", unpullable={BAD_IMAGE}):
        builders.create(east, NAMESPACE, pod)
        waits.watch_until(waits.Target(client.CoreV1Api(east).list_namespaced_pod, NAMESPACE, "Pod", name="pull"),
                          record, what="the back-off", timeout=20)
    assert seen == [("ErrImagePull", PULL_ERROR), ("ImagePullBackOff", f'Back-off pulling image "{BAD_IMAGE}"')]
