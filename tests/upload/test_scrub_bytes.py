"""Scrubbing works on any bytes: no encoding, NUL or stray byte turns it off, and no file goes out unscrubbed."""

from __future__ import annotations

import base64
import json

import pytest

from upload.scrub import REDACTED, Scrubber, ScrubReport

ENV = {"AZURE_CLIENT_SECRET": "Qz8~sEcReT-value-123", "DB_PASSWORD": "pässwört-lätin"}
SECRETS_IN_LOG = [
    b"Bearer abc.def-ghi_jkl",
    b"    client-key-data: LS0tLS1CRUdJTiBSU0E=",
    b"    token: eyJhbGciOiJSUzI1NiIsImtpZCI6IiJ9",
    b'{"client_secret": "s3cr3t-in-json"}',
    b"-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
    b"export AZURE_CLIENT_SECRET=Qz8~sEcReT-value-123",
]
HIDDEN = [
    b"abc.def-ghi_jkl",
    b"LS0tLS1CRUdJTiBSU0E=",
    b"eyJhbGciOiJSUzI1NiIsImtpZCI6IiJ9",
    b"s3cr3t-in-json",
    b"MIIEpAIBAAKCAQEA",
    b"Qz8~sEcReT-value-123",
]


@pytest.mark.parametrize(
    "spoiler",
    [b"\xff", b"\x00", b"caf\xe9", b"\xc3\x28", b"\r\n\x00\x00\xfe\xfe"],
    ids=["0xff", "NUL", "latin-1", "bad-utf8-pair", "mixed"],
)
def test_one_foreign_byte_does_not_turn_scrubbing_off(spoiler):
    log = spoiler + b"\n" + b"\n".join(SECRETS_IN_LOG) + b"\n" + spoiler
    clean, count = Scrubber(ENV).scrub_bytes(log)
    for secret in HIDDEN:
        assert secret not in clean
    assert count >= len(HIDDEN) and clean.startswith(spoiler) and clean.endswith(spoiler)


@pytest.mark.parametrize("encoding", ["utf-8", "latin-1", "utf-16-le", "utf-16-be", "utf-16"])
def test_known_values_are_redacted_in_any_encoding(encoding):
    text = "DB connection with pässwört-lätin failed\nretry with Qz8~sEcReT-value-123\n"
    clean, count = Scrubber(ENV).scrub_bytes(text.encode(encoding))
    for value in ENV.values():
        assert value.encode(encoding).removeprefix(b"\xff\xfe").removeprefix(b"\xfe\xff") not in clean
    assert count == 2
    if encoding != "utf-16":
        assert REDACTED.encode(encoding) in clean  # the file stays readable in its own encoding


def test_json_escaped_values_are_redacted():
    secret = 'quo"te\\back-slash'
    data = json.dumps({"note": f"value {secret}"}).encode()
    clean, count = Scrubber({"MY_TOKEN": secret}).scrub_bytes(data)
    assert b"quo" not in clean and count == 1


def test_every_file_is_scrubbed_none_left_alone(tmp_path):
    binary = tmp_path / "dump.bin"
    binary.write_bytes(b"\x00\x01\x02\n token: secret-in-binary\n\x00 Qz8~sEcReT-value-123 \xff")
    latin = tmp_path / "pods.txt"
    latin.write_bytes("état DB_PASSWORD=pässwört-lätin\n".encode("latin-1"))
    report = ScrubReport()
    scrubber = Scrubber(ENV)
    clean_binary = scrubber.scrub_file(binary, report)
    clean_latin = scrubber.scrub_file(latin, report)
    assert isinstance(clean_binary, bytes) and isinstance(clean_latin, bytes)
    assert b"secret-in-binary" not in clean_binary and b"Qz8~sEcReT-value-123" not in clean_binary
    assert "pässwört-lätin".encode("latin-1") not in clean_latin
    assert clean_binary.startswith(b"\x00\x01\x02\n token: ") and clean_binary.endswith(b" \xff")
    assert report.files == 2 and report.redacted == 3
    assert "unscrubbed" not in report.summary()


