"""A tab's state on its dashboard's summary page, by TestGrid's summarizer (pure, no I/O).

Source: GoogleCloudPlatform/testgrid pkg/summarizer/summary.go overallStatus: STALE when the newest
column is older than alert_stale_results_hours; FAIL when a row alerts (its newest
num_failures_to_alert results all failed); FLAKY when a recent column (num_columns_recent, running
columns skipped) has a cell that is not a pass; PASS otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

from dashboard_config.grid.testgrid import FAILING, FLAKY, OVERALL, PASSING, RUNNING, Cell, Column

PASSING_STATE = "passing"
FLAKY_STATE = "flaky"
FAILING_STATE = "failing"
STALE_STATE = "stale"
DEFAULT_FAILURES_TO_ALERT = 3
DEFAULT_RECENT = 5


@dataclass(frozen=True)
class Failure:
    """A failing row: how many builds in a row it failed, the newest failing build and its message."""

    row: str
    count: int
    build: str
    message: str


@dataclass(frozen=True)
class TabState:
    state: str
    reason: str
    alerts: list[Failure]
    latest: list[Failure]


def alerts(columns: list[Column], rows: list[str], failures_to_alert: int) -> list[Failure]:
    """Rows whose newest finished results are `failures_to_alert` or more consecutive failures."""
    found = []
    for row in rows:
        count, newest = 0, None
        for column in columns:
            cell = column.cells.get(row)
            if cell is None or cell.status == RUNNING:
                continue
            if cell.status not in FAILING:
                break
            count += 1
            newest = newest or (column.build, cell)
        if newest is not None and count >= failures_to_alert:
            found.append(Failure(row, count, newest[0], newest[1].message))
    return found


def completed(columns: list[Column]) -> list[Column]:
    return [c for c in columns if c.cells.get(OVERALL, Cell(RUNNING)).status != RUNNING]


def latest_failures(columns: list[Column], recent: int) -> list[Failure]:
    """Rows with a failing or flaky cell in the last `recent` finished builds: the newest one, and how many."""
    found: dict[str, Failure] = {}
    for column in completed(columns)[:recent]:
        for row, cell in column.cells.items():
            if cell.status in FAILING or cell.status == FLAKY:
                seen = found.get(row)
                found[row] = (
                    Failure(row, seen.count + 1, seen.build, seen.message)
                    if seen
                    else Failure(row, 1, column.build, cell.message)
                )
    return sorted(found.values(), key=lambda f: (f.row != OVERALL, f.row))


def tab_state(
    columns: list[Column],
    rows: list[str],
    now: float,
    stale_hours: float = 0,
    failures_to_alert: int = 0,
    recent: int = 0,
) -> TabState:
    """The summarizer's overallStatus for one tab; `columns` are newest first."""
    failures_to_alert = failures_to_alert or DEFAULT_FAILURES_TO_ALERT
    recent = recent or DEFAULT_RECENT
    latest = latest_failures(columns, recent)
    if not columns:
        return TabState(STALE_STATE, "no builds in the results", [], [])
    age_hours = (now - columns[0].started) / 3600
    if stale_hours and age_hours > stale_hours:
        reason = f"newest build {columns[0].build} started {age_hours:.0f} h ago (limit {stale_hours:g} h)"
        return TabState(STALE_STATE, reason, [], latest)
    alerting = alerts(columns, rows, failures_to_alert)
    if alerting:
        return TabState(
            FAILING_STATE, f"{len(alerting)} test(s) failed {failures_to_alert}+ times in a row", alerting, latest
        )
    for column in completed(columns)[:recent]:
        if any(cell.status not in PASSING for cell in column.cells.values()):
            return TabState(FLAKY_STATE, f"failures in the last {recent} finished builds", [], latest)
    return TabState(PASSING_STATE, f"the last {recent} finished builds passed", [], latest)
