"""`python -m dashboard_config grid` end to end: folder and GCS emulator, the pages, bad input, --serve."""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from dashboard_config.grid import cli as grid_cli
from dashboard_config.grid import summary
from dashboard_config.grid.testgrid import FAIL, FLAKY, PASS, RUNNING, Cell, Column
from fedtest.cli import main
from tests.dashboard.grid_trees import HOUR, case, done, junit, sample_tree, write_build
from tests.standins.gcs import FakeGCS
from tests.upload import conftest as upload_fixtures
from tests.upload.emulator import BUCKET

KIND_TAB = "provider-fedtest-nightly/tab-kind-nightly.html"


def grid_json(page: Path) -> dict:
    text = page.read_text()
    found = re.search(r'<script id="grid-data" type="application/json">(.*?)</script>', text, re.S)
    assert found, "no grid data in the page"
    return json.loads(found.group(1).replace("<\\/", "</"))


def overall_row(data: dict, job: str = "e2e-kind-nightly") -> dict[str, list]:
    row = next(r for r in data["rows"] if r["name"] == f"{job}.Overall")
    statuses = data["statuses"]
    return {
        c["build"]: [statuses[cell[0]], cell[1]] if cell else None
        for c, cell in zip(data["columns"], row["cells"], strict=True)
    }


@pytest.fixture
def results(tmp_path: Path) -> Path:
    return sample_tree(tmp_path / "results", time.time())


def test_writes_index_summary_and_grid_pages_from_a_folder(results: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "site"
    assert main(["grid", "--results", str(results), "--out", str(out)]) == 0
    # 9 kind builds; the kind conformance and disruption tabs (no matching rows) keep one empty column each,
    # as TestGrid's tabulator does
    assert "fedtest: grid: 3 dashboards, 9 tabs, 11 build columns" in capsys.readouterr().out
    data = grid_json(out / KIND_TAB)
    assert [c["build"] for c in data["columns"]] == ["109", "108", "107", "106", "105", "104", "103", "102", "101"]
    assert data["headers"] == ["job-version", "provider", "conformance-image"]
    assert data["columns"][1]["extra"] == ["v1.31.2", "kind-podman", "missing"]
    assert overall_row(data)["106"] == ["FAIL", "F"]
    log = data["links"][1]["log"]  # relative to the page: the site and the results can move together
    assert not log.startswith(("/", "file:"))
    assert (out / "provider-fedtest-nightly" / log).resolve() == (results / "logs/e2e-kind-nightly/108/build-log.txt")
    summary_page = (out / "provider-fedtest-nightly/index.html").read_text()
    assert 'href="tab-kind-nightly.html"' in summary_page
    assert '<span class="state flaky" title="a test flaked' in summary_page  # build 105's test_cronjobs
    assert "job did not run" in summary_page  # the newest finished build's failures
    assert '<span class="state stale" title="no completed results">stale</span>' in summary_page  # gce, azure
    assert 'href="provider-fedtest-nightly/index.html"' in (out / "index.html").read_text()


def test_pages_are_self_contained(results: Path, tmp_path: Path) -> None:
    main(["grid", "--results", str(results), "--out", str(tmp_path / "site")])
    for page in (tmp_path / "site").rglob("*.html"):
        text = page.read_text()
        assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", text), page
        assert "fetch(" not in text and "XMLHttpRequest" not in text
        assert "http://" not in text and "https://" not in text, page


def test_jobs_without_a_test_group_get_their_own_dashboard(tmp_path: Path) -> None:
    now = int(time.time())
    write_build(tmp_path / "r", "1764000000", job="e2e-kind", started=now - HOUR, finished=done(now - HOUR, "SUCCESS"),
                files={"artifacts/junit_01.xml": junit(case("test_pods"))})  # fmt: skip
    assert main(["grid", "--results", str(tmp_path / "r"), "--out", str(tmp_path / "site")]) == 0
    data = grid_json(tmp_path / "site/jobs-without-a-test-group/tab-e2e-kind.html")
    assert data["headers"] == ["Commit", "infra-commit"]  # test-infra's default test group
    assert [r["name"] for r in data["rows"]] == ["e2e-kind.Overall", "e2e-kind.Pod", "fedtest e2e.test_pods"]


fake_gcs = upload_fixtures.fake_gcs  # a fake-gcs-server with the bucket BUCKET, per test


def test_reads_a_bucket_through_the_emulator(results: Path, tmp_path: Path, fake_gcs: FakeGCS, monkeypatch) -> None:
    client = fake_gcs.client()
    bucket = client.bucket(BUCKET)
    for path in results.rglob("*"):
        if path.is_file():
            bucket.blob(f"nightly/{path.relative_to(results).as_posix()}").upload_from_filename(str(path))
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", fake_gcs.url)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "fedtest-test")
    assert main(["grid", "--results", f"gs://{BUCKET}/nightly", "--out", str(tmp_path / "site")]) == 0
    from_bucket = grid_json(tmp_path / "site" / KIND_TAB)
    main(["grid", "--results", str(results), "--out", str(tmp_path / "local")])
    from_folder = grid_json(tmp_path / "local" / KIND_TAB)
    assert rows_without_paths(from_bucket) == rows_without_paths(from_folder)
    log = from_bucket["links"][1]["log"]
    assert log.startswith(f"{fake_gcs.url}/storage/v1/b/{BUCKET}/o/")
    with urllib.request.urlopen(log, timeout=10) as response:
        assert response.read() == b"build 108 log\n"


def rows_without_paths(data: dict) -> str:
    """The rows, without "Failed to download <where>: ..." messages (where the tree is, cut at 140 bytes)."""
    return re.sub(r'Failed to download [^"]*', "Failed to download", json.dumps(data["rows"]))


def test_a_missing_bucket_is_one_line(tmp_path: Path, fake_gcs: FakeGCS, monkeypatch, capsys) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", fake_gcs.url)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "fedtest-test")
    assert main(["grid", "--results", "gs://no-such-bucket", "--out", str(tmp_path / "site")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fedtest: error: bucket 'no-such-bucket' does not exist") and err.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--results", "{tmp}/nowhere"], "no results folder at"),
        (["--results", "s3://bucket"], "unsupported results URL"),
        (["--days", "0"], "--days 0 is not positive"),
        (["--config", "{tmp}"], "no TestGrid YAML under"),
        (["--results", "{tmp}", "--results", "{tmp}"], "a second results tree without a bucket name"),
        (["--results", "b={tmp}", "--results", "b={tmp}"], "names bucket 'b' twice"),
    ],
)
def test_bad_input_is_one_line_naming_the_fix(args, problem, results: Path, tmp_path: Path, capsys) -> None:
    argv = ["grid", "--out", str(tmp_path / "site")] + ([] if "--results" in args else ["--results", str(results)])
    argv += [a.replace("{tmp}", str(tmp_path / "empty")) for a in args]
    (tmp_path / "empty").mkdir()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("fedtest: error: ") and problem in err and err.count("\n") == 1
    assert "Traceback" not in err


