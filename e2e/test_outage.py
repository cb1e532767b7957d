"""Federation through whole-cluster outages: a steady client fails over to a healthy shard and back.

One cluster (the client's local one) is taken away in each mode the provider offers (everything, only
the data plane, only the API server), three times each, while the harness sends at least 5 requests a
second through the resolver. JUnit properties: failover p50/p99, requests failed during the outages, time
to rejoin after restore. Skipped, before anything is made, when fewer than two clusters are up or the
provider cannot take a cluster away (--provider existing needs its outage and restore commands).

They take clusters away from every other test of the run: run them on their own, e.g.
`pytest e2e/test_outage.py e2e/test_upgrade.py --provider existing ...` (one xdist group keeps them
from overlapping each other).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from e2e.framework import builders, capabilities, disruption, federation, outage
from providers.base import ALL, API_SERVER, DATA_PLANE, Cluster, Provider

SERVICE = "steady"
HEALTHY = 300
REPEATS = 3
RATE = 5.0  # requests a second, at least
STATUS_BOUND = 10.0  # the federated status must return within this, whatever a cluster does
MODES = (ALL, DATA_PLANE, API_SERVER)

pytestmark = pytest.mark.xdist_group("disruption")


@pytest.fixture
def outage_target(cluster_set: list[Cluster], fedtest_run: Any) -> tuple[Provider, Cluster, list[str]]:
    """The provider, the cluster to take away (the client's local one) and the modes offered for it."""
    reason = capabilities.federation_skip_reason(cluster_set)
    if reason:
        pytest.skip(reason)
    provider = disruption.run_provider(fedtest_run.ledger_path)
    away = cluster_set[0]
    modes = [mode for mode in MODES if disruption.skip_reason(provider, away, mode) is None]
    if not modes:
        pytest.skip(disruption.skip_reason(provider, away, ALL) or "no outage mode offered")
    assert provider is not None
    return provider, away, modes


def test_a_steady_client_fails_over_through_whole_cluster_outages_and_rejoins(
        outage_target: tuple[Provider, Cluster, list[str]], federated_namespace: Any, fedtest_run: Any,
        e2e_config: Any, record_property: Any) -> None:
    provider, away, modes = outage_target
    able = disruption.capability(provider)
    stop = disruption.MarkerStop(fedtest_run.settings.artifacts)
    service = federation.FederatedService(SERVICE, federated_namespace.name, federated_namespace.clients,
                                          builders.Images.from_config(e2e_config), replicas=2)
    service.create().raise_errors(f"creating the shards of {SERVICE}")
    service.wait_healthy(HEALTHY)
    window = e2e_config.reach_window
    resolver = federation.Resolver(service, away.name, window=window)
    status_seen: list[tuple[str, str, float]] = []

    def take_away(mode: str) -> None:
        able.take_away(away, mode, stop)
        if mode in (ALL, API_SERVER):
            started = time.monotonic()
            shards = service.status(timeout=STATUS_BOUND)
            status_seen.append((mode, shards[away.name].state, time.monotonic() - started))

    rounds: list[outage.Round] = []
    try:
        with outage.SteadyClient(resolver, rate=RATE) as steady:
            deadline = time.monotonic() + HEALTHY
            while not (steady.target and steady.target[0] == away.name and steady.requests
                       and steady.requests[-1].ok):
                assert time.monotonic() < deadline, f"the client never reached {away.name}'s own shard"
                assert not stop.wait(0.2), "the run is stopping"
            for _ in range(REPEATS):
                for mode in modes:
                    rounds.append(outage.outage_round(
                        steady, mode, away.name, lambda m=mode: take_away(m),
                        lambda m=mode: able.bring_back(away, m, stop), hold=max(1.5 * window, window + 2),
                        rejoin_timeout=HEALTHY,
                        wait=stop.wait))
            sent = len(steady.requests)
            seconds = steady.requests[-1].at - steady.requests[0].at if sent > 1 else 0.0
    finally:
        for mode in modes:  # whatever failed, the cluster comes back
            able.bring_back(away, mode, disruption.MarkerStop(fedtest_run.settings.artifacts))

    figures = outage.figures(rounds)
    for name, value in disruption.properties("outage", figures).items():
        record_property(name, value)
    for mode in modes:
        mine = outage.figures([r for r in rounds if r.mode == mode])
        for name, value in disruption.properties(f"outage_{mode.replace('-', '_')}", mine).items():
            record_property(name, value)
    record_property("outage_request_rate", f"{sent / seconds:.2f}" if seconds else "0")
    assert seconds == 0 or sent / seconds >= RATE * 0.9, f"the client sent {sent} requests in {seconds:.0f}s"
    never = [r for r in rounds if r.failover_seconds is None]
    assert not never, f"no failover in {len(never)} rounds: {never}"
    slow = [r for r in rounds if r.failover_seconds is not None and r.failover_seconds > window]
    assert not slow, f"failover took longer than the reach window ({window:g}s): {slow}"
    unserved = [r for r in rounds if r.failed_after_failover]
    assert not unserved, f"requests failed after failover: {unserved}"
    lost = [r for r in rounds if r.rejoin_seconds is None]
    assert not lost, f"{away.name} did not serve again after restore: {lost}"
    for mode, state, took in status_seen:
        assert state == "unreachable", f"{mode} outage: the status reported {away.name} as {state}"
        assert took <= STATUS_BOUND + 1, f"{mode} outage: the status took {took:.1f}s"
