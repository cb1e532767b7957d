"""Lint: the TestGrid traps of spec §10. Scrub: what is redacted, what ordinary text keeps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from upload.lint import lint_build, lint_path
from upload.scrub import REDACTED, Scrubber

GOOD = b"<testsuites><testsuite name='s'><testcase name='a'/><testcase name='b'/></testsuite></testsuites>"


def problems_for(tmp_path: Path, files: dict[str, bytes]) -> str:
    for name, data in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return " | ".join(str(f) for f in lint_path(tmp_path))


@pytest.mark.parametrize(
    ("files", "fragment"),
    [
        (
            {"junit_01.xml": b"<testsuite name='a'><testcase name='x'/></testsuite><testsuite name='b'/>"},
            "several top-level <testsuite>",
        ),
        ({"junit_01.xml": b""}, "empty JUnit"),
        ({"junit_01.xml": b"<testsuite name='a'/>"}, "no test cases"),
        (
            {"junit_01.xml": b"<testsuite name='a'><testcase name='x'><skipped/></testcase></testsuite>"},
            "has no reason",
        ),
        (
            {
                "junit_01.xml": b"<testsuite name='a'><testcase name='x'>"
                b"<skipped message='skipped'/></testcase></testsuite>"
            },
            "has no reason",
        ),
        ({"junit_01.xml": b"<testsuite><testcase name='x'/></testsuite>"}, "without a name"),
        (
            {"junit_01.xml": b"<testsuite name='pytest'><testcase classname='m' name='x'/>"
             b"<testcase classname='m' name='x'><failure message='boom'/></testcase></testsuite>"},
            "pytest-rerunfailures",
        ),
        ({"junit_01.xml": GOOD, "sub/junit_02.xml": GOOD.replace(b"'s'", b"'t'")}, "Kettle reads only"),
        ({"e2e-results.xml": GOOD}, "no junit*.xml"),
        ({"junit_01.xml": GOOD, "e2e-results.xml": GOOD.replace(b"'s'", b"'t'")}, "TestGrid ignores"),
        (
            {"junit_01.xml": "<testsuite name='ä'><testcase name='x'/></testsuite>".encode("latin-1")},
            "not UTF-8",
        ),
        ({"junit_01.xml": b"<?xml version='1.0' encoding='ISO-8859-1'?><testsuite name='a'/>"}, "encoding"),
        ({"junit_01.xml": b"<results><case/></results>"}, "root element <results>"),
        ({"junit_01.xml": b"<testsuite name='a'><testcase name='x'>"}, "does not parse"),
        (
            {"junit_01.xml": b"<testsuite name='a'><testcase name='x'><failure/></testcase></testsuite>"},
            "has no message",
        ),
    ],
)
def test_lint_traps(tmp_path, files, fragment):
    assert fragment in problems_for(tmp_path, files)


def test_lint_clean_folder(tmp_path):
    assert (
        problems_for(tmp_path, {"junit_01.xml": GOOD, "junit_runner.xml": GOOD.replace(b"'s'", b"'r'")}) == ""
    )


@pytest.mark.parametrize(
    ("started", "finished", "fragment"),
    [
        ({"timestamp": "1"}, None, "started.json timestamp"),
        ({"timestamp": 10}, {"timestamp": 5, "passed": False, "result": "FAILURE"}, "before started.json"),
        ({"timestamp": 10}, {"timestamp": 20, "result": "SUCCESS"}, "passed must be a boolean"),
        ({"timestamp": 10}, [], "must be a JSON object"),
    ],
)
def test_lint_build_documents(tmp_path, started, finished, fragment):
    (tmp_path / "artifacts").mkdir()
    (tmp_path / "artifacts/junit_01.xml").write_bytes(GOOD)
    (tmp_path / "started.json").write_text(json.dumps(started))
    if finished is not None:
        (tmp_path / "finished.json").write_text(json.dumps(finished))
    assert fragment in " | ".join(str(f) for f in lint_build(tmp_path))


def test_zero_byte_finished_is_malformed(tmp_path):
    (tmp_path / "artifacts").mkdir()
    (tmp_path / "artifacts/junit_01.xml").write_bytes(GOOD)
    (tmp_path / "started.json").write_text('{"timestamp": 1}')
    (tmp_path / "finished.json").write_text("")
    assert "zero bytes" in " | ".join(str(f) for f in lint_build(tmp_path))


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("curl -H 'Authorization: Bearer abc.def-ghi_jkl'", "abc.def-ghi_jkl"),
        ("    token: eyJhbGciOiJSUzI1NiIsImtpZCI6IiJ9", "eyJhbGciOiJSUzI1NiIsImtpZCI6IiJ9"),
        ("    client-certificate-data: LS0tLS1CRUdJTiBDRVJU", "LS0tLS1CRUdJTiBDRVJU"),
        ("    client-key-data: LS0tLS1CRUdJTiBSU0E=", "LS0tLS1CRUdJTiBSU0E="),
        ("  password: 'hunter2-hunter2'", "hunter2-hunter2"),
        ('{"client_secret": "s3cr3t\\"quoted"}', 's3cr3t\\"quoted'),
        ('{"clientSecret":"abcdEFGH1234"}', "abcdEFGH1234"),
        ("export AZURE_CLIENT_SECRET=Qz8~abcdefghijkl", "Qz8~abcdefghijkl"),
        ("--client-secret=abcdef123", "abcdef123"),
        ("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIB\n-----END EC PRIVATE KEY-----", "MHcCAQEEIB"),
        (
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----",
            "b3BlbnNzaC1rZXk",
        ),
    ],
)
def test_scrub_patterns(text, secret):
    clean, count = Scrubber({}).scrub_text(text)
    assert secret not in clean and REDACTED in clean and count >= 1


def test_scrub_environment_values_by_name():
    env = {
        "GITHUB_TOKEN": "ghp_abcdef123456",
        "DB_PASSWORD": "correct-horse",
        "SSH_KEY_PATH": "/k",
        "HOME": "/root-home-dir",
        "MY_SECRET_THING": "value-of-secret",
    }
    clean, count = Scrubber(env).scrub_text(
        "ghp_abcdef123456 and correct-horse twice correct-horse; value-of-secret; "
        "/k stays; /root-home-dir stays"
    )
    assert "ghp_abcdef123456" not in clean and "correct-horse" not in clean and "value-of-secret" not in clean
    assert "/k stays" in clean and "/root-home-dir stays" in clean  # short values and harmless names stay
    assert count == 4


def test_ordinary_text_is_untouched():
    text = "token bucket refill rate 5/s\nkey: value\npassword policy: see docs\n"
    assert Scrubber({}).scrub_text("PASSED test_tokens[c1]\n") == ("PASSED test_tokens[c1]\n", 0)
    assert Scrubber({}).scrub_text("the key: value\n")[1] == 0
    assert "token bucket" in Scrubber({}).scrub_text(text)[0]
