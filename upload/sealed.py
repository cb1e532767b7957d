"""Scrubbed: the only payload a sink accepts, made only from what a Scrubber returned.

Sinks (upload.sinks) refuse anything else with a TypeError, so no generated file (started.json,
finished.json keys and values, the lint report, latest-build.txt, the placeholder log of `fedtest
abort`) and no artifact can reach a bucket or a results folder without passing the scrubber first.
`Scrubbed(...)` raises: upload.scrub.Scrubber.payload (files, streamed) and the functions below (the
harness's own small documents) are the only ways to make one.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Mapping
from typing import IO, Any, BinaryIO, Protocol

__all__ = ["Scrubbed", "require", "scrub_bytes", "scrub_json", "scrub_text"]

CHUNK = 1 << 20  # bytes a sink writes at a time


class Scrubbed:
    """Bytes that went through the scrubber: the one payload a sink accepts (upload.sealed.require). Only the
    scrubber makes one (Scrubber.payload, upload.sealed's scrub_* functions); `Scrubbed(...)` raises.

    The bytes wait in memory, or in a temporary file when large; `open()` reads them from the start, so a
    sink streams them (`chunks()`) rather than holding a copy. `redacted` says how many values were replaced.
    """

    __slots__ = ("_file", "name", "redacted", "size", "utf8")
    name: str
    redacted: int
    size: int
    utf8: bool

    def __init__(self, *_args: object, **_kwargs: object) -> None:
        raise TypeError("a Scrubbed payload comes only from the scrubber (upload.scrub.Scrubber.payload, "
                        "upload.sealed.scrub_bytes and friends): scrub the bytes first")

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("a Scrubbed payload cannot change")

    def open(self) -> BinaryIO:
        """The scrubbed bytes as a file, at its start (for an upload that streams from a file)."""
        self._file.seek(0)
        return self._file  # type: ignore[attr-defined,no-any-return]

    def read(self) -> bytes:
        """All the bytes at once: for small generated documents only; files stream through `chunks`."""
        return self.open().read()

    def chunks(self, size: int = CHUNK) -> Iterator[bytes]:
        source = self.open()
        while chunk := source.read(size):
            yield chunk

    def close(self) -> None:
        self._file.close()  # type: ignore[attr-defined]

    def __len__(self) -> int:
        return self.size

    def __repr__(self) -> str:
        return f"Scrubbed({self.name or 'bytes'}: {self.size} bytes, {self.redacted} redacted)"

    def __enter__(self) -> Scrubbed:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _seal(file: IO[bytes], size: int, redacted: int, utf8: bool, name: str) -> Scrubbed:
    """A payload of scrubbed bytes waiting in `file` (for the scrubber and upload.sealed only)."""
    sealed = object.__new__(Scrubbed)
    for attr, value in (("_file", file), ("size", size), ("redacted", redacted), ("utf8", utf8), ("name", name)):
        object.__setattr__(sealed, attr, value)
    return sealed


class Scrubs(Protocol):
    """What upload.scrub.Scrubber offers: bytes in, scrubbed bytes and how many values were redacted out."""

    def scrub(self, data: bytes) -> tuple[bytes, int]: ...


def _sealed_bytes(data: bytes, redacted: int) -> Scrubbed:
    """Scrubbed bytes the harness made (small documents): they wait in memory."""
    return _seal(io.BytesIO(data), len(data), redacted, _is_utf8(data), "")


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def scrub_bytes(scrubber: Scrubs, data: bytes) -> Scrubbed:
    """Any bytes, scrubbed."""
    clean, count = scrubber.scrub(bytes(data))
    return _sealed_bytes(clean, count)


def scrub_text(scrubber: Scrubs, text: str) -> Scrubbed:
    """Text (UTF-8, undecodable bytes kept as they came), scrubbed."""
    return scrub_bytes(scrubber, text.encode("utf-8", "surrogateescape"))


def _scrub_strings(scrubber: Scrubs, value: Any) -> tuple[Any, int]:
    """Every string in a JSON value, keys included, scrubbed one by one."""
    if isinstance(value, str):
        clean, count = scrubber.scrub(value.encode("utf-8", "surrogatepass"))
        return clean.decode("utf-8", "surrogatepass"), count
    if isinstance(value, Mapping):
        out, total = {}, 0
        for key, item in value.items():
            clean_key, found_key = _scrub_strings(scrubber, str(key))
            out[clean_key], found = _scrub_strings(scrubber, item)
            total += found_key + found
        return out, total
    if isinstance(value, (list, tuple)):
        items = [_scrub_strings(scrubber, item) for item in value]
        return [item for item, _ in items], sum(found for _, found in items)
    return value, 0


def scrub_json(scrubber: Scrubs, doc: Mapping[str, Any]) -> Scrubbed:
    """A JSON document: each key and value scrubbed, then the serialised bytes scrubbed as a whole."""
    clean, count = _scrub_strings(scrubber, doc)
    text = json.dumps(clean, indent=2, sort_keys=True) + "\n"  # ASCII: any string round-trips
    clean_text, found = scrubber.scrub(text.encode("ascii"))
    return _sealed_bytes(clean_text, found + count)


def require(payload: object) -> Scrubbed:
    """The payload if it is Scrubbed; a TypeError naming the rule otherwise (for sinks)."""
    if not isinstance(payload, Scrubbed):
        raise TypeError(f"a sink takes only Scrubbed payloads, not {type(payload).__name__}: scrub it first "
                        "(upload.sealed)")
    return payload
