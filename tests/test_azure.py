"""The azure provider with the real azure-identity + azure-mgmt-* clients against a fake ARM over HTTPS
(the world is described in tests/standins/azure_world.py)."""

from __future__ import annotations

import datetime as dt
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.core.exceptions import HttpResponseError

from fedtest import cli
from providers.azure import arm, settings
from providers.base import AuthError, CapacityError, ClusterSpec, ConfigError
from tests.standins.azure_world import RUN, AzureWorld, azure_world
from tests.standins.fake_arm import FakeArm
from tests.standins.fake_vm import cloud_config_files

TAGS = ("fedtest-run", "fedtest-owner", "fedtest-created", "fedtest-expires")


@pytest.fixture
def azure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AzureWorld]:
    with azure_world(tmp_path, monkeypatch) as world:
        yield world


def _one_line(err: BaseException) -> str:
    text = str(err)
    assert "\n" not in text and text
    return text


def test_up_and_down_end_to_end(azure: AzureWorld, tmp_path: Path):
    provider = azure.provider()
    spec = ClusterSpec("fedtest-c1", workers=2, k8s_version="1.31.2")
    cluster = provider.up(spec)

    assert cluster.endpoint == f"https://127.0.0.1:{azure.control_plane.port}"
    assert cluster.version == "v1.31.2" and cluster.metadata["region"] == "westeurope"
    assert azure.control_plane.client_subjects and set(azure.control_plane.client_subjects) == {"fedtest-admin"}
    assert "127.0.0.1" in azure.control_plane.sans  # the public IP is an API server SAN
    assert cluster.kubeconfig.parent == azure.work_dir
    assert stat.S_IMODE(cluster.kubeconfig.stat().st_mode) == 0o600
    for key_file in (azure.work_dir / "fedtest-c1" / "pki").iterdir():
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

    group = azure.arm.groups()["fedtest-c1"]
    assert set(TAGS) <= set(group["tags"]) and group["tags"]["fedtest-run"] == RUN
    created = dt.datetime.fromisoformat(group["tags"]["fedtest-created"])
    expires = dt.datetime.fromisoformat(group["tags"]["fedtest-expires"])
    assert expires - created == dt.timedelta(hours=6) and created.tzinfo is not None
    kinds = sorted(r["type"].split("/")[-1] for r in azure.arm.resources_in("fedtest-c1"))
    assert kinds.count("virtualMachines") == 3 and kinds.count("networkInterfaces") == 3
    assert kinds.count("natGateways") == 1 and kinds.count("publicIPAddresses") == 2
    nsg = next(r for r in azure.arm.resources_in("fedtest-c1") if r["type"].endswith("networkSecurityGroups"))
    rules = [r["properties"] for r in nsg["properties"]["securityRules"]]
    assert [(r["sourceAddressPrefix"], r["destinationPortRange"], r["access"]) for r in rules] == [
        ("127.0.0.1/32", str(azure.control_plane.port), "Allow")]
    worker_files = cloud_config_files(azure.user_data("fedtest-c1-w1"))
    assert "/etc/kubernetes/pki/ca.key" not in worker_files
    assert "K8S_PATCH=1.31.2" in worker_files["/etc/fedtest/bootstrap.env"]
    assert provider.is_up(cluster)
    assert provider.leaks(RUN) == ["resource group fedtest-c1 (westeurope)"]

    provider.down(cluster)
    assert "fedtest-c1" not in azure.arm.groups()
    assert azure.arm.resources_in("fedtest-c1") == []
    assert not (azure.work_dir / "fedtest-c1" / "pki").exists()
    assert provider.leaks(RUN) == []
    provider.down(cluster)  # idempotent: an absent group is success
    assert len(azure.arm.calls("DELETE", "/resourcegroups/fedtest-c1")) == 2


@pytest.mark.parametrize("code", ["SkuNotAvailable", "AllocationFailed", "QuotaExceeded"])
def test_capacity_error_deletes_the_half_made_group_and_tries_the_next_region(azure: AzureWorld, code: str):
    azure.arm.capacity["westeurope"] = code
    cluster = azure.provider().up(ClusterSpec("fedtest-c2", workers=1))
    assert cluster.metadata["region"] == "northeurope"
    assert azure.arm.groups()["fedtest-c2"]["location"] == "northeurope"
    group_puts = [r.body["location"] for r in azure.arm.calls("PUT", "/resourcegroups/fedtest-c2")
                  if r.path.lower().endswith("/resourcegroups/fedtest-c2")]
    assert group_puts == ["westeurope", "northeurope"]
    group_calls = [(r.method, (r.body or {}).get("location")) for r in azure.arm.requests
                   if r.path.lower().endswith("/resourcegroups/fedtest-c2") and r.method in ("PUT", "DELETE")]
    # The westeurope group is deleted (and awaited) before the northeurope one is made.
    assert group_calls == [("PUT", "westeurope"), ("DELETE", None), ("PUT", "northeurope")]
    assert set(TAGS) <= set(azure.arm.groups()["fedtest-c2"]["tags"])


def test_quota_error_in_every_region_is_one_line_and_leaves_nothing(azure: AzureWorld):
    azure.arm.capacity.update(westeurope="QuotaExceeded", northeurope="SkuNotAvailable")
    with pytest.raises(CapacityError) as err:
        azure.provider().up(ClusterSpec("fedtest-c3", workers=1))
    text = _one_line(err.value)
    assert "westeurope" in text and "northeurope" in text and "OperationNotAllowed" in text
    assert azure.arm.groups() == {}


