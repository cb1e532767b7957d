"""TestGrid's own code as the oracle: run tg-read over a results tree and compare its grid with `fedtest grid`'s.

tg-read (../shared/tools/testgrid beside the repository, a Linux x86-64 binary) is TestGrid's updater,
tabulator and summarizer at GoogleCloudPlatform/testgrid 3136f937 over a local folder. Each difference
found names the TestGrid function that decides it, so a failure says which rule the preview got wrong.

Texts that come from Go's own decoders (encoding/xml, encoding/json errors inside "Malformed artifacts:"
and "Failed to download" messages) are compared by their TestGrid prefix only: docs/grid.md lists them.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dashboard_config.grid import model
from dashboard_config.grid.testgrid import shown_message
from dashboard_config.grid.tree import LocalTree, Trees

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO.parent / "shared" / "tools" / "testgrid"
TG_READ = TOOLS / "tg-read"
DECODER_PREFIXES = ("Malformed artifacts:", "Failed to download ")
TOO_OLD = re.compile(r"^build too old; started (\d+) before (\d+)\)$")


def unavailable() -> str | None:
    """Why tg-read cannot run here, or None."""
    if not TG_READ.is_file():
        return f"TestGrid's reader {TG_READ} is not there (it sits in ../shared/tools/testgrid beside the repository)"
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        return f"tg-read is a Linux x86-64 binary; this is {platform.system()} {platform.machine()}"
    if not os.access(TG_READ, os.X_OK):
        return f"{TG_READ} is not executable"
    return None


def require() -> None:
    reason = unavailable()
    if reason:
        pytest.skip(reason)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(str(value))


def textproto(message: dict[str, Any], indent: str = "") -> str:
    """A config dict (the YAML's shape) as protobuf text format."""
    lines = []
    for key, value in message.items():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict):
                lines.append(f"{indent}{key} {{\n{textproto(item, indent + '  ')}{indent}}}")
            elif item is not None:
                lines.append(f"{indent}{key}: {_value(item)}")
    return "".join(line + "\n" for line in lines)


@dataclass
class Oracle:
    """tg-read's answer, or the panic that stops TestGrid."""

    grid: dict[str, Any] | None
    crash: str = ""


