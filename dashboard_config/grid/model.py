"""Dashboards, tabs and columns from the TestGrid config and results trees (the I/O around build.py).

Sources in GoogleCloudPlatform/testgrid (3136f937):
- pkg/updater/read.go readColumns: builds listed newest first (natural order), read oldest first; a build
  that cannot be read is a one-cell column started 0.01 ms after the last good one.
- pkg/updater/updater.go InflateDropAppend: TestGrid keeps its grid and, each cycle, drops columns started
  in the last 20 minutes (re-read) or before days_of_results (keeping one), truncateRunning drops every
  column from the oldest one with a RUNNING cell, and hintStarted → ListBuilds reads only builds whose id
  sorts after the newest id kept. The preview shows that steady state (two cycles), so a build id out of
  sequence hides later builds here exactly as it does there. SortStarted: newest first, ties keep the read
  order. ConstructGrid: rows in natural order.
- pkg/tabulator filterGrid (base_options include/exclude-filter-by-regex) and dropEmptyColumns.
- kubernetes/test-infra config/testgrids/default.yaml: the hosted TestGrid's defaults for unset fields.
"""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qs

from dashboard_config.config import Config
from dashboard_config.grid import build as column_rules
from dashboard_config.grid import summary, testgrid
from dashboard_config.grid.build import BuildFiles, GroupRules, NotRead, TestGridCrash
from dashboard_config.grid.golang import natural_key, natural_less
from dashboard_config.grid.testgrid import RUNNING, Column, shown_message
from dashboard_config.grid.tree import ReadError, Tree, Trees
from upload import layout
from upload.errors import ConfigError

UNCONFIGURED = "jobs without a test group"
REPROCESS_SECONDS = 20 * 60  # cmd/updater --reprocess default: newer columns are read again each cycle
PODINFO = "podinfo.json"
# test-infra config/testgrids/default.yaml default_test_group / default_dashboard_tab (unset fields only).
DEFAULT_GROUP: dict[str, Any] = {
    "days_of_results": 14,
    "column_header": [{"configuration_value": "Commit"}, {"configuration_value": "infra-commit"}],
    "num_columns_recent": 10,
    "num_failures_to_alert": 3,
    "num_passes_to_disable_alert": 1,
    "alert_stale_results_hours": 0,
}
DEFAULT_TAB: dict[str, Any] = {"num_columns_recent": 10}


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
    source: str = ""
    problem: str = ""  # what stops TestGrid itself, or why the tab has no results to read


@dataclass
class Dashboard:
    name: str
    description: str
    tabs: list[Tab] = field(default_factory=list)


def with_defaults(entry: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """yamlcfg ReconcileTestGroup / ReconcileDashboardTab: a default fills a field left unset."""
    merged = dict(entry)
    for key, value in defaults.items():
        if not merged.get(key):
            merged[key] = value
    return merged


def split_prefix(gcs_prefix: str) -> tuple[str, str]:
    """A test group's gcs_prefix is `bucket/path`: (bucket, path)."""
    parts = gcs_prefix.strip().strip("/").split("/", 1)
    return parts[0], parts[1] if len(parts) == 2 else ""


def job_prefix(gcs_prefix: str) -> str:
    return split_prefix(gcs_prefix)[1]


def read_build(tree: Tree, prefix: str, build: str, podinfo: bool) -> BuildFiles | str:
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
            tree.read(f"{base}/{PODINFO}") if podinfo and PODINFO in names else None,
        )
    except ReadError as error:
        return str(error)


