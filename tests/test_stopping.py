"""The run's stop signal ends bring-up and every provider wait promptly (no thread left blocked)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from fedtest import clusters as clusterset
from fedtest.abort import AbortController
from providers import ledger as ledger_mod
from providers import stopping
from providers.base import ProviderOptions
from providers.bootstrap.nodes import wait_nodes_ready
from providers.existing import ExistingProvider
from providers.readiness import wait_ready
from tests.standins.kind_world import RUN_ID, cluster_names, kind_world
from tests.standins.kube import KubeStandIn

PROMPT = 2.0  # seconds: what "returns promptly" means here (the waits' own deadlines are 60-120 s)


class _TimedStop(threading.Event):
    """A stop signal set after a delay, remembering when (the measure of "promptly" under a loaded machine)."""

    set_at = 0.0

    def set(self) -> None:
        self.set_at = time.monotonic()
        super().set()


def _stop_after(seconds: float) -> _TimedStop:
    stop = _TimedStop()
    threading.Timer(seconds, stop.set).start()
    return stop


def test_wait_ready_ends_on_the_stop_signal(tmp_path: Path) -> None:
    with KubeStandIn.run(["a"], not_ready=("a",)) as kube:
        kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")
        started = time.monotonic()
        with pytest.raises(stopping.Stopped, match="waiting for the API server of context 'a' interrupted"):
            wait_ready(kubeconfig, "a", 120, _stop_after(0.3))
        assert time.monotonic() - started < PROMPT


def test_wait_nodes_ready_ends_on_the_stop_signal(tmp_path: Path) -> None:
    with KubeStandIn.run(["a"]) as kube:
        kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")
        started = time.monotonic()
        with pytest.raises(stopping.Stopped):
            wait_nodes_ready(kubeconfig, "a", 1, 120, _stop_after(0.3))
        assert time.monotonic() - started < PROMPT + 3.0  # one watch round (2 s) at most


@pytest.mark.parametrize("stop_kind", ["abort controller", "a Stop with only `aborted`"])
def test_an_abort_ends_bring_up_and_leaves_no_thread_behind(tmp_path: Path, stop_kind: str) -> None:
    with KubeStandIn.run(["a", "b"], not_ready=("a", "b")) as kube:
        kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")
        provider = ExistingProvider(ProviderOptions(work_dir=tmp_path / "work", run_id=RUN_ID, kubeconfig=kubeconfig,
                                                    contexts=("a", "b"), deadline_seconds=120))
        controller = AbortController(grace_seconds=None, signals=())
        stop: object = controller
        if stop_kind != "abort controller":
            stop = type("OnlyAborted", (), {"aborted": property(lambda _s: controller.aborted), "reason": "SIGTERM"})()
        ledger = ledger_mod.Ledger.create(tmp_path / "artifacts", RUN_ID, provider.name)
        threading.Timer(0.5, controller.trigger, args=("SIGTERM",)).start()
        left_behind: list[threading.Thread] = []
        started = time.monotonic()
        results = clusterset.bring_up(provider, provider.plan(None), ledger, stop=stop, left_behind=left_behind)
        took = time.monotonic() - started
    assert took < 0.5 + PROMPT, took
    assert left_behind == []
    assert [r.ok for r in results] == [False, False]
    assert all("interrupted" in r.error for r in results), [r.error for r in results]
    assert {e.state for e in ledger.entries.values()} <= {ledger_mod.CREATING, ledger_mod.FAILED}


def test_kind_create_is_killed_on_the_stop_signal(tmp_path: Path) -> None:
    with kind_world(tmp_path, cluster_names(1)) as world:
        world.fake.configure(create_delay=60)
        provider = world.provider(tmp_path, deadline=120)
        spec = provider.plan(1)[0]
        provider.stop = stop = _stop_after(3.0)  # kind create sleeps 60 s in the stand-in by then
        with pytest.raises(stopping.Stopped, match="kind create cluster"):
            provider.up(spec)
        assert time.monotonic() - stop.set_at < PROMPT
        assert world.fake.calls("create cluster"), "the stop came before kind create started"


def test_a_command_that_ends_normally_is_not_stopped() -> None:
    done = stopping.run(["sh", "-c", "echo out; echo err >&2; exit 3"], 10, stopping.NEVER, "a command")
    assert (done.returncode, done.stdout, done.stderr) == (3, "out\n", "err\n")
