"""The gce janitor: sweep deletes only what carries an expired fedtest-expires; leaks(run_id) lists a run's rest."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from providers.base import AuthError, ClusterSpec
from providers.gce import labels as lbl
from tests.standins.gce_world import GCEWorld

EXPIRED_RUN, LIVE_RUN = "20261121-010000-aaaaaa", "20261122-030000-bbbbbb"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def world(tmp_path: Path):
    """One expired cluster, one live cluster, and resources fedtest did not make (or mislabelled)."""
    with GCEWorld.run(tmp_path / "work") as w:
        w.provider(run_id=EXPIRED_RUN, ttl=dt.timedelta(hours=-1)).up(ClusterSpec("fedtest-old-1", workers=0))
        w.provider(run_id=LIVE_RUN).up(ClusterSpec("fedtest-new-1", workers=0))
        with w.fake.lock:
            w.fake.networks["someone-elses-net"] = {"name": "someone-elses-net", "description": "prod"}
            w.fake.instances[("europe-west1-b", "unlabelled-vm")] = {
                "name": "unlabelled-vm", "labels": {}, "networkInterfaces": [], "selfLink": "x"}
            w.fake.instances[("europe-west1-b", "garbled-expiry")] = {
                "name": "garbled-expiry", "labels": {lbl.EXPIRES: "tomorrow"}, "networkInterfaces": [],
                "selfLink": "y"}
        yield w


def _names(world: GCEWorld) -> set[str]:
    return {r["name"] for _kind, r in world.fake.all_resources()}


def test_sweep_deletes_only_expired_resources(world: GCEWorld) -> None:
    before = _names(world)
    swept = world.provider().sweep(dt.datetime.now(dt.UTC))

    old = {n for n in before if n.startswith("fedtest-old-1")}
    assert len(old) == 5  # network, 2 firewalls, address, control plane
    assert {s.rsplit("/", 1)[1] for s in swept} == old
    assert _names(world) == before - old
    assert {"someone-elses-net", "unlabelled-vm", "garbled-expiry"} <= _names(world)
    assert world.provider().leaks(EXPIRED_RUN) == []
    assert len(world.provider().leaks(LIVE_RUN)) == 5


def test_dry_run_lists_and_deletes_nothing(world: GCEWorld) -> None:
    before = _names(world)
    listed = world.provider().sweep(dt.datetime.now(dt.UTC), dry_run=True)
    assert len(listed) == 5 and all("fedtest-old-1" in item for item in listed)
    assert _names(world) == before
    assert world.fake.calls("DELETE", "") == []


def test_a_later_now_expires_the_live_run_too(world: GCEWorld) -> None:
    swept = world.provider().sweep(dt.datetime.now(dt.UTC) + dt.timedelta(hours=7))
    assert len(swept) == 10
    assert _names(world) == {"someone-elses-net", "unlabelled-vm", "garbled-expiry"}


def test_janitor_cli_sweeps_gce(world: GCEWorld) -> None:
    opts = [f"--provider-opt={k}={v}" for k, v in world.extra(api_cidr="").items()]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "providers", "janitor", "--provider", "gce", *opts],
                          capture_output=True, text=True, env=env, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "gce janitor: 5 expired items deleted" in done.stdout
    assert not any(n.startswith("fedtest-old-1") for n in _names(world))
    assert any(n.startswith("fedtest-new-1") for n in _names(world))


def test_one_failed_delete_does_not_stop_the_sweep(world: GCEWorld) -> None:
    world.fake.reject("DELETE", "/global/firewalls/fedtest-old-1-api", 403, "forbidden", "Required permission")
    with pytest.raises(AuthError) as err:
        world.provider().sweep(dt.datetime.now(dt.UTC))
    assert "delete firewall global/fedtest-old-1-api" in str(err.value) and "\n" not in str(err.value)
    left = {n for n in _names(world) if n.startswith("fedtest-old-1")}
    assert left == {"fedtest-old-1-api", "fedtest-old-1-net"}  # the rule, and the network it still uses
