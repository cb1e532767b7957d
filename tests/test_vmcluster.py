"""The VM-cluster base and its tag model, as both clouds see them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from providers.base import ClusterSpec, ClusterUnreachable
from providers.bootstrap import tags
from tests.standins.gce_world import GCEWorld

NAME = "fedtest-abc123-1"
MOMENTS = st.datetimes(min_value=dt.datetime(2001, 1, 1), max_value=dt.datetime(2200, 1, 1),
                       timezones=st.just(dt.UTC)).map(lambda m: m.replace(microsecond=0))


@pytest.mark.parametrize("encoding", [tags.AZURE, tags.GCE], ids=["azure", "gce"])
@given(created=MOMENTS, hours=st.integers(-48, 48))
def test_one_reader_for_both_time_spellings(encoding: tags.Encoding, created: dt.datetime, hours: int) -> None:
    written = encoding.for_cluster("20261122-030000-ABC", "Alice Smith", NAME, created, dt.timedelta(hours=hours))
    expires = created + dt.timedelta(hours=hours)
    assert tags.moment(written[tags.CREATED]) == created and tags.moment(written[tags.EXPIRES]) == expires
    assert tags.expired(written, expires) and not tags.expired(written, expires - dt.timedelta(seconds=1))


@pytest.mark.parametrize("value", ["", "tomorrow", "2026-11-22T03:00:00", "12.5", "-1"])
def test_an_expiry_that_cannot_be_read_is_never_expired(value: str) -> None:
    assert tags.moment(value) is None
    assert not tags.expired({tags.EXPIRES: value}, dt.datetime(2999, 1, 1, tzinfo=dt.UTC))


def test_gce_values_are_label_safe_and_azure_values_verbatim() -> None:
    now = dt.datetime(2026, 11, 22, 3, 0, tzinfo=dt.UTC)
    gce = tags.GCE.for_cluster("20261122-030000-ABC", "Alice Smith", NAME, now, dt.timedelta(hours=6))
    azure = tags.AZURE.for_cluster("20261122-030000-ABC", "Alice Smith", NAME, now, dt.timedelta(hours=6))
    assert gce[tags.RUN] == "20261122-030000-abc" and gce[tags.OWNER] == "alice_smith"
    assert gce[tags.EXPIRES] == str(int(dt.datetime(2026, 11, 22, 9, 0, tzinfo=dt.UTC).timestamp()))
    assert azure[tags.OWNER] == "Alice Smith" and azure[tags.EXPIRES] == "2026-11-22T09:00:00Z"


def test_gce_down_removes_the_cluster_pki_too(tmp_path: Path) -> None:
    with GCEWorld.run(tmp_path / "work") as world:
        provider = world.provider()
        cluster = provider.up(ClusterSpec(NAME, workers=0))
        assert (world.work_dir / NAME / "pki" / "ca.key").is_file()
        provider.down(cluster)
        assert not (world.work_dir / NAME / "pki").exists()


def test_is_up_raises_when_the_cloud_cannot_be_asked(tmp_path: Path) -> None:
    """"Cannot tell" is not "down": a janitor or status must not read an outage as a deleted cluster."""
    with GCEWorld.run(tmp_path / "work") as world:
        cluster = world.provider().up(ClusterSpec(NAME, workers=0))
    with pytest.raises(ClusterUnreachable) as err:  # the fake compute API has stopped: nothing listens
        world.provider().is_up(cluster)
    assert "compute API unreachable" in str(err.value) and "\n" not in str(err.value)
