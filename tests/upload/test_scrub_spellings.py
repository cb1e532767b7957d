"""Known values in every JSON escape spelling, and quoted values redacted whole."""

from __future__ import annotations

import json

import pytest

from upload.scrub import REDACTED, Scrubber

VALUE = "p&ss<w>rd-ä/€-😀"


def _go_html_safe(text: str) -> str:
    """How Go's encoding/json writes a string: &, <, > as \\u0026, \\u003c, \\u003e (non-ASCII as is)."""
    return json.dumps(text, ensure_ascii=False).replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _upper_hex(text: str) -> str:
    return "".join(c if c.isascii() else "".join(f"\\u{u:04X}" for u in _utf16_units(c)) for c in text)


def _utf16_units(char: str) -> list[int]:
    data = char.encode("utf-16-be")
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]


SPELLINGS = {
    "python-ascii": json.dumps(VALUE),
    "python-unicode": json.dumps(VALUE, ensure_ascii=False),
    "go-html-safe": _go_html_safe(VALUE),
    "upper-case-hex": _upper_hex(VALUE),
    "escaped-slash": json.dumps(VALUE).replace("/", "\\/"),
    "every-char-escaped": "".join(f"\\u{u:04x}" for c in VALUE for u in _utf16_units(c)),
    "mixed": "p\\u0026ss\\u003Cw\\u003erd-\\u00E4\\/\u20ac-\\ud83d\\uDE00",
}


@pytest.mark.parametrize("spelling", list(SPELLINGS.values()), ids=list(SPELLINGS))
def test_every_json_escape_spelling_of_a_known_value_is_redacted(spelling):
    data = f'{{"message": "login with {spelling.strip(chr(34))} failed"}}\n'.encode()
    clean, count = Scrubber({"DB_PASSWORD": VALUE}).scrub_bytes(data)
    assert clean == f'{{"message": "login with {REDACTED} failed"}}\n'.encode() and count == 1


def test_a_value_holding_backslashes_is_found_plain_and_escaped():
    value = r"C:\new\table-key"
    scrubber = Scrubber({"API_TOKEN": value})
    for data in (f"path {value} end".encode(), json.dumps({"path": value}).encode()):
        clean, count = scrubber.scrub_bytes(data)
        assert b"new" not in clean and count == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('password="a b c"\n', 'password="[REDACTED]"\n'),
        ("export DB_PASSWORD='x y z' && run\n", "export DB_PASSWORD='[REDACTED]' && run\n"),
        ('--client-secret="with \\"quotes\\" inside" next\n', '--client-secret="[REDACTED]" next\n'),
        ("token: 'x y'\n", "token: [REDACTED]\n"),
        ('  password: "a b c"\n', "  password: [REDACTED]\n"),
        ('{"password": "a b c", "user": "me"}\n', '{"password": "[REDACTED]", "user": "me"}\n'),
    ],
    ids=["assign-double", "assign-single", "flag-escaped-quotes", "yaml-single", "yaml-double", "json"],
)
def test_quoted_values_are_redacted_whole(text, expected):
    assert Scrubber({}).scrub_text(text) == (expected, 1)
