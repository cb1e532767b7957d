"""Scrubbed: the only payload a sink accepts, made only here and only from what a Scrubber returned.

Sinks (upload.sinks) refuse anything else with a TypeError, so no generated file (started.json,
finished.json keys and values, the lint report, latest-build.txt, the placeholder log of `fedtest
abort`) and no artifact can reach a bucket or a results folder without passing the scrubber first.
`Scrubbed(...)` raises: the functions below are the only way to make one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Protocol


class Scrubs(Protocol):
    """What upload.scrub.Scrubber offers: bytes in, scrubbed bytes and how many values were redacted out."""

    def scrub(self, data: bytes) -> tuple[bytes, int]: ...


class Scrubbed:
    """Bytes that went through the scrubber; `redacted` says how many values it replaced."""

    __slots__ = ("data", "redacted")
    data: bytes
    redacted: int

    def __init__(self, *_args: object, **_kwargs: object) -> None:
        raise TypeError("a Scrubbed payload comes only from the scrubber (upload.sealed.scrub_bytes and friends)")

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("a Scrubbed payload cannot change")

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        return f"Scrubbed({len(self.data)} bytes, {self.redacted} redacted)"


def _seal(data: bytes, redacted: int) -> Scrubbed:
    sealed = object.__new__(Scrubbed)
    object.__setattr__(sealed, "data", bytes(data))
    object.__setattr__(sealed, "redacted", redacted)
    return sealed


def scrub_bytes(scrubber: Scrubs, data: bytes) -> Scrubbed:
    """Any bytes, scrubbed."""
    clean, count = scrubber.scrub(bytes(data))
    return _seal(clean, count)


def scrub_refusing(scrubber: Any, data: bytes, name: str) -> Scrubbed:
    """An artifact's bytes, scrubbed; compressed or archived content inside raises upload.scrub.OpaqueContent
    (its secrets could not be found), so the file is refused rather than published."""
    payload = scrubber.payload(bytes(data), name)
    with payload:
        return _seal(payload.read(), payload.redacted)


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
    sealed = scrub_bytes(scrubber, text.encode("ascii"))
    return _seal(sealed.data, sealed.redacted + count)


def require(payload: object) -> Scrubbed:
    """The payload if it is Scrubbed; a TypeError naming the rule otherwise (for sinks)."""
    if not isinstance(payload, Scrubbed):
        raise TypeError(f"a sink takes only Scrubbed payloads, not {type(payload).__name__}: scrub it first "
                        "(upload.sealed)")
    return payload


def scrub_log(scrubber: Scrubs, data: bytes, note: Callable[[int], bytes]) -> Scrubbed:
    """The build log scrubbed, with a closing line that says how many values were redacted. The line is
    scrubbed on its own and starts on a new line, so no value can span the two."""
    clean, count = scrubber.scrub(bytes(data))
    tail, tail_count = scrubber.scrub(note(count))
    return _seal(clean + tail, count + tail_count)
