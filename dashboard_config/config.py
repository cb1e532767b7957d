"""TestGrid YAML files merged the way test-infra merges config/testgrids/: lists concatenated,
each entry remembering the file it came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dashboard_config.problems import CheckError

SECTIONS = ("test_groups", "dashboards", "dashboard_groups")


@dataclass
class Entry:
    file: str
    data: dict[str, Any]

    @property
    def name(self) -> str:
        value = self.data.get("name")
        return value if isinstance(value, str) else ""


@dataclass
class Config:
    files: list[str] = field(default_factory=list)
    test_groups: list[Entry] = field(default_factory=list)
    dashboards: list[Entry] = field(default_factory=list)
    dashboard_groups: list[Entry] = field(default_factory=list)


def display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def load(config_dir: Path) -> Config:
    paths = sorted(config_dir.rglob("*.yaml")) if config_dir.is_dir() else []
    if not paths:
        raise CheckError(f"no TestGrid YAML under {config_dir} (pass --config DIR with *.yaml files)")
    config = Config()
    for path in paths:
        name = display(path)
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as error:
            raise CheckError(f"{name}: not YAML ({str(error).splitlines()[0]}): fix the syntax") from error
        if not isinstance(document, dict):
            raise CheckError(f"{name}: expected a mapping with {', '.join(SECTIONS)}")
        config.files.append(name)
        for section in SECTIONS:
            items = document.get(section) or []
            if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
                raise CheckError(f"{name}: {section} must be a list of mappings")
            getattr(config, section).extend(Entry(name, item) for item in items)
    return config
