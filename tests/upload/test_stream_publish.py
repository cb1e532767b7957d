"""Publishing streams each artifact: from the descriptor its checks passed on, through the scrubber, into the
sink, so memory stays bounded however large the file is."""

from __future__ import annotations

import os
import tracemalloc

from upload import files
from upload.publish import Uploader
from upload.scrub import REDACTED, Scrubber
from upload.sinks import LocalSink

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
