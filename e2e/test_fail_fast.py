"""Runner jobs whose pod can never run end as soon as the kubelet says why, with its reason and message.

Each test provokes one unrecoverable state on purpose; the job is followed for half of its own deadline,
so a launcher that waited for the deadline instead would fail the test with a timeout. (On an idle
cluster the kubelet reports within seconds and the job ends within a minute; a busy node may take a
minute before it even starts the pod's first container.)
"""

from __future__ import annotations

import dataclasses

from kubernetes import client

from e2e.framework import builders
from e2e.framework.runner import JobDescription, JobResult, Launcher, Placement, Step

JOB_DEADLINE = 600
FAIL_FAST_SECONDS = JOB_DEADLINE // 2  # only fail-fast ends the job in time: its own deadline is twice as long
REPOSITORY = "https://example.test/fedtest/fail-fast.git"
MISSING_TAG = "fedtest-no-such-tag"
INVALID_IMAGE = "example.test/Fedtest/UPPER:case"
UNSCHEDULABLE_GRACE = 10  # seconds a pod may wait for a node (the launcher's default is 20)


def job(name: str, **kwargs: object) -> JobDescription:
    return JobDescription(name, REPOSITORY, [Step("never", "echo must not run")], source_files={"a": "a\n"},
                          deadline_seconds=JOB_DEADLINE, **kwargs)  # type: ignore[arg-type]


def with_tag(image: str, tag: str) -> str:
    """The same repository (mirror included) with another tag: registry/x/busybox:1 -> ...:tag."""
    name = image.split("@")[0]
    last = name.rsplit("/", 1)[-1]
    return f"{name.rsplit(':', 1)[0] if ':' in last else name}:{tag}"


def assert_failed_fast(result: JobResult, reasons: set[str], *words: str) -> None:
    assert result.phase == "Failed", result
    assert result.reason in reasons, result
    for word in words:
        assert word in result.message, result
    assert "must not run" not in result.log


def test_missing_image_tag_fails_fast_with_the_pull_error(launcher: Launcher) -> None:
    images = dataclasses.replace(launcher.images, busybox=with_tag(launcher.images.busybox, MISSING_TAG))
    result = launcher.variant(images=images).run(job("missing-tag"), FAIL_FAST_SECONDS)
    never = images.pull_policy == "Never"  # offline clusters: the kubelet may not pull at all
    assert_failed_fast(result, {"ErrImageNeverPull"} if never else {"ImagePullBackOff"}, MISSING_TAG)


def test_invalid_image_reference_fails_fast(launcher: Launcher) -> None:
    images = dataclasses.replace(launcher.images, busybox=INVALID_IMAGE)
    result = launcher.variant(images=images).run(job("invalid-image"), FAIL_FAST_SECONDS)
    assert_failed_fast(result, {"InvalidImageName"}, INVALID_IMAGE)


def test_missing_config_map_key_fails_fast(launcher: Launcher, kube: client.ApiClient, namespace: str) -> None:
    builders.create(kube, namespace, builders.config_map("job-settings", {"present": "yes"}))
    result = launcher.run(job("missing-key", config_env={"SETTING": ("job-settings", "absent")}),
                          FAIL_FAST_SECONDS)
    assert_failed_fast(result, {"CreateContainerConfigError"}, "absent", "job-settings")


def test_pod_no_node_can_take_fails_after_a_short_grace(launcher: Launcher) -> None:
    nowhere = Placement(node_selector={"fedtest.io/no-such-pool": "true"})
    result = launcher.variant(placement=nowhere, unschedulable_grace=UNSCHEDULABLE_GRACE).run(job("unschedulable"),
                                                                            FAIL_FAST_SECONDS)
    assert_failed_fast(result, {"Unschedulable"}, "node affinity/selector")
