"""Typed provider settings: each provider declares a dataclass; one parser fills it from KEY=VALUE pairs.

A provider's settings class is a frozen dataclass whose fields are made with `setting(...)`: the field's
type (str, int, float, bool, tuple[str, ...]), its default and its help text are the declaration that
the parser, the CLI help and the README table all read, so none of them can drift from the code.

Every mistake is one line naming the key, the value and a fix (a ConfigError):
unknown keys, values that are not of the field's type, values a field's `check` refuses, and settings
a provider needs to create clusters (`needed="up"`) or always (`needed="always"`).
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import os
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from providers.base import ConfigError, NoSettings

_META = "fedtest.setting"
_TRUE, _FALSE = ("true", "yes", "1", "on"), ("false", "no", "0", "off")


@dataclass(frozen=True)
class Rule:
    """What the parser knows of one setting beyond its type and default."""

    help: str
    example: str = ""
    what: str = ""  # what a valid value is ("a CIDR"), for the error line
    check: Callable[[Any], Any] | None = None  # value -> value; raise ValueError(detail) to refuse
    env: tuple[str, ...] = ()  # environment variables read when the key is not given
    fallback: Callable[[], str | None] | None = None  # last resort when neither key nor env is set
    needed: str = ""  # "", "up" (only to create clusters) or "always"
    missing: str = ""  # the problem line when a needed setting is absent
    bounds: tuple[float, float | None] | None = None  # numbers: low, high (None: no upper bound)
    secret: bool = False  # never recorded in the ledger or printed


def setting(default: Any, help: str, **rule: Any) -> Any:
    """A dataclass field carrying its Rule; `default` may be a tuple (immutable, so shared safely)."""
    return dataclasses.field(default=default, metadata={_META: Rule(help, **rule)})


class SettingHelp(NamedTuple):
    key: str
    type_name: str
    default: str
    help: str


def _rule(field: dataclasses.Field[Any]) -> Rule:
    return field.metadata.get(_META) or Rule("")


def _types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _type_name(annotation: Any) -> str:
    if typing.get_origin(annotation) is tuple:
        return "list"
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    base = args[0] if args else annotation
    return getattr(base, "__name__", str(base))


def format_value(value: Any) -> str:
    """A value as the user writes it: lists comma-joined, booleans lower-case."""
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def _opt(key: str, value: str = "") -> str:
    return f"--provider-opt {key}={value}"


def _number(key: str, raw: str, kind: type, rule: Rule, default: Any) -> int | float:
    low, high = rule.bounds or (float("-inf"), None)
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or value < low or (high is not None and value > high):
        span = f"from {format_value(float(low))} to {format_value(float(high))}" if high is not None else (
            f"of at least {format_value(float(low))}" if rule.bounds else "")
        raise ConfigError(f"{_opt(key, raw)} is not a number {span}".rstrip(),
                          f"pass e.g. {_opt(key, format_value(default))}")
    return value


def _convert(key: str, raw: str, annotation: Any, rule: Rule, default: Any) -> Any:
    kind = _type_name(annotation)
    if kind == "list":
        value: Any = tuple(part.strip() for part in raw.split(",") if part.strip())
        if not value:
            raise ConfigError(f"{_opt(key, raw)} is not {rule.what or 'a comma-separated list'}",
                              f"write it as {_opt(key, rule.example or 'a,b')}")
    elif kind in ("int", "float"):
        value = _number(key, raw, int if kind == "int" else float, rule, default)
    elif kind == "bool":
        if raw.lower() not in _TRUE + _FALSE:
            raise ConfigError(f"{_opt(key, raw)} is not true or false", f"write {key}=false or {key}=true")
        value = raw.lower() in _TRUE
    else:
        value = raw
    if rule.check is not None:
        try:
            value = rule.check(value)
        except ValueError as err:
            detail = f" ({err})" if str(err) else ""
            raise ConfigError(f"{_opt(key, raw)} is not {rule.what or 'valid'}{detail}",
                              f"write it as {_opt(key, rule.example)}") from None
    return value


def unknown_key(provider: str, key: str, known: list[str]) -> ConfigError:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    return ConfigError(f"{provider} does not know {_opt(key).rstrip('=')} (unknown {provider} option {key!r})",
                       f"{hint}use one of: {', '.join(known) or '(none: it takes no settings)'}")


__all__ = ["NoSettings", "Rule", "SettingHelp", "format_value", "help_rows", "parse", "require", "setting",
           "to_pairs"]


def parse(cls: type[Any], values: Mapping[str, str], provider: str,
          environ: Mapping[str, str] | None = None) -> Any:
    """`cls` filled from `values` (KEY=VALUE already split), then the fields' env and fallbacks.

    An empty value counts as not given. Only settings needed "always" are demanded here;
    `require(settings, provider, "up")` demands the ones needed to create clusters.
    """
    environ = os.environ if environ is None else environ
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in values:
        if key not in fields:
            raise unknown_key(provider, key, list(fields))
    types = _types(cls)
    given: dict[str, Any] = {}
    for name, field in fields.items():
        rule = _rule(field)
        raw = (values.get(name) or "").strip()
        if not raw:
            raw = next((environ[e].strip() for e in rule.env if environ.get(e, "").strip()), "")
        if not raw and rule.fallback is not None:
            raw = (rule.fallback() or "").strip()
        if raw:
            given[name] = _convert(name, raw, types[name], rule, field.default)
    settings = cls(**given)
    require(settings, provider, "always")
    return settings


def require(settings: Any, provider: str, stage: str) -> None:
    """Raise a one-line ConfigError for the first setting needed at `stage` ("up" or "always") left unset."""
    stages = ("always",) if stage == "always" else ("always", "up")
    for field in dataclasses.fields(settings):
        rule = _rule(field)
        if rule.needed in stages and not getattr(settings, field.name):
            env = f" or set {rule.env[0]}" if rule.env else ""
            raise ConfigError(rule.missing or f"no {provider} {field.name} given",
                              f"pass {_opt(field.name, rule.example or 'VALUE')}{env}")


def help_rows(cls: type[Any]) -> list[SettingHelp]:
    """One row per setting (the class's own first, then inherited): key, type name, default as written
    on the command line, help text."""
    types = _types(cls)
    own = inspect.get_annotations(cls)
    rows = []
    for field in sorted(dataclasses.fields(cls), key=lambda f: f.name not in own):
        rule = _rule(field)
        text = rule.help
        if rule.env:
            text += f" Else ${' or $'.join(rule.env)}."
        if rule.needed:
            text += " Required." if rule.needed == "always" else " Required to create clusters."
        rows.append(SettingHelp(field.name, _type_name(types[field.name]), format_value(field.default), text))
    return rows


def to_pairs(settings: Any) -> list[str]:
    """The non-secret settings that differ from their defaults, as KEY=VALUE: enough to rebuild the provider."""
    pairs = []
    for field in dataclasses.fields(settings):
        value = getattr(settings, field.name)
        if not _rule(field).secret and value != field.default:
            pairs.append(f"{field.name}={format_value(value)}")
    return pairs
