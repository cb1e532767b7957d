"""The disruption capability of `existing`: commands from its settings, the contract kit, the stop signal."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from providers import stopping
from providers.base import ALL, API_SERVER, DATA_PLANE, RESTART, UPGRADE, Cluster, ConfigError, ProviderOptions
from providers.contract import DISRUPTION_CHECK, ProviderContract, run_contract
from providers.existing import CommandFailed, ExistingProvider
from providers.readiness import answers
from tests.standins.gate import FROZEN, OPEN, REFUSED
from tests.standins.kind_world import RUN_ID
from tests.standins.outage_world import OutageWorld, outage_world


def _provider(world: OutageWorld, root: Path, contexts: tuple[str, ...] = (), **extra: str) -> ExistingProvider:
    return ExistingProvider(ProviderOptions(work_dir=root / "work", run_id=RUN_ID, kubeconfig=world.kubeconfig,
                                            contexts=contexts or tuple(world.gates), deadline_seconds=10,
                                            extra=extra))


class TestExistingWithBedCommandsContract(ProviderContract):
    """The bed's own command settings, against the fake bed: every mode, and a restart."""

    @pytest.fixture(scope="class")
    @classmethod
    def provider(cls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExistingProvider]:
        root = tmp_path_factory.mktemp("existing-bed")
        with outage_world(root, ["c1"]) as world:
            yield _provider(world, root, **world.commands())


@pytest.fixture
def world(tmp_path: Path) -> Iterator[OutageWorld]:
    with outage_world(tmp_path / "world", ["c1", "c2"]) as world:
        yield world


def _cluster(provider: ExistingProvider, name: str) -> Cluster:
    spec = next(s for s in provider.plan(None) if s.name == name)
    return provider.up(spec)


def test_without_commands_nothing_is_offered_and_the_kit_skips(world: OutageWorld, tmp_path: Path) -> None:
    provider = _provider(world, tmp_path, contexts=("c1",))
    assert provider.disruptions(_cluster(provider, "c1")) == frozenset()
    report = run_contract(provider, tmp_path / "logs", ready_deadline=10)
    assert report.results[DISRUPTION_CHECK].passed is None
    assert "offers no disruption" in report.results[DISRUPTION_CHECK].detail


def test_the_bed_commands_get_the_cluster_and_the_bed_mode_words(world: OutageWorld, tmp_path: Path) -> None:
    provider = _provider(world, tmp_path, **world.commands())
    c2 = _cluster(provider, "c2")
    assert provider.disruptions(c2) == {ALL, DATA_PLANE, API_SERVER, RESTART}
    provider.take_away(c2, ALL, stopping.NEVER)
    assert world.api_state("c2") == FROZEN and not world.data_plane_up("c2")
    assert world.api_state("c1") == OPEN and world.data_plane_up("c1")
    provider.bring_back(c2, ALL, stopping.NEVER)
    provider.take_away(c2, DATA_PLANE, stopping.NEVER)
    assert world.api_state("c2") == OPEN and not world.data_plane_up("c2")
    provider.bring_back(c2, DATA_PLANE, stopping.NEVER)
    provider.take_away(c2, API_SERVER, stopping.NEVER)
    assert world.api_state("c2") == FROZEN and world.data_plane_up("c2")
    provider.bring_back(c2, API_SERVER, stopping.NEVER)
    assert world.calls() == ["outage c2 on full", "outage c2 off", "outage c2 on network", "outage c2 off",
                             "outage c2 on api", "outage c2 off"]


def test_a_frozen_api_server_is_not_answering_within_the_bound(world: OutageWorld, tmp_path: Path) -> None:
    provider = _provider(world, tmp_path, **world.commands())
    c1 = _cluster(provider, "c1")
    provider.take_away(c1, API_SERVER, stopping.NEVER)
    started = time.monotonic()
    assert not answers(c1.kubeconfig, c1.context, 2.0)
    assert time.monotonic() - started < 4.0
    provider.bring_back(c1, API_SERVER, stopping.NEVER)
    assert answers(c1.kubeconfig, c1.context, 5.0)


