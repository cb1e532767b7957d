"""Compressed or archived content, found by its bytes anywhere in a file (not by its name, not only at its start).

The scrubber cannot see secrets inside such content, so a file holding it is refused. One Aho-Corasick pass
finds every signature; a signature counts only when what follows it is what the format says: weak ones
(zlib's two bytes, lzma-alone's three, gzip's three) only when the standard library's decoder accepts the
bytes after them, so ordinary text that happens to hold `x^` or `(S` is not refused.

Formats: zip (a local file header or the end-of-central-directory record, so a zip with bytes in front of
it, the self-extracting layout, is found too), gzip, zlib, xz, lzma-alone, bzip2, zstd, 7z, lz4 and tar
(a POSIX or GNU header whose checksum holds, wherever it sits: a tar member inside other bytes is found).
"""

from __future__ import annotations

import bz2
import lzma
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import ahocorasick_rs

BEFORE = 257  # a tar header's magic sits 257 bytes into the header
AFTER = 1024  # the bytes after a signature a check reads (a tar header's rest; a decoder's sample)
SAMPLE = 1024
ZLIB_MIN_CONSUMED = 64  # a zlib candidate that is not a whole stream must decode at least this much


@dataclass(frozen=True)
class Opaque:
    """Content the scrubber cannot see into: its format and where it starts in the file."""

    kind: str
    offset: int


def _decodes(make: Callable[[], object], data: bytes, min_consumed: int = 0) -> bool:
    """Whether a decoder takes these bytes without error (a stream cut short by the sample is fine)."""
    decoder = make()
    try:
        decoder.decompress(data[:SAMPLE])  # type: ignore[attr-defined]
    except (zlib.error, lzma.LZMAError, OSError, EOFError, ValueError):
        return False
    if getattr(decoder, "eof", False):
        return True
    unused = len(getattr(decoder, "unconsumed_tail", b"")) + len(getattr(decoder, "unused_data", b""))
    return min(len(data), SAMPLE) - unused >= min_consumed


def _gzip(data: bytes, pos: int) -> bool:
    return len(data) > pos + 3 and not data[pos + 3] & 0xE0 and _decodes(lambda: zlib.decompressobj(31), data[pos:])


def _zlib(data: bytes, pos: int) -> bool:
    return _decodes(zlib.decompressobj, data[pos:], ZLIB_MIN_CONSUMED)


def _lzma_alone(data: bytes, pos: int) -> bool:
    return _decodes(lambda: lzma.LZMADecompressor(lzma.FORMAT_ALONE), data[pos:], 16)


def _bzip2(data: bytes, pos: int) -> bool:
    return _decodes(bz2.BZ2Decompressor, data[pos:])


def _zstd(data: bytes, pos: int) -> bool:
    return len(data) > pos + 4 and not data[pos + 4] & 0x08  # frame header descriptor: reserved bit clear


def _lz4(data: bytes, pos: int) -> bool:
    return len(data) > pos + 4 and data[pos + 4] >> 6 == 1 and not data[pos + 4] & 0x02  # version 01


ZIP_METHODS = {0, 1, 6, 8, 9, 12, 14, 19, 93, 95, 96, 97, 98, 99}


def _zip_entry(data: bytes, pos: int) -> bool:
    """A local file header: a version, a known method and a file name of sane length."""
    if len(data) < pos + 30:
        return False
    version, _flags, method = struct.unpack_from("<HHH", data, pos + 4)
    name_length = struct.unpack_from("<H", data, pos + 26)[0]
    return version <= 63 and method in ZIP_METHODS and 0 < name_length <= 4096


def _zip_end(data: bytes, pos: int) -> bool:
    """The end-of-central-directory record: one disk, its entries all on it."""
    if len(data) < pos + 22:
        return False
    disk, cd_disk, on_disk, total = struct.unpack_from("<HHHH", data, pos + 4)
    return disk == cd_disk and disk < 256 and on_disk == total


def _tar(data: bytes, pos: int) -> bool:
    """A tar header (magic at 257) whose checksum is the sum of its bytes, checksum field as spaces."""
    start = pos - 257
    header = data[start : start + 512]
    if start < 0 or len(header) < 512:
        return False
    field = header[148:156].strip(b" \x00")
    try:
        stated = int(field, 8)
    except ValueError:
        return False
    return stated == sum(header[:148]) + 8 * 32 + sum(header[156:])


def _always(_data: bytes, _pos: int) -> bool:
    return True


def _zlib_headers() -> list[bytes]:
    """Every zlib header: deflate, a window of at most 32 KiB, no preset dictionary, check bits right."""
    return [
        bytes([cmf, flg])
        for cmf in range(0x08, 0x80, 0x10)
        for flg in range(256)
        if (cmf * 256 + flg) % 31 == 0 and not flg & 0x20
    ]


SIGNATURES: list[tuple[bytes, str, Callable[[bytes, int], bool]]] = [
    (b"PK\x03\x04", "zip", _zip_entry),
    (b"PK\x05\x06", "zip", _zip_end),
    (b"\x1f\x8b\x08", "gzip", _gzip),
    (b"\xfd7zXZ\x00", "xz", _always),
    (b"\x5d\x00\x00", "lzma", _lzma_alone),
    (b"\x28\xb5\x2f\xfd", "zstd", _zstd),
    (b"7z\xbc\xaf\x27\x1c", "7z", _always),
    (b"\x04\x22\x4d\x18", "lz4", _lz4),
    (b"ustar\x0000", "tar", _tar),
    (b"ustar  \x00", "tar", _tar),
    *((b"BZh" + bytes([level]), "bzip2", _bzip2) for level in b"123456789"),
    *((header, "zlib", _zlib) for header in _zlib_headers()),
]
_FIND = ahocorasick_rs.BytesAhoCorasick([magic for magic, _kind, _check in SIGNATURES])
LONGEST = max(len(magic) for magic, _kind, _check in SIGNATURES)


def find_opaque(data: bytes, start: int = 0, stop: int | None = None) -> Opaque | None:
    """The first compressed or archived content whose signature starts in data[start:stop]; offsets are
    into `data` (bytes before `start` and after `stop` are context for the checks)."""
    stop = len(data) if stop is None else stop
    for index, pos, _end in _FIND.find_matches_as_indexes(data, True):
        if start <= pos < stop:
            _magic, kind, check = SIGNATURES[index]
            if check(data, pos):
                return Opaque(kind, pos - 257 if kind == "tar" else pos)
    return None


class OpaqueScanner:
    """find_opaque over a stream of chunks: the bytes around each chunk's edges are kept, so a signature
    (and the bytes its check reads) across two chunks is found as in one piece."""

    def __init__(self) -> None:
        self._window = b""  # the last bytes seen: context before, and signatures not yet checked
        self._checked = 0  # offset in _window from which signatures are still to check
        self._offset = 0  # the file offset of _window[0]

    def feed(self, chunk: bytes, final: bool = False) -> Opaque | None:
        data = self._window + chunk
        stop = len(data) if final else max(self._checked, len(data) - AFTER)
        found = find_opaque(data, self._checked, stop)
        if found is not None:
            return Opaque(found.kind, self._offset + found.offset)
        keep = max(0, min(stop, len(data)) - BEFORE)
        self._window, self._checked = data[keep:], stop - keep
        self._offset += keep
        return None
