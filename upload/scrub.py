"""Redact secrets from the build log, artifacts and metadata before they leave the machine.

Results buckets are public (TestGrid and Kettle read them anonymously) and Prow-style uploaders mask
nothing. Every file is scrubbed, whatever bytes it holds: nothing is ever uploaded as-is, and a file holding
compressed or archived content anywhere (upload.compressed) is refused, since the scrubber cannot see inside.

- Known values (upload.redact.KnownValues), as byte sequences in UTF-8, Latin-1, UTF-16 (LE and BE), and in
  every JSON escape spelling: values of environment variables whose names look secret (*SECRET*, *TOKEN*,
  *KEY*, *PASSWORD*, *PASSWD*, *CREDENTIAL*, at least 6 characters), the credentials of the kubeconfigs the
  run used (upload.credentials), and whatever the harness adds (`add_values`, `add_secret_files`).
- Patterns (upload.redact.pattern_spans), run on the raw bytes: bearer tokens, PEM private keys, kubeconfig /
  YAML and JSON credentials, and `NAME=value` where NAME looks secret (a quoted value whole).

Files are scrubbed as streams: chunks, with the last bytes of each kept for a secret that crosses into the
next one, so memory is bounded by the chunk and that window, not by the file, and time is linear.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from upload import credentials
from upload.compressed import Opaque, OpaqueScanner
from upload.errors import UploadError
from upload.redact import (
    LOOKBEHIND,
    MARK,
    PEM_END_LONGEST,
    REACH,
    REDACTED,
    RESUME_JSON,
    RESUME_PADDING,
    RESUME_PEM,
    RESUME_TOKEN,
    TRIGGERS,
    KnownValues,
    blank_line_at,
    merge,
    pattern_spans,
)
from upload.sealed import Scrubbed, _seal

__all__ = [
    "REDACTED",
    "SECRET_NAME_RE",
    "TRIGGERS",
    "OpaqueContent",
    "ScrubReport",
    "ScrubStream",
    "Scrubbed",
    "Scrubber",
    "kubeconfig_secrets",
    "opaque_format",
]

SECRET_NAME_RE = re.compile(r"SECRET|TOKEN|KEY|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)
MIN_ENV_VALUE_LENGTH = credentials.MIN_VALUE_LENGTH
# Known-value spellings: a secret printed by a Windows tool or a Latin-1 log is still the secret.
VALUE_ENCODINGS = ("utf-8", "latin-1", "utf-16-le", "utf-16-be")
CHUNK = 1 << 20  # bytes read from a file at a time
MIN_WINDOW = 16 << 10  # bytes kept back from each chunk, so a secret crossing into the next one is seen whole
SPOOL_IN_MEMORY = 2 << 20  # a scrubbed payload larger than this waits in a temporary file
# Compressed formats by their first bytes (by name and head: upload.lint); by content anywhere: upload.compressed.
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
kubeconfig_secrets = credentials.kubeconfig_secrets


def opaque_format(head: bytes) -> str | None:
    """The compressed format these first bytes start, if any (its content cannot be scrubbed)."""
    return next((kind for magic, kind in OPAQUE_MAGIC.items() if head.startswith(magic)), None)


class OpaqueContent(UploadError):
    """A file holds compressed or archived content: the scrubber cannot see inside, so it is not uploaded."""

    def __init__(self, name: str, found: Opaque) -> None:
        self.name, self.kind, self.offset = name, found.kind, found.offset
        super().__init__(f"{found.kind} data at byte {found.offset}, so secrets in it cannot be scrubbed: not uploaded",
                         "put its content in uncompressed")


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


def _spellings(value: str | bytes) -> dict[bytes, bytes]:
    """Each byte spelling of a known value, mapped to the marker in the same spelling (JSON escapes are
    not spelled out: upload.redact decodes them in the data instead)."""
    if isinstance(value, bytes):
        return {value: MARK}
    found: dict[bytes, bytes] = {}
    for encoding in VALUE_ENCODINGS:
        try:  # surrogateescape: an environment value holding bytes that are not UTF-8 is those bytes
            found.setdefault(value.encode(encoding, "surrogateescape"), REDACTED.encode(encoding))
        except UnicodeEncodeError:
            continue
    with contextlib.suppress(UnicodeEncodeError):  # how scrub_text spells text with other lone surrogates
        found.setdefault(value.encode("utf-8", "surrogatepass"), MARK)
    return found


class ScrubStream:
    """Scrubs one file's bytes chunk by chunk: `feed` returns what is clean so far, `close` the rest.

    The last bytes of each chunk wait for the next one (a window of at least 16 KiB, eight times the longest
    known value), so a value or a keyword crossing chunks is found as in one piece; a value that runs on
    past the window is redacted to its end as it streams by. With `refuse_opaque`, compressed content
    anywhere raises OpaqueContent.
    """

    def __init__(self, known: KnownValues, name: str = "", refuse_opaque: bool = True,
                 window: int = MIN_WINDOW) -> None:
        self._known = known
        self.name = name
        self._window = max(window, 8 * known.longest + 2 * REACH)  # never less than what a match may read
        self._held = b""  # bytes not yet scrubbed, after `_behind` bytes of context already scrubbed
        self._behind = 0
        self._blank_before = True  # whether the line before _held holds only blanks so far
        self._skip: re.Pattern[bytes] | None = None  # inside a value that runs on: its rest
        self._opaque = OpaqueScanner() if refuse_opaque else None
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self.utf8 = True
        self.redacted = 0
        self.closed = False

    def feed(self, chunk: bytes, final: bool = False) -> bytes:
        if self._opaque is not None:
            found = self._opaque.feed(chunk, final)
            if found is not None:
                raise OpaqueContent(self.name, found)
        self._check_utf8(chunk, final)
        data = self._held + chunk
        pos = self._behind
        if not final and len(data) - pos < 4 * self._window:
            self._held = data
            return b""
        if self._skip is not None:
            end = self._resume(data, pos, final)
            if end is None:
                return b""
            pos = end
        out: list[bytes] = []
        cut = len(data) if final else len(data) - self._window
        while pos < cut < len(data) and data[cut - 1] == 0x5C:  # never between backslashes: `\\` + `u0041`
            cut -= 1  # would read as `\` + `\u0041` in the next chunk
        spans = merge([*self._known.spans(data, pos), *pattern_spans(data, pos, final, self._blank_before)])
        # A keyword before the cut decides now, even when its value starts after it (the keyword is not seen
        # again); so do the spans before that value.
        decided = max((i for i, span in enumerate(spans) if span.found_at < cut), default=-1)
        for index, span in enumerate(spans):
            if index > decided and span.start >= cut and span.found_at >= cut:
                break
            out += [data[pos : span.start], span.mark]
            self.redacted += 1
            pos = span.end
            if span.resume is not None:  # runs on into the next chunk: skip the rest of it there
                self._skip = RESUME_PADDING if span.resume is RESUME_TOKEN and data.endswith(b"=") else span.resume
                self._keep(data, pos)
                return b"".join(out)
            cut = max(cut, pos)
        out.append(data[pos:cut])
        self._keep(data, cut)
        return b"".join(out)

    @property
    def window(self) -> int:
        """Bytes kept back at the end of each buffer, so a secret across chunks is seen whole."""
        return self._window

    @property
    def held(self) -> int:
        """Bytes held back for the next chunk: at most four windows plus the last chunk fed."""
        return len(self._held)

    def close(self) -> bytes:
        """The rest of the scrubbed bytes (the file ended)."""
        rest = self.feed(b"", final=True)
        self.closed = True
        return rest

    def _keep(self, data: bytes, done: int) -> None:
        """Hold data[done:] for the next chunk, with a little context before it."""
        start = max(0, done - LOOKBEHIND)
        self._blank_before = blank_line_at(data, start, self._blank_before)
        self._held, self._behind = data[start:], done - start

    def _resume(self, data: bytes, pos: int, final: bool) -> int | None:
        """Where the value being skipped ends in data; None (the rest held or dropped) when it runs on."""
        skip = self._skip
        assert skip is not None
        if skip is RESUME_PEM:
            end = skip.search(data, pos)
            if end is None and not final:
                self._keep(data, max(pos, len(data) - PEM_END_LONGEST))
                return None
            stop = end.end() if end else len(data)
        else:
            stop = skip.match(data, pos).end()  # type: ignore[union-attr]  # matches empty
            runs_on = stop == len(data) or (skip is RESUME_JSON and stop == len(data) - 1 and data[-1] == 0x5C)
            if runs_on and not final:
                if skip is RESUME_TOKEN and data[pos:stop].endswith(b"="):
                    self._skip = RESUME_PADDING
                self._keep(data, stop)
                return None
        self._skip = None
        return stop

    def _check_utf8(self, chunk: bytes, final: bool) -> None:
        if not self.utf8 or (chunk.isascii() and not self._utf8.getstate()[0] and not final):
            return
        try:
            self._utf8.decode(chunk, final)
        except UnicodeDecodeError:
            self.utf8 = False


class Scrubber:
    """Redacts secrets from bytes. Build once per run (it snapshots secret-looking environment values and
    the kubeconfigs $KUBECONFIG names); the run adds what else it used (`add_kubeconfigs`, ...)."""

    def __init__(self, env: Mapping[str, str] | None = None, extra_values: Iterable[str | bytes] = ()) -> None:
        env = os.environ if env is None else env
        self._spellings: dict[bytes, bytes] = {}
        self._known = KnownValues({})
        self.add_values(v for k, v in env.items() if SECRET_NAME_RE.search(k))
        self.add_values(extra_values)
        self.add_kubeconfigs([env.get("KUBECONFIG")])

    def add_values(self, values: Iterable[str | bytes]) -> None:
        """Redact these values from now on (too short ones are ignored: they would wreck the log)."""
        spellings = dict(self._spellings)
        for value in values:
            if value and len(value) >= MIN_ENV_VALUE_LENGTH:
                for spelling, mark in _spellings(value).items():
                    spellings.setdefault(spelling, mark)
        if len(spellings) != len(self._spellings):
            self._spellings, self._known = spellings, KnownValues(spellings)

    def add_secret_files(self, paths: Iterable[Path]) -> None:
        """Redact what these files hold, whatever their size: kubeconfig credentials, private key lines, or a
        one-line token. Unreadable or missing files are skipped (there is nothing of theirs to find)."""
        values: set[str | bytes] = set()
        for path in paths:
            values |= credentials.secret_file_values(Path(path))
        self.add_values(values)

    def add_kubeconfigs(self, names: Iterable[str | Path | None]) -> None:
        """Redact the credentials of these kubeconfigs (each name maybe a list joined like $KUBECONFIG):
        the ones a flag named, not only $KUBECONFIG's."""
        self.add_secret_files(credentials.kubeconfig_paths(names))

    def add_secret_folder(self, folder: Path) -> None:
        """Everything in the run's work folder (kubeconfigs, keys, tokens), links not followed."""
        found = []
        for parent, _dirs, files in os.walk(folder):
            found += [Path(parent, name) for name in files]
        self.add_secret_files(p for p in found if p.is_file() and not p.is_symlink())

    def stream(self, name: str = "", *, refuse_opaque: bool = True, window: int = MIN_WINDOW) -> ScrubStream:
        """A stream scrubber for one file's bytes, with the values known now."""
        return ScrubStream(self._known, name, refuse_opaque, window)

    def scrub(self, data: bytes) -> tuple[bytes, int]:
        """The bytes with secrets replaced by [REDACTED], and how many were replaced. Any bytes at all."""
        stream = self.stream(refuse_opaque=False)
        clean = stream.feed(data, final=True)
        return clean, stream.redacted

    scrub_bytes = scrub

    def scrub_text(self, text: str) -> tuple[str, int]:
        """The text with secrets replaced; any str round-trips (lone surrogates included)."""
        try:  # surrogateescape first: command-line and environment text carries raw bytes that way
            clean, count = self.scrub(text.encode("utf-8", "surrogateescape"))
            return clean.decode("utf-8", "surrogateescape"), count
        except UnicodeEncodeError:
            clean, count = self.scrub(text.encode("utf-8", "surrogatepass"))
            return clean.decode("utf-8", "surrogatepass"), count

    def scrub_chunks(self, chunks: Iterable[bytes], name: str = "") -> Iterator[bytes]:
        """Scrubbed bytes of a stream of chunks, as they come; raises OpaqueContent (after yielding what
        came before it: a caller that must not publish part of a refused file spools, as `payload` does)."""
        stream = self.stream(name)
        for chunk in chunks:
            if out := stream.feed(chunk):
                yield out
        if out := stream.close():
            yield out

    def payload(self, source: bytes | BinaryIO | Path, name: str = "", report: ScrubReport | None = None, *,
                refuse_opaque: bool = True, note: Callable[[int], bytes] | None = None) -> Scrubbed:
        """The scrubbed payload of a file (read in chunks from a path or an open binary file) or of bytes
        the harness made. Raises OpaqueContent for compressed or archived content anywhere in it, unless
        `refuse_opaque` is False: for documents that must always be written (finished.json), whose bytes
        are the harness's own JSON, so a crafted metadata value cannot keep a build from finishing.
        `note(redacted)` adds a closing line (the build log's count), scrubbed on its own."""
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115  # the payload owns it
        stream = self.stream(name or (str(source) if isinstance(source, Path) else ""), refuse_opaque=refuse_opaque)
        size = 0
        try:
            for chunk in _chunks(source):
                out = stream.feed(chunk)
                spool.write(out)
                size += len(out)
            out = stream.close()
            spool.write(out)
            size += len(out)
            if note is not None:
                tail, found = self.scrub(note(stream.redacted))
                spool.write(tail)
                size += len(tail)
                stream.redacted += found
        except BaseException:
            spool.close()
            raise
        if report is not None:
            report.files += 1
            report.redacted += stream.redacted
            if not stream.utf8:
                report.not_utf8.append(stream.name)
        return _seal(spool, size, stream.redacted, stream.utf8, stream.name)

    def scrub_file(self, path: Path, report: ScrubReport) -> bytes:
        """The scrubbed bytes to upload for `path` (read as a stream); raises OpaqueContent for compressed
        or archived content anywhere in it."""
        with self.payload(Path(path), str(path), report) as scrubbed:
            return scrubbed.read()


def _chunks(source: bytes | BinaryIO | Path) -> Iterator[bytes]:
    if isinstance(source, bytes | bytearray | memoryview):
        view = memoryview(source)
        for start in range(0, len(view), CHUNK):
            yield bytes(view[start : start + CHUNK])
        return
    if isinstance(source, Path):
        with source.open("rb") as file:
            yield from _chunks(file)
        return
    while chunk := source.read(CHUNK):
        yield chunk
