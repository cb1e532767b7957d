"""The static site: an index of dashboards, a summary page per dashboard, a grid page per tab.

Every page carries its CSS, script and data inline: no CDN, no fetch, so it opens from file://.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

from dashboard_config.grid.model import Dashboard, Tab
from dashboard_config.grid.testgrid import STATUSES, shown_message

ASSETS = Path(__file__).resolve().parent / "assets"
LATEST_SHOWN = 10


def slug(name: str) -> str:
    """A file name for a dashboard or tab name (names may hold spaces, '/' or '|')."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "unnamed"


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        base = slug(name)
        seen[base] = seen.get(base, 0) + 1
        out.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return out


def _page(title: str, header: str, body: str) -> str:
    css = (ASSETS / "grid.css").read_text(encoding="utf-8")
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{css}</style></head>\n"
        f"<body><header>{header}</header>\n{body}\n</body></html>\n"
    )


def grid_data(tab: Tab) -> dict[str, Any]:
    """The grid as compact JSON: one [status index, icon, message, seconds, metrics] per cell, 0 for none."""
    index = {status: i for i, status in enumerate(STATUSES)}
    rows = []
    for name in tab.rows:
        cells = []
        for column in tab.columns:
            cell = column.cells.get(name)
            cells.append(
                0
                if cell is None
                else [index[cell.status], cell.icon, shown_message(cell.message), cell.seconds, cell.metrics]
            )
        rows.append({"name": name, "cells": cells})
    return {
        "dashboard": tab.dashboard,
        "tab": tab.name,
        "statuses": list(STATUSES),
        "headers": tab.headers,
        "columns": [{"build": c.build, "started": c.started / 1000, "extra": c.extra} for c in tab.columns],
        "links": tab.links,
        "rows": rows,
    }


def script_json(value: Any) -> str:
    """JSON safe inside <script>: no '</' can close the element early."""
    return json.dumps(value, separators=(",", ":")).replace("</", "<\\/")


def _state(tab: Tab) -> str:
    label = tab.state.label
    css = label.split()[0].strip(",")
    return f'<span class="state {css}" title="{html.escape(tab.state.reason)}">{html.escape(label)}</span>'


def grid_page(tab: Tab, source: str) -> str:
    problem = f'<span class="problem">{html.escape(tab.problem)}</span>' if tab.problem else ""
    controls = (
        _state(tab)
        + problem
        + '<label>Filter <input id="filter" type="search" placeholder="test name or regex"></label>'
        '<label><input id="failing" type="checkbox"> failing only</label><span id="count"></span>'
        f'<span class="source">{html.escape(tab.source or source)}</span>'
    )
    crumbs = (
        f'<span class="crumbs"><a href="../index.html">dashboards</a> &rsaquo; '
        f'<a href="index.html">{html.escape(tab.dashboard)}</a> &rsaquo; <b>{html.escape(tab.name)}</b></span>'
    )
    body = (
        '<div id="grid"></div><aside id="detail" hidden></aside>\n'
        f'<script id="grid-data" type="application/json">{script_json(grid_data(tab))}</script>\n'
        f"<script>{(ASSETS / 'grid.js').read_text(encoding='utf-8')}</script>"
    )
    return _page(f"{tab.name} · {tab.dashboard}", crumbs + controls, body)


def _failures(tab: Tab) -> str:
    failures = tab.state.alerts or tab.state.latest
    if not failures:
        return "none"
    items = []
    for failure in failures[:LATEST_SHOWN]:
        times = f" ({failure.count} in a row)" if tab.state.alerts else f" (failed in {failure.count} recent builds)"
        items.append(
            f"<li><b>{html.escape(failure.row)}</b> · build {html.escape(failure.build)}{times}"
            f'<div class="failure-message">{html.escape(shown_message(failure.message))}</div></li>'
        )
    more = f"<li>… {len(failures) - LATEST_SHOWN} more</li>" if len(failures) > LATEST_SHOWN else ""
    return f"<ul>{''.join(items)}{more}</ul>"


def summary_page(dashboard: Dashboard, files: list[str]) -> str:
    rows = []
    for tab, file in zip(dashboard.tabs, files, strict=True):
        newest = tab.columns[0].build if tab.columns else "-"
        rows.append(
            f'<tr class="tab"><td><a href="{file}">{html.escape(tab.name)}</a></td>'
            f"<td>{_state(tab)}</td>"
            f"<td>{html.escape(tab.state.reason)}</td><td>{len(tab.columns)}</td><td>{html.escape(newest)}</td>"
            f'<td class="failures">{_failures(tab)}</td><td>{html.escape(tab.description)}</td></tr>'
        )
    table = (
        '<table class="summary"><tr><th>tab</th><th>state</th><th>why</th><th>builds</th><th>newest</th>'
        f"<th>latest failures</th><th>description</th></tr>{''.join(rows)}</table>"
    )
    name = html.escape(dashboard.name)
    crumbs = f'<span class="crumbs"><a href="../index.html">dashboards</a> &rsaquo; <b>{name}</b></span>'
    body = f"<main><p>{html.escape(dashboard.description)}</p>{table}</main>"
    return _page(f"{dashboard.name} summary", crumbs, body)


def index_page(dashboards: list[Dashboard], folders: list[str], source: str) -> str:
    items = []
    for dashboard, folder in zip(dashboards, folders, strict=True):
        states = " ".join(
            f'<span class="state {t.state.label.split()[0].strip(",")}" title="{html.escape(t.state.label)}">'
            f"{html.escape(t.name)}</span>"
            for t in dashboard.tabs
        )
        items.append(f'<li><a href="{folder}/index.html">{html.escape(dashboard.name)}</a> {states}</li>')
    body = f'<main><p>Results: {html.escape(source)}</p><ul class="dashboards">{"".join(items)}</ul></main>'
    return _page("dashboards", '<span class="crumbs"><b>dashboards</b></span>', body)


def write_site(dashboards: list[Dashboard], out: Path, source: str) -> Path:
    """Write the pages under `out`; returns the index page."""
    out.mkdir(parents=True, exist_ok=True)
    folders = _unique([d.name for d in dashboards])
    for dashboard, folder in zip(dashboards, folders, strict=True):
        where = out / folder
        where.mkdir(exist_ok=True)
        files = [f"tab-{name}.html" for name in _unique([t.name for t in dashboard.tabs])]
        for tab, file in zip(dashboard.tabs, files, strict=True):
            (where / file).write_text(grid_page(tab, source), encoding="utf-8")
        (where / "index.html").write_text(summary_page(dashboard, files), encoding="utf-8")
    index = out / "index.html"
    index.write_text(index_page(dashboards, folders, source), encoding="utf-8")
    return index
