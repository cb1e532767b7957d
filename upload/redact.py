"""Where the secrets are in a buffer: spans to replace, found in time linear in the buffer.

Two finders, whose spans are merged:

- Known values, with one Aho-Corasick automaton over every byte spelling of every value (leftmost-longest).
  JSON escapes are not spelled out per value (a value of n characters has 3^n+ mixed spellings: `\\u00e4`,
  `\\u00E4`, `\\/`, Go's `\\u0026`...). Instead the buffer gets a second, decoded view where every JSON escape
  stands for the character it names (UTF-8), with a map back to the escaped bytes; the same automaton runs
  over it, so every escape spelling of a value, mixed ones included, is its plain spelling there.
- Patterns, at the keywords one Aho-Corasick pass finds (case-insensitive): each keyword's checks read a
  bounded stretch around it (so a line of keywords costs what short lines cost), and a value, once found,
  is skipped as a whole.

A span that runs to the end of a buffer that is not the last one of a stream is "open": the stream redacts
to the end of the buffer and goes on skipping with the span's `resume` pattern in the next chunk.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass

import ahocorasick_rs

REDACTED = "[REDACTED]"
MARK = REDACTED.encode()
LOOKBEHIND = 64  # bytes before a keyword its checks read
REACH = 512  # bytes from a keyword's start that decide whether it leads a secret (values aside)

# Lower-cased keywords every pattern starts at.
TRIGGERS = (b"bearer", b"token", b"secret", b"passw", b"key", b"certificate-data", b"-----begin")
_TRIGGER_SEARCH = ahocorasick_rs.BytesAhoCorasick(TRIGGERS)

_TOKEN_CHARS = rb"A-Za-z0-9\-._~+/"
_BEARER = re.compile(rb"(?i)bearer[ \t]{1,64}(?P<value>[" + _TOKEN_CHARS + rb"]{8,}+=*+)")
_YAML_KEYS = rb"token|key-data|certificate-data|password|[sS]ecret"
_YAML = re.compile(
    rb"(?:" + _YAML_KEYS + rb")[ \t]{0,64}:[ \t]{0,64}(?P<value>(?!\[REDACTED\])(?:[\"'][^\r\n]|[^\s\"'#])[^\r\n]*+)"
)
_YAML_KEY = re.compile(rb"(?:" + _YAML_KEYS + rb")[ \t]{0,64}:")
_YAML_PREFIXES = (b"client-", b"client_", b"client", b"access-", b"refresh-", b"id-")  # lower case
_JSON_STRING = rb"(?:[^\"\\\r\n]|\\[^\r\n])"
_JSON = re.compile(
    rb"(?i)(?:token|key-data|key|certificate-data|password|secret)\"[ \t]{0,64}:[ \t]{0,64}\""
    rb"(?P<value>(?!\[REDACTED\])" + _JSON_STRING + rb"++)"
)
# A JSON key's opening quote and prefix, lower case: "client_secret", "accessToken", ...
_JSON_OPENERS = tuple(b'"' + p for p in (b"", b"client-", b"client_", b"client", b"access_", b"access", b"refresh_",
                                          b"id_", b"private_"))
_NAME_CHARS = re.compile(rb"[A-Za-z0-9_\-]*+")
MAX_NAME_TAIL = 256  # name characters after the keyword (so the name's end is in reach of a chunk's window)
_EQUALS = re.compile(rb"[ \t]{0,64}+=[ \t]{0,64}+")
_ASSIGN_VALUE = re.compile(
    rb"\"(?P<double>(?!\[REDACTED\])" + _JSON_STRING + rb"++)"
    rb"|'(?P<single>(?!\[REDACTED\])[^'\r\n]++)"
    rb"|(?P<bare>(?!\[REDACTED\])[^\s\"',;]{4,}+)"
)
_ASSIGN_KEYWORD = re.compile(rb"(?i)secret|token|passw(?:or)?d|(?:api|access|private)[_-]?key")
_KEY_PREFIX = re.compile(rb"(?:api|access|private)[_-]?\Z", re.IGNORECASE)
_PEM_BEGIN = re.compile(rb"-----BEGIN (?:[A-Z0-9]{1,24} ){0,4}PRIVATE KEY-----")
_PEM_END = re.compile(rb"-----END (?:[A-Z0-9]{1,24} ){0,4}PRIVATE KEY-----")
PEM_END_LONGEST = 128

# How an open span goes on in the next chunk: the rest of its value.
RESUME_LINE = re.compile(rb"[^\r\n]*+")
RESUME_JSON = re.compile(_JSON_STRING + rb"*+")
RESUME_SINGLE = re.compile(rb"[^'\r\n]*+")
RESUME_BARE = re.compile(rb"[^\s\"',;]*+")
RESUME_TOKEN = re.compile(rb"[" + _TOKEN_CHARS + rb"]*+=*+")
RESUME_PADDING = re.compile(rb"=*+")
RESUME_PEM = _PEM_END  # searched, not matched
_RESUME_OF_GROUP = {"double": RESUME_JSON, "single": RESUME_SINGLE, "bare": RESUME_BARE}

# A JSON escape (a surrogate pair first, so it decodes to one character).
_ESCAPE = re.compile(
    rb"\\(?:u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|([\"\\/bfnrt]))"
)
_SHORT_ESCAPES = {b'"': b'"', b"\\": b"\\", b"/": b"/", b"b": b"\b", b"f": b"\f", b"n": b"\n", b"r": b"\r",
                  b"t": b"\t"}


@dataclass(frozen=True)
class Span:
    """data[start:end] is replaced by `mark`; `resume` is set when the span may go on past the buffer."""

    start: int
    end: int
    mark: bytes = MARK
    resume: re.Pattern[bytes] | None = None
    anchor: int = -1  # where the keyword that found it starts (a known value: its start)

    @property
    def found_at(self) -> int:
        return self.start if self.anchor < 0 else self.anchor


class KnownValues:
    """Every byte spelling of the known values, in one automaton (longest first where they overlap)."""

    def __init__(self, spellings: dict[bytes, bytes]) -> None:
        self.needles = list(spellings)
        self.marks = [spellings[n] for n in self.needles]
        self._plain = set(self.needles)
        self.longest = max((len(n) for n in self.needles), default=0)
        self._search = (
            ahocorasick_rs.BytesAhoCorasick(self.needles, matchkind=ahocorasick_rs.MatchKind.LeftmostLongest)
            if self.needles
            else None
        )

    def spans(self, data: bytes, start: int) -> list[Span]:
        """Each known value in data[start:], plain or in any JSON escape spelling."""
        if self._search is None:
            return []
        view = memoryview(data)[start:]
        found = [Span(start + s, start + e, self.marks[i]) for i, s, e in self._search.find_matches_as_indexes(view)]
        if data.find(b"\\", start) >= 0:
            found += self._escaped_spans(data, start)
        return found

    def _escaped_spans(self, data: bytes, start: int) -> list[Span]:
        pieces: list[bytes] = []
        decoded_at: list[int] = []  # where each escape starts in the decoded view
        decoded_end: list[int] = []
        source_at: list[int] = []  # ... and in data
        source_end: list[int] = []
        last, length = start, 0
        for match in _ESCAPE.finditer(data, start):
            char = _decode_escape(match)
            pieces.append(data[last : match.start()])
            length += match.start() - last
            decoded_at.append(length)
            source_at.append(match.start())
            pieces.append(char)
            length += len(char)
            decoded_end.append(length)
            source_end.append(match.end())
            last = match.end()
        if not pieces:
            return []
        pieces.append(data[last:])
        decoded = b"".join(pieces)

        def source(offset: int, closing: bool) -> int:
            """Where a decoded offset lies in data; inside an escape: its start, or its end when `closing`."""
            index = bisect.bisect_right(decoded_at, offset - 1 if closing else offset) - 1
            if index < 0:
                return start + offset
            if offset < decoded_end[index] or (closing and offset <= decoded_end[index]):
                return source_end[index] if closing else source_at[index]
            return source_end[index] + offset - decoded_end[index]

        spans = []
        assert self._search is not None
        for _index, s, e in self._search.find_matches_as_indexes(decoded):
            begin, end = source(s, False), source(e, True)
            if data[begin:end] not in self._plain:  # spelled with escapes: not found by the plain pass
                spans.append(Span(begin, end))
        return spans


def _decode_escape(match: re.Match[bytes]) -> bytes:
    high, low, code, short = match.groups()
    if short is not None:
        return _SHORT_ESCAPES[short]
    if high is not None:
        return chr(0x10000 + ((int(high, 16) - 0xD800) << 10) + int(low, 16) - 0xDC00).encode()
    return chr(int(code, 16)).encode("utf-8", "surrogatepass")


def _blank_line_prefix(data: bytes, end: int, blank_before: bool) -> bool:
    """Whether only spaces, tabs and '-' stand between the start of the line and `end` (any distance);
    `blank_before` tells for the bytes before `data`."""
    if end > 0 and data[end - 1] not in b" \t-":
        return data[end - 1] == 0x0A
    near = data[max(0, end - 16) : end].rstrip(b" \t-")  # most keywords: a word close before them
    if near:
        return near.endswith(b"\n")
    while end > 0:
        start = max(0, end - 256)
        rest = data[start:end].rstrip(b" \t-")
        if rest:
            return rest.endswith(b"\n")
        end = start
    return blank_before


def blank_line_at(data: bytes, end: int, blank_before: bool) -> bool:
    """Whether the line holding data[end] has only spaces, tabs and '-' before it."""
    return _blank_line_prefix(data, end, blank_before)


def pattern_spans(data: bytes, start: int, final: bool, blank_before: bool) -> list[Span]:
    """Bearer tokens, PEM private keys, YAML and JSON credentials and secret-looking assignments whose
    keyword starts in data[start:]; data[:start] is context only."""
    lowered = data.lower()  # ASCII-only for bytes: offsets stay the same
    spans: list[Span] = []
    last = start
    name = (0, -1)  # the last NAME run looked at: keywords inside it share its end
    hits = _TRIGGER_SEARCH.find_matches_as_indexes(memoryview(lowered)[start:], True)
    for pos in sorted({start + s for _t, s, _e in hits}):
        if pos < last:
            continue  # inside a value already redacted
        span = _value_at(data, lowered, pos, blank_before)
        if span is None:
            span, name = _assignment_at(data, pos, name)
        if span is not None:
            if not final and _runs_on(data, span):
                spans.append(Span(span.start, span.end, span.mark, span.resume, pos))  # open: skipped on in
                break  # the next chunk
            spans.append(Span(span.start, span.end, span.mark, anchor=pos))
            last = span.end
    return spans


def _runs_on(data: bytes, span: Span) -> bool:
    """Whether the value may go on past the buffer: it reaches its end (a JSON string up to a backslash
    that escapes what the next chunk starts with, too; that backslash is left to the stream)."""
    if span.resume is None:
        return False
    if span.end == len(data):
        return True
    return span.resume is RESUME_JSON and span.end == len(data) - 1 and data[-1] == 0x5C


def _value_at(data: bytes, lowered: bytes, pos: int, blank_before: bool) -> Span | None:
    """The span of a bearer token, PEM key, YAML or JSON credential whose keyword starts at `pos`."""
    first = lowered[pos]
    if first == 0x62 and lowered.startswith(b"bearer", pos):  # b'b
        if pos > 0 and (data[pos - 1 : pos].isalnum() or data[pos - 1] == 0x5F):
            return None  # part of a longer word
        match = _BEARER.match(data, pos)
        if not match:
            return None
        value = match.group("value")
        return Span(*match.span("value"), resume=RESUME_PADDING if value.endswith(b"=") else RESUME_TOKEN)
    if first == 0x2D:  # '-': -----begin
        begin = _PEM_BEGIN.match(data, pos)
        if not begin:
            return None
        end = _PEM_END.search(data, begin.end())
        return Span(pos, end.end()) if end else Span(pos, len(data), resume=RESUME_PEM)
    if lowered.endswith(_JSON_OPENERS, pos - 9 if pos > 9 else 0, pos):
        match = _JSON.match(data, pos)
        if match:
            return Span(*match.span("value"), resume=RESUME_JSON)
    if _YAML_KEY.match(data, pos) and _yaml_line_start(data, lowered, pos, blank_before):
        match = _YAML.match(data, pos)  # the key and its colon first: the value is read only for a real key
        if match:
            return Span(*match.span("value"), resume=RESUME_LINE)
    return None


def _yaml_line_start(data: bytes, lowered: bytes, pos: int, blank_before: bool) -> bool:
    """Whether the key at `pos`, with its prefix (client-, access-, ...), has only blanks before it on its line."""
    if _blank_line_prefix(data, pos, blank_before):
        return True
    if not lowered.endswith(_YAML_PREFIXES, pos - 8 if pos > 8 else 0, pos):
        return False
    prefix = next(p for p in _YAML_PREFIXES if lowered.endswith(p, 0, pos))
    return _blank_line_prefix(data, pos - len(prefix), blank_before)


def _assignment_at(data: bytes, pos: int, name: tuple[int, int]) -> tuple[Span | None, tuple[int, int]]:
    """`NAME=value` where NAME holds a secret-looking word at `pos` and goes on for at most MAX_NAME_TAIL
    more name characters; a quoted value is redacted whole, its quotes kept. `name` is the (start, end) of
    the run of name characters last looked at: a keyword inside it has the same end, so a long word full
    of keywords is read once."""
    keyword = _ASSIGN_KEYWORD.match(data, pos)
    if keyword is not None:
        end = keyword.end()
    elif data[pos : pos + 3].lower() == b"key" and _KEY_PREFIX.search(data[max(0, pos - 8) : pos]):
        end = pos + 3  # api_key, access-key, private_key; "key" alone (SSH_KEY_PATH) is not secret
    else:
        return None, name
    if not name[0] <= end <= name[1]:
        name = (end, _NAME_CHARS.match(data, end).end())  # type: ignore[union-attr]  # matches empty
    if name[1] - end > MAX_NAME_TAIL:
        return None, name
    equals = _EQUALS.match(data, name[1])
    value = _ASSIGN_VALUE.match(data, equals.end()) if equals else None
    if value is None:
        return None, name
    group = value.lastgroup or "bare"
    return Span(*value.span(group), resume=_RESUME_OF_GROUP[group]), name


def merge(spans: Iterable[Span]) -> list[Span]:
    """Overlapping spans as one (the plain marker when it joins several); spans that only touch stay apart."""
    merged: list[Span] = []
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        if merged and span.start < merged[-1].end:
            top = merged[-1]
            resume = span.resume if span.end >= top.end and span.resume is not None else top.resume
            anchor = min(top.found_at, span.found_at)
            if span.end > top.end or resume is not top.resume or anchor != top.found_at:
                merged[-1] = Span(top.start, max(top.end, span.end), MARK, resume, anchor)
            continue
        merged.append(span)
    return merged
