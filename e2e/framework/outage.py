"""A steady client of a federated service and what one whole-cluster outage costs it.

The client sends `rate` requests a second from the harness to the shard the resolver picks, using
each shard's outside address. Like a federated DNS with health checks, it keeps the resolution fresh
(a bounded status every `refresh` seconds) and takes a shard whose address fails two requests in a row
out of rotation until a health-check request to it answers again; so a data-plane outage, which the shard's status
may not show for a while, fails over too.

One round: take a cluster away, hold, bring it back; from the request log come the seconds to
failover (from the outage to the first answer from another cluster after which none failed), the
requests failed in between, and the seconds to rejoin (from bring-back until the cluster serves again).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from e2e.framework import probes
from e2e.framework.federation import NoHealthyShard, Resolver, Shard
from e2e.framework.podtimes import percentile

FAILS_TO_QUARANTINE = 2


@dataclass(frozen=True)
class Request:
    at: float  # monotonic seconds when sent
    cluster: str | None  # the shard it went to (None: no shard to send it to)
    ok: bool
    detail: str = ""


def _status_of(url: str, timeout: float) -> int:
    return probes.get(url, timeout=timeout).status


@dataclass
class SteadyClient:
    resolver: Resolver
    rate: float = 5.0
    refresh: float = 1.0
    timeout: float = 1.0  # per request
    status_timeout: float = 3.0
    get: Callable[[str, float], int] = field(default_factory=lambda: _status_of)
    requests: list[Request] = field(default_factory=list)
    target: tuple[str, str] | None = None  # (cluster, address)
    quarantined: set[str] = field(default_factory=set)
    _failures: dict[str, int] = field(default_factory=dict)
    _done: threading.Event = field(default_factory=threading.Event)
    _poke: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _shards: dict[str, Shard] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> SteadyClient:
        self._resolve_once()
        for loop in (self._resolve_loop, self._request_loop):
            thread = threading.Thread(target=loop, name=loop.__name__.strip("_"), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._poke.set()
        for thread in self._threads:
            thread.join(30)

    # --- resolution --------------------------------------------------------------------------
    def _resolve_once(self, cached: bool = False) -> None:
        """Resolve from a fresh (bounded) status, or from the last one at once (a shard just failed)."""
        shards = self._shards if cached and self._shards else self.resolver.service.status(timeout=self.status_timeout)
        self._shards = shards
        for name in list(self.quarantined) if not cached else []:
            shard = shards.get(name)
            if shard is not None and shard.healthy and shard.address and self._answers(shard.address):
                self.quarantined.discard(name)  # its address answers again: back in rotation
        view = {name: (replace(s, error="failing requests", ready_endpoints=[]) if name in self.quarantined else s)
                for name, s in shards.items()}
        try:
            chosen = self.resolver.resolve(view)
        except NoHealthyShard:
            self.target = None
            return
        address = shards[chosen.cluster].address if chosen.local else chosen.address
        self.target = (chosen.cluster, address) if address else None

    def _answers(self, address: str) -> bool:
        """The health check: one request to the shard's address answers 200."""
        try:
            return self.get(f"http://{address}/", self.timeout) == 200
        except Exception:
            return False

    def _resolve_loop(self) -> None:
        while not self._done.is_set():
            with contextlib.suppress(Exception):  # a failed refresh keeps the last target; the requests show it
                self._resolve_once()
            self._poke.wait(self.refresh)
            self._poke.clear()

    # --- requests ----------------------------------------------------------------------------
    def _request_loop(self) -> None:
        period = 1.0 / self.rate
        next_at = time.monotonic()
        while not self._done.is_set():
            target, sent = self.target, time.monotonic()
            if target is None:
                self._record(Request(sent, None, False, "no healthy shard"))
            else:
                threading.Thread(target=self._send, args=(target, sent), daemon=True).start()
            next_at += period
            self._done.wait(max(0.0, next_at - time.monotonic()))

    def _send(self, target: tuple[str, str], sent: float) -> None:
        cluster, address = target
        try:
            status = self.get(f"http://{address}/", self.timeout)
            ok, detail = status == 200, f"HTTP {status}"
        except Exception as err:
            ok, detail = False, type(err).__name__
        self._record(Request(sent, cluster, ok, detail))
        with self._lock:
            self._failures[cluster] = 0 if ok else self._failures.get(cluster, 0) + 1
            newly = self._failures[cluster] >= FAILS_TO_QUARANTINE and cluster not in self.quarantined
            if newly:
                self.quarantined.add(cluster)
        if newly:  # out of rotation now, from the last status; the refresh loop checks it again
            with contextlib.suppress(Exception):
                self._resolve_once(cached=True)
            self._poke.set()

    def _record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def between(self, start: float, end: float) -> list[Request]:
        with self._lock:
            return sorted((r for r in self.requests if start <= r.at < end), key=lambda r: r.at)


@dataclass(frozen=True)
class Round:
    mode: str
    away: str
    failover_seconds: float | None  # None: never failed over
    failed_requests: int
    requests: int
    failed_after_failover: int
    rejoin_seconds: float | None  # None: did not rejoin within the timeout


def failover_point(requests: list[Request], start: float) -> float | None:
    """When the client was served again for good: the first answer after the last failed request (`start`
    when none failed: the shard it used kept serving, as in an outage of only the API server)."""
    failed = [r.at for r in requests if not r.ok]
    if not failed:
        return start
    good = [r.at for r in requests if r.at > failed[-1] and r.ok]
    return good[0] if good else None


def outage_round(client: SteadyClient, mode: str, away: str, take_away: Callable[[], None],
                 bring_back: Callable[[], None], hold: float, rejoin_timeout: float,
                 wait: Callable[[float], bool]) -> Round:
    """Take `away` away in `mode`, hold `hold` seconds, bring it back, wait until it serves again.

    `wait(seconds)` sleeps on the run's stop signal (True: the run is stopping)."""
    start = time.monotonic()
    take_away()
    try:
        wait(hold)
    finally:
        restore = time.monotonic()
        bring_back()
    back = time.monotonic()
    in_window = client.between(start, restore)
    settled = failover_point(in_window, start)
    after = [r for r in in_window if settled is not None and r.at >= settled]
    rejoined = None
    until = back + rejoin_timeout
    while time.monotonic() < until and not wait(0.2):
        served = [r for r in client.between(back, time.monotonic()) if r.ok and r.cluster == away]
        if served or (client.target is not None and client.target[0] == away and away not in client.quarantined):
            rejoined = (served[0].at if served else time.monotonic()) - back
            break
    return Round(mode, away, None if settled is None else settled - start, sum(not r.ok for r in in_window),
                 len(in_window), sum(not r.ok for r in after), rejoined)


def figures(rounds: list[Round]) -> dict[str, float]:
    """failover p50/p99, failed requests (total and worst round), rejoin p50/p99: the JUnit properties."""
    failovers = [r.failover_seconds for r in rounds if r.failover_seconds is not None]
    rejoins = [r.rejoin_seconds for r in rounds if r.rejoin_seconds is not None]
    out: dict[str, float] = {"rounds": float(len(rounds)),
                             "failed_requests": float(sum(r.failed_requests for r in rounds)),
                             "failed_requests_max": float(max((r.failed_requests for r in rounds), default=0))}
    for name, values in (("failover_seconds", failovers), ("rejoin_seconds", rejoins)):
        if values:
            out[f"{name}_p50"], out[f"{name}_p99"] = percentile(values, 50), percentile(values, 99)
    return out
