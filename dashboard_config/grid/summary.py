"""A tab's state on its dashboard's summary page, by TestGrid's updater alerts and summarizer (pure, no I/O).

Sources in GoogleCloudPlatform/testgrid (3136f937):
- pkg/updater/updater.go alertRow: a row alerts when its newest finished results hold the test group's
  num_failures_to_alert failures in a row (before num_passes_to_disable_alert passes). Production's
  tabulator runs without --tab-alerts, so the tab's alert_options.num_failures_to_alert is not used.
- pkg/summarizer/summary.go updateTab/overallStatus: STALE when the newest finished column is older than
  the tab's alert_stale_results_hours (or there is none and stale hours are set); FAIL when a row alerts;
  FLAKY when a row's `recent` (num_columns_recent) newest results, running ignored, hold anything but a
  pass; PASS when one passed in a column that is not running anywhere; UNKNOWN otherwise.
  filterGrid/recentRows: rows without recent results do not count.
- pkg/result Coalesce: PASS_WITH_SKIPS counts as PASS, TOOL_FAIL as FAIL, RUNNING as no result.
"""

from __future__ import annotations

from dataclasses import dataclass

from dashboard_config.grid.testgrid import FAIL, FLAKY, PASS, PASSING, RUNNING, TOOL_FAIL, Column

PASS_STATE = "PASS"
FLAKY_STATE = "FLAKY"
FAIL_STATE = "FAIL"
STALE_STATE = "STALE"
UNKNOWN_STATE = "UNKNOWN"
NO_RESULT = "NO_RESULT"


@dataclass(frozen=True)
class Failure:
    """A failing row: how many builds in a row it failed, the newest failing build and its message."""

    row: str
    count: int
    build: str
    message: str


@dataclass(frozen=True)
class TabState:
    """TestGrid's tab status, why, the alerting rows, and recent failing rows for the page.

    `flaked` says whether a recent result was FLAKY itself: TestGrid calls a tab FLAKY for any recent
    non-pass, and the page says "flaky" only when a test actually flaked.
    """

    state: str
    reason: str
    alerts: list[Failure]
    latest: list[Failure]
    flaked: bool = False

    @property
    def label(self) -> str:
        if self.state == FLAKY_STATE and not self.flaked:
            return "failures, no alert"
        return self.state.lower()


def coalesce(status: str | None) -> str:
    """pkg/result Coalesce with IgnoreRunning."""
    if status is None or status == RUNNING:
        return NO_RESULT
    if status in PASSING:
        return PASS
    if status in (FAIL, TOOL_FAIL):
        return FAIL
    return status


def alert(columns: list[Column], row: str, failures_to_open: int, passes_to_close: int) -> Failure | None:
    """updater.go alertRow over the row's results, newest first."""
    if failures_to_open <= 0:
        return None
    failures = passes = total = 0
    latest: tuple[str, str] | None = None
    for column in columns:
        cell = column.cells.get(row)
        result = coalesce(cell.status if cell else None)
        if result == NO_RESULT:
            continue
        if result == PASS:
            passes += 1
            if failures >= failures_to_open:
                break
            if passes >= passes_to_close:
                return None
            failures = 0
        elif result == FAIL:
            passes = 0
            failures += 1
            total += 1
            if failures == 1:
                latest = (column.build, cell.message if cell else "")
        elif result == FLAKY:
            passes = 0
            if failures >= failures_to_open:
                break
            failures = 0
    if failures < failures_to_open or latest is None:
        return None
    return Failure(row, total, latest[0], latest[1])


def has_recent(columns: list[Column], row: str, recent: int) -> bool:
    """summary.go recentRows: a row whose newest `recent` columns are all empty does not count."""
    return any(row in column.cells for column in columns[:recent])


def tab_state(
    columns: list[Column],
    rows: list[str],
    now: float,
    stale_hours: float = 0,
    failures_to_alert: int = 0,
    passes_to_close: int = 1,
    recent: int = 5,
) -> TabState:
    """The summarizer's overallStatus for one tab; `columns` newest first, `started` in ms."""
    rows = [row for row in rows if has_recent(columns, row, recent)]
    latest = latest_failures(columns, rows, recent)
    ran = next((c for c in columns if any(r in c.cells for r in rows)), None)  # summary.go latestRun
    if stale_hours and ran is None:
        return TabState(STALE_STATE, "no completed results", [], latest)
    if ran is None:
        return TabState(UNKNOWN_STATE, "no completed results", [], latest)
    age_hours = (now - ran.started / 1000) / 3600
    if stale_hours and age_hours > stale_hours:
        reason = f"newest build {ran.build} started {age_hours:.0f} h ago (limit {stale_hours:g} h)"
        return TabState(STALE_STATE, reason, [], latest)
    if passes_to_close <= 0 and failures_to_alert > 0:
        passes_to_close = 1
    alerting = [a for a in (alert(columns, row, failures_to_alert, passes_to_close) for row in rows) if a]
    if alerting:
        reason = f"{len(alerting)} row(s) failed {failures_to_alert} or more times in a row (the test group's alert)"
        return TabState(FAIL_STATE, reason, alerting, latest)
    running = {c.build for c in columns if any(c.cells[r].status == RUNNING for r in rows if r in c.cells)}
    found = False
    for row in rows:
        for column, result in recent_results(columns, row, recent):
            if result != PASS:
                flaked = any(FLAKY in [r for _, r in recent_results(columns, other, recent)] for other in rows)
                why = "a test flaked" if flaked else "failures or unknown results, none alerting yet"
                return TabState(FLAKY_STATE, f"{why} in the newest {recent} results of a row", [], latest, flaked)
            found = found or column.build not in running
    if found:
        return TabState(PASS_STATE, f"the newest {recent} finished results of every row passed", [], latest)
    return TabState(UNKNOWN_STATE, "no finished results", [], latest)


def recent_results(columns: list[Column], row: str, recent: int) -> list[tuple[Column, str]]:
    """The row's newest `recent` results that are not NO_RESULT, coalesced (summary.go overallStatus)."""
    found = []
    for column in columns:
        cell = column.cells.get(row)
        result = coalesce(cell.status if cell else None)
        if result != NO_RESULT:
            found.append((column, result))
            if len(found) == recent:
                break
    return found


def latest_failures(columns: list[Column], rows: list[str], recent: int) -> list[Failure]:
    """Rows with a failing or flaky cell in the newest `recent` finished builds: the newest one, and how many."""
    found: dict[str, Failure] = {}
    shown = set(rows)
    finished = [c for c in columns if not any(cell.status == RUNNING for cell in c.cells.values())]
    for column in finished[:recent]:
        for row, cell in column.cells.items():
            if row in shown and coalesce(cell.status) in (FAIL, FLAKY):
                seen = found.get(row)
                found[row] = (
                    Failure(row, seen.count + 1, seen.build, seen.message)
                    if seen
                    else Failure(row, 1, column.build, cell.message)
                )
    return sorted(found.values(), key=lambda f: (not f.row.endswith("Overall"), f.row))
