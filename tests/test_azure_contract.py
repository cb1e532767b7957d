"""The provider contract kit, run for the azure provider against the fake ARM world."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from providers.azure import AzureProvider
from providers.contract import DISRUPTION_CHECK, ContractReport, ProviderContract
from tests.standins.azure_world import azure_world


class TestAzureContract(ProviderContract):
    contract_ready_deadline = 20.0

    @pytest.fixture(scope="class")
    @classmethod
    def provider(cls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzureProvider]:
        with pytest.MonkeyPatch.context() as monkeypatch, \
                azure_world(tmp_path_factory.mktemp("azure"), monkeypatch) as world:
            yield world.provider()

    def test_every_disruption_was_checked(self, contract_report: ContractReport) -> None:
        assert contract_report.results[DISRUPTION_CHECK].detail == (
            "all, data-plane, api-server, restart, upgrade not checked: no upgrade_version given")
