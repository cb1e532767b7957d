"""Property tests of the scrubber: whatever the bytes around it, no secret survives, and nothing else changes."""

from __future__ import annotations

import json

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from upload.scrub import REDACTED, TRIGGERS, Scrubber

MARKER = REDACTED.encode()
# A secret made of the marker's own letters could be spelled by the marker itself: keep them apart.
secrets = st.binary(min_size=6, max_size=48).filter(lambda b: not set(b) & set(MARKER))
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
credentials = st.text(B64, min_size=8, max_size=120)
# Everything a log or an artifact may hold: invalid UTF-8, NUL, CRLF, long and short lines.
pieces = st.one_of(
    st.binary(max_size=64),
    st.sampled_from([b"\n", b"\r\n", b"\x00", b"\xff\xfe", b"\xc3", b"\xe9", b" \t"]),
    st.integers(0, 3000).map(lambda n: b"A" * n),
)
surroundings = st.lists(pieces, max_size=12)


def _plain(chunk: bytes) -> bool:
    """Holds nothing that a pattern looks for, so only the known values may change it."""
    lowered = chunk.lower()
    return not any(t in lowered for t in TRIGGERS) and b"-----begin" not in lowered


@settings(max_examples=300, deadline=None)
@given(secret=secrets, around=surroundings, where=st.lists(st.integers(0, 12), min_size=1, max_size=4))
def test_a_known_value_never_survives_and_nothing_else_changes(secret, around, where):
    chunks = list(around)
    for index in where:
        chunks.insert(min(index, len(chunks)), secret)
    data = b"".join(chunks)
    assume(_plain(data.replace(secret, b"")))
    clean, count = Scrubber({}, extra_values=[secret]).scrub_bytes(data)
    assert secret not in clean
    assert clean == data.replace(secret, MARKER)
    assert count == data.count(secret)


@settings(max_examples=200, deadline=None)
@given(values=st.lists(secrets, min_size=1, max_size=5), around=surroundings, seed=st.randoms())
def test_several_known_values_none_survives(values, around, seed):
    chunks = list(around) + values + values[:1]
    seed.shuffle(chunks)
    clean, _count = Scrubber({}, extra_values=values).scrub_bytes(b"".join(chunks))
    for value in values:
        assert value not in clean


FORMS = [
    ("\n    token: {}\n", "yaml"),
    ("\n- client-key-data: {}\r\n", "yaml-list"),
    ('\n{{"client_secret": "{}"}}\n', "json"),
    ("\nAuthorization: Bearer {}\n", "bearer"),
    ("\nexport AZURE_CLIENT_SECRET={} \n", "assign"),
    ("\n--api-key={}\n", "flag"),
    ("\n-----BEGIN OPENSSH PRIVATE KEY-----\n{}\n-----END OPENSSH PRIVATE KEY-----\n", "pem"),
]


@settings(max_examples=400, deadline=None)
@given(
    value=credentials,
    form=st.sampled_from(FORMS),
    before=surroundings,
    after=surroundings,
    offset=st.integers(-10, 140),
)
def test_a_credential_in_any_surroundings_never_survives(value, form, before, after, offset):
    template, _name = form
    head, tail = b"".join(before), b"".join(after)
    assume(value.encode() not in head + tail)
    data = head + template.format(value).encode() + tail
    scrubber = Scrubber({})
    clean, count = scrubber.scrub_bytes(data)
    assert value.encode() not in clean
    assert count >= 1
    if _plain(head):
        assert clean.startswith(head)  # nothing before the credential changed
    cut = len(head) + offset + scrubber.stream(window=0).window  # the stream stops scrubbing a window earlier
    assert _scrub_in_chunks(scrubber, b"log line\n" * 700 + data, [cut + 6300]) == scrubber.scrub_bytes(
        b"log line\n" * 700 + data)


@settings(max_examples=200, deadline=None)
@given(around=surroundings)
def test_plain_bytes_pass_through_unchanged(around):
    data = b"".join(around)
    assume(_plain(data))
    assert Scrubber({"SOME_TOKEN": "never-in-the-data-\x01"}).scrub_bytes(data) == (data, 0)


# --- every spelling the scrubber claims, at any position, across chunk boundaries -------------------------

_MARK_CHARS = set(REDACTED)
unicode_values = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters="".join(_MARK_CHARS) + "\\"), min_size=6, max_size=24
).filter(lambda v: v.strip() == v and len(v.encode()) >= 6)
_SHORT = {'"': '\\"', "\\": "\\\\", "/": "\\/", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _units(char: str) -> list[int]:
    data = char.encode("utf-16-be")
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]


@st.composite
def json_spellings(draw: st.DrawFn, value: str) -> str:
    """One JSON spelling of `value`, chosen per character: as it is (where JSON allows), \\uXXXX in lower or
    upper case, or a short escape; as Python, Go (HTML-safe) and hand-written JSON may write it."""
    out = []
    for char in value:
        ways = ["lower", "upper"]
        if char not in '"\\' and ord(char) >= 0x20:
            ways.append("literal")
        if char in _SHORT:
            ways.append("short")
        way = draw(st.sampled_from(ways))
        if way == "literal":
            out.append(char)
        elif way == "short":
            out.append(_SHORT[char])
        else:
            out.append("".join(f"\\u{u:04x}" if way == "lower" else f"\\u{u:04X}" for u in _units(char)))
    return "".join(out)


