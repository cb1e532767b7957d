"""The package's own contract test, run against a loopback API server (tests/standins/kube.py)."""

import pytest

from providers import options, registry
from providers.contract import ProviderContract
from tests.standins.kube import KubeStandIn


@pytest.fixture(scope="module")
def server():
    with KubeStandIn.run(["pool"]) as kube:
        yield kube.clusters["pool"].url


def _provider(name, server, work_dir):
    opts = options.build(run_id="20261122-030000-abc123", work_dir=str(work_dir), deadline_seconds=5,
                         extra=[f"server={server}"])
    cls = registry.load(name) if name == "loopback" else _unchecked(name)
    return cls(opts)


def _unchecked(name):
    """The class behind an entry point without the registry's check, so the contract kit judges it."""
    from importlib.metadata import entry_points

    return next(ep for ep in entry_points(group=registry.GROUP) if ep.name == name).load()


class TestLoopbackContract(ProviderContract):
    @pytest.fixture(scope="class")
    @classmethod
    def provider(cls, server, tmp_path_factory):
        return _provider("loopback", server, tmp_path_factory.mktemp("loopback"))


class TestForgetfulContract(ProviderContract):
    @pytest.fixture(scope="class")
    @classmethod
    def provider(cls, server, tmp_path_factory):
        return _provider("loopback-forgetful", server, tmp_path_factory.mktemp("forgetful"))
