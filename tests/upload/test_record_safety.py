"""What reaches the results folder: no secret in any file or metadata, whatever the bytes around it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.upload.emulator import METADATA
from upload.errors import SinkError
from upload.record import BuildRecord
from upload.sinks import LocalSink

SECRET = "Qz8~sEcReT-value-123"
ENV = {"AZURE_CLIENT_SECRET": SECRET, "DB_PASSWORD": "pässwört-lätin"}


def everything(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


def publish(tmp_path: Path, artifacts: Path, log: Path | None, **kwargs) -> tuple[Path, object]:
    results = tmp_path / "results"
    record = BuildRecord.open(str(results), job="j", build_id="5", env=ENV, log=lambda _: None)
    report = record.finish("SUCCESS", artifacts_dir=artifacts, build_log=log, **kwargs)
    return results, report


def test_one_bad_byte_in_the_log_does_not_publish_its_secrets(tmp_path, sample_run):
    artifacts, log = sample_run
    log.write_bytes(
        b"\xff start\nAuthorization: Bearer eyJhbGciOiJSUzI1NiJ9.payload.sig\n"
        b"    client-key-data: LS0tLS1CRUdJTiBSU0E=\n"
        + f"export AZURE_CLIENT_SECRET={SECRET}\n".encode()
        + b"-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\n"
    )
    results, report = publish(tmp_path, artifacts, log, metadata=METADATA)
    published = everything(results)
    for secret in (b"eyJhbGciOiJSUzI1NiJ9", b"LS0tLS1CRUdJTiBSU0E=", SECRET.encode(), b"MIIEpAIBAAKCAQEA"):
        assert secret not in published, secret
    finished = json.loads((results / "logs/j/5/finished.json").read_text())
    assert int(finished["metadata"]["redacted-values"]) >= 4 == report.scrub.redacted


def test_nul_and_latin1_artifacts_are_scrubbed(tmp_path, sample_run):
    artifacts, log = sample_run
    (artifacts / "core.bin").write_bytes(b"\x00\x00" + SECRET.encode() + b"\x00")
    (artifacts / "db.txt").write_bytes("état: pässwört-lätin\n".encode("latin-1"))
    results, _report = publish(tmp_path, artifacts, log, metadata=METADATA)
    published = everything(results)
    assert SECRET.encode() not in published and "pässwört-lätin".encode("latin-1") not in published
    assert (results / "logs/j/5/artifacts/core.bin").read_bytes() == b"\x00\x00[REDACTED]\x00"


def test_metadata_values_are_scrubbed(tmp_path, sample_run):
    artifacts, log = sample_run
    metadata = {**METADATA, "note": f"deployed with {SECRET}", "auth": "Bearer abcdefgh12345678"}
    results, report = publish(tmp_path, artifacts, log, metadata=metadata)
    finished = (results / "logs/j/5/finished.json").read_text()
    assert SECRET not in finished and "abcdefgh12345678" not in finished
    meta = json.loads(finished)["metadata"]
    assert meta["note"] == "deployed with [REDACTED]" and meta["job-version"] == METADATA["job-version"]
    assert report.scrub.redacted >= 2


def test_a_binary_document_is_one_line_not_a_crash(tmp_path):
    (tmp_path / "logs/j/3").mkdir(parents=True)
    (tmp_path / "logs/j/3/finished.json").write_bytes(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(SinkError, match=r"finished\.json is not UTF-8 text"):
        LocalSink(tmp_path).read_text("logs/j/3/finished.json")


def test_a_secret_looking_metadata_key_makes_its_value_a_known_secret(tmp_path, sample_run):
    artifacts, log = sample_run
    log.write_text("deploying with metadata-secret-1\n")
    (artifacts / "notes.txt").write_text("metadata-secret-1\n")
    results, _report = publish(tmp_path, artifacts, log, metadata={**METADATA, "api-token": "metadata-secret-1"})
    assert b"metadata-secret-1" not in everything(results)
    assert json.loads((results / "logs/j/5/finished.json").read_text())["metadata"]["api-token"] == "[REDACTED]"