def test_text_round_trips_lone_surrogates():
    text = "ok \udcff\ntoken: abcdefgh1234\n"
    clean, count = Scrubber({}).scrub_text(text)
    assert clean == f"ok \udcff\ntoken: {REDACTED}\n" and count == 1


def test_a_private_key_cut_off_is_redacted_to_the_end():
    text = "log\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n" * 3
    clean, count = Scrubber({}).scrub_text(text)
    assert "MIIEvQ" not in clean and clean.startswith("log\n") and count == 1


def test_a_yaml_key_must_start_its_line():
    text = "x" * 300 + "token:   abcdefgh1234\n"
    assert Scrubber({}).scrub_text(text) == (text, 0)


def test_deep_yaml_indentation_and_crlf_keep_everything_but_the_value():
    text = " " * 5000 + "token: abcdefgh1234\r\nnext line\r\n"
    clean, count = Scrubber({}).scrub_text(text)
    assert clean == " " * 5000 + f"token: {REDACTED}\r\nnext line\r\n" and count == 1


def test_assignments_inside_long_words_and_repeated_keywords():
    word = "tokentoken" * 20_000
    text = f"{word} API_KEY={'k' * 40} {word}=value-of-a-secret-looking-name"
    clean, count = Scrubber({}).scrub_text(text)
    assert "k" * 40 not in clean and "value-of-a" not in clean and count == 2
    assert clean.startswith(word)


KUBECONFIG = """apiVersion: v1
kind: Config
users:
- name: admin
  user:
    token: kube-token-0123456789
    client-key-data: {key_data}
- name: oidc
  user:
    auth-provider:
      config:
        client-secret: oidc-client-secret-xyz
        id-token: oidc-id-token-abcdef
"""
KEY_LINE = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7"


def test_kubeconfig_credentials_and_key_files_are_known_values(tmp_path):
    kubeconfig = tmp_path / "admin.kubeconfig"
    kubeconfig.write_text(KUBECONFIG.format(key_data="LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCg=="))
    key = tmp_path / "pki" / "ca.key"
    key.parent.mkdir()
    key.write_text(f"-----BEGIN PRIVATE KEY-----\n{KEY_LINE}\n-----END PRIVATE KEY-----\n")
    token = tmp_path / "token"
    token.write_text("sa-token-value-42\n")
    scrubber = Scrubber({"KUBECONFIG": str(kubeconfig)})  # the kubeconfigs $KUBECONFIG names
    scrubber.add_secret_folder(tmp_path)  # keys the harness made, in its work folder
    leaked = (
        "got kube-token-0123456789 then oidc-client-secret-xyz and oidc-id-token-abcdef; "
        f"echo {KEY_LINE} | base64 -d; curl -H 'X-Auth: sa-token-value-42'; "
        "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCg=="
    )
    clean, count = scrubber.scrub_text(leaked)
    for secret in ("kube-token", "oidc-client", "oidc-id", KEY_LINE, "sa-token", "LS0tLS1CRUdJTiBQ"):
        assert secret not in clean
    assert count == 6


def test_values_holding_undecodable_bytes_and_lone_surrogates():
    env_value = "sec\udcffret-\udce9-42"  # how os.environ holds the bytes b"sec\xffret-\xe9-42"
    scrubber = Scrubber({"API_TOKEN": env_value})
    clean, count = scrubber.scrub_bytes(b"got sec\xffret-\xe9-42 back")
    assert clean == b"got [REDACTED] back" and count == 1
    assert scrubber.scrub_text(f"metadata {env_value} and \ud800 alone") == (
        "metadata [REDACTED] and \ud800 alone",
        1,
    )


def test_a_key_inside_client_key_data_is_known_line_by_line(tmp_path):
    pem = f"-----BEGIN RSA PRIVATE KEY-----\n{KEY_LINE}\n-----END RSA PRIVATE KEY-----\n"
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG.format(key_data=base64.b64encode(pem.encode()).decode()))
    clean, _count = Scrubber({"KUBECONFIG": str(kubeconfig)}).scrub_text(f"printed: {KEY_LINE[:60]}")
    assert KEY_LINE[:40] not in clean
