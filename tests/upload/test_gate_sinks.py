"""One way out: a sink takes only what the scrubber made, so no generated file goes out unscrubbed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.upload.emulator import gcs_sink
from upload import sealed
from upload.junit import CaseResult, write_junit
from upload.record import BuildRecord
from upload.scrub import Scrubber
from upload.sinks import LocalSink

SECRET = "Zx9-gate-secret-4411"
ENV = {"API_TOKEN": SECRET}


def everything(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


def test_a_scrubbed_payload_is_made_by_the_scrubber_only():
    with pytest.raises(TypeError, match="comes only from the scrubber"):
        sealed.Scrubbed(b"raw bytes")
    payload = sealed.scrub_bytes(Scrubber(ENV), f"token {SECRET}\n".encode())
    assert SECRET.encode() not in payload.read() and payload.redacted == 1
    with pytest.raises(AttributeError):
        payload.size = 0  # type: ignore[misc]


@pytest.mark.parametrize("call", ["create", "replace", "update"])
def test_a_folder_sink_refuses_raw_bytes(tmp_path, call):
    sink = LocalSink(tmp_path)
    with pytest.raises(TypeError, match="only Scrubbed payloads"):
        if call == "update":
            sink.update("a/b.txt", lambda current: b"raw", "text/plain")  # type: ignore[arg-type,return-value]
        else:
            getattr(sink, call)("a/b.txt", b"raw", "text/plain")
    assert not (tmp_path / "a" / "b.txt").exists()


def test_a_bucket_sink_refuses_raw_bytes(fake_gcs):
    sink = gcs_sink(fake_gcs)
    for call in (sink.create, sink.replace):
        with pytest.raises(TypeError, match="only Scrubbed payloads"):
            call("a/b.txt", b"raw", "text/plain")
    assert sink.read_text("a/b.txt") is None


def test_a_secret_in_a_test_name_does_not_reach_the_lint_report(tmp_path):
    artifacts = tmp_path / "artifacts"
    name = f"test_login[{SECRET}]"
    write_junit(artifacts / "junit_01.xml", "e2e", [CaseResult(name, "e2e", 1.0)])
    (artifacts / "junit_02.xml").write_bytes(  # pytest's own rerun shape: a finding that quotes the name
        f"<testsuites><testsuite name='pytest'><testcase classname='e2e' name='{name}'/>"
        f"<testcase classname='e2e' name='{name}'/></testsuite></testsuites>".encode())
    results = tmp_path / "results"
    record = BuildRecord.open(str(results), job="j", build_id="1", env=ENV, log=lambda _line: None)
    report = record.finish("SUCCESS", artifacts_dir=artifacts)
    assert any(SECRET in str(f) for f in report.findings)  # lint saw it: the report would have carried it
    lint_report = (results / "logs/j/1/artifacts/fedtest-lint.txt").read_text()
    assert "is repeated with the earlier attempt" in lint_report and "[REDACTED]" in lint_report
    assert SECRET.encode() not in everything(results)


def test_a_secret_in_a_metadata_key_does_not_reach_finished_json(tmp_path):
    results = tmp_path / "results"
    record = BuildRecord.open(str(results), job="j", build_id="1", env=ENV, log=lambda _line: None)
    report = record.finish("SUCCESS", metadata={f"deployed-with-{SECRET}": "yes", "job-version": "v1.31.2"})
    text = (results / "logs/j/1/finished.json").read_text()
    assert SECRET not in text
    meta = json.loads(text)["metadata"]
    assert meta["deployed-with-[REDACTED]"] == "yes" and meta["job-version"] == "v1.31.2"
    assert report.scrub.redacted >= 1


def test_started_json_is_scrubbed(tmp_path):
    results = tmp_path / "results"
    BuildRecord.open(str(results), job="j", build_id="1", env=ENV, node=f"agent-{SECRET}", log=lambda _line: None)
    text = (results / "logs/j/1/started.json").read_text()
    assert SECRET not in text and json.loads(text)["node"] == "agent-[REDACTED]"
