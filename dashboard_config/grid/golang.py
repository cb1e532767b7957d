"""Go's semantics where TestGrid's answer depends on them: number parsing, UTF-8, natural order.

TestGrid is Go; the grid it draws follows Go's standard library in places Python differs:
- encoding/xml decodes a numeric attribute with strconv.ParseFloat / ParseInt of the trimmed text
  (`time="1,5"` or `tests="3.0"` fails the whole file; Python's float() would accept "١٢" or refuse "0x1p-2").
- strings are bytes: junit.go cuts messages at 140 bytes, possibly inside a UTF-8 character.
- strings.ToValidUTF8 replaces each run of invalid bytes; a message cut a second time loses them.
- github.com/fvbommel/sortorder NaturalLess orders rows, builds and hints ("test 9" before "test 10").
"""

from __future__ import annotations

import functools
import math
import re

_DECIMAL = re.compile(
    r"[+-]?(?:(?:\d(?:_?\d)*)?\.?\d(?:_?\d)*|\d(?:_?\d)*\.)(?:[eE][+-]?\d(?:_?\d)*)?"
)  # Go float literal syntax (underscores only between digits)
_HEX = re.compile(r"[+-]?0[xX](?:_?[0-9a-fA-F])*(?:\.[0-9a-fA-F]*)?[pP][+-]?\d+")
_SPECIAL = {"inf": math.inf, "+inf": math.inf, "-inf": -math.inf, "infinity": math.inf,
            "+infinity": math.inf, "-infinity": -math.inf, "nan": math.nan}  # fmt: skip
_INT = re.compile(r"[+-]?[0-9]+")


def go_trim(text: str) -> str:
    """strings.TrimSpace (the xml decoder trims attribute text before parsing a number)."""
    return text.strip(" \t\n\r\v\f\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
                      "\u2028\u2029\u202f\u205f\u3000")  # fmt: skip


def parse_float(text: str) -> float | None:
    """strconv.ParseFloat(s, 64): None where Go returns an error (out of range is ±Inf there too)."""
    if text.lower() in _SPECIAL:
        return _SPECIAL[text.lower()]
    if not text.isascii():
        return None
    if _DECIMAL.fullmatch(text):
        try:
            return float(text)
        except (ValueError, OverflowError):
            return None
    if _HEX.fullmatch(text):
        try:
            return float.fromhex(text.replace("_", ""))
        except (ValueError, OverflowError):
            return math.copysign(math.inf, -1.0 if text.startswith("-") else 1.0)
    return None


def parse_int(text: str) -> int | None:
    """strconv.ParseInt(s, 10, 64): None where Go returns an error (including out of range)."""
    if not _INT.fullmatch(text):
        return None
    value = int(text)
    return value if -(2**63) <= value < 2**63 else None


def xml_float(value: str | None) -> float | None:
    """A float64 attribute as encoding/xml decodes it: absent or empty is 0, else ParseFloat(TrimSpace)."""
    if value is None or value == "":
        return 0.0
    return parse_float(go_trim(value))


def xml_int(value: str | None) -> int | None:
    """An int attribute as encoding/xml decodes it: absent or empty is 0, else ParseInt(TrimSpace)."""
    if value is None or value == "":
        return 0
    return parse_int(go_trim(value))


def cut(data: bytes, limit: int, longer_only: bool = False) -> bytes:
    """metadata/junit/junit.go truncate: at `limit` bytes or more keep both halves around "...".

    `longer_only`: the grid's own cut (updater.go appendCell) leaves a message of exactly `limit` bytes.
    """
    if limit <= 0 or len(data) < limit or (longer_only and len(data) == limit):
        return data
    half = limit // 2
    return data[:half] + b"..." + data[len(data) - half :]


def valid_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _runs(data: bytes):
    """(valid text, invalid byte count) pieces of `data`, as utf8.DecodeRune walks it (one byte per error)."""
    position = 0
    while position < len(data):
        try:
            yield data[position:].decode("utf-8"), 0
            return
        except UnicodeDecodeError as error:
            yield data[position : position + error.start].decode("utf-8"), 0
            position += error.start
            # Go rejects one byte at a time; Python may reject a longer prefix of a sequence.
            yield "", 1
            position += 1


def to_valid_utf8(data: bytes, replacement: str) -> str:
    """strings.ToValidUTF8: each run of invalid bytes becomes one `replacement`."""
    out: list[str] = []
    previous_invalid = False
    for text, invalid in _runs(data):
        if invalid:
            if not previous_invalid:
                out.append(replacement)
            previous_invalid = True
        elif text:
            out.append(text)
            previous_invalid = False
    return "".join(out)


def json_string(data: bytes) -> str:
    """The text TestGrid's grid carries for Go string `data`: bytes that are not UTF-8 are left out."""
    return to_valid_utf8(data, "")


def _digit(byte: int) -> bool:
    return 48 <= byte <= 57


def natural_less(left: str, right: str) -> bool:
    """github.com/fvbommel/sortorder NaturalLess, over UTF-8 bytes as Go compares strings."""
    a, b = left.encode(), right.encode()
    i = j = 0
    while i < len(a) and j < len(b):
        digit_a, digit_b = _digit(a[i]), _digit(b[j])
        if digit_a != digit_b:
            return digit_a  # digits before other characters
        if not digit_a:
            if a[i] != b[j]:
                return a[i] < b[j]
            i += 1
            j += 1
            continue
        while i < len(a) and a[i] == 48:
            i += 1
        while j < len(b) and b[j] == 48:
            j += 1
        start_a, start_b = i, j
        while i < len(a) and _digit(a[i]):
            i += 1
        while j < len(b) and _digit(b[j]):
            j += 1
        if i - start_a != j - start_b:
            return i - start_a < j - start_b
        if a[start_a:i] != b[start_b:j]:
            return a[start_a:i] < b[start_b:j]
        if start_a != start_b:
            return start_a < start_b
    return len(a) < len(b)


def _compare(left: str, right: str) -> int:
    return -1 if natural_less(left, right) else (1 if natural_less(right, left) else 0)


natural_key = functools.cmp_to_key(_compare)


def format_g4(value: float) -> str:
    """fmt.Sprintf("%.4g", v), the cell text of a short_text_metric."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return f"{value:.4g}"
