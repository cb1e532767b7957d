"""Build ids and latest-build.txt cannot block a job; a broken latest-build.txt says how to recover."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pytest

from upload import layout
from upload.errors import ConfigError, UploadError
from upload.record import BuildRecord, parse_results
from upload.recovery import add_parser, reset_latest

MAX_ID = 2**53 - 1


def open_build(results: Path, build_id: str | None = None, **kwargs) -> BuildRecord:
    return BuildRecord.open(str(results), job="j", build_id=build_id, env={}, log=lambda _: None, **kwargs)


def finish(results: Path, build_id: str) -> None:
    open_build(results, build_id).finish("SUCCESS")


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize(
    ("build_id", "started", "fragment"),
    [
        ("", None, "not a positive integer"),
        (str(MAX_ID + 1), None, r"above 2\^53-1"),
        ("18446744073709551615", None, r"above 2\^53-1"),
        (None, "two days ahead", "in the future"),
        ("5", 99999999999, "in the future"),
    ],
)
def test_ids_and_starts_that_would_block_the_job_are_refused_before_anything_is_written(
    tmp_path, build_id, started, fragment
):
    results = tmp_path / "results"
    if started == "two days ahead":
        started = int(time.time()) + 2 * 86400
    with pytest.raises(ConfigError, match=fragment):
        open_build(results, build_id, started_at=started)
    assert snapshot(tmp_path) == {}
    finish(results, "1")  # the job goes on with a normal id


def test_the_largest_exact_id_is_still_accepted_and_a_start_an_hour_ahead_is_fine(tmp_path):
    assert layout.check_build_id(str(MAX_ID)) == str(MAX_ID)
    open_build(tmp_path, "3", started_at=int(time.time()) + 3600)


def write_latest(results: Path, data: bytes | None, folder: bool = False) -> Path:
    latest = results / "logs/j/latest-build.txt"
    latest.parent.mkdir(parents=True, exist_ok=True)
    latest.unlink(missing_ok=True)
    if folder:
        latest.mkdir()
    else:
        latest.write_bytes(data or b"")
    return latest


BROKEN = [
    (b"\x89PNG\r\n\x1a\n\x00\x00", False),
    (b"not-a-number\n", False),
    (b"18446744073709551615\n", False),
    (b"7" * 100_000, False),
    (b"12 13\n", False),
    (None, True),
]


@pytest.mark.parametrize(("data", "folder"), BROKEN, ids=["binary", "garbage", "uint64", "huge", "two", "folder"])
def test_a_broken_latest_build_names_the_file_and_the_recovery(tmp_path, data, folder):
    results = tmp_path / "results"
    finish(results, "4")
    write_latest(results, data, folder)
    with pytest.raises(UploadError) as caught:
        open_build(results, "5")
    message = str(caught.value)
    assert "latest-build.txt" in message and "reset-latest" in message and "\n" not in message
    assert not (results / "logs/j/5").exists()
    print(reset_latest(parse_results(str(results), "j")))
    assert (results / "logs/j/latest-build.txt").read_text() == "4\n"
    finish(results, "5")
    assert (results / "logs/j/latest-build.txt").read_text() == "5\n"


def test_reset_latest_picks_the_newest_complete_build(tmp_path):
    results = tmp_path / "results"
    for build in ("3", "9", "10"):
        finish(results, build)
    open_build(results, "11")  # claimed, never finished: not complete
    (results / "logs/j/99999999999999999999").mkdir()  # an id no reader holds exactly: ignored
    (results / "logs/j/99999999999999999999/finished.json").write_text("{}")
    write_latest(results, b"18446744073709551615\n")
    said = reset_latest(parse_results(str(results), "j"))
    assert "10" in said and "latest-build.txt" in said
    assert (results / "logs/j/latest-build.txt").read_text() == "10\n"


def test_reset_latest_without_any_complete_build_removes_the_file(tmp_path):
    results = tmp_path / "results"
    write_latest(results, b"garbage")
    said = reset_latest(parse_results(str(results), "j"))
    assert "no complete build" in said and not (results / "logs/j/latest-build.txt").exists()
    finish(results, "1")


def test_a_latest_build_broken_after_the_claim_is_repaired_not_fatal(tmp_path):
    results = tmp_path / "results"
    record = open_build(results, "6")
    write_latest(results, b"\xff\xfe garbage")
    report = record.finish("FAILURE")
    assert (results / "logs/j/latest-build.txt").read_text() == "6\n"
    assert json.loads((results / "logs/j/6/finished.json").read_text())["result"] == report.result


def test_the_not_greater_error_offers_the_recovery(tmp_path):
    results = tmp_path / "results"
    finish(results, str(MAX_ID))
    with pytest.raises(ConfigError) as caught:
        open_build(results, "7")
    assert "reset-latest" in str(caught.value) and f"above {MAX_ID}" not in str(caught.value)


def test_reset_latest_subcommand(tmp_path, capsys):
    results = tmp_path / "results"
    finish(results, "2")
    write_latest(results, b"garbage")
    parser = argparse.ArgumentParser(prog="fedtest")
    add_parser(parser.add_subparsers(dest="verb"))
    help_text = parser._subparsers._group_actions[0].choices["reset-latest"].format_help()
    assert "newest complete build" in help_text and "--results" in help_text
    args = parser.parse_args(["reset-latest", "--results", str(results), "--job", "j"])
    assert args.run(args) == 0
    assert "2" in capsys.readouterr().out
    assert (results / "logs/j/latest-build.txt").read_text() == "2\n"
