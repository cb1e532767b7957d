"""TestGrid's rules, each on a tiny results tree read the way `fedtest grid` reads it (dashboard_config/grid)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashboard_config.grid import testgrid
from dashboard_config.grid.build import GroupRules
from dashboard_config.grid.model import steady_columns
from dashboard_config.grid.testgrid import (
    FAIL,
    FLAKY,
    PASS,
    PASS_WITH_SKIPS,
    RUNNING,
    TOOL_FAIL,
    Cell,
    Column,
    JunitError,
    merge_cells,
    parse_junit,
)
from dashboard_config.grid.tree import LocalTree
from tests.dashboard.grid_trees import HOUR, JOB, case, done, failure, junit, skipped, write_build

NOW = 1_764_576_000  # 2025-12-01 08:00 UTC
HEADERS = ["job-version", "provider"]
ART = "artifacts/junit_01.xml"


OVERALL = f"{JOB}.Overall"
RULES = GroupRules(JOB, tuple(HEADERS), analyze_prowjob=False)


def minutes(seconds: float) -> dict[str, float]:
    return {"test-duration-minutes": seconds / 60}


def columns(root: Path, days: float = 7) -> dict[str, Column]:
    found = steady_columns(LocalTree(root), f"logs/{JOB}", RULES, days, NOW)
    return {column.build: column for column in found}


def one(root: Path, *cases: str, result: str = "SUCCESS", files: dict | None = None) -> Column:
    write_build(root, "1", started=NOW - HOUR, finished=done(NOW - HOUR, result),
                files=files if files is not None else {ART: junit(*cases)})  # fmt: skip
    return columns(root)["1"]


def test_overall_row_comes_from_finished_json(tmp_path: Path) -> None:
    column = one(tmp_path, case("a"))
    assert column.cells[OVERALL] == Cell(PASS, "", "", minutes(20 * 60.0))
    failed = one(tmp_path / "f", case("a", body=failure("boom")), result="FAILURE")
    assert failed.cells[OVERALL] == Cell(FAIL, "", "", minutes(20 * 60.0))  # a test failed: no "outside" note


def test_duplicate_names_in_one_build_merge_into_one_cell(tmp_path: Path) -> None:
    column = one(tmp_path, files={
        ART: junit(case("same", 2.0), case("mixed", 1.0), case("mixed", 3.0, failure("lost the leader"))),
        "artifacts/junit_02.xml": junit(case("same", 4.0)),
    })  # fmt: skip
    assert column.cells["fedtest e2e.same"] == Cell(PASS, "2/2", "2/2 runs passed", minutes(3.0))
    assert column.cells["fedtest e2e.mixed"] == Cell(FLAKY, "1/2", "1/2 runs passed: lost the leader", minutes(2.0))


def test_skip_with_a_message_shows_and_one_without_is_dropped(tmp_path: Path) -> None:
    column = one(
        tmp_path,
        case("reasoned", body=skipped("no IngressClass")),
        case("bare", body=skipped()),
        case("ginkgo-default", body=skipped("skipped")),
    )
    assert column.cells["fedtest e2e.reasoned"] == Cell(PASS_WITH_SKIPS, "S", "no IngressClass", minutes(1.0))
    assert "fedtest e2e.bare" not in column.cells
    assert "fedtest e2e.ginkgo-default" not in column.cells


def test_failure_message_is_the_failure_text(tmp_path: Path) -> None:
    column = one(tmp_path, case("f", body=failure("timed out", "waited 300 s for endpoints")),
                 case("long", body=failure("x" * 200)), result="FAILURE")  # fmt: skip
    assert column.cells["fedtest e2e.f"] == Cell(FAIL, "F", "timed out\nwaited 300 s for endpoints", minutes(1.0))
    assert column.cells["fedtest e2e.long"].message == "x" * 70 + "..." + "x" * 70


def test_unparsable_junit_turns_overall_red_naming_the_file(tmp_path: Path) -> None:
    column = one(tmp_path, files={ART: junit(case("kept")), "artifacts/junit_02.xml": "<testsuites><testsuite"})
    overall = column.cells[OVERALL]
    assert (overall.status, overall.icon) == (FAIL, "E")
    assert overall.message.startswith("Malformed artifacts: artifacts/junit_02.xml: ")
    assert column.cells["fedtest e2e.kept"].status == PASS


def test_zero_byte_finished_json_is_malformed(tmp_path: Path) -> None:
    write_build(tmp_path, "1", started=NOW - HOUR, finished=b"", files={ART: junit(case("a"))})
    assert columns(tmp_path)["1"].cells[OVERALL] == Cell(FAIL, "E", "Malformed artifacts: finished.json")


def test_undecodable_finished_json_fails_the_column_naming_the_build(tmp_path: Path) -> None:
    write_build(tmp_path, "1", started=NOW - 2 * HOUR, finished=done(NOW - 2 * HOUR, "SUCCESS"))
    write_build(tmp_path, "2", started=NOW - HOUR, finished=b'{"timestamp": "1764570000", "passed": true}',
                files={ART: junit(case("a"))})  # fmt: skip
    found = columns(tmp_path)
    assert list(found["2"].cells) == ["Overall"]
    overall = found["2"].cells["Overall"]  # read.go erroredColumn: the `Overall` row, not `<job>.Overall`
    assert overall.status == TOOL_FAIL
    assert overall.message.startswith(f"Failed to download {str(tmp_path)[:40]}")  # cut at 140 bytes
    assert overall.message.endswith(f"{JOB}/2/: finished: cannot unmarshal str into timestamp")
    assert found["2"].started == found["1"].started + 0.01  # 0.01 ms after the last build read
    assert found["2"].extra == found["1"].extra == ["v1.31.2", "kind"]


def test_started_only_is_running_for_24_hours_then_failed(tmp_path: Path) -> None:
    write_build(tmp_path, "1", started=NOW - 25 * HOUR)
    write_build(tmp_path, "2", started=NOW - 23 * HOUR)
    found = columns(tmp_path)
    assert found["1"].cells[OVERALL] == Cell(FAIL, "T", "Build did not complete within 24 hours")
    assert found["2"].cells[OVERALL] == Cell(RUNNING, "R", "Build still running...")
    assert found["2"].extra == ["", ""]  # headers stay blank while running
    assert found["1"].extra == ["missing", "missing"]


def test_aborted_with_passing_tests_failed_outside_of_test_results(tmp_path: Path) -> None:
    column = one(tmp_path, case("a"), result="ABORTED")
    assert column.cells[OVERALL] == Cell(FAIL, "F", "Build failed outside of test results", minutes(20 * 60.0))


def test_finished_without_passed_falls_back_to_result_with_a_note(tmp_path: Path) -> None:
    write_build(tmp_path, "1", started=NOW - HOUR, finished={"timestamp": NOW, "result": "SUCCESS"})
    expected = Cell(PASS, "E", 'finished.json missing "passed": true', minutes(3600.0))
    assert columns(tmp_path)["1"].cells[OVERALL] == expected


def test_only_junit_named_files_count_anywhere_under_the_build(tmp_path: Path) -> None:
    column = one(tmp_path, files={
        "artifacts/e2e-results.xml": junit(case("not-read", body=failure("x"))),
        "artifacts/c2/junit_runner.xml": junit(case("nested-folder")),
        "junit.xml": junit(case("build-root")),
    })  # fmt: skip
    assert set(column.cells) == {OVERALL, "fedtest e2e.nested-folder", "fedtest e2e.build-root"}


def test_nested_suite_names_are_dot_joined(tmp_path: Path) -> None:
    xml = (
        '<testsuites><testsuite name="outer"><testsuite name="inner"><testcase name="deep"/></testsuite>'
        '<testsuite><testcase name="unnamed-suite"/></testsuite><testcase name="shallow"/></testsuite>'
        '<testsuite><testcase name="bare"/></testsuite></testsuites>'
    )
    column = one(tmp_path, files={ART: xml})
    assert set(column.cells) == {OVERALL, "outer.inner.deep", "outer.unnamed-suite", "outer.shallow", "bare"}


def test_columns_newest_first_within_days_of_results(tmp_path: Path) -> None:
    for build, hours in (("9", 30), ("10", 20), ("11", 10), ("8", 9 * 24)):
        write_build(tmp_path, build, started=NOW - hours * HOUR, finished=done(NOW - hours * HOUR, "SUCCESS"))
    assert list(columns(tmp_path)) == ["11", "10", "9"]
    assert list(columns(tmp_path, days=1)) == ["11", "10"]


def test_header_values_from_finished_metadata_else_missing(tmp_path: Path) -> None:
    finished = done(NOW - HOUR, "SUCCESS")
    del finished["metadata"]["provider"]
    write_build(tmp_path, "1", started=NOW - HOUR, finished=finished)
    assert columns(tmp_path)["1"].extra == ["v1.31.2", "missing"]


def test_parse_junit_reads_a_single_suite_root_and_ignores_what_follows_it() -> None:
    data = b'<testsuite name="s"><testcase name="a"/></testsuite><testsuite name="t"><testcase name="b"/></testsuite>'
    assert [c.name for c in parse_junit(data)] == ["s.a"]
    assert parse_junit(b"") == [] and parse_junit(b"  \n") == []


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"<results><testcase name='a'/></results>", "bad element name"),
        (b'<?xml version="1.0" encoding="ISO-8859-1"?><testsuites/>', "unknown charset: ISO-8859-1"),
        (b"<testsuites><testsuite name='a'>", "unexpected end of file"),
    ],
)
def test_parse_junit_rejects_what_testgrid_rejects(data: bytes, problem: str) -> None:
    with pytest.raises(JunitError, match=problem):
        parse_junit(data)


STATUS = st.sampled_from([PASS, PASS_WITH_SKIPS, FAIL])


@given(st.lists(STATUS, min_size=2, max_size=8))
def test_merged_cell_counts_passes_and_is_flaky_only_when_mixed(statuses: list[str]) -> None:
    merged = merge_cells([Cell(s, message="m" if s == FAIL else "") for s in statuses])
    passes = sum(s != FAIL for s in statuses)
    assert merged.icon == f"{passes}/{len(statuses)}"
    assert merged.message.startswith(f"{passes}/{len(statuses)} runs passed")
    if passes and passes < len(statuses):
        assert merged.status == FLAKY
    else:
        assert merged.status == (FAIL if not passes else max(statuses, key=testgrid.STATUSES.index))


def test_sample_tree_holds_every_kind_of_build(tmp_path: Path) -> None:
    from tests.dashboard.grid_trees import sample_tree

    found = columns(sample_tree(tmp_path, NOW))
    cell = {build: c.cells.get(OVERALL) or c.cells["Overall"] for build, c in found.items()}
    overall = {build: (found.status, found.icon) for build, found in cell.items()}
    assert overall == {
        "109": (RUNNING, "R"), "108": (PASS, ""), "107": (FAIL, "E"), "106": (FAIL, "F"), "105": (FAIL, ""),
        "104": (FAIL, ""), "103": (FAIL, "T"), "102": (TOOL_FAIL, ""), "101": (PASS, ""),
    }  # fmt: skip
