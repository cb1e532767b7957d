"""`fedtest grid` against TestGrid's own code: tg-read over the same results tree must draw the same grid.

Every tree in grid_trees.ORACLE_TREES, and trees hypothesis makes (duplicate names, skips, errors,
multi-byte messages, odd attributes, missing files, build ids), are read by both; any difference fails and
names the TestGrid function that decides it. Skips with the reason where tg-read cannot run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.dashboard import grid_trees, tg_oracle

pytestmark = pytest.mark.skipif(tg_oracle.unavailable() is not None, reason=str(tg_oracle.unavailable()))


def config(group_changes: dict[str, Any], tab_changes: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    group = {**grid_trees.GROUP, **group_changes}
    tab = {**grid_trees.TAB, **tab_changes}
    return group, tab


@pytest.mark.parametrize("name", sorted(grid_trees.ORACLE_TREES))
def test_grid_agrees_with_testgrid(name: str, tmp_path: Path) -> None:
    import time

    make, group_changes, tab_changes = grid_trees.ORACLE_TREES[name]
    root = make(tmp_path / "results", time.time())
    group, tab = config(group_changes, tab_changes)
    assert tg_oracle.compare(root, grid_trees.JOB, group, tab, tmp_path / "oracle") == []


def test_configured_tabs_agree_with_testgrid(tmp_path: Path) -> None:
    """The project's own dashboards (dashboard_config/fedtest.yaml) over the conformance tree."""
    import time

    from dashboard_config import config as testgrid_config
    from dashboard_config.grid import cli

    loaded = testgrid_config.load(cli.CONFIG_DIR)
    groups = {entry.name: entry.data for entry in loaded.test_groups}
    root = grid_trees.conformance_tree(tmp_path / "results", time.time())
    for dashboard in loaded.dashboards:
        for tab in dashboard.data["dashboard_tab"]:
            if tab["test_group_name"] == grid_trees.JOB:
                found = tg_oracle.compare(root, grid_trees.JOB, groups[grid_trees.JOB], tab, tmp_path / tab["name"])
                assert found == [], tab["name"]


def test_a_difference_names_the_testgrid_function(tmp_path: Path) -> None:
    """The comparison can fail: a preview that ignored the tab filter is caught, with the rule named."""
    import time

    root = grid_trees.conformance_tree(tmp_path / "results", time.time())
    group, tab = config({}, {"base_options": "include-filter-by-regex=Conformance"})
    oracle = tg_oracle.tg_read(root, grid_trees.JOB, group, tab, tmp_path / "oracle")
    unfiltered = tg_oracle.preview(root, group, {**tab, "base_options": ""}, time.time())
    found = tg_oracle.differences(tg_oracle.ours(unfiltered), tg_oracle.theirs(oracle))
    assert found and "tabulator" in found[0]