def test_unknown_region_is_one_line(azure: AzureWorld):
    with pytest.raises(ConfigError) as err:
        azure.provider(regions="marsnorth").up(ClusterSpec("fedtest-c4"))
    assert "marsnorth" in _one_line(err.value) and "LocationNotAvailableForResourceGroup" in str(err.value)
    assert azure.arm.groups() == {}


@pytest.mark.parametrize("cidr", ["10.0.0.300/32", "10.0.0.1/8", "everyone", ""])
def test_bad_or_missing_cidr_is_one_line_before_any_request(azure: AzureWorld, cidr: str):
    with pytest.raises(ConfigError) as err:
        azure.provider(api_cidr=cidr).plan(1)
    assert "api_cidr" in _one_line(err.value)
    assert azure.arm.requests == []


def test_no_subscription_is_one_line(azure: AzureWorld, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("AZURE_SUBSCRIPTION_ID")
    with pytest.raises(ConfigError) as err:
        azure.provider().plan(1)
    assert "AZURE_SUBSCRIPTION_ID" in _one_line(err.value)


def test_no_credentials_is_one_line(azure: AzureWorld, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("IDENTITY_ENDPOINT")
    monkeypatch.delenv("IDENTITY_HEADER")
    with pytest.raises(AuthError) as err:
        azure.provider().up(ClusterSpec("fedtest-c5"))
    assert "no Azure credentials" in _one_line(err.value) and "az login" in str(err.value)
    assert azure.arm.requests == []  # nothing reached ARM without a token


def _seed(arm: FakeArm, now: dt.datetime) -> None:
    def tags(run: str, expires: str) -> dict[str, str]:
        return {"fedtest-run": run, "fedtest-owner": "ci", "fedtest-created": "2026-11-01T00:00:00Z",
                "fedtest-expires": expires}

    arm.add_group("fedtest-old-1", tags=tags("old", (now - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")))
    arm.add_group("fedtest-old-2", "northeurope", tags("old", "2026-01-01T00:00:00Z"))
    arm.add_group("fedtest-live", tags=tags("live", (now + dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")))
    arm.add_group("fedtest-garbled", tags=tags("odd", "next tuesday"))
    arm.add_group("someone-elses", tags={"team": "x"})
    arm.add_group("untagged")


def test_janitor_deletes_only_expired_groups(azure: AzureWorld):
    now = dt.datetime.now(dt.UTC)
    _seed(azure.arm, now)
    provider = azure.provider()
    assert len(provider.sweep(now, dry_run=True)) == 2
    assert azure.arm.calls("DELETE", "/resourcegroups/") == []
    swept = provider.sweep(now)
    assert [s.split()[2] for s in swept] == ["fedtest-old-1", "fedtest-old-2"]
    assert sorted(azure.arm.groups()) == ["fedtest-garbled", "fedtest-live", "someone-elses", "untagged"]
    assert provider.sweep(now) == []


def test_janitor_cli(azure: AzureWorld, capsys: pytest.CaptureFixture[str]):
    _seed(azure.arm, dt.datetime.now(dt.UTC))
    opts = [f"--provider-opt={k}={v}" for k, v in azure.base_opts.items() if k in ("arm_endpoint", "poll_seconds")]
    assert cli.main(["janitor", "--provider", "azure", "--dry-run", *opts]) == 0
    out = capsys.readouterr().out
    assert "would delete: resource group fedtest-old-1" in out and "fedtest-live" not in out
    assert len(azure.arm.groups()) == 6
    assert cli.main(["janitor", "--provider", "azure", *opts]) == 0
    assert "deleted: resource group fedtest-old-2" in capsys.readouterr().out
    assert len(azure.arm.groups()) == 4


def test_janitor_cli_without_credentials_prints_one_line(azure: AzureWorld, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]):
    monkeypatch.delenv("IDENTITY_ENDPOINT")
    code = cli.main(["janitor", "--provider", "azure", f"--provider-opt=arm_endpoint={azure.arm.url}"])
    err = capsys.readouterr().err
    assert code != 0 and err.startswith("fedtest: error: no Azure credentials") and err.count("\n") == 1


def test_fake_arm_rejects_bodies_real_arm_would(azure: AzureWorld):
    """The stand-in is strict: a snake_case dict (what the SDK sends verbatim) gets ARM's 400."""
    azure.arm.add_group("shapes")
    clients = arm.clients(settings.parse({"arm_endpoint": azure.arm.url, "poll_seconds": "0"}, for_bring_up=False))
    try:
        with pytest.raises(HttpResponseError) as err:
            clients.network.public_ip_addresses.begin_create_or_update(
                "shapes", "ip", {"location": "westeurope", "public_ip_allocation_method": "Static"}).result()
        assert err.value.status_code == 400 and arm.error_code(err.value) == "InvalidRequestContent"
    finally:
        clients.close()


def test_bad_kubernetes_version_fails_before_any_resource(azure: AzureWorld):
    with pytest.raises(ConfigError) as err:
        azure.provider().up(ClusterSpec("fedtest-c6", k8s_version="latest"))
    assert "--k8s-version" in _one_line(err.value)
    assert azure.arm.requests == []