def test_upgrade_command_gets_the_version(world: OutageWorld, tmp_path: Path) -> None:
    seen = tmp_path / "upgrade-args"
    script = f"import sys; open({str(seen)!r}, 'w').write(' '.join(sys.argv[1:]))"
    provider = _provider(world, tmp_path, upgrade_command=f"{sys.executable} -c \"{script}\" {{context}} {{version}}")
    c1 = _cluster(provider, "c1")
    assert provider.disruptions(c1) == {UPGRADE}
    provider.upgrade_control_plane(c1, "1.29.3", stopping.NEVER)
    assert seen.read_text() == "c1 1.29.3"


def test_a_failing_command_is_one_line_with_its_last_words(world: OutageWorld, tmp_path: Path) -> None:
    provider = _provider(world, tmp_path, **{**world.commands(), "outage_modes": "all=everything"})
    c1 = _cluster(provider, "c1")
    with pytest.raises(CommandFailed) as failed:
        provider.take_away(c1, ALL, stopping.NEVER)
    assert "exited 2 (outage: unknown mode everything)" in str(failed.value)
    assert "\n" not in str(failed.value)


@pytest.mark.parametrize(("extra", "message"), [
    ({"outage_command": "outage {region}"}, "placeholder 'region' is not one of"),
    ({"outage_modes": "most=full"}, "is not MODE=WORD"),
    ({"restart_command": "restart 'unclosed"}, "No closing quotation"),
])
def test_bad_command_settings_are_one_line(world: OutageWorld, tmp_path: Path, extra: dict[str, str],
                                           message: str) -> None:
    with pytest.raises(ConfigError) as bad:
        _provider(world, tmp_path, **extra)
    assert message in str(bad.value) and "\n" not in str(bad.value)


def test_an_unknown_mode_is_refused(world: OutageWorld, tmp_path: Path) -> None:
    provider = _provider(world, tmp_path, **world.commands())
    with pytest.raises(ConfigError, match="outage mode 'region' is unknown"):
        provider.take_away(_cluster(provider, "c1"), "region", stopping.NEVER)


def test_the_stop_signal_kills_a_running_command_promptly(world: OutageWorld, tmp_path: Path) -> None:
    provider = _provider(world, tmp_path, restart_command=f"{sys.executable} -c 'import time; time.sleep(60)'")
    c1 = _cluster(provider, "c1")
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    started = time.monotonic()
    with pytest.raises(stopping.Stopped):
        provider.restart_control_plane(c1, stop)
    assert time.monotonic() - started < 2.0


def test_a_refused_api_server_is_down_and_restart_brings_it_back(world: OutageWorld, tmp_path: Path) -> None:
    provider = _provider(world, tmp_path, **world.commands())
    c1 = _cluster(provider, "c1")
    seen = []
    watcher = threading.Thread(target=lambda: [seen.append(world.api_state("c1")) or time.sleep(0.02)
                                               for _ in range(40)])
    watcher.start()
    provider.restart_control_plane(c1, stopping.NEVER)
    watcher.join()
    assert REFUSED in seen and world.api_state("c1") == OPEN


# --- the kit fails disruption verbs that do not do what they say ----------------------------------


class TakesNothingAway(ExistingProvider):
    def take_away(self, cluster: Cluster, mode: str, stop: stopping.StopSignal) -> None:
        """Claims an outage and does nothing."""


class IgnoresTheStopSignal(ExistingProvider):
    def take_away(self, cluster: Cluster, mode: str, stop: stopping.StopSignal) -> None:
        super().take_away(cluster, mode, stopping.NEVER)


@pytest.mark.parametrize(("cls", "message"), [
    (TakesNothingAway, "take_away all: the API server still answers"),
    (IgnoresTheStopSignal, "all ran although the run's stop signal was set"),
])
def test_the_kit_fails_a_disruption_that_breaks_its_word(tmp_path: Path, cls: type[ExistingProvider],
                                                         message: str) -> None:
    with outage_world(tmp_path / "world", ["c1"]) as world:
        provider = cls(ProviderOptions(work_dir=tmp_path / "work", run_id=RUN_ID, kubeconfig=world.kubeconfig,
                                       contexts=("c1",), deadline_seconds=10, extra=world.commands()))
        report = run_contract(provider, tmp_path / "logs", ready_deadline=10)
        world_calls = world.calls()
    result = report.results[DISRUPTION_CHECK]
    assert result.passed is False and message in result.detail, report.summary()
    assert world_calls[-1] == "outage c1 off"  # whatever failed, the cluster was brought back
