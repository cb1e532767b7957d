"""Scrubbed (upload.scrub): the only payload a sink accepts, made only from what a Scrubber returned.

Sinks (upload.sinks) refuse anything else with a TypeError, so no generated file (started.json,
finished.json keys and values, the lint report, latest-build.txt, the placeholder log of `fedtest
abort`) and no artifact can reach a bucket or a results folder without passing the scrubber first.
`Scrubbed(...)` raises: upload.scrub.Scrubber.payload (files, streamed) and the functions below (the
harness's own small documents) are the only ways to make one.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from typing import Any, Protocol

from upload.scrub import Scrubbed, _seal

__all__ = ["Scrubbed", "require", "scrub_bytes", "scrub_json", "scrub_text"]


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
