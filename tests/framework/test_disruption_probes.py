"""What the disruption tests measure with: probes of the API server and HTTP, the cron arithmetic,
the run's stop signal as tests see it, and the skip reasons."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

import pytest

from e2e.framework import disruption
from providers import stopping
from providers.base import Cluster, ProviderOptions
from providers.existing import ExistingProvider
from tests.standins.fake_bed import api_key
from tests.standins.gate import FROZEN, OPEN, write_state
from tests.standins.httpserver import serving
from tests.standins.outage_world import outage_world


def test_the_api_probe_measures_a_frozen_api_server_and_a_restart(tmp_path: Path) -> None:
    with outage_world(tmp_path / "w", ["c1"]) as world:
        cluster = Cluster("c1", "existing", world.kubeconfig, "c1")
        provider = ExistingProvider(ProviderOptions(work_dir=tmp_path, run_id="r", kubeconfig=world.kubeconfig,
                                                    contexts=("c1",), extra=world.commands()))
        with disruption.Probe(disruption.api_readiness_check(cluster, timeout=0.5), interval=0.2) as probe:
            time.sleep(0.6)
            write_state(world.state, api_key("c1"), FROZEN)
            time.sleep(1.5)
            write_state(world.state, api_key("c1"), OPEN)
            time.sleep(0.6)
            provider.restart_control_plane(cluster, stopping.NEVER)  # the fake bed's API refuses for 0.5 s
            time.sleep(0.6)
    assert probe.samples[0].ok and probe.samples[-1].ok
    assert 1.3 <= probe.unavailable_seconds() <= 3.5, probe.samples
    assert 0.3 < probe.availability() < 1.0
    slowest = max(s.seconds for s in probe.samples)
    assert slowest < 1.5, "a probe of a frozen API server must end at its timeout (no client retries)"


def test_the_http_probe_counts_failures_as_unavailability() -> None:
    answers = iter([200, 200, 503, 503, 200] + [200] * 100)
    with serving(lambda _h: (next(answers), "x")) as port, \
            disruption.Probe(disruption.http_check(f"http://127.0.0.1:{port}/"), interval=0.1) as probe:
        while len(probe.samples) < 6:
            time.sleep(0.05)
    assert [s.ok for s in probe.samples[:5]] == [True, True, False, False, True]
    assert 0.15 <= probe.unavailable_seconds() <= 0.5


@pytest.mark.parametrize(("start", "end", "owed"), [
    ("12:00:30", "12:01:10", 0),  # the boundary at 12:01 is too close to the end
    ("12:00:30", "12:01:20", 1),
    ("12:00:00", "12:03:20", 3),  # 12:01, 12:02, 12:03; not 12:00 itself
    ("12:00:59", "12:00:59", 0),
])
def test_an_every_minute_cronjob_owes_one_run_per_boundary(start: str, end: str, owed: int) -> None:
    day = "2026-12-06T"
    at = lambda t: dt.datetime.fromisoformat(day + t).replace(tzinfo=dt.UTC)  # noqa: E731
    assert disruption.minute_boundaries(at(start), at(end), 15) == owed


def test_the_stop_signal_is_the_abort_marker(tmp_path: Path) -> None:
    stop = disruption.MarkerStop(tmp_path, poll=0.02)
    started = time.monotonic()
    assert stop.wait(0.2) is False and time.monotonic() - started >= 0.2
    threading.Timer(0.1, lambda: (tmp_path / disruption.ABORT_MARKER).write_text("SIGTERM")).start()
    started = time.monotonic()
    assert stop.wait(10) is True and time.monotonic() - started < 1.0


def test_skip_reasons_say_what_is_missing(tmp_path: Path) -> None:
    with outage_world(tmp_path / "w", ["c1"]) as world:
        cluster = Cluster("c1", "existing", world.kubeconfig, "c1")
        plain = ExistingProvider(ProviderOptions(work_dir=tmp_path, run_id="r", kubeconfig=world.kubeconfig,
                                                 contexts=("c1",)))
        assert "offers no restart disruption for c1 (it offers: none)" in (
            disruption.skip_reason(plain, cluster, "restart") or "")
        restart_only = ExistingProvider(ProviderOptions(work_dir=tmp_path, run_id="r", kubeconfig=world.kubeconfig,
                                                        contexts=("c1",), extra={"restart_command": "true"}))
        assert disruption.skip_reason(restart_only, cluster, "restart") is None
        assert "(it offers: restart)" in (disruption.skip_reason(restart_only, cluster, "all") or "")
    assert disruption.skip_reason(None, cluster, "all") == "no provider: the run has no ledger"
