"""The provider contract kit, run for the gce provider against the fake compute/v1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from providers.contract import DISRUPTION_CHECK, ContractReport, ProviderContract
from providers.gce import GCEProvider
from tests.standins.gce_world import GCEWorld


class TestGCEProviderContract(ProviderContract):
    contract_ready_deadline = 20.0

    @pytest.fixture(scope="class")
    @classmethod
    def provider(cls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GCEProvider]:
        with GCEWorld.run(tmp_path_factory.mktemp("gce-work")) as world:
            yield world.provider()

    def test_every_disruption_was_checked(self, contract_report: ContractReport) -> None:
        assert contract_report.results[DISRUPTION_CHECK].detail == "all, data-plane, api-server, restart"
