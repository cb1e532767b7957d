"""Property tests of the scrubber: whatever the bytes around it, no secret survives, and nothing else changes."""

from __future__ import annotations

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
)
def test_a_credential_in_any_surroundings_never_survives(value, form, before, after):
    template, _name = form
    head, tail = b"".join(before), b"".join(after)
    assume(value.encode() not in head + tail)
    data = head + template.format(value).encode() + tail
    clean, count = Scrubber({}).scrub_bytes(data)
    assert value.encode() not in clean
    assert count >= 1
    if _plain(head):
        assert clean.startswith(head)  # nothing before the credential changed


@settings(max_examples=200, deadline=None)
@given(around=surroundings)
def test_plain_bytes_pass_through_unchanged(around):
    data = b"".join(around)
    assume(_plain(data))
    assert Scrubber({"SOME_TOKEN": "never-in-the-data-\x01"}).scrub_bytes(data) == (data, 0)
