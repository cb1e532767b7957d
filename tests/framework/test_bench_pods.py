"""bench/pods.py: the harness's time per runner pod apart from the kubelet's, and its verdict."""

from __future__ import annotations

import argparse
import sys

import pytest

from bench import pods


def cost(launcher_startup: float, kubelet_startup: float = 1.0) -> pods.PodCost:
    return pods.PodCost(kubelet_startup=kubelet_startup, launcher_startup=launcher_startup, kubelet_total=2.0,
                        api_calls=0.2, watch_latency=0.05, log_following=0.01)


def test_the_verdict_is_the_startup_ratio_against_its_target(capsys: pytest.CaptureFixture[str]) -> None:
    target = argparse.Namespace(concurrency=1, target=1.10)
    assert pods.report([cost(1.05), cost(1.08)], 3.0, target) == 0
    assert pods.report([cost(1.05), cost(1.5)], 3.0, target) == 1  # p99 missed
    out = capsys.readouterr().out
    assert "harness 0.260s = API calls 0.200s + watch latency 0.050s + log following 0.010s" in out
    assert "kubelet 2.000s" in out and "(target <= 1.1)" in out


def test_pods_run_through_the_launcher_on_the_fake_kubelet(monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    # the launcher can only see a start after the kubelet wrote it: a target below 1 always fails
    monkeypatch.setattr(sys, "argv", ["pods.py", "--pods", "3", "--concurrency", "2", "--target", "0.99"])
    assert pods.main() == 1
    out = capsys.readouterr().out
    assert out.startswith("3 runner pods, 2 at a time")
    ratios = [float(line.split("= ")[1].split()[0]) for line in out.splitlines() if line.startswith("startup")]
    assert len(ratios) == 2 and all(r > 0.99 for r in ratios)
