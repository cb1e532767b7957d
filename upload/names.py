"""The object-name rule: which artifact file names become object names, and how.

Object names must map one-to-one from file names, or one file takes another's object. The rule is the
simplest one that is injective: a file whose relative path is clean is uploaded under exactly that path
(folders joined by '/'); any other file is refused with a finding and not uploaded. Clean means every
part is UTF-8, is not '.' or '..', holds no backslash (read as a folder separator by some readers: `a\\b.txt`
would take `a/b.txt`'s object) and no control or line-break character (CR, LF, NUL...), the whole path
fits in GCS's 1,024-byte object names under `logs/<job>/<build>/artifacts/`, and it does not start with
the name fedtest keeps for its own lint report (a file or a folder by that name). Identity on clean
names cannot collide, so no real file is lost.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Sequence

# logs/ + a 200-character job + / + a 16-digit build + /artifacts/ leaves this much of GCS's 1,024 bytes.
MAX_RELATIVE_BYTES = 768
RESERVED = ("fedtest-lint.txt",)  # written by the build record when lint finds problems


def printable(parts: Sequence[str] | str) -> str:
    """A file name for one line of text: undecodable bytes and control characters as escapes."""
    text = parts if isinstance(parts, str) else "/".join(parts)
    decoded = os.fsencode(text).decode("utf-8", "backslashreplace")
    return "".join(c if unicodedata.category(c)[0] != "C" else c.encode("unicode_escape").decode() for c in decoded)


def _part_problem(part: str) -> str | None:
    raw = os.fsencode(part)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "its name is not UTF-8 (object names are UTF-8)"
    if text in ("", ".", ".."):
        return f"its path has a {text!r} part"
    if "\\" in text:
        return "its name holds a backslash (read as a folder separator, it could take another file's object)"
    if any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in text):
        return "its name holds a control or line-break character"
    return None


def artifact_name(parts: Sequence[str], reserved: Sequence[str] = RESERVED) -> tuple[str | None, str | None]:
    """(object name relative to artifacts/, None) for a clean path, else (None, why it is refused).
    A refused file is not uploaded: its owner renames it.

    `parts` are the folder and file names as the OS gives them (str, undecodable bytes surrogate-escaped).
    """
    if not parts:
        return None, "empty path"
    for part in parts:
        problem = _part_problem(part)
        if problem:
            return None, problem
    name = "/".join(parts)
    if len(name.encode("utf-8")) > MAX_RELATIVE_BYTES:
        return None, f"its path is over {MAX_RELATIVE_BYTES} bytes (GCS names stop at 1,024)"
    if parts[0] in reserved:  # a folder by that name would take the report's place just the same
        return None, f"{parts[0]!r} at the top is kept for fedtest's lint report"
    return name, None
