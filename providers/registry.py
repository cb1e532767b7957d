"""Find providers by name through the `fedtest.providers` entry-point group.

Built-in providers are registered in pyproject.toml exactly like third-party ones, so a
plugin package only needs an entry point to appear in `python -m providers list`.
"""

from __future__ import annotations

import sys
from importlib.metadata import EntryPoint, entry_points

from providers.base import ConfigError, Provider

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
    return cls