def test_every_option_documents_its_default() -> None:
    parser = argparse.ArgumentParser(prog="fedtest")
    grid_cli.add_parser(parser.add_subparsers())
    grid = parser._subparsers._group_actions[0].choices["grid"]
    for action in grid._actions:
        if action.dest != "help":
            assert "default" in (action.help or ""), action.dest
    assert grid.parse_args([]).run is grid_cli.run


def test_serve_answers_on_loopback_with_the_site_and_the_results(results: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    options = argparse.Namespace(results=[str(results)], config=grid_cli.CONFIG_DIR, out=out, days=None, serve=True)
    grid_cli.build(options)
    log_link = grid_json(out / KIND_TAB)["links"][4]["log"]
    assert log_link == "/results/logs/e2e-kind-nightly/105/build-log.txt"  # served pages link to the server
    server = grid_cli.serve(out, {"": results}, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        with urllib.request.urlopen(f"{base}/index.html", timeout=5) as response:
            assert b"provider-fedtest-nightly" in response.read()
        with urllib.request.urlopen(f"{base}{log_link}", timeout=5) as response:
            assert response.read() == b"build 105 log\n"
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(f"{base}/results/../../etc/passwd", timeout=5)
    finally:
        server.shutdown()
        server.server_close()


def _column(build: str, started_s: float, **cells: str) -> Column:
    return Column(build, started_s * 1000, [], {name: Cell(status) for name, status in cells.items()})


def test_tab_states_follow_the_summarizer() -> None:
    now = 100 * HOUR
    rows = ["j.Overall", "a"]
    green = [_column(str(i), now - i * HOUR, **{"j.Overall": PASS, "a": PASS}) for i in range(1, 4)]
    assert summary.tab_state(green, rows, now).state == "PASS"
    assert summary.tab_state(green, rows, now + 49 * HOUR, stale_hours=48).state == "STALE"
    assert summary.tab_state([], [], now).state == "UNKNOWN"
    assert summary.tab_state([], [], now, stale_hours=48).state == "STALE"
    once = [_column("9", now, **{"j.Overall": RUNNING}), _column("8", now - HOUR, **{"j.Overall": FAIL, "a": FAIL})]
    once += green
    state = summary.tab_state(once, rows, now, failures_to_alert=3)
    assert (state.state, state.label, [f.row for f in state.latest]) == ("FLAKY", "failures, no alert", rows)
    twice = [_column("7", now, **{"j.Overall": FAIL, "a": FAIL}), *once]
    assert summary.tab_state(twice, rows, now, failures_to_alert=3).state == "FLAKY"  # the group's 3, not 2
    thrice = [_column("6", now, **{"j.Overall": FAIL, "a": FAIL}), *twice]
    state = summary.tab_state(thrice, rows, now, failures_to_alert=3)
    assert state.state == "FAIL"
    assert [(f.row, f.count, f.build) for f in state.alerts] == [("j.Overall", 3, "6"), ("a", 3, "6")]
    flaked = [_column("5", now, **{"j.Overall": PASS, "a": FLAKY}), *green]
    assert summary.tab_state(flaked, rows, now).label == "flaky"
