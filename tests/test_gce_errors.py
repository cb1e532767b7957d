"""Every bad input to the gce provider is one line naming the problem and the fix, before anything is made."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from providers.base import AuthError, ClusterSpec, ConfigError, ProviderError, ProviderOptions
from providers.gce import GCEProvider
from providers.gce.settings import Settings
from tests.standins.gce_world import GCEWorld

ROOT = Path(__file__).resolve().parent.parent
NAME = "fedtest-abc123-1"


@pytest.fixture
def no_google_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No project, no ADC file, no metadata server lookup: nothing may leave this machine."""
    for var in ("GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT", "GOOGLE_APPLICATION_CREDENTIALS",
                "GCLOUD_PROJECT", "GOOGLE_CLOUD_QUOTA_PROJECT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("NO_GCE_CHECK", "True")
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")


@pytest.fixture
def world(tmp_path: Path):
    with GCEWorld.run(tmp_path / "work") as w:
        yield w


def _options(tmp_path: Path, **extra: str) -> ProviderOptions:
    return ProviderOptions(work_dir=tmp_path, run_id="r1", extra=extra, deadline_seconds=5)


def _one_line(err: pytest.ExceptionInfo[ProviderError], *fragments: str) -> str:
    message = str(err.value)
    assert "\n" not in message and len(message) < 300, message
    for fragment in fragments:
        assert fragment in message, message
    return message


def _spec() -> ClusterSpec:
    return ClusterSpec(NAME)


def test_no_project(no_google_env: None, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        GCEProvider(_options(tmp_path, api_cidr="10.0.0.0/8")).up(_spec())
    _one_line(err, "no GCE project", "GOOGLE_CLOUD_PROJECT", "--provider-opt project=")


def test_project_from_the_environment(no_google_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CLOUDSDK_CORE_PROJECT", "from-gcloud")
    assert Settings.from_options(_options(tmp_path, api_cidr="10.0.0.0/8")).project == "from-gcloud"
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "from-env")
    assert Settings.from_options(_options(tmp_path, api_cidr="10.0.0.0/8")).project == "from-env"
    assert Settings.from_options(_options(tmp_path, api_cidr="10.0.0.0/8", project="opt")).project == "opt"


def test_no_credentials(no_google_env: None, tmp_path: Path) -> None:
    with pytest.raises(AuthError) as err:
        GCEProvider(_options(tmp_path, project="p", api_cidr="10.0.0.0/8")).up(_spec())
    _one_line(err, "no Google Cloud credentials found", "gcloud auth application-default login")


def test_unreadable_credentials_file(no_google_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key = tmp_path / "key.json"
    key.write_text("{}")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    with pytest.raises(AuthError) as err:
        GCEProvider(_options(tmp_path, project="p", api_cidr="10.0.0.0/8")).up(_spec())
    _one_line(err, "Google Cloud credentials are unusable (The file", "does not have a valid type",
              "GOOGLE_APPLICATION_CREDENTIALS")


def test_a_remote_endpoint_still_needs_credentials(no_google_env: None, tmp_path: Path) -> None:
    """Anonymous access is for loopback emulators only."""
    opts = _options(tmp_path, project="p", api_cidr="10.0.0.0/8", api_endpoint="https://compute.example.test")
    assert not Settings.from_options(opts).emulator
    with pytest.raises(AuthError):
        GCEProvider(opts).up(_spec())


def test_unknown_zone_fails_before_anything_is_made(world: GCEWorld) -> None:
    with pytest.raises(ConfigError) as err:
        world.provider(zones="europe-west1-b,mars-north1-a").up(_spec())
    _one_line(err, "zone mars-north1-a does not exist in project fedtest-proj", "gcloud compute zones list")
    assert world.fake.calls("POST", "") == []


@pytest.mark.parametrize("option, value, fragments", [
    ("api_cidr", "10.0.0.300/8", ("api_cidr=10.0.0.300/8 is not a CIDR", "203.0.113.0/24")),
    ("api_cidr", "10.0.0.1/8", ("has host bits set",)),
    ("api_cidr", "everyone", ("is not a CIDR",)),
    ("api_cidr", "", ("no CIDR may reach the cluster API port", "--provider-opt api_cidr=")),
    ("zones", "europe west", ("is not a list of GCE zones", "zones=europe-west1-b,europe-west4-a")),
    ("zones", ",", ("is not a list of GCE zones",)),
    ("machine_type", "E2 Standard", ("is not a machine type",)),
    ("api_port", "0", ("api_port=0 is not a number from 1 to 65535",)),
    ("disk_gb", "lots", ("disk_gb=lots is not a number",)),
    ("api_endpoint", "ftp://x", ("is not an http(s) URL",)),
    ("regoin", "x", ("unknown gce option 'regoin'", "api_cidr")),
])
def test_bad_options(world: GCEWorld, option: str, value: str, fragments: tuple[str, ...]) -> None:
    with pytest.raises(ConfigError) as err:
        world.provider(**{option: value}).up(_spec())
    _one_line(err, *fragments)
    assert world.fake.requests == []


def test_permission_denied_is_one_line(world: GCEWorld) -> None:
    world.fake.reject("POST", "/global/networks", 403, "forbidden",
                      "Required 'compute.networks.create' permission for 'projects/fedtest-proj'")
    with pytest.raises(AuthError) as err:
        world.provider().up(_spec())
    _one_line(err, "GCE refused to create network", "HTTP 403", "Compute Admin")


def test_quota_refused_at_once_moves_to_the_next_zone(world: GCEWorld) -> None:
    world.fake.reject("POST", "/regions/europe-west1/addresses", 403, "quotaExceeded",
                      "Quota 'STATIC_ADDRESSES' exceeded. Limit: 0.0 in region europe-west1.")
    cluster = world.provider().up(_spec())
    assert cluster.metadata["zone"] == "europe-west4-a"
    assert [r for r in world.fake.all_resources() if "europe-west1" in r[1]["selfLink"]] == []


def test_cli_prints_one_line_and_exits_nonzero(no_google_env: None, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "providers", "up", "--provider", "gce", "--provider-opt", "project=p",
         "--provider-opt", "api_cidr=nonsense", "--artifacts", str(tmp_path / "artifacts"),
         "--work-dir", str(tmp_path / "work")],
        capture_output=True, text=True, env=env, timeout=120, cwd=ROOT)
    assert done.returncode == 2
    assert done.stderr.startswith("fedtest: error: --provider-opt api_cidr=nonsense is not a CIDR")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_unreachable_endpoint_is_one_line(tmp_path: Path) -> None:
    with GCEWorld.run(tmp_path / "work") as world:
        closed = world.fake.url  # the fake stops at the end of the block: nothing listens there after
    provider = GCEProvider(_options(tmp_path, project="p", api_cidr="10.0.0.0/8", api_endpoint=closed))
    with pytest.raises(ProviderError) as err:
        provider.up(_spec())
    _one_line(err, "compute API unreachable while trying to look up zone europe-west1-b", "api_endpoint")


@pytest.mark.parametrize("name", ["Prod_Cluster", "x" * 51, "1cluster"])
def test_cluster_names_gce_cannot_use(world: GCEWorld, name: str) -> None:
    with pytest.raises(ConfigError) as err:
        world.provider().up(ClusterSpec(name))
    _one_line(err, "cannot name GCE resources")
    assert world.fake.requests == []


def test_bad_kubernetes_version_fails_before_any_resource(world: GCEWorld) -> None:
    with pytest.raises(ConfigError) as err:
        world.provider().up(ClusterSpec(NAME, k8s_version="latest"))
    _one_line(err, "--k8s-version")
    assert world.fake.calls("POST", "") == []
