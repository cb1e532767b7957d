"""Locality, unreachable clusters and whole-cluster outages, for the federation framework, on stand-ins.

The clusters are stand-in API servers behind gates and shards stood in for by local HTTP servers behind
data-plane gates; the `existing` provider takes clusters away through the fake bed's commands, the
settings written for ../shared/bed (so the e2e outage test drives the bed the same way).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.framework import federation, outage
from providers.base import ALL, API_SERVER, DATA_PLANE, ProviderOptions
from providers.existing import ExistingProvider
from tests.standins.fake_bed import api_key
from tests.standins.federation_world import FederationWorld, federation_world
from tests.standins.gate import FROZEN, write_state

TOPOLOGY = {"home": ("eu-1a", "eu-1"), "far": ("us-1a", "us-1"), "region": ("eu-1b", "eu-1"),
            "zone": ("eu-1a", "eu-1")}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[FederationWorld]:
    with federation_world(tmp_path / "fed", ["far", "home", "region", "zone"]) as world:
        svc = world.service()
        svc.create().raise_errors("creating shards")
        world.play_controllers("echo", TOPOLOGY)
        yield world


def test_the_resolver_prefers_local_then_zone_then_region_then_any(world: FederationWorld) -> None:
    resolver = federation.Resolver(world.service(), "home", window=2)
    shards = world.service().status()
    assert shards["zone"].zones == {"eu-1a"} and shards["far"].regions == {"us-1"}
    assert resolver.resolve(shards).proximity == federation.LOCAL
    world.set_ready("home", "echo", False)
    chosen = resolver.resolve()
    assert (chosen.cluster, chosen.proximity) == ("zone", federation.SAME_ZONE)
    assert "zone (same zone) has 1 ready endpoints" in chosen.reason
    world.set_ready("zone", "echo", False)
    assert (resolver.resolve().cluster, resolver.resolve().proximity) == ("region", federation.SAME_REGION)
    world.set_ready("region", "echo", False)
    assert (resolver.resolve().cluster, resolver.resolve().proximity) == ("far", federation.ANYWHERE)


def test_a_frozen_api_server_is_unreachable_in_the_status_and_never_holds_it(world: FederationWorld) -> None:
    resolver = federation.Resolver(world.service(), "home", window=2)
    resolver.resolve()  # learns where home is while its API server answers
    write_state(world.outage.state, api_key("home"), FROZEN)
    write_state(world.outage.state, api_key("zone"), FROZEN)
    started = time.monotonic()
    shards = world.service().status(timeout=2.0)
    took = time.monotonic() - started
    assert took < 3.0, took
    assert shards["home"].state == "unreachable" and not shards["home"].reachable
    assert shards["far"].state == "healthy"
    assert "home: unreachable (no answer within 2s)" in federation.describe(shards)
    chosen = resolver.resolve(shards)  # home is known to be in eu-1 even though its API is silent now
    assert (chosen.cluster, chosen.proximity) == ("region", federation.SAME_REGION)
    assert "home: unreachable" in chosen.reason


def test_a_refused_api_server_is_unreachable_at_once(world: FederationWorld) -> None:
    from tests.standins.gate import REFUSED

    write_state(world.outage.state, api_key("far"), REFUSED)
    started = time.monotonic()
    shards = world.service().status(timeout=10.0)
    assert time.monotonic() - started < 5.0
    assert shards["far"].state == "unreachable" and shards["far"].error, shards["far"]
    assert shards["home"].state == "healthy"


def _provider(world: FederationWorld, root: Path) -> ExistingProvider:
    return ExistingProvider(ProviderOptions(work_dir=root / "work", run_id="r1", kubeconfig=world.outage.kubeconfig,
                                            contexts=tuple(world.clients), deadline_seconds=10,
                                            extra=world.outage.commands()))


@pytest.mark.parametrize("mode", [ALL, DATA_PLANE, API_SERVER])
def test_a_steady_client_fails_over_and_rejoins_in_each_mode(world: FederationWorld, tmp_path: Path,
                                                             mode: str) -> None:
    provider = _provider(world, tmp_path)
    home = provider.up(next(s for s in provider.plan(None) if s.name == "home"))
    resolver = federation.Resolver(world.service(), "home", window=1)
    stop = threading.Event()
    with outage.SteadyClient(resolver, rate=10, refresh=0.3, timeout=0.5, status_timeout=1.0) as steady:
        time.sleep(0.5)
        assert steady.target is not None and steady.target[0] == "home"
        round_ = outage.outage_round(steady, mode, "home", lambda: provider.take_away(home, mode, stop),
                                     lambda: provider.bring_back(home, mode, stop), hold=4.0, rejoin_timeout=10.0,
                                     wait=stop.wait)
    assert round_.failover_seconds is not None and round_.failover_seconds < 2.5, round_
    assert round_.failed_after_failover == 0, round_
    assert round_.requests >= 30, round_  # 10 a second for 4 s
    assert round_.rejoin_seconds is not None and round_.rejoin_seconds < 10.0, round_
    assert steady.requests[-1].ok and steady.target is not None and steady.target[0] == "home"
    if mode == API_SERVER:  # the shard kept serving: only the resolver's view of home went dark
        assert round_.failed_requests == 0, round_
    figures = outage.figures([round_])
    assert set(figures) >= {"failover_seconds_p50", "failover_seconds_p99", "failed_requests", "rejoin_seconds_p50"}


def test_failover_point_is_the_first_answer_after_the_last_failed_request() -> None:
    log = [outage.Request(0.0, "home", True), outage.Request(1.0, "home", False), outage.Request(1.2, "zone", True),
           outage.Request(1.4, "home", False), outage.Request(1.6, "zone", True), outage.Request(1.8, "zone", True)]
    assert outage.failover_point(log, 0.0) == 1.6
    assert outage.failover_point(log[:2], 0.0) is None
    assert outage.failover_point(log[:1], 0.0) == 0.0  # nothing failed: the client was never without service
