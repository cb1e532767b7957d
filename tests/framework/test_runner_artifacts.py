"""Runner-pod artifacts leave through the collector and exec (e2e/framework/artifacts.py), verified by
byte count and the sha256 computed in the pod, against the stand-in's exec endpoint and fake kubelet."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from e2e.framework import artifacts, builders
from e2e.framework.runner import JobDescription, Launcher, Step
from tests.framework.conftest import NAMESPACE, Clusters
from tests.standins.execstream import Fault
from tests.standins.kubelet import FakeKubelet

MIB = 1024 * 1024
BIG = 12 * MIB  # past the kubelet's default log rotation size (containerLogMaxSize, 10 MiB)


@pytest.fixture
def kubelet(clusters: Clusters) -> Iterator[FakeKubelet]:
    with clusters.kubelet("east") as kubelet:
        yield kubelet


@pytest.fixture
def launcher(kubelet: FakeKubelet, east: client.ApiClient, tmp_path: Path) -> Launcher:
    return Launcher(east, NAMESPACE, builders.Images(), tmp_path / "artifacts")


def job(name: str, run: str) -> JobDescription:
    return JobDescription(name, "https://example.test/a.git", [Step("make", run)], source_files={"a": "a\n"})


def pieces(kubelet: FakeKubelet) -> list[int]:
    """The offsets the harness asked the collector for, in order."""
    return [int(s.command[-2]) - 1 for s in kubelet.exec.sessions if s.command[2] == artifacts.PIECE]


def test_artifacts_past_the_log_limit_arrive_whole(launcher: Launcher, kubelet: FakeKubelet) -> None:
    result = launcher.run(job("big", f'head -c {BIG} /dev/urandom > "$ARTIFACTS/big.bin"; '
                                     'sha256sum "$ARTIFACTS/big.bin" > "$ARTIFACTS/in-pod.sha256"; echo made'), 120)
    assert (result.phase, result.artifacts_error) == ("Succeeded", ""), result
    files = {p.name: p for p in result.artifacts}
    assert files["big.bin"].stat().st_size == BIG
    assert hashlib.sha256(files["big.bin"].read_bytes()).hexdigest() == files["in-pod.sha256"].read_text().split()[0]
    assert pieces(kubelet) == [0, 4 * MIB, 8 * MIB, 12 * MIB]  # 4 MiB pieces; the tar's headers make a 4th
    assert result.artifact_transfers == 4
    assert result.log.strip() == "::fedtest-step 0 make\nmade"  # nothing but the steps' words in the log


def test_a_failing_job_keeps_its_artifacts_and_the_pod_phase_is_the_steps_verdict(
        launcher: Launcher, east: client.ApiClient) -> None:
    result = launcher.run(job("broken", 'echo half-done > "$ARTIFACTS/partial.txt"; exit 3'), 60)
    assert (result.phase, result.exit_code, result.failed_step) == ("Failed", 3, "make")
    assert [p.read_text() for p in result.artifacts] == ["half-done\n"]
    assert result.artifacts_error == ""


def test_a_transfer_cut_short_is_detected_and_resumed(launcher: Launcher, kubelet: FakeKubelet) -> None:
    kubelet.exec.faults.append(Fault("cut", after=MIB + 123))
    result = launcher.run(job("cut", f'head -c {5 * MIB} /dev/urandom > "$ARTIFACTS/data.bin"; '
                                     'sha256sum "$ARTIFACTS/data.bin" > "$ARTIFACTS/in-pod.sha256"'), 120)
    assert (result.phase, result.artifacts_error) == ("Succeeded", ""), result
    files = {p.name: p for p in result.artifacts}
    assert hashlib.sha256(files["data.bin"].read_bytes()).hexdigest() == files["in-pod.sha256"].read_text().split()[0]
    offsets = pieces(kubelet)
    assert offsets[0] == 0 and offsets[1] <= MIB + 123  # the retry resumed where the received bytes stop
    assert result.artifact_transfers == len(offsets) == 3


def test_a_digest_mismatch_is_retried_then_reported_in_one_line(launcher: Launcher, kubelet: FakeKubelet) -> None:
    kubelet.exec.faults.append(Fault("flip", after=700, times=1))
    once = launcher.run(job("flipped-once", 'echo report > "$ARTIFACTS/report.txt"'), 60)
    assert (once.artifacts_error, [p.read_text() for p in once.artifacts]) == ("", ["report\n"])
    assert once.artifact_transfers == 2  # the corrupted copy, then a whole one

    kubelet.exec.faults.append(Fault("flip", after=700, times=100))
    always = launcher.run(job("flipped", 'echo report > "$ARTIFACTS/report.txt"'), 60)
    assert always.phase == "Succeeded"  # the steps passed: a lost copy does not change their verdict
    assert always.artifacts == []
    assert always.artifact_transfers == 1 + artifacts.RETRIES
    problem = always.artifacts_error
    assert "\n" not in problem and f"after {artifacts.RETRIES} retries" in problem and "sha256" in problem, problem
    stored = launcher.artifacts_dir / "flipped" / "artifacts-error.txt"
    assert stored.read_text() == problem + "\n"


def test_the_exec_status_gives_the_exit_code() -> None:
    assert artifacts.exit_code(b'{"metadata":{},"status":"Success"}') == 0
    assert artifacts.exit_code(b'{"status":"Failure","reason":"NonZeroExitCode","details":{"causes":'
                               b'[{"reason":"ExitCode","message":"7"}]}}') == 7
    assert artifacts.exit_code(b"") is None  # the connection ended before the Status