def tg_read(root: Path, job: str, group: dict[str, Any], tab: dict[str, Any], work: Path, extra=()) -> Oracle:
    work.mkdir(parents=True, exist_ok=True)
    (work / "group.textproto").write_text(textproto(group))
    (work / "tab.textproto").write_text(textproto(tab))
    command = [
        str(TG_READ), "-root", str(root), "-job", job,
        "-tg", str(work / "group.textproto"), "-tab", str(work / "tab.textproto"), "-summary",
        "-default-group", str(TOOLS / "default-group.textproto"),
        "-default-tab", str(TOOLS / "default-tab.textproto"), *extra,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        if "panic:" in done.stderr:
            return Oracle(None, done.stderr.strip().splitlines()[0])
        raise AssertionError(f"tg-read failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return Oracle(json.loads(done.stdout))


def tg_read_history(root: Path, job: str, group: dict[str, Any], tab: dict[str, Any], work: Path) -> Oracle:
    """tg-read as TestGrid runs over time: its grid kept between runs (-state), each build appearing when it
    starts (in start order), so the newest id TestGrid holds decides what it lists next."""
    import shutil

    def start(build: Path) -> int:
        started = build / "started.json"
        return json.loads(started.read_text())["timestamp"] if started.exists() else 0

    builds = sorted((p for p in (root / "logs" / job).iterdir() if p.is_dir()), key=start)
    staged = work / "staged"
    state = work / "grid.state"
    oracle = Oracle(None)
    for build in builds:
        shutil.copytree(build, staged / "logs" / job / build.name)
        oracle = tg_read(staged, job, group, tab, work, ["-state", str(state)])
    return oracle


def preview(root: Path, group: dict[str, Any], tab: dict[str, Any], now: float) -> model.Tab:
    return model.make_tab(Trees({}, LocalTree(root)), "oracle", dict(tab), dict(group), None, now, {})


def _cell(cell: Any) -> dict[str, Any] | None:
    if cell is None:
        return None
    return {
        "result": cell.status,
        "icon": cell.icon,
        "message": shown_message(cell.message),
        "metrics": dict(cell.metrics),
    }


def ours(tab: model.Tab) -> dict[str, Any]:
    """The preview's tab in tg-read's shape."""
    return {
        "columns": [{"build": c.build, "started": c.started, "extra": list(c.extra)} for c in tab.columns],
        "row_order": list(tab.rows),
        "rows": {row: [_cell(c.cells.get(row)) for c in tab.columns] for row in tab.rows},
        "status": tab.state.state,
        "crash": tab.problem if tab.problem.startswith("TestGrid's updater would crash") else "",
    }


def theirs(oracle: Oracle) -> dict[str, Any]:
    grid = oracle.grid or {}
    rows = grid.get("rows") or {}
    return {
        "columns": [
            {"build": c.get("build", ""), "started": c.get("started", 0), "extra": list(c.get("extra") or [])}
            for c in grid.get("columns") or []
        ],
        "row_order": list(grid.get("row_order") or []),
        "rows": {
            name: [
                None if c is None else {
                    "result": c.get("result", "NO_RESULT"), "icon": c.get("icon", ""),
                    "message": c.get("message", ""), "metrics": dict(c.get("metrics") or {}),
                }
                for c in cells
            ]
            for name, cells in rows.items()
        },
        "status": (grid.get("summary") or {}).get("status", ""),
        "crash": oracle.crash,
    }


def _same_message(mine: str, other: str) -> bool:
    if mine == other:
        return True
    for prefix in DECODER_PREFIXES:
        if mine.startswith(prefix) and other.startswith(prefix):
            return True
    a, b = TOO_OLD.match(mine), TOO_OLD.match(other)
    return bool(a and b and a.group(1) == b.group(1) and abs(int(a.group(2)) - int(b.group(2))) <= 30)


def _same_metrics(mine: dict[str, float], other: dict[str, float]) -> bool:
    return mine.keys() == other.keys() and all(math.isclose(mine[k], other[k], rel_tol=1e-9) for k in mine)


def differences(mine: dict[str, Any], other: dict[str, Any]) -> list[str]:
    """Each difference, naming the TestGrid function (3136f937) that decides it."""
    found: list[str] = []
    if bool(mine["crash"]) != bool(other["crash"]):
        found.append(f"crash: preview {mine['crash']!r}, TestGrid {other['crash']!r} (metadata/job.go Version)")
        return found
    if mine["crash"]:
        return found
    builds = [c["build"] for c in mine["columns"]], [c["build"] for c in other["columns"]]
    if builds[0] != builds[1]:
        found.append(
            f"columns: preview {builds[0]}, TestGrid {builds[1]} (pkg/updater read.go readColumns, updater.go "
            "InflateDropAppend/truncateRunning/SortStarted, tabulator dropEmptyColumns)"
        )
        return found
    for a, b in zip(mine["columns"], other["columns"], strict=True):
        if not math.isclose(a["started"], b["started"], rel_tol=0, abs_tol=1e-6):
            found.append(f"build {a['build']} started: preview {a['started']}, TestGrid {b['started']} "
                         "(read.go convertResult Started; readColumns 0.01 ms steps for unread builds)")  # fmt: skip
        if a["extra"] != b["extra"]:
            found.append(f"build {a['build']} headers: preview {a['extra']}, TestGrid {b['extra']} "
                         "(read.go convertResult column headers, metadata/job.go Version)")  # fmt: skip
    if mine["row_order"] != other["row_order"]:
        found.append(
            f"rows: preview {mine['row_order']}, TestGrid {other['row_order']} (read.go convertResult row names "
            "and makeNameConfig, updater.go ConstructGrid natural order, tabulator filterGrid)"
        )
        return found
    for row in mine["row_order"]:
        for column, a, b in zip(mine["columns"], mine["rows"][row], other["rows"][row], strict=True):
            where = f"row {row!r} build {column['build']}"
            if (a is None) != (b is None):
                found.append(f"{where}: preview {a}, TestGrid {b} (read.go convertResult: which cells exist)")
                continue
            if a is None:
                continue
            if (a["result"], a["icon"]) != (b["result"], b["icon"]):
                found.append(
                    f"{where}: preview {a['result']} {a['icon']!r}, TestGrid {b['result']} {b['icon']!r} "
                    "(read.go convertResult/overallCell, updater.go MergeCells/SplitCells, short_text_metric)"
                )
            if not _same_message(a["message"], b["message"]):
                found.append(f"{where} message: preview {a['message']!r}, TestGrid {b['message']!r} "
                             "(metadata/junit/junit.go Message, updater.go MergeCells and appendCell)")  # fmt: skip
            if not _same_metrics(a["metrics"], b["metrics"]):
                found.append(f"{where} metrics: preview {a['metrics']}, TestGrid {b['metrics']} "
                             "(read.go convertResult metrics, updater.go MergeCells averages)")  # fmt: skip
    if mine["status"] != other["status"]:
        found.append(f"tab state: preview {mine['status']}, TestGrid {other['status']} (pkg/summarizer "
                     "overallStatus, updater.go alertRow with the test group's num_failures_to_alert)")  # fmt: skip
    return found


def compare(root: Path, job: str, group: dict[str, Any], tab: dict[str, Any], work: Path,
            history: bool = False) -> list[str]:  # fmt: skip
    """Run both over `root`; the differences (empty when the preview is TestGrid). `history`: tg-read reads
    the builds as they start, keeping its grid (tg_read_history), rather than all at once."""
    oracle = (tg_read_history if history else tg_read)(root, job, group, tab, work)
    tab_model = preview(root, group, tab, time.time())
    return differences(ours(tab_model), theirs(oracle))
