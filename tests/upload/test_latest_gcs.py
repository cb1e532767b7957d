"""latest-build.txt on fake-gcs-server: a broken one is named with its recovery, and reset-latest repairs it."""

from __future__ import annotations

import pytest

from tests.upload.emulator import BUCKET, gcs_sink
from upload.errors import UploadError
from upload.latest import read_latest
from upload.record import BuildRecord, ResultsTarget
from upload.recovery import reset_latest

TARGET = ResultsTarget("gs", BUCKET, "logs/j")
LATEST = "logs/j/latest-build.txt"


def finish(sink, build: str) -> None:
    BuildRecord.open(TARGET, build_id=build, env={}, sink=sink, log=lambda _: None).finish("FAILURE")


@pytest.mark.parametrize("data", [b"\x89PNG\r\n\x1a\n\x00", b"9" * 5000, b"18446744073709551615\n"])
def test_broken_latest_in_a_bucket(fake_gcs, data):
    sink = gcs_sink(fake_gcs)
    for build in ("7", "8"):
        finish(sink, build)
    sink.bucket.blob(LATEST).upload_from_string(data)
    with pytest.raises(UploadError) as caught:
        BuildRecord.open(TARGET, build_id="10", env={}, sink=sink, log=lambda _: None)
    assert f"gs://{BUCKET}/{LATEST}" in str(caught.value)
    assert f"fedtest reset-latest --results gs://{BUCKET}/logs/j" in str(caught.value)
    said = reset_latest(TARGET, sink)
    assert "set to 8" in said
    assert read_latest(sink, LATEST, "") == "8"
    finish(sink, "10")
    assert read_latest(sink, LATEST, "") == "10"


def test_empty_and_missing_latest_in_a_bucket(fake_gcs):
    sink = gcs_sink(fake_gcs)
    assert read_latest(sink, LATEST, "") is None
    sink.bucket.blob(LATEST).upload_from_string(b"")
    assert read_latest(sink, LATEST, "") is None
    assert "no complete build" in reset_latest(TARGET, sink)
    assert read_latest(sink, LATEST, "") is None and sink.bucket.get_blob(LATEST) is None
