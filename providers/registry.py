"""Find providers by name through the `fedtest.providers` entry-point group.

Built-in providers are registered in pyproject.toml exactly like third-party ones, so a
plugin package only needs an entry point to appear in `python -m providers list`.
"""

from __future__ import annotations

import sys
from importlib.metadata import EntryPoint, entry_points

from providers import settings
from providers.base import ConfigError, Inventory, Provider, Sweeper, missing_verbs
from providers.settings import SettingHelp

GROUP = "fedtest.providers"


def _entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def names() -> list[str]:
    return sorted(_entry_points())


def load(name: str) -> type[Provider]:
    """The provider class registered as `name`; a ConfigError names the known ones."""
    found = _entry_points()
    if not found:
        raise ConfigError(
            "no providers are registered (fedtest is not installed)",
            "run `pip install -e .` in the fedtest checkout, or use tox",
        )
    if name not in found:
        raise ConfigError(f"unknown provider {name!r}", f"use one of: {', '.join(sorted(found))}")
    try:
        cls = found[name].load()
    except ModuleNotFoundError as err:  # most often: fedtest run by an interpreter it is not installed in
        raise ConfigError(
            f"provider {name!r} failed to load ({type(err).__name__}: {err})",
            f"install its package into {sys.executable} (for fedtest itself: pip install -e . in the checkout), "
            "or run fedtest from the virtualenv it is installed in (.tox/e2e-<provider>/bin/fedtest)",
        ) from err
    except Exception as err:  # a broken plugin must not take the CLI down with a traceback
        raise ConfigError(
            f"provider {name!r} failed to load ({type(err).__name__}: {err})",
            f"fix or uninstall the package providing {found[name].value}",
        ) from err
    if not (isinstance(cls, type) and issubclass(cls, Provider)):
        raise ConfigError(f"entry point {name!r} is not a Provider subclass", f"check {found[name].value}")
    unimplemented = sorted(missing_verbs(cls) + list(getattr(cls, "__abstractmethods__", ())))
    if unimplemented:
        raise ConfigError(f"provider {name!r} does not implement {', '.join(unimplemented)}",
                          f"implement them in {found[name].value} or drop the capability it declares")
    return cls


def runs_here(cls: type[Provider]) -> tuple[bool, str]:
    """Whether the provider can run on this machine, by its own `runs_here()` classmethod (tools on PATH, a
    daemon answering), and what it found or why not. A provider without one needs nothing local."""
    check = getattr(cls, "runs_here", None)
    if check is None:
        return True, ""
    try:
        return True, str(check() or "")
    except ConfigError as err:
        return False, str(err)


def settings_help(name: str) -> list[SettingHelp]:
    """(key, type_name, default, help) of each setting provider `name` declares, for CLI help."""
    return settings.help_rows(load(name).Settings)


BUILT_IN = ("kind", "gce", "azure", "existing")


def settings_table(names: tuple[str, ...] = BUILT_IN) -> str:
    """The README's provider settings table, from the declarations (providers without settings left out)."""
    lines = ["| provider | setting | type | default | meaning |", "|---|---|---|---|---|"]
    for name in names:
        for row in settings_help(name):
            cells = (f"`{name}`", f"`{row.key}`", row.type_name, f"`{row.default}`" if row.default else "", row.help)
            lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def settings_pairs(provider: Provider) -> list[str]:
    """The provider's non-secret settings that differ from their defaults, as KEY=VALUE strings.

    Recorded in the ledger, they rebuild the same provider for `down` and `status`:
    `options.build(..., extra=pairs)` and `load(name)(options)`.
    """
    return settings.to_pairs(provider.settings)


def inventory(provider: Provider) -> Inventory | None:
    """The provider's inventory capability (leaks), or None when it owns nothing that could leak."""
    return provider if isinstance(provider, Inventory) else None


def sweeper(provider: Provider) -> Sweeper:
    """The provider's janitor capability, or a one-line ConfigError when it has none."""
    if not isinstance(provider, Sweeper):
        raise ConfigError(f"provider {provider.name!r} has no janitor: its resources carry no expiry",
                          "run the janitor for a cloud provider (azure, gce)")
    return provider
