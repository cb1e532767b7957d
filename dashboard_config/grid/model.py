"""Dashboards, tabs and columns from the TestGrid config and a results tree (the I/O around testgrid.py)."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from dashboard_config.config import Config
from dashboard_config.grid import build as column_rules
from dashboard_config.grid import summary, testgrid
from dashboard_config.grid.build import BuildFiles
from dashboard_config.grid.testgrid import OVERALL, Column
from dashboard_config.grid.tree import ReadError, Tree
from upload import layout
from upload.errors import ConfigError

DEFAULT_DAYS = 7  # the updater's default when a test group sets no days_of_results
UNCONFIGURED = "jobs without a test group"
NATURAL = re.compile(r"(\d+)")


def natural_key(name: str) -> list[Any]:
    """util/gcs/sort.go: digit runs compare as numbers, so build 10 sorts after build 9."""
    return [int(part) if part.isdigit() else part for part in NATURAL.split(name)]


@dataclass
class Tab:
    dashboard: str
    name: str
    test_group: str
    description: str
    job_prefix: str
    headers: list[str]
    columns: list[Column]
    rows: list[str]
    links: list[dict[str, str]]
    state: summary.TabState


@dataclass
class Dashboard:
    name: str
    description: str
    tabs: list[Tab] = field(default_factory=list)


def job_prefix(gcs_prefix: str) -> str:
    """A test group's gcs_prefix is `bucket/path`; the results tree stands for the bucket."""
    parts = gcs_prefix.strip("/").split("/", 1)
    return parts[1] if len(parts) == 2 else ""


def read_build(tree: Tree, prefix: str, build: str) -> BuildFiles | str:
    """The files TestGrid reads for one build, or the reason it could not read them."""
    base = f"{prefix}/{build}"
    try:
        names = tree.files(base)
        junit = [(name, tree.read(f"{base}/{name}") or b"") for name in names if testgrid.is_junit(name)]
        return BuildFiles(
            build,
            tree.read(f"{base}/{layout.STARTED}") if layout.STARTED in names else None,
            tree.read(f"{base}/{layout.FINISHED}") if layout.FINISHED in names else None,
            junit,
        )
    except ReadError as error:
        return str(error)


def read_columns(tree: Tree, prefix: str, headers: list[str], days: float, now: float) -> list[Column]:
    """Every build of the job within `days`, newest first (pkg/updater/read.go readColumns)."""
    builds = sorted(tree.folders(prefix), key=natural_key, reverse=True)
    with ThreadPoolExecutor(max_workers=16) as pool:
        read = list(pool.map(lambda b: read_build(tree, prefix, b), builds))
    columns: list[Column] = []
    started, failures, extra = 0.0, 0, [""] * len(headers)
    for build, files in reversed(list(zip(builds, read, strict=True))):  # oldest first, as the updater reads
        try:
            if isinstance(files, str):
                raise ValueError(files)
            column = column_rules.convert_build(files, headers, now, now - days * 86400)
        except ValueError as error:
            failures += 1
            where = f"{tree.url}/{prefix}/{build}"
            columns.append(
                column_rules.errored_column(
                    build, started + 0.01 * failures, extra, f"Failed to download {where}: {error}"
                )
            )
            continue
        if column is not None:
            columns.append(column)
            started, failures, extra = column.started, 0, column.extra
    columns.sort(key=lambda c: (c.started, natural_key(c.build)), reverse=True)
    return columns


def row_names(columns: list[Column]) -> list[str]:
    names = {name for column in columns for name in column.cells}
    return [OVERALL, *sorted(names - {OVERALL})] if names else []


def _options(tab: dict[str, Any], group: dict[str, Any]) -> dict[str, Any]:
    alert = tab.get("alert_options") or {}
    return {
        "stale_hours": alert.get("alert_stale_results_hours") or group.get("alert_stale_results_hours") or 0,
        "failures_to_alert": alert.get("num_failures_to_alert") or group.get("num_failures_to_alert") or 0,
        "recent": tab.get("num_columns_recent") or group.get("num_columns_recent") or 0,
    }


def make_tab(
    tree: Tree, dashboard: str, tab: dict[str, Any], group: dict[str, Any], days: float | None, now: float, cache
) -> Tab:
    prefix = job_prefix(str(group.get("gcs_prefix", "")))
    headers = _header_names(group)
    window = days if days is not None else group.get("days_of_results") or DEFAULT_DAYS
    key = (prefix, tuple(headers), window)
    if key not in cache:
        cache[key] = read_columns(tree, prefix, headers, window, now)
    columns = cache[key]
    rows = row_names(columns)
    links = [
        {
            "log": tree.link(f"{prefix}/{c.build}/{layout.BUILD_LOG}"),
            "artifacts": tree.link(f"{prefix}/{c.build}/{layout.ARTIFACTS}", folder=True),
        }
        for c in columns
    ]
    state = summary.tab_state(columns, rows, now, **_options(tab, group))
    return Tab(
        dashboard,
        str(tab.get("name", "")),
        str(group.get("name", "")),
        str(tab.get("description", "")),
        prefix,
        headers,
        columns,
        rows,
        links,
        state,
    )


def build_dashboards(
    config: Config, tree: Tree, days: float | None = None, now: float | None = None
) -> list[Dashboard]:
    """The configured dashboards, plus jobs in the tree that no test group reads (so a local run shows)."""
    now = time.time() if now is None else now
    groups = {entry.name: entry.data for entry in config.test_groups}
    cache: dict[Any, list[Column]] = {}
    dashboards = []
    for entry in config.dashboards:
        dashboard = Dashboard(entry.name, str(entry.data.get("description", "")))
        for tab in entry.data.get("dashboard_tab") or []:
            group = groups.get(str(tab.get("test_group_name", "")))
            if group is None:
                raise ConfigError(
                    f"{entry.file}: dashboard {entry.name!r} tab {tab.get('name')!r} names test group "
                    f"{tab.get('test_group_name')!r}, which no file defines",
                    "add the test group or fix test_group_name (python -m dashboard_config check)",
                )
            dashboard.tabs.append(make_tab(tree, entry.name, tab, group, days, now, cache))
        dashboards.append(dashboard)
    configured = {job_prefix(str(g.get("gcs_prefix", ""))) for g in groups.values()}
    headers = list(dict.fromkeys(h for g in groups.values() for h in _header_names(g)))
    other = Dashboard(UNCONFIGURED, "Jobs found in the results that no test group in the config reads.")
    for job in sorted(tree.folders("logs"), key=natural_key):
        if f"logs/{job}" not in configured:
            group = {
                "name": job,
                "gcs_prefix": f"bucket/logs/{job}",
                "column_header": [{"configuration_value": h} for h in headers],
            }
            other.tabs.append(make_tab(tree, other.name, {"name": job}, group, days, now, cache))
    if other.tabs:
        dashboards.append(other)
    return dashboards


def _header_names(group: dict[str, Any]) -> list[str]:
    return [str(h.get("configuration_value")) for h in group.get("column_header") or [] if isinstance(h, dict)]
