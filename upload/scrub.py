"""Redact secrets from the build log and text artifacts before they leave the machine.

Results buckets are public (TestGrid and Kettle read them anonymously) and Prow-style uploaders mask
nothing. Redacted: bearer tokens, PEM private keys, client secrets, kubeconfig credentials (token,
client-key-data, client-certificate-data, password, and their JSON spellings), `NAME=value` assignments
and the values of environment variables whose names look secret (*SECRET*, *TOKEN*, *KEY*, *PASSWORD*,
also *CREDENTIAL*). Fast on big logs: literal searches pick the lines worth a regex.

Binary files (a NUL byte in the first 8 KiB, or not UTF-8) are left alone: uploaded unchanged and listed
in the report, so the log says which files were not scrubbed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

REDACTED = "[REDACTED]"
SECRET_NAME_RE = re.compile(r"SECRET|TOKEN|KEY|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)
# Short or common values would wreck the log (e.g. KEY=1); real secrets are longer.
MIN_ENV_VALUE_LENGTH = 6
SNIFF_BYTES = 8192

# PEM private keys of every flavour, whole block (may span lines; literal prefix keeps the scan fast).
_PEM = re.compile(
    rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----"
)
# Single-line patterns, applied only to lines holding one of _TRIGGERS (lower-cased): a 40 MB log is
# scanned with bytes.find, not with a regex at every position.
_TRIGGERS = (b"bearer", b"token", b"secret", b"passw", b"key", b"certificate-data")
_LINE_PATTERNS = [
    # Authorization headers and bare bearer tokens.
    rb"(?P<bearer_pre>\b[Bb]earer\s+)(?P<bearer>[A-Za-z0-9\-._~+/]{8,}=*)",
    # kubeconfig / YAML credentials: `token: x`, `client-key-data: x`, `password: x`, ...
    rb"(?P<yaml_pre>^[ \t-]*(?:token|client-key-data|client-certificate-data|password|client-secret|"
    rb"client_secret|clientSecret|access-token|refresh-token|id-token)[ \t]*:[ \t]*)"
    rb"(?P<yaml>(?!\[REDACTED\])[\"']?[^\s\"'#][^\r\n]*?[\"']?)[ \t]*$",
    # JSON spellings of the same fields.
    rb"(?P<json_pre>\"(?:token|client-key-data|client-certificate-data|password|client_secret|clientSecret|"
    rb"client-secret|access_token|refresh_token|id_token|private_key|accessToken)\"\s*:\s*\")"
    rb"(?P<json>(?!\[REDACTED\])(?:[^\"\\]|\\.)+)",
    # Shell-style assignments of secret-looking names: AZURE_CLIENT_SECRET=..., --client-secret=...
    rb"(?P<assign_pre>\b[A-Za-z0-9_\-]*(?i:secret|token|password|passwd|api[_-]?key|access[_-]?key|"
    rb"private[_-]?key)[A-Za-z0-9_\-]*[ \t]*=[ \t]*)(?P<assign>(?!\[REDACTED\])[\"']?[^\s\"',;]{4,}[\"']?)",
]
_LINE_REGEX = re.compile(b"|".join(_LINE_PATTERNS), re.MULTILINE)
_REDACTED = REDACTED.encode()


@dataclass
class ScrubReport:
    """What scrubbing did: values redacted, files scrubbed and files left alone because binary."""

    redacted: int = 0
    files: int = 0
    binary_skipped: list[str] = field(default_factory=list)

    def add(self, other: ScrubReport) -> None:
        self.redacted += other.redacted
        self.files += other.files
        self.binary_skipped += other.binary_skipped

    def summary(self) -> str:
        text = f"scrubbed {self.files} files: {self.redacted} secret values redacted"
        if self.binary_skipped:
            text += f"; {len(self.binary_skipped)} binary files uploaded unscrubbed"
        return text


class Scrubber:
    """Redacts secrets from text. Build once per run (it snapshots secret-looking environment values)."""

    def __init__(
        self, env: Mapping[str, str] | None = None, extra_values: list[str] | tuple[str, ...] = ()
    ) -> None:
        env = os.environ if env is None else env
        values = {v for k, v in env.items() if SECRET_NAME_RE.search(k) and len(v) >= MIN_ENV_VALUE_LENGTH}
        values |= {v for v in extra_values if len(v) >= MIN_ENV_VALUE_LENGTH}
        # Longest first, so a value containing another is redacted whole.
        self._values = [v.encode() for v in sorted(values, key=len, reverse=True)]

    @staticmethod
    def _replace(match: re.Match[bytes]) -> bytes:
        for name in ("bearer", "yaml", "json", "assign"):
            if match.group(name) is not None:
                return match.group(f"{name}_pre") + _REDACTED
        return _REDACTED

    def _lines_with_triggers(self, data: bytes) -> list[tuple[int, int]]:
        lowered = data.lower()  # ASCII-only for bytes: offsets stay the same
        starts: set[int] = set()
        for trigger in _TRIGGERS:
            pos = lowered.find(trigger)
            while pos != -1:
                start = data.rfind(b"\n", 0, pos) + 1
                starts.add(start)
                end = data.find(b"\n", pos)
                if end == -1:
                    break
                pos = lowered.find(trigger, end)
        spans = []
        for start in sorted(starts):
            end = data.find(b"\n", start)
            spans.append((start, len(data) if end == -1 else end))
        return spans

    def scrub_utf8(self, data: bytes) -> tuple[bytes, int]:
        """Redact secrets in UTF-8 bytes; returns the bytes and how many values were replaced."""
        count = 0
        for value in self._values:
            found = data.count(value)
            if found:
                data = data.replace(value, _REDACTED)
                count += found
        data, found = _PEM.subn(_REDACTED, data)
        count += found
        pieces, last = [], 0
        for start, end in self._lines_with_triggers(data):
            line, found = _LINE_REGEX.subn(self._replace, data[start:end])
            if found:
                pieces += [data[last:start], line]
                last = end
                count += found
        if pieces:
            data = b"".join([*pieces, data[last:]])
        return data, count

    def scrub_text(self, text: str) -> tuple[str, int]:
        """The text with secrets replaced by [REDACTED], and how many values were replaced."""
        clean, count = self.scrub_utf8(text.encode("utf-8"))
        return clean.decode("utf-8"), count

    def scrub_bytes(self, data: bytes) -> tuple[bytes, int] | None:
        """Scrubbed UTF-8 bytes and the count, or None when the data is binary (left alone)."""
        if b"\x00" in data[:SNIFF_BYTES]:
            return None
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return None
        return self.scrub_utf8(data)

    def scrub_file(self, path: Path, report: ScrubReport) -> bytes | Path:
        """What to upload for `path`: scrubbed bytes for text, the path itself for binary files."""
        data = path.read_bytes()
        result = self.scrub_bytes(data)
        if result is None:
            report.binary_skipped.append(str(path))
            return path
        clean, count = result
        report.files += 1
        report.redacted += count
        return clean