@st.composite
def spelled_secrets(draw: st.DrawFn) -> tuple[str, bytes]:
    value = draw(unicode_values)
    how = draw(st.sampled_from(["utf-8", "latin-1", "utf-16-le", "python-json", "python-json-unicode", "any-json"]))
    if how == "python-json":
        return value, json.dumps(value)[1:-1].encode()
    if how == "python-json-unicode":
        return value, json.dumps(value, ensure_ascii=False)[1:-1].encode()
    if how == "any-json":
        return value, draw(json_spellings(value)).encode()
    try:
        return value, value.encode(how)
    except UnicodeEncodeError:
        return value, value.encode()


def _no_escape_before(head: bytes) -> bool:
    """A backslash right before an escape turns it into a literal one (`\\\\u0041` is not `A`)."""
    return not head.endswith(b"\\")


def _scrub_in_chunks(scrubber: Scrubber, data: bytes, cuts: list[int]) -> tuple[bytes, int]:
    stream = scrubber.stream(window=0, refuse_opaque=False)  # random bytes may hold a zlib stream by chance
    out, last = [], 0
    for cut in sorted({min(c, len(data)) for c in cuts}):
        out.append(stream.feed(data[last:cut]))
        last = cut
    out += [stream.feed(data[last:]), stream.close()]
    return b"".join(out), stream.redacted


@settings(max_examples=400, deadline=None)
@given(secret=spelled_secrets(), around=surroundings, after=surroundings, cuts=st.lists(st.integers(0, 20_000)))
def test_a_known_value_in_any_claimed_spelling_never_survives(secret, around, after, cuts):
    value, spelling = secret
    head, tail = b"".join(around), b"".join(after)
    assume(_no_escape_before(head))
    data = head + spelling + tail
    scrubber = Scrubber({}, extra_values=[value])
    whole = scrubber.scrub_bytes(data)
    assert spelling not in whole[0]
    assert whole[1] >= 1
    assert _scrub_in_chunks(scrubber, data, cuts) == whole  # chunked like a file: the same bytes


@settings(max_examples=300, deadline=None)
@given(secret=spelled_secrets(), filler=st.integers(1400, 6000), offset=st.integers(-40, 40))
def test_a_known_value_at_a_chunk_boundary_never_survives(secret, filler, offset):
    value, spelling = secret
    data = b"a log line\n" * (filler // 11) + spelling + b"\n" + b"z" * 3000
    scrubber = Scrubber({}, extra_values=[value])
    cut = data.index(spelling) + len(spelling) // 2 + offset + scrubber.stream(window=0).window  # scrubbing stops
    # a window before where the chunk ends: there the value is cut
    clean, _count = _scrub_in_chunks(scrubber, data, [cut])
    assert spelling not in clean and (clean, _count) == scrubber.scrub_bytes(data)


QUOTED = [
    ('\npassword="{}"\n', '\npassword="[REDACTED]"\n', "double"),
    ("\nexport DB_PASSWORD='{}' \n", "\nexport DB_PASSWORD='[REDACTED]' \n", "single"),
    ("\n  token: '{}'\n", "\n  token: [REDACTED]\n", "yaml-single"),
    ('\n{{"password": "{}"}}\n', '\n{{"password": "[REDACTED]"}}\n', "json"),
]
spaced = st.text(B64 + " ", min_size=1, max_size=60).filter(lambda v: v.strip() and "  " not in v)


@settings(max_examples=300, deadline=None)
@given(value=spaced, form=st.sampled_from(QUOTED), before=surroundings, after=surroundings)
def test_a_quoted_value_is_redacted_whole(value, form, before, after):
    template, expected, _name = form
    head, tail = b"".join(before), b"".join(after)
    assume(_plain(head) and _plain(tail) and value.encode() not in head + tail)
    data = head + template.format(value).encode() + tail
    clean, count = Scrubber({}).scrub_bytes(data)
    assert clean == head + expected.format().encode() + tail and count == 1


escapes = st.sampled_from([b"\\n", b"\\u0041", b"\\u00E4", b"\\/", b'\\"', b"\\\\", b"\\ud83d\\ude00", b"\\"])


@settings(max_examples=300, deadline=None)
@given(around=st.lists(st.one_of(pieces, escapes), max_size=20), cuts=st.lists(st.integers(0, 40_000)))
def test_text_without_secrets_passes_through_unchanged_in_any_chunks(around, cuts):
    data = b"".join(around)
    assume(_plain(data))
    scrubber = Scrubber({"SOME_TOKEN": "never-in-the-data-\x01", "OTHER_SECRET": "nor-thïs-one"})
    assert _scrub_in_chunks(scrubber, data, cuts) == (data, 0)