def read_columns(tree: Tree, prefix: str, builds: list[str], rules: GroupRules, now: float, stop: float):
    """read.go readColumns over `builds` (newest first): columns in the order they are read, oldest first."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        read = list(pool.map(lambda b: read_build(tree, prefix, b, rules.analyze_prowjob), builds))
    columns: list[Column] = []
    started, failures, extra = 0.0, 0, None
    for build, files in reversed(list(zip(builds, read, strict=True))):
        try:
            if isinstance(files, str):
                raise ValueError(files)
            column = column_rules.convert_build(files, rules, now, stop)
        except NotRead as skipped:
            failures += 1
            extra = extra if extra is not None else [""] * len(rules.headers)
            columns.append(column_rules.not_read_column(
                build, started + 0.01 * failures, extra, skipped.status, skipped.message))  # fmt: skip
            continue
        except ValueError as error:
            failures += 1
            extra = extra if extra is not None else [""] * len(rules.headers)
            message = f"Failed to download {tree.url}/{prefix}/{build}/: {error}"
            columns.append(column_rules.errored_column(build, started + 0.01 * failures, extra, message))
            continue
        columns.append(column)
        started, failures, extra = column.started, 0, column.extra
    return columns


def newest_first(columns: list[Column]) -> list[Column]:
    """updater.go SortStarted: newest first; columns started together keep their order."""
    return sorted(columns, key=lambda c: -c.started)


def steady_columns(tree: Tree, prefix: str, rules: GroupRules, days: float, now: float) -> list[Column]:
    """The columns TestGrid holds after two update cycles (updater.go InflateDropAppend), newest first."""
    stop = now - int(24 * days) * 3600
    listed = sorted(tree.folders(prefix), key=natural_key, reverse=True)
    first = newest_first(read_columns(tree, prefix, listed, rules, now, stop))
    kept: list[Column] = []
    for column in first:  # inflate.go InflateGrid
        when = int(column.started / 1000)
        if when > now - REPROCESS_SECONDS:
            continue
        if when < stop and kept:
            continue
        kept.append(column)
    kept = [stored(column) for column in truncate_running(newest_first(kept))]
    hint = ""
    for column in kept:  # read.go hintStarted
        if not hint or natural_less(hint, column.hint):
            hint = column.hint
    again = [build for build in listed if listed_after(hint, build)]
    # The grid TestGrid stores; the tabulator's own appendCell cuts each message once more (site, oracle).
    return [stored(column) for column in newest_first(read_columns(tree, prefix, again, rules, now, stop) + kept)]


def hidden_by_earlier_ids(columns: list[Column]) -> dict[str, str]:
    """Builds TestGrid never lists, by the build that hides each: TestGrid reads new builds every few minutes
    and then only those whose id sorts after the newest id it holds (read.go hintStarted, ListBuilds). A build
    that starts after another one with a later-sorting id had finished (and is past the 20-minute re-read
    window) is therefore never read, however long TestGrid runs."""
    finished = []
    for column in columns:
        minutes = next((c.metrics.get("test-duration-minutes") for n, c in column.cells.items()
                        if n.endswith(".Overall") and c.metrics), None)  # fmt: skip
        if minutes is not None and column.started >= 1000:
            finished.append((column.started / 1000, column.started / 1000 + minutes * 60, column.build))
    hidden = {}
    for column in columns:
        start = column.started / 1000
        for began, ended, build in finished:
            if began < start - REPROCESS_SECONDS and ended < start and natural_less(column.build, build):
                hidden[column.build] = build
                break
    return hidden


def listed_after(hint: str, build: str) -> bool:
    """util/gcs ListBuilds after the hint: natural order, and for an id that is not a number GCS's
    StartOffset (object names compare bytewise) also applies, so "b10" is never listed after "b2"."""
    if not hint:
        return True
    if not re.fullmatch(r"[+-]?[0-9]+", hint) and (build + "/").encode() < hint.encode():
        return False
    return natural_less(hint, build)


def stored(column: Column) -> Column:
    """A column as an update cycle stores it: appendCell cut each message, and the grid keeps only UTF-8.

    Every later ConstructGrid (the next cycle, the tabulator) cuts it once more: a message can end with more
    than three dots.
    """
    cells = {name: replace(cell, message=shown_message(cell.message)) for name, cell in column.cells.items()}
    return replace(column, cells=cells)


def truncate_running(columns: list[Column]) -> list[Column]:
    """updater.go truncateRunning: drop every column from the oldest one holding a RUNNING cell."""
    for index in range(len(columns) - 1, -1, -1):
        if any(cell.status == RUNNING for cell in columns[index].cells.values()):
            return columns[index + 1 :]
    return columns


def filter_rows(base_options: str, rows: list[str]) -> list[str]:
    """tabulator filterGrid: include-filter-by-regex keeps matching rows, exclude-filter-by-regex drops them.

    Go's RE2 and Python's re agree on the patterns TestGrid configs use; a pattern Python refuses is a
    config error here (TestGrid fails the tab).
    """
    values = parse_qs(base_options or "", keep_blank_values=True)
    try:
        for pattern in values.get("include-filter-by-regex", []):
            found = re.compile(pattern)
            rows = [row for row in rows if found.search(row)]
        for pattern in values.get("exclude-filter-by-regex", []):
            found = re.compile(pattern)
            rows = [row for row in rows if not found.search(row)]
    except re.error as error:
        raise ConfigError(f"base_options {base_options!r}: bad regex: {error}", "fix the tab's base_options") from error
    return rows


def tab_grid(columns: list[Column], base_options: str) -> tuple[list[Column], list[str]]:
    """The tab's columns and rows: filtered rows, empty columns dropped (tabulator dropEmptyColumns keeps
    the newest column when every column is empty)."""
    rows = filter_rows(base_options, sorted({n for c in columns for n in c.cells}, key=natural_key))
    shown = set(rows)
    kept = [
        Column(c.build, c.started, c.extra, {n: cell for n, cell in c.cells.items() if n in shown}, c.hint)
        for c in columns
    ]
    return [c for c in kept if c.cells] or kept[:1], rows


def make_tab(trees: Trees, dashboard: str, tab: dict[str, Any], group: dict[str, Any],
             days: float | None, now: float, cache: dict) -> Tab:  # fmt: skip
    tab = with_defaults(tab, DEFAULT_TAB)
    group = with_defaults(group, DEFAULT_GROUP)
    bucket, prefix = split_prefix(str(group.get("gcs_prefix", "")))
    rules = GroupRules.of(prefix.rsplit("/", 1)[-1], group)
    window = days if days is not None else float(group.get("days_of_results") or DEFAULT_GROUP["days_of_results"])
    tree = trees.get(bucket)
    problem = ""
    columns: list[Column] = []
    if tree is None:
        problem = f"no results for bucket {bucket!r}: pass --results {bucket}=DIR or --results {bucket}=gs://..."
    else:
        key = (bucket, prefix, rules, window)
        if key not in cache:
            try:
                cache[key] = steady_columns(tree, prefix, rules, window, now)
            except TestGridCrash as crash:
                cache[key] = str(crash)
        if isinstance(cache[key], str):
            problem = f"TestGrid's updater would crash on this group and stop updating every group: {cache[key]}"
        else:
            hidden = hidden_by_earlier_ids(cache[key])
            columns = [c for c in cache[key] if c.build not in hidden]
            if hidden:
                why = [f"build {b} (it started after build {by}, whose id sorts after it)" for b, by in hidden.items()]
                problem = (f"TestGrid never shows {', '.join(why)}: it reads only builds after the newest id it "
                           "holds; give builds increasing ids")
    columns, rows = tab_grid(columns, str(tab.get("base_options") or ""))
    alert_options = tab.get("alert_options") or {}
    state = summary.tab_state(
        columns,
        rows,
        now,
        stale_hours=float(alert_options.get("alert_stale_results_hours") or 0),
        failures_to_alert=int(group.get("num_failures_to_alert") or 0),
        passes_to_close=int(group.get("num_passes_to_disable_alert") or 0),
        recent=int(tab.get("num_columns_recent") or group.get("num_columns_recent") or 5),
    )
    if problem and not columns:
        state = summary.TabState(summary.UNKNOWN_STATE, problem, [], [])
    links = [] if tree is None else [
        {
            "log": tree.link(f"{prefix}/{c.build}/{layout.BUILD_LOG}"),
            "artifacts": tree.link(f"{prefix}/{c.build}/{layout.ARTIFACTS}", folder=True),
        }
        for c in columns
    ]  # fmt: skip
    return Tab(
        dashboard, str(tab.get("name", "")), str(group.get("name", "")), str(tab.get("description", "")),
        prefix, list(rules.headers), columns, rows, links, state,
        source="" if tree is None else f"{tree.url}/{prefix}", problem=problem,
    )  # fmt: skip


def build_dashboards(config: Config, trees: Trees, days: float | None = None, now: float | None = None):
    """The configured dashboards, plus jobs in the results that no test group reads (so a local run shows)."""
    now = time.time() if now is None else now
    groups = {entry.name: entry.data for entry in config.test_groups}
    cache: dict[Any, Any] = {}
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
            dashboard.tabs.append(make_tab(trees, entry.name, tab, group, days, now, cache))
        dashboards.append(dashboard)
    configured = {split_prefix(str(g.get("gcs_prefix", ""))) for g in groups.values()}
    other = Dashboard(UNCONFIGURED, "Jobs found in the results that no test group in the config reads.")
    for bucket, tree in trees.items():
        for job in sorted(tree.folders("logs"), key=natural_key):
            read_by_group = bucket == "" and any(path == f"logs/{job}" for _, path in configured)
            if (bucket, f"logs/{job}") in configured or read_by_group:
                continue
            group = {"name": job, "gcs_prefix": f"{bucket or 'results'}/logs/{job}"}
            other.tabs.append(make_tab(trees, other.name, {"name": job}, group, days, now, cache))
    if other.tabs:
        dashboards.append(other)
    return dashboards
