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
    history = name in grid_trees.READ_OVER_TIME
    assert tg_oracle.compare(root, grid_trees.JOB, group, tab, tmp_path / "oracle", history) == []


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


# --- trees hypothesis makes -------------------------------------------------------------------------------

import os  # noqa: E402
from xml.sax.saxutils import escape, quoteattr  # noqa: E402

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from dashboard_config.grid.golang import natural_key  # noqa: E402

TEXT = st.text(alphabet="ab é€𝄞<&'\"", max_size=90)  # multi-byte characters, XML-escaped characters
LONG = st.builds(lambda t, n: t * n, st.text(alphabet="xé€𝄞", min_size=1, max_size=4), st.integers(1, 60))
MESSAGE = st.one_of(TEXT, LONG)
NAMES = st.sampled_from(["a", "b", "test 9", "test 10", "Conformance ü"])
TIMES = st.sampled_from([None, "", "1", "2.5", "0", "-1", "1e2", " 3 ", "1_0", "1,5", "x"])
STARTS = st.sampled_from(["0.5h", "2h", "5h", "30h", "50h", "5min", "absent", "zero", "empty", "too-old"])
ENDS = st.sampled_from(["passed", "failed", "result", "absent", "zero", "no-timestamp", "empty", "bad-type"])
FILES = st.sampled_from(["artifacts/junit_01.xml", "artifacts/junit_02.xml", "artifacts/test.xml",
                         "artifacts/e2e.xml", "junit_root.xml", "artifacts/c2/junit_x.xml"])  # fmt: skip
IDS = st.one_of(st.integers(1, 40).map(str), st.sampled_from(["0009", "b2", "b10", "1700000000"]))
GROUPS = st.sampled_from([
    {}, {"disable_merged_status": True}, {"short_text_metric": "attempt"}, {"disable_prowjob_analysis": False},
    {"test_name_config": {"name_format": "%s [%s]", "name_elements": [{"target_config": "Tests name"},
                                                                       {"test_property": "cluster"}]}},
])  # fmt: skip
TABS = st.sampled_from(
    [{}, {"base_options": "include-filter-by-regex=a"}, {"base_options": "exclude-filter-by-regex=Overall"}]
)


@st.composite
def junit_case(draw) -> str:
    name = draw(NAMES)
    time_attr = draw(TIMES)
    attrs = f"name={quoteattr(name)}" + ("" if time_attr is None else f" time={quoteattr(time_attr)}")
    outcome = draw(st.sampled_from(["pass", "failure", "error", "skipped", "bare-skip", "out"]))
    message, text = draw(MESSAGE), draw(MESSAGE)
    body = {
        "pass": "",
        "failure": f"<failure message={quoteattr(message)}>{escape(text)}</failure>",
        "error": f"<error message={quoteattr(message)}/>",
        "skipped": f"<skipped message={quoteattr(message)}/>",
        "bare-skip": "<skipped/>",
        "out": f"<system-out>{escape(text)}</system-out>",
    }[outcome]
    if draw(st.booleans()):
        attempt = draw(st.sampled_from(["1", "2", "1.5", "x"]))
        cluster = draw(st.sampled_from(["c1", "c2"]))
        body = (f'<properties><property name="attempt" value="{attempt}"/>'
                f'<property name="cluster" value="{cluster}"/></properties>') + body  # fmt: skip
    return f"<testcase {attrs}>{body}</testcase>"


@st.composite
def junit_file(draw, suite: str) -> str:
    cases = "".join(draw(st.lists(junit_case(), max_size=5)))
    tests = draw(st.sampled_from(["", ' tests="3"', ' tests="3.0"']))
    kind = draw(st.sampled_from(["suites", "suites", "suite", "truncated", "wrong-root", "empty"]))
    inner = f'<testsuite name="{suite}"{tests}>{cases}</testsuite>'
    return {
        "suites": f"<testsuites>{inner}</testsuites>",
        "suite": inner,
        "truncated": f"<testsuites>{inner}"[:-5],
        "wrong-root": f"<results>{inner}</results>",
        "empty": "",
    }[kind]


HOURS = {"0.5h": 0.5, "2h": 2, "5h": 5, "30h": 30, "50h": 50, "5min": 5 / 60, "too-old": 16 * 24}


@st.composite
def results_tree(draw) -> list[dict[str, Any]]:
    ids = sorted(draw(st.lists(IDS, min_size=1, max_size=5, unique=True)), key=natural_key)
    # Ids follow the start order (TestGrid, reading builds as they start, would hide a build started after a
    # later-sorting id: pinned by the build-id-out-of-sequence tree, read over time).
    starts = sorted(draw(st.lists(STARTS, min_size=len(ids), max_size=len(ids))), key=lambda s: -HOURS.get(s, 1))
    builds = []
    for build, start in zip(ids, starts, strict=True):
        files = draw(st.lists(FILES, max_size=2, unique=True))
        # Go reads started.json and finished.json concurrently: which of two errors wins is chance.
        unread = start in ("absent", "zero", "too-old")
        end = draw(ENDS.filter(lambda e, unread=unread: e != "bad-type" or not unread))
        builds.append({
            "build": build, "start": start, "end": end,
            "meta": draw(st.sampled_from([{}, {"job-version": "v1.31.2", "provider": "kind"}, {"provider": 3}])),
            "files": {name: draw(junit_file(f"s{index}")) for index, name in enumerate(files)},
        })  # fmt: skip
    return builds


def write_tree(root: Path, builds: list[dict[str, Any]], now: float) -> Path:
    import json

    (root / "logs" / grid_trees.JOB).mkdir(parents=True, exist_ok=True)
    for spec in builds:
        folder = root / "logs" / grid_trees.JOB / spec["build"]
        folder.mkdir()
        (folder / "build-log.txt").write_text("log\n")
        start = int(now - HOURS.get(spec["start"], 1) * 3600)
        written = json.dumps({"timestamp": start}).encode()
        started = {"absent": None, "zero": b'{"timestamp": 0}', "empty": b""}.get(spec["start"], written)
        if started is not None:
            (folder / "started.json").write_bytes(started)
        ended = start + 600
        finished = {
            "passed": {"timestamp": ended, "passed": True, "metadata": spec["meta"]},
            "failed": {"timestamp": ended, "passed": False, "result": "FAILURE", "metadata": spec["meta"]},
            "result": {"timestamp": ended, "result": "SUCCESS"},
            "zero": {"timestamp": 0, "passed": True},
            "no-timestamp": {"passed": False},
            "bad-type": {"timestamp": str(ended), "passed": True},
        }.get(spec["end"])
        if finished is not None:
            (folder / "finished.json").write_text(json.dumps(finished))
        elif spec["end"] == "empty":
            (folder / "finished.json").write_bytes(b"")
        for name, content in spec["files"].items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(content, encoding="utf-8")
    return root


EXAMPLES = int(os.environ.get("GRID_ORACLE_EXAMPLES", "40"))  # 40 runs in seconds; raise it to hunt


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(builds=results_tree(), group_changes=GROUPS, tab_changes=TABS)
def test_generated_trees_agree_with_testgrid(tmp_path_factory, builds, group_changes, tab_changes) -> None:
    import time

    work = tmp_path_factory.mktemp("tree")
    root = write_tree(work / "results", builds, time.time())
    group, tab = config(group_changes, tab_changes)
    assert tg_oracle.compare(root, grid_trees.JOB, group, tab, work / "oracle") == []
