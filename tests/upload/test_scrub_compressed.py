"""Compressed or archived content is found by its bytes anywhere in a file and refused; text is not."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
import zipfile
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import ROOT
from upload.compressed import find_opaque
from upload.record import BuildRecord
from upload.scrub import OpaqueContent, Scrubber

SECRET = b"token: abcdefgh1234 and more text to compress " * 8
PREFIX = b"#!/bin/sh\n# a self-extracting archive: a script, then the archive\nexit 0\n"


def _zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("secret.txt", SECRET)
    return out.getvalue()


def _tar(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _zstd_frame(data: bytes) -> bytes:
    """A zstd frame with one raw block (RFC 8878: single segment, one-byte content size)."""
    assert len(data) < 256
    return b"\x28\xb5\x2f\xfd" + b"\x20" + bytes([len(data)]) + ((len(data) << 3) | 1).to_bytes(3, "little") + data


def _deflate(data: bytes, window_bits: int) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, window_bits)
    return compressor.compress(data) + compressor.flush()


CONTENT = {
    "zip-self-extracting": (PREFIX + _zip(), "zip", len(PREFIX)),
    "zip-central-directory-only": (b"log\n" + _zip()[-60:], "zip", None),
    "gzip": (PREFIX + gzip.compress(SECRET, mtime=0), "gzip", len(PREFIX)),
    "zlib": (PREFIX + zlib.compress(SECRET), "zlib", len(PREFIX)),
    "zlib-small-window": (PREFIX + _deflate(SECRET, window_bits=9), "zlib", len(PREFIX)),
    "xz": (PREFIX + lzma.compress(SECRET), "xz", len(PREFIX)),
    "lzma-alone": (PREFIX + lzma.compress(SECRET, format=lzma.FORMAT_ALONE), "lzma", len(PREFIX)),
    "bzip2": (PREFIX + bz2.compress(SECRET), "bzip2", len(PREFIX)),
    "zstd": (PREFIX + _zstd_frame(SECRET[:200]), "zstd", len(PREFIX)),
    "7z": (PREFIX + b"7z\xbc\xaf\x27\x1c\x00\x04" + bytes(24), "7z", len(PREFIX)),
    "tar": (PREFIX + _tar({"notes.txt": SECRET}), "tar", len(PREFIX)),
    "gzip-inside-uncompressed-tar": (_tar({"a.gz": gzip.compress(SECRET, mtime=0)}), "tar", 0),
}


@pytest.mark.parametrize("name", list(CONTENT))
def test_compressed_content_anywhere_in_a_file_is_refused(name):
    data, kind, offset = CONTENT[name]
    with pytest.raises(OpaqueContent) as refused:
        Scrubber({}).payload(data + b"\ntrailing text\n", "dump.bin")
    assert refused.value.kind == kind and (offset is None or refused.value.offset == offset)
    assert "cannot be scrubbed" in str(refused.value) and "uncompressed" in str(refused.value)


def test_gzip_inside_a_tar_is_found_on_its_own():
    member = gzip.compress(SECRET, mtime=0)
    tar = _tar({"a.gz": member})
    found = find_opaque(tar, start=300)  # past the tar header's magic: the gzip member is still found
    assert found is not None and found.kind == "gzip" and tar[found.offset :].startswith(member)


@pytest.mark.parametrize("name", ["zip-self-extracting", "zlib", "tar"])
def test_a_signature_across_chunks_is_found(name):
    data, kind, _offset = CONTENT[name]
    stream = Scrubber({}).stream("x", window=0)
    with pytest.raises(OpaqueContent) as refused:
        for i in range(0, len(data), 3):
            stream.feed(data[i : i + 3])
        stream.close()
    assert refused.value.kind == kind


def test_publishing_refuses_the_file_with_a_finding(tmp_path, sample_run):
    artifacts, log = sample_run
    data, _kind, _offset = CONTENT["zlib"]
    (artifacts / "notes.log").write_bytes(b"plain text first\n" + data)
    results = tmp_path / "results"
    record = BuildRecord.open(str(results), job="e2e", build_id="7", env={}, log=lambda _line: None)
    report = record.finish("SUCCESS", artifacts_dir=artifacts, build_log=log)
    build = results / "logs/e2e/7"
    assert not (build / "artifacts/notes.log").exists() and (build / "artifacts/junit_01.xml").exists()
    assert any("zlib data at byte" in f.problem and "notes.log" in f.where for f in report.findings)
    assert report.result == "FAILURE"


def test_text_logs_and_this_project_s_own_files_are_not_refused():
    """Text full of the weak signatures (x^, (S, 8O, HK, XG, hC, ]\\0\\0 aside) is scrubbed, not refused."""
    scrubber = Scrubber({})
    sources = sorted(p for p in ROOT.rglob("*") if p.suffix in {".py", ".md", ".txt", ".ini", ".toml", ".yaml"}
                     and ".tox" not in p.parts and ".git" not in p.parts)
    assert len(sources) > 50
    for path in sources:
        scrubber.payload(Path(path), str(path)).close()
    weak = b"x^2 + (Sum) 8O HK XG hC x^x^ (S(S " * 2000 + "ÿ x\xda café Ü\n".encode("latin-1") * 100
    scrubber.payload(weak, "weak.log").close()


@settings(max_examples=300, deadline=None)
@given(text=st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=3000))
def test_any_utf8_text_is_never_refused(text):
    Scrubber({}).payload(text.encode(), "any.txt").close()


@settings(max_examples=200, deadline=None)
@given(text=st.binary(max_size=200).map(lambda b: b.decode("latin-1")).map(lambda t: t.encode("utf-8")))
def test_latin1_text_reencoded_is_never_refused(text):
    Scrubber({}).payload(text, "any.txt").close()


def test_a_document_that_must_be_written_is_scrubbed_without_refusal():
    data, _kind, _offset = CONTENT["zlib"]
    document = b'{"metadata": {"note": "' + data + b'", "token": "abcdefgh1234"}}'
    with Scrubber({}).payload(document, "finished.json", refuse_opaque=False) as payload:
        assert b"abcdefgh1234" not in payload.read() and payload.redacted == 1
