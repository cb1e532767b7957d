"""Publishing streams each artifact: from the descriptor its checks passed on, through the scrubber, into the
sink, so memory stays bounded however large the file is."""

from __future__ import annotations

import os
import tracemalloc

import pytest

from tests.upload.emulator import BUCKET, gcs_sink
from upload import files
from upload.publish import Uploader
from upload.scrub import REDACTED, Scrubber
from upload.sinks import LocalSink, ObjectExists

SECRET = "Qv7-stream-secret-90210"
LINE = f"step ok: token={SECRET} and more text to fill the line\n".encode()
BIG = 64 << 20


def planned(root, name) -> files.Planned:
    return files.Planned(root, (name,), files.Identity.of(os.lstat(root / name)))


def test_a_large_artifact_is_published_in_bounded_memory_with_its_secrets_redacted(tmp_path):
    artifacts, results = tmp_path / "artifacts", tmp_path / "results"
    artifacts.mkdir()
    block = LINE * ((1 << 20) // len(LINE))
    with open(artifacts / "big.log", "wb") as out:
        while out.tell() < BIG:
            out.write(block)
    lines = (artifacts / "big.log").stat().st_size // len(LINE)
    uploader = Uploader(LocalSink(results), Scrubber({"API_TOKEN": SECRET}), "logs/j/1/build-log.txt",
                        resuming=False, log=lambda line: None)
    tracemalloc.start()
    try:
        uploader.one(("logs/j/1/artifacts/big.log", planned(artifacts, "big.log"), "text/plain"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert uploader.failures == [] and uploader.uploaded == 1
    assert peak < 16 << 20, f"peak {peak >> 20} MiB while publishing a {BIG >> 20} MiB file"
    published = results / "logs/j/1/artifacts/big.log"
    clean = LINE.replace(SECRET.encode(), REDACTED.encode())
    with open(published, "rb") as copy:
        assert all(line == clean for line in copy)
    assert published.stat().st_size == lines * len(clean) and uploader.scrub.redacted == lines


def test_an_artifact_is_read_no_further_than_its_planned_size(tmp_path):
    (tmp_path / "grows.log").write_bytes(b"planned part\n")
    source = planned(tmp_path, "grows.log")
    with open(tmp_path / "grows.log", "ab") as out:
        out.write(b"written after the plan\n")
    uploader = Uploader(LocalSink(tmp_path / "results"), Scrubber({}), "logs/j/1/build-log.txt",
                        resuming=False, log=lambda line: None)
    uploader.one(("logs/j/1/artifacts/grows.log", source, "text/plain"))
    assert (tmp_path / "results/logs/j/1/artifacts/grows.log").read_bytes() == b"planned part\n"


@pytest.mark.parametrize("content_type", ["text/plain", "application/octet-stream"])
def test_a_large_payload_streams_to_the_bucket_whole_and_scrubbed(fake_gcs, content_type):
    """The bucket sink uploads from the payload's file (text gzipped through a temporary file first; past
    8 MiB in 8 MiB pieces): the object is whole and scrubbed."""
    data = LINE * ((12 << 20) // len(LINE))
    with Scrubber({"API_TOKEN": SECRET}).payload(data, "big.log") as payload:
        gcs_sink(fake_gcs).create("logs/j/1/artifacts/big.log", payload, content_type)
    blob = fake_gcs.client().bucket(BUCKET).get_blob("logs/j/1/artifacts/big.log")
    assert blob.content_encoding == ("gzip" if content_type == "text/plain" else None)
    assert blob.download_as_bytes() == data.replace(SECRET.encode(), REDACTED.encode())


def test_a_gzipped_payload_is_still_write_once(fake_gcs):
    data = LINE * ((4 << 20) // len(LINE))
    with Scrubber({"API_TOKEN": SECRET}).payload(data, "big.log") as payload:
        gcs_sink(fake_gcs).create("logs/j/1/artifacts/big.log", payload, "text/plain")
        with pytest.raises(ObjectExists):
            gcs_sink(fake_gcs).create("logs/j/1/artifacts/big.log", payload, "text/plain")
