"""What the disruption tests share: the run's provider and its disruption capability, the run's stop
signal, and probes that measure what a disruption costs (API and HTTP availability over time).

A provider without the capability, or without the disruption a test needs for a cluster (`existing`
without the command settings), gives a skip reason naming what is missing, before anything is made.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import urllib3

from fedtest.commands_clusters import provider_from_ledger
from providers import ledger as ledger_mod
from providers.base import DISRUPTION, Cluster, Disruption, Provider, disruption
from providers.readiness import PER_CALL_SECONDS, api_client, get_raw

ABORT_MARKER = ".fedtest-abort"  # fedtest.lifecycle writes it in artifacts/ when the run aborts


class MarkerStop:
    """The run's stop signal as the tests see it: the abort marker the controller writes in artifacts/."""

    def __init__(self, artifacts: Path, poll: float = 0.1) -> None:
        self.marker = artifacts / ABORT_MARKER
        self.poll = poll
        self._tick = threading.Event()  # never set: its timed wait paces the look at the marker

    def wait(self, timeout: float | None = None) -> bool:
        until = time.monotonic() + (timeout or 0.0)
        while not self.marker.exists():
            left = until - time.monotonic()
            if left <= 0:
                return False
            self._tick.wait(min(self.poll, left))
        return True


def run_provider(ledger_path: Path | None) -> Provider | None:
    """The run's provider, rebuilt from its ledger (settings included), or None without one."""
    if ledger_path is None or not ledger_path.is_file():
        return None
    return provider_from_ledger(ledger_mod.Ledger.load(ledger_path))


def skip_reason(provider: Provider | None, cluster: Cluster, needed: str) -> str | None:
    """Why `needed` (an outage mode, "restart" or "upgrade") cannot be done to `cluster`, or None."""
    if provider is None:
        return "no provider: the run has no ledger"
    able = disruption(provider)
    if able is None:
        return (f"provider {provider.name} has no {DISRUPTION} capability: it cannot take {cluster.name} away, "
                "restart or upgrade it")
    offered = able.disruptions(cluster)
    if needed in offered:
        return None
    hint = (" (give --provider-opt outage_command=, restore_command=, restart_command= or upgrade_command=)"
            if provider.name == "existing" else "")
    return (f"provider {provider.name} offers no {needed} disruption for {cluster.name} "
            f"(it offers: {', '.join(sorted(offered)) or 'none'}){hint}")


def capability(provider: Provider) -> Disruption:
    able = disruption(provider)
    assert able is not None, f"provider {provider.name} lost its disruption capability"
    return able


@dataclass
class Sample:
    at: float  # monotonic seconds
    ok: bool
    seconds: float
    detail: str = ""


@dataclass
class Probe:
    """Calls `check()` every `interval` seconds in a thread; each call must end within its own timeout."""

    check: Callable[[], tuple[bool, str]]
    interval: float = 1.0
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Probe:
        self._thread = threading.Thread(target=self._loop, name="probe", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                ok, detail = self.check()
            except Exception as err:  # a probe records every failure, it never ends the test
                ok, detail = False, f"{type(err).__name__}: {err}"
            self.samples.append(Sample(started, ok, time.monotonic() - started, detail))
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def availability(self) -> float:
        """The fraction of probes that succeeded (1.0 without any)."""
        return sum(s.ok for s in self.samples) / len(self.samples) if self.samples else 1.0

    def unavailable_seconds(self) -> float:
        """Seconds from each failing probe to the next probe (or its own end): the outage as the probe saw it."""
        total = 0.0
        for here, after in zip(self.samples, [*self.samples[1:], None], strict=True):
            if not here.ok:
                total += (after.at if after else here.at + here.seconds) - here.at
        return total


def api_readiness_check(cluster: Cluster, timeout: float = PER_CALL_SECONDS) -> Callable[[], tuple[bool, str]]:
    """GET /readyz with no client-side retries: a frozen API server costs `timeout`, not four times it."""
    api = api_client(cluster.kubeconfig, cluster.context, retries=0)

    def check() -> tuple[bool, str]:
        try:
            status, body = get_raw(api, "/readyz", timeout)
        except urllib3.exceptions.HTTPError as err:
            return False, type(err).__name__
        return status == 200 and body == "ok", f"{status} {body[:40]}"

    return check


def http_check(url: str, host: str | None = None, timeout: float = 2.0) -> Callable[[], tuple[bool, str]]:
    from e2e.framework import probes

    def check() -> tuple[bool, str]:
        answer = probes.get(url, host=host, timeout=timeout)
        return answer.status == 200, str(answer.status)

    return check


def minute_boundaries(start: dt.datetime, end: dt.datetime, slack: float) -> int:
    """How many runs an every-minute CronJob owes: boundaries after `start` and at least `slack` seconds
    (the controller's reaction time) before `end`."""
    first = start.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    last = end - dt.timedelta(seconds=slack)
    return 0 if last < first else int((last - first).total_seconds() // 60) + 1


def properties(prefix: str, values: dict[str, Any]) -> dict[str, str]:
    """JUnit property names and values: numbers to 3 decimals."""
    return {f"{prefix}_{k}": (f"{v:.3f}" if isinstance(v, float) else str(v)) for k, v in values.items()}
