"""Redact secrets from the build log and text artifacts before they leave the machine.

Results buckets are public (TestGrid and Kettle read them anonymously) and Prow-style uploaders mask
nothing. Redacted: bearer tokens, PEM private keys, client secrets, kubeconfig credentials (token,
client-key-data, client-certificate-data, password, and their JSON spellings), `NAME=value` assignments
and the values of environment variables whose names look secret (*SECRET*, *TOKEN*, *KEY*, *PASSWORD*,
also *CREDENTIAL*). One combined regex scans each text once.

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

_PATTERNS = [
    # PEM private keys of every flavour, whole block.
    r"(?P<pem>-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----)",
    # Authorization headers and bare bearer tokens.
    r"(?P<bearer_pre>\b[Bb]earer\s+)(?P<bearer>[A-Za-z0-9\-._~+/]{8,}=*)",
    # kubeconfig / YAML credentials: `token: x`, `client-key-data: x`, `password: x`, ...
    r"(?P<yaml_pre>^[ \t-]*(?:token|client-key-data|client-certificate-data|password|client-secret|"
    r"client_secret|clientSecret|access-token|refresh-token|id-token)[ \t]*:[ \t]*)"
    r"(?P<yaml>(?!\[REDACTED\])[\"']?[^\s\"'#][^\r\n]*?[\"']?)[ \t]*$",
    # JSON spellings of the same fields.
    r"(?P<json_pre>\"(?:token|client-key-data|client-certificate-data|password|client_secret|clientSecret|"
    r"client-secret|access_token|refresh_token|id_token|private_key|accessToken)\"\s*:\s*\")"
    r"(?P<json>(?!\[REDACTED\])(?:[^\"\\]|\\.)+)",
    # Shell-style assignments of secret-looking names: AZURE_CLIENT_SECRET=..., --client-secret=...
    r"(?P<assign_pre>\b[A-Za-z0-9_\-]*(?i:secret|token|password|passwd|api[_-]?key|access[_-]?key|private[_-]?key)"
    r"[A-Za-z0-9_\-]*[ \t]*=[ \t]*)(?P<assign>(?!\[REDACTED\])[\"']?[^\s\"',;]{4,}[\"']?)",
]


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

    def __init__(self, env: Mapping[str, str] | None = None, extra_values: list[str] | tuple[str, ...] = ()) -> None:
        env = os.environ if env is None else env
        values = {v for k, v in env.items() if SECRET_NAME_RE.search(k) and len(v) >= MIN_ENV_VALUE_LENGTH}
        values |= {v for v in extra_values if len(v) >= MIN_ENV_VALUE_LENGTH}
        patterns = list(_PATTERNS)
        if values:
            # Longest first, so a value containing another is redacted whole.
            literal = "|".join(re.escape(v) for v in sorted(values, key=len, reverse=True))
            patterns.insert(0, f"(?P<env>{literal})")
        self._regex = re.compile("|".join(patterns), re.MULTILINE)

    def _replace(self, match: re.Match[str]) -> str:
        groups = match.groupdict()
        if groups.get("env") is not None or groups.get("pem") is not None:
            return REDACTED
        for name in ("bearer", "yaml", "json", "assign"):
            if groups.get(name) is not None:
                return groups[f"{name}_pre"] + REDACTED
        return REDACTED

    def scrub_text(self, text: str) -> tuple[str, int]:
        """The text with secrets replaced by [REDACTED], and how many values were replaced."""
        return self._regex.subn(self._replace, text)

    def scrub_bytes(self, data: bytes) -> tuple[bytes, int] | None:
        """Scrubbed UTF-8 bytes and the count, or None when the data is binary (left alone)."""
        if b"\x00" in data[:SNIFF_BYTES]:
            return None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return None
        clean, count = self.scrub_text(text)
        return (clean.encode("utf-8") if count else data), count

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
