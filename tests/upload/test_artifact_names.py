"""Artifacts stay inside their folder, and object names map one-to-one from file names."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from upload.layout import BuildLocation
from upload.lint import lint_path, plan_artifacts
from upload.names import artifact_name
from upload.record import BuildRecord

GOOD = b"<testsuites><testsuite name='s'><testcase name='a'/></testsuite></testsuites>"


def folder(tmp_path: Path, files: dict[str, bytes]) -> Path:
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "junit_01.xml").write_bytes(GOOD)
    for name, data in files.items():
        path = artifacts / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return artifacts


def publish(tmp_path: Path, artifacts: Path) -> tuple[Path, object]:
    results = tmp_path / "results"
    record = BuildRecord.open(str(results), job="j", build_id="1", env={}, log=lambda _: None)
    report = record.finish("SUCCESS", artifacts_dir=artifacts)
    return results / "logs/j/1", report


def findings_text(findings) -> str:
    return " | ".join(str(f) for f in findings)


def test_a_symlink_out_of_the_folder_is_never_followed(tmp_path):
    host = tmp_path / "host-secret.txt"
    host.write_text("host file content\n")
    artifacts = folder(tmp_path, {})
    (artifacts / "hostname").symlink_to(host)
    (artifacts / "etc").symlink_to(tmp_path, target_is_directory=True)
    build, report = publish(tmp_path, artifacts)
    assert not (build / "artifacts/hostname").exists() and not (build / "artifacts/etc").exists()
    text = findings_text(report.findings)
    assert f"artifacts/hostname: symlink to {host}: not followed, not uploaded" in text
    assert "artifacts/etc: symlink to" in text
    assert report.result == "FAILURE" and (build / "finished.json").exists()
    assert "hostname: symlink to" in findings_text(lint_path(artifacts))  # lint no longer says ok


def test_links_inside_the_folder_are_not_followed_either(tmp_path):
    """A link inside can be swapped for one outside between planning and reading: no link is ever followed."""
    artifacts = folder(tmp_path, {"c1/events.txt": b"event\n"})
    (artifacts / "latest-events.txt").symlink_to("c1/events.txt")
    (artifacts / "current").symlink_to("c1", target_is_directory=True)
    (artifacts / "gone.txt").symlink_to("c1/never-written.txt")
    files, findings = plan_artifacts(artifacts)
    assert [name for name, _ in files] == ["c1/events.txt", "junit_01.xml"]
    text = findings_text(findings)
    for name, target in (("current", "c1"), ("gone.txt", "c1/never-written.txt"),
                         ("latest-events.txt", "c1/events.txt")):
        assert f"artifacts/{name}: symlink to {target}: not followed, not uploaded" in text
    build, _report = publish(tmp_path, artifacts)
    assert (build / "artifacts/c1/events.txt").read_bytes() == b"event\n"
    assert not (build / "artifacts/current").exists() and not (build / "artifacts/latest-events.txt").exists()


def test_a_fifo_cannot_block_the_upload(tmp_path):
    artifacts = folder(tmp_path, {})
    os.mkfifo(artifacts / "junit_pipe.xml")
    build, report = publish(tmp_path, artifacts)
    assert "artifacts/junit_pipe.xml: a FIFO, not a regular file" in findings_text(report.findings)
    assert json.loads((build / "finished.json").read_text())["result"] == "FAILURE"


def test_a_backslash_name_cannot_take_the_real_files_object(tmp_path):
    artifacts = folder(tmp_path, {"a/b.txt": b"the real artifact\n", "a\\b.txt": b"impostor\n"})
    build, report = publish(tmp_path, artifacts)
    assert (build / "artifacts/a/b.txt").read_bytes() == b"the real artifact\n"
    assert "artifacts/a\\b.txt: its name holds a backslash" in findings_text(report.findings)
    assert not report.upload_failures


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("..\\..\\x", "backslash"),
        ("line\nbreak.txt", "control or line-break"),
        ("carriage\r.txt", "control or line-break"),
        (os.fsdecode(b"caf\xe9.txt"), "not UTF-8"),
        ("/".join(["d" * 200] * 4), "over 768 bytes"),
        ("fedtest-lint.txt", "kept for fedtest's lint report"),
        ("fedtest-lint.txt/inner.txt", "kept for fedtest's lint report"),
    ],
)
def test_refused_names_are_findings_decided_before_the_claim(tmp_path, name, fragment):
    artifacts = folder(tmp_path, {"ok.txt": b"ok\n"})
    (artifacts / name).parent.mkdir(parents=True, exist_ok=True)
    (artifacts / name).write_bytes(b"x\n")
    files, findings = plan_artifacts(artifacts)  # what a caller checks before started.json
    assert [n for n, _ in files] == ["junit_01.xml", "ok.txt"]
    [finding] = findings
    assert fragment in finding.problem and "\n" not in str(finding) and "\r" not in str(finding)
    build, report = publish(tmp_path, artifacts)  # the build is never left half-made
    assert (build / "finished.json").exists() and (build / "artifacts/ok.txt").exists()
    assert not report.upload_failures


def test_object_names_for_clean_paths_are_the_paths():
    loc = BuildLocation.for_job("j", "1")
    assert loc.artifact("c1/pods 50%.txt") == "logs/j/1/artifacts/c1/pods 50%.txt"


part = st.text(st.characters(codec="utf-8", exclude_characters="/"), min_size=1, max_size=6)
paths = st.lists(part, min_size=1, max_size=3).map(tuple)


@given(st.lists(paths, max_size=20, unique=True))
def test_names_are_injective(all_paths):
    named = {}
    for parts in all_paths:
        name, problem = artifact_name(parts)
        assert (name is None) != (problem is None)
        if name is not None:
            assert name not in named, (parts, named.get(name))
            named[name] = parts
            assert name.split("/") == list(parts)


@pytest.mark.parametrize(
    ("name", "data", "kind"),
    [
        ("logs.tar.gz", gzip.compress(b"token: abcdefgh1234\n", mtime=0), "gzip"),
        ("dump.zip", b"PK\x03\x04rest", "zip"),
        ("trace.xz", b"\xfd7zXZ\x00rest", "xz"),
    ],
    ids=["gzip", "zip", "xz"],
)
def test_compressed_files_are_not_uploaded_unscrubbed(tmp_path, name, data, kind):
    artifacts = folder(tmp_path, {name: data, "plain.log": b"ok\n"})
    build, report = publish(tmp_path, artifacts)
    assert not (build / "artifacts" / name).exists() and (build / "artifacts/plain.log").exists()
    assert f"artifacts/{name}: {kind}-compressed" in findings_text(report.findings)
