"""Redact secrets from the build log, artifacts and metadata before they leave the machine.

Results buckets are public (TestGrid and Kettle read them anonymously) and Prow-style uploaders mask
nothing. Every file is scrubbed, whatever bytes it holds: nothing is ever uploaded as-is.

- Known values, redacted as byte sequences in UTF-8, Latin-1, UTF-16 (LE and BE) and JSON-escaped
  spellings: values of environment variables whose names look secret (*SECRET*, *TOKEN*, *KEY*,
  *PASSWORD*, *PASSWD*, *CREDENTIAL*, at least 6 characters), the credentials of the kubeconfigs named by
  $KUBECONFIG, and whatever the harness adds (`add_values`, `add_secret_files`: keys it made).
- Patterns, run on the raw bytes (a Latin-1 view: every byte is one character, so no byte can stop
  them): bearer tokens, PEM private keys (to the end of the data when the END line is missing),
  kubeconfig / YAML credentials (token, client-key-data, client-certificate-data, password,
  client-secret...), their JSON spellings, and `NAME=value` where NAME looks secret.

Linear time: one Aho-Corasick pass finds the keywords, and every pattern is matched where its keyword is, so a
1 MB line costs what 1 MB of short lines costs.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import ahocorasick_rs
import yaml

REDACTED = "[REDACTED]"
SECRET_NAME_RE = re.compile(r"SECRET|TOKEN|KEY|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)
# Short or common values would wreck the log (e.g. KEY=1); real secrets are longer.
MIN_ENV_VALUE_LENGTH = 6
MAX_SECRET_FILE_BYTES = 1 << 20  # kubeconfigs, keys and tokens are small; bigger files are something else
# Known-value spellings: a secret printed by a Windows tool or a Latin-1 log is still the secret.
VALUE_ENCODINGS = ("utf-8", "latin-1", "utf-16-le", "utf-16-be")
# Lower-cased keywords every pattern starts at; found with bytes.find, never with a regex scan.
TRIGGERS = (b"bearer", b"token", b"secret", b"passw", b"key", b"certificate-data")
_TRIGGER_SEARCH = ahocorasick_rs.BytesAhoCorasick(TRIGGERS)
_MARK = REDACTED.encode()

# Matched at a keyword's position (case-insensitive): what follows the keyword.
_BEARER = re.compile(rb"(?i)bearer[ \t]+(?P<value>[A-Za-z0-9\-._~+/]{8,}=*)")
_YAML_KEYS = rb"token|key-data|certificate-data|password|[sS]ecret"
_YAML = re.compile(rb"(?:" + _YAML_KEYS + rb")[ \t]*:[ \t]*(?P<value>(?!\[REDACTED\])[\"']?[^\s\"'#][^\r\n]*+)")
_YAML_PREFIX = re.compile(rb"(?:client-|client_|client|access-|refresh-|id-)?\Z", re.IGNORECASE)
_JSON = re.compile(
    rb"(?i)(?:token|key-data|key|certificate-data|password|secret)\"[ \t]*:[ \t]*\""
    rb"(?P<value>(?!\[REDACTED\])(?:[^\"\\\r\n]|\\[^\r\n])++)"
)
_JSON_PREFIX = re.compile(
    rb"\"(?:client-|client_|client|access_|access|refresh_|id_|private_)?\Z", re.IGNORECASE
)
_NAME_CHARS = re.compile(rb"[A-Za-z0-9_\-]*+")
_EQUALS = re.compile(rb"[ \t]*+=[ \t]*+")
_ASSIGN_VALUE = re.compile(rb"(?P<value>(?!\[REDACTED\])[\"']?[^\s\"',;]{4,}[\"']?)")
_ASSIGN_KEYWORD = re.compile(rb"(?i)secret|token|passw(?:or)?d|(?:api|access|private)[_-]?key")
_KEY_PREFIX = re.compile(rb"(?:api|access|private)[_-]?\Z", re.IGNORECASE)
# Compressed formats hide their content from the scrubber: such files are not uploaded (lint.plan_artifacts).
OPAQUE_MAGIC = {
    b"\x1f\x8b": "gzip",
    b"PK\x03\x04": "zip",
    b"PK\x05\x06": "zip",
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"\x28\xb5\x2f\xfd": "zstd",
    b"7z\xbc\xaf\x27\x1c": "7z",
    b"\x04\x22\x4d\x18": "lz4",
}
_PEM_BEGIN = re.compile(rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")
_PEM_END = re.compile(rb"-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----")


@dataclass
class ScrubReport:
    """What scrubbing did: values redacted, files scrubbed, and which of them were not UTF-8 text."""

    redacted: int = 0
    files: int = 0
    not_utf8: list[str] = field(default_factory=list)

    def add(self, other: ScrubReport) -> None:
        self.redacted += other.redacted
        self.files += other.files
        self.not_utf8 += other.not_utf8

    def summary(self) -> str:
        text = f"scrubbed {self.files} files: {self.redacted} secret values redacted"
        if self.not_utf8:
            text += f" ({len(self.not_utf8)} not UTF-8, scrubbed as bytes)"
        return text


def opaque_format(head: bytes) -> str | None:
    """The compressed format these first bytes start, if any (its content cannot be scrubbed)."""
    return next((kind for magic, kind in OPAQUE_MAGIC.items() if head.startswith(magic)), None)


def _is_utf8(data: bytes) -> bool:
    """ASCII (most logs) is checked without decoding a copy of the whole file."""
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _spellings(value: str | bytes) -> dict[bytes, bytes]:
    """Each byte spelling of a known value, mapped to the marker in the same spelling."""
    if isinstance(value, bytes):
        return {value: _MARK}
    found: dict[bytes, bytes] = {}
    for encoding in VALUE_ENCODINGS:
        try:  # surrogateescape: an environment value holding bytes that are not UTF-8 is those bytes
            found.setdefault(value.encode(encoding, "surrogateescape"), REDACTED.encode(encoding))
        except UnicodeEncodeError:
            continue
    with contextlib.suppress(UnicodeEncodeError):  # how scrub_text spells text with other lone surrogates
        found.setdefault(value.encode("utf-8", "surrogatepass"), _MARK)
    escaped = json.dumps(value)[1:-1]
    if escaped != value:
        found.setdefault(escaped.encode(), _MARK)
    return found


def _blank_line_prefix(data: bytes, end: int) -> bool:
    """Whether only spaces, tabs and '-' stand between the start of the line and `end` (any distance)."""
    while end > 0:
        start = max(0, end - 256)
        rest = data[start:end].rstrip(b" \t-")
        if rest:
            return rest.endswith(b"\n")
        end = start
    return True


def kubeconfig_secrets(text: str | bytes) -> set[str]:
    """The credentials a kubeconfig holds (tokens, passwords, key and certificate data, auth-provider
    secrets), and the lines of base64 inside embedded keys; empty when the text is not a kubeconfig."""
    try:
        doc = yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError, ValueError):
        return set()
    if not isinstance(doc, dict) or not isinstance(doc.get("users"), list):
        return set()
    found: set[str] = set()
    names = ("token", "password", "client-key-data", "client-certificate-data")
    for entry in doc["users"]:
        user = entry.get("user") if isinstance(entry, dict) else None
        if not isinstance(user, dict):
            continue
        found |= {str(user[n]) for n in names if user.get(n)}
        with contextlib.suppress(ValueError):  # the key inside client-key-data, line by line
            key = base64.b64decode(str(user.get("client-key-data", "")))
            found |= {line.decode("latin-1") for line in _pem_lines(key)}
        provider = user.get("auth-provider")
        config = provider.get("config") if isinstance(provider, dict) else None
        if isinstance(config, dict):
            found |= {str(v) for k, v in config.items() if SECRET_NAME_RE.search(k) and v}
    return {v for v in found if len(v) >= MIN_ENV_VALUE_LENGTH}


def _pem_lines(data: bytes) -> set[bytes]:
    """The base64 lines inside PEM private keys: a key printed in part is still the key."""
    lines: set[bytes] = set()
    for begin in _PEM_BEGIN.finditer(data):
        end = _PEM_END.search(data, begin.end())
        body = data[begin.end() : end.start() if end else len(data)]
        lines |= {line.strip() for line in body.splitlines() if len(line.strip()) >= 16}
    return lines


class Scrubber:
    """Redacts secrets from bytes. Build once per run (it snapshots secret-looking environment values)."""

    def __init__(
        self, env: Mapping[str, str] | None = None, extra_values: Iterable[str | bytes] = ()
    ) -> None:
        env = os.environ if env is None else env
        self._needles: dict[bytes, bytes] = {}
        self.add_values(v for k, v in env.items() if SECRET_NAME_RE.search(k))
        self.add_values(extra_values)
        for name in (env.get("KUBECONFIG") or "").split(os.pathsep):
            if name:
                self.add_secret_files([Path(name)])

    def add_values(self, values: Iterable[str | bytes]) -> None:
        """Redact these values from now on (too short ones are ignored: they would wreck the log)."""
        for value in values:
            if value and len(value) >= MIN_ENV_VALUE_LENGTH:
                for spelling, mark in _spellings(value).items():
                    self._needles.setdefault(spelling, mark)
        # Longest first, so a value containing another is redacted whole.
        self._needles = dict(sorted(self._needles.items(), key=lambda item: len(item[0]), reverse=True))

    def add_secret_files(self, paths: Iterable[Path]) -> None:
        """Redact what these files hold: kubeconfig credentials, private key lines, or a one-line token.
        Unreadable or missing files are skipped (there is nothing of theirs to find)."""
        for path in paths:
            try:
                with Path(path).open("rb") as source:
                    data = source.read(MAX_SECRET_FILE_BYTES + 1)
            except OSError:
                continue
            if len(data) > MAX_SECRET_FILE_BYTES:
                continue  # not a kubeconfig, key or token
            values: set[str | bytes] = {*kubeconfig_secrets(data), *_pem_lines(data)}
            token = data.strip()
            if token and len(token) <= 4096 and b"\n" not in token:
                values.add(token)
            self.add_values(values)

    def add_secret_folder(self, folder: Path) -> None:
        """Everything in the run's work folder (kubeconfigs, keys, tokens), links not followed."""
        found = []
        for parent, _dirs, files in os.walk(folder):
            found += [Path(parent, name) for name in files if Path(parent, name).is_file()]
        self.add_secret_files(p for p in found if not p.is_symlink())

    def scrub(self, data: bytes) -> tuple[bytes, int]:
        """The bytes with secrets replaced by [REDACTED], and how many were replaced. Any bytes at all."""
        count = 0
        for needle, mark in self._needles.items():
            found = data.count(needle)
            if found:
                data = data.replace(needle, mark)
                count += found
        data, found = self._scrub_pem(data)
        count += found
        data, found = self._scrub_patterns(data)
        return data, count + found

    scrub_bytes = scrub

    def scrub_text(self, text: str) -> tuple[str, int]:
        """The text with secrets replaced; any str round-trips (lone surrogates included)."""
        try:  # surrogateescape first: command-line and environment text carries raw bytes that way
            clean, count = self.scrub(text.encode("utf-8", "surrogateescape"))
            return clean.decode("utf-8", "surrogateescape"), count
        except UnicodeEncodeError:
            clean, count = self.scrub(text.encode("utf-8", "surrogatepass"))
            return clean.decode("utf-8", "surrogatepass"), count

    def scrub_file(self, path: Path, report: ScrubReport) -> bytes:
        """The scrubbed bytes to upload for `path`; every file goes through the scrubber."""
        data = Path(path).read_bytes()
        clean, count = self.scrub(data)
        if not _is_utf8(data):
            report.not_utf8.append(str(path))
        report.files += 1
        report.redacted += count
        return clean

    @staticmethod
    def _scrub_pem(data: bytes) -> tuple[bytes, int]:
        """Whole PEM private key blocks; a block without its END line is redacted to the end."""
        if b"PRIVATE KEY-----" not in data:
            return data, 0
        pieces, last, count = [], 0, 0
        begin = _PEM_BEGIN.search(data)
        while begin:
            end = _PEM_END.search(data, begin.end())
            stop = end.end() if end else len(data)
            pieces += [data[last : begin.start()], _MARK]
            last, count = stop, count + 1
            begin = _PEM_BEGIN.search(data, stop) if end else None
        return b"".join([*pieces, data[last:]]), count

    def _scrub_patterns(self, data: bytes) -> tuple[bytes, int]:
        lowered = data.lower()  # ASCII-only for bytes: offsets stay the same
        # Every keyword position in one pass, overlapping ones included, without holding the GIL (the
        # upload threads need it while a big log is scanned).
        starts = {start for _trigger, start, _end in _TRIGGER_SEARCH.find_matches_as_indexes(lowered, True)}
        if not starts:
            return data, 0
        pieces: list[bytes] = []
        last = 0
        no_assign_before = 0  # keywords before this offset sit in a name that is not followed by '='
        for pos in sorted(starts):
            if pos < last:
                continue  # inside a value already redacted
            value = self._value_at(data, lowered, pos)
            if value is None and pos >= no_assign_before:
                value, no_assign_before = self._assignment_at(data, pos)
            if value is not None:
                start, end = value
                pieces += [data[last:start], _MARK]
                last = end
        if not pieces:
            return data, 0
        return b"".join([*pieces, data[last:]]), len(pieces) // 2

    @staticmethod
    def _value_at(data: bytes, lowered: bytes, pos: int) -> tuple[int, int] | None:
        """The span of a bearer token, YAML or JSON credential whose keyword starts at `pos`."""
        if lowered.startswith(b"bearer", pos):
            match = _BEARER.match(data, pos)
            if match and (pos == 0 or not (data[pos - 1 : pos].isalnum() or data[pos - 1] == 0x5F)):
                return match.span("value")
            return None
        head = data[max(0, pos - 16) : pos]
        match = _JSON.match(data, pos)
        if match and _JSON_PREFIX.search(head):
            return match.span("value")
        match = _YAML.match(data, pos)
        if match:
            prefix = _YAML_PREFIX.search(head)
            if prefix and _blank_line_prefix(data, pos - (len(head) - prefix.start())):
                start = match.start("value")
                return start, start + len(match.group("value").rstrip(b" \t"))
        return None

    @staticmethod
    def _assignment_at(data: bytes, pos: int) -> tuple[tuple[int, int] | None, int]:
        """`NAME=value` where NAME holds a secret-looking word at `pos`. Also returns where NAME ends when
        nothing is redacted, so the other keywords of the same long word are not scanned again."""
        keyword = _ASSIGN_KEYWORD.match(data, pos)
        if keyword is not None:
            end = keyword.end()
        elif data[pos : pos + 3].lower() == b"key" and _KEY_PREFIX.search(data[max(0, pos - 8) : pos]):
            end = pos + 3  # api_key, access-key, private_key; "key" alone (SSH_KEY_PATH) is not secret
        else:
            return None, 0
        name_end = _NAME_CHARS.match(data, end).end()  # type: ignore[union-attr]  # matches empty
        equals = _EQUALS.match(data, name_end)
        value = _ASSIGN_VALUE.match(data, equals.end()) if equals else None
        return (value.span("value"), 0) if value else (None, name_end)
