"""The credentials a run holds, as values the scrubber redacts: what kubeconfigs and key files contain.

A kubeconfig is read whole whatever its size (a credential in a big one is still a credential). Per user it
yields `token`, `password`, `client-key-data` and `client-certificate-data` (and the lines of the key inside),
the content of `tokenFile` and of the `client-key` / `client-certificate` files, every auth-provider config
value but the few that name a tool or a time, and the `exec` plugin's environment values and arguments (a flag
name alone, `--cluster-name`, is not a secret; its value, the next argument or `--flag=value`'s, may be).
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

MIN_VALUE_LENGTH = 6  # shorter values would wreck the log (KEY=1); real secrets are longer
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_PEM_BEGIN = re.compile(rb"-----BEGIN (?:[A-Z0-9]{1,24} ){0,4}PRIVATE KEY-----")
_PEM_END = re.compile(rb"-----END (?:[A-Z0-9]{1,24} ){0,4}PRIVATE KEY-----")
_USER_VALUES = ("token", "password", "client-key-data", "client-certificate-data")
_USER_FILES = ("tokenFile", "client-key", "client-certificate")
# auth-provider config keys that name a tool, a time or a JSON path, never a credential
_PROVIDER_NOT_SECRET = {"cmd-path", "cmd-args", "expiry", "expiry-key", "token-key", "idp-issuer-url", "environment",
                        "config-mode", "apiserver-id", "tenant-id", "client-id"}


def pem_lines(data: bytes) -> set[bytes]:
    """The base64 lines inside PEM private keys: a key printed in part is still the key."""
    lines: set[bytes] = set()
    for begin in _PEM_BEGIN.finditer(data):
        end = _PEM_END.search(data, begin.end())
        body = data[begin.end() : end.start() if end else len(data)]
        lines |= {line.strip() for line in body.splitlines() if len(line.strip()) >= 16}
    return lines


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (OSError, ValueError):
        return None


def _file_values(path: Path) -> Iterator[str | bytes]:
    """What a token, key or certificate file holds: its private key lines, or its text when one line."""
    data = _read(path)
    if data is None:
        return
    yield from pem_lines(data)
    text = data.strip()
    if text and b"\n" not in text:
        yield text


def _exec_values(plugin: dict[str, Any]) -> Iterator[str]:
    """An exec credential plugin's environment values and arguments, flag names left out."""
    for entry in plugin.get("env") or []:
        if isinstance(entry, dict) and entry.get("value") is not None:
            yield str(entry["value"])
    for arg in (str(a) for a in plugin.get("args") or []):
        if arg.startswith("-"):
            _name, equals, value = arg.partition("=")
            if equals:
                yield value
        else:
            yield arg


def _user_values(user: dict[str, Any], base: Path) -> Iterator[str | bytes]:
    yield from (str(user[name]) for name in _USER_VALUES if user.get(name))
    with contextlib.suppress(ValueError):  # the key inside client-key-data, line by line
        yield from pem_lines(base64.b64decode(str(user.get("client-key-data", ""))))
    for name in _USER_FILES:
        if user.get(name):
            yield from _file_values(base / Path(str(user[name])).expanduser())
    provider = user.get("auth-provider")
    config = provider.get("config") if isinstance(provider, dict) else None
    if isinstance(config, dict):
        yield from (str(v) for k, v in config.items() if v and str(k) not in _PROVIDER_NOT_SECRET)
    plugin = user.get("exec")
    if isinstance(plugin, dict):
        yield from _exec_values(plugin)


def kubeconfig_secrets(text: str | bytes, base: Path | None = None) -> set[str | bytes]:
    """The credentials a kubeconfig holds; empty when the text is not a kubeconfig. Relative file names
    (tokenFile, client-key) are read from `base`, the kubeconfig's folder."""
    try:
        doc = yaml.load(text, Loader=_SAFE_LOADER)  # a safe loader, the C one when built
    except (yaml.YAMLError, RecursionError, ValueError):
        return set()
    if not isinstance(doc, dict) or not isinstance(doc.get("users"), list):
        return set()
    found: set[str | bytes] = set()
    for entry in doc["users"]:
        user = entry.get("user") if isinstance(entry, dict) else None
        if isinstance(user, dict):
            found |= set(_user_values(user, base or Path.cwd()))
    return {v for v in found if len(v) >= MIN_VALUE_LENGTH}


def secret_file_values(path: Path) -> set[str | bytes]:
    """What one secret file holds, whatever its size: kubeconfig credentials, private key lines, or a
    one-line token. An unreadable or missing file holds nothing to find."""
    data = _read(path)
    if data is None:
        return set()
    values: set[str | bytes] = set(pem_lines(data))
    if b"users" in data:
        values |= kubeconfig_secrets(data, path.parent)
    token = data.strip()
    if token and len(token) <= 4096 and b"\n" not in token:
        values.add(token)
    return values


def kubeconfig_paths(names: Iterable[str | Path | None]) -> list[Path]:
    """Kubeconfig files from flags or variables, each maybe a list joined like $KUBECONFIG."""
    paths: list[Path] = []
    for name in names:
        if name:
            paths += [Path(part).expanduser() for part in str(name).split(os.pathsep) if part]
    return paths
