"""Tiny results trees in the test-history layout, one build per TestGrid rule, for the grid's tests.

`sample_tree` is also what the browser test and docs/grid.png show: passing, failing, flaky, skipped,
running, timed-out, aborted, malformed and undecodable builds of the kind nightly job.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

JOB = "e2e-kind-nightly"  # a test group in dashboard_config/fedtest.yaml
SUITE = "fedtest e2e"
HOUR = 3600
ART = "artifacts/junit_01.xml"


def junit(*cases: str, suite: str = SUITE) -> str:
    body = f'<testsuite name="{suite}">{"".join(cases)}</testsuite>'
    return f'<?xml version="1.0" encoding="utf-8"?>\n<testsuites>{body}</testsuites>\n'


def case(name: str, seconds: float = 1.0, body: str = "") -> str:
    return f'<testcase classname="e2e" name="{name}" time="{seconds}">{body}</testcase>'


def failure(message: str, text: str = "") -> str:
    return f'<failure message="{message}">{text}</failure>'


def skipped(message: str = "") -> str:
    return f'<skipped message="{message}"/>' if message else "<skipped/>"


def write_build(
    root: Path,
    build: str,
    *,
    started: int | bytes | None,
    finished: dict[str, Any] | bytes | None = None,
    files: dict[str, str | bytes] | None = None,
    job: str = JOB,
) -> Path:
    """One build folder: started.json, finished.json (a dict, raw bytes, or absent), build-log.txt, files."""
    folder = root / "logs" / job / build
    folder.mkdir(parents=True, exist_ok=True)
    if started is not None:
        data = started if isinstance(started, bytes) else json.dumps({"timestamp": started}).encode()
        (folder / "started.json").write_bytes(data)
    if finished is not None:
        data = finished if isinstance(finished, bytes) else json.dumps(finished).encode()
        (folder / "finished.json").write_bytes(data)
    (folder / "build-log.txt").write_text(f"build {build} log\n")
    for name, content in (files or {}).items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return folder


def done(start: int, result: str, minutes: int = 20, **metadata: str) -> dict[str, Any]:
    meta = {"job-version": "v1.31.2", "provider": "kind", **metadata}
    return {"timestamp": start + minutes * 60, "passed": result == "SUCCESS", "result": result, "metadata": meta}


PASSING_CASES = (
    case("test_runner_pods[c1]", 12.5),
    case("test_cronjobs[c1]", 30.0),
    case("test_ingress[c1]", 0.2, skipped("no IngressClass in cluster c1")),
    case("test_gpu[c1]", 0.0, skipped()),  # no message: TestGrid drops it
)


def sample_tree(root: Path, now: float) -> Path:
    """Nine builds of the kind nightly job, newest first: 109 running ... 101 passing."""
    t = int(now)
    art = "artifacts/junit_01.xml"
    federation = case("test_federation[c1,c2]", 61.0, failure("failover took 95 s", "timeout waiting for endpoints"))
    cronjobs_failed = case("test_cronjobs[c1]", 28.0, failure("job did not run"))
    nested = (
        '<testsuites><testsuite name="outer"><testsuite name="inner">'
        '<testcase name="deep" time="2"/></testsuite></testsuite></testsuites>'
    )
    finished_builds: list[tuple[str, int, str, dict[str, str], dict[str, str]]] = [
        # build, hours ago, result, files, finished.json metadata
        ("101", 40, "SUCCESS", {art: junit(*PASSING_CASES),
                                "artifacts/e2e-results.xml": junit(case("ignored", 1, failure("x")))}, {}),
        ("104", 20, "FAILURE", {art: junit(*PASSING_CASES[:2], federation)}, {}),
        ("105", 16, "FAILURE", {art: junit(case("test_runner_pods[c1]", 11.0), cronjobs_failed),
                                "artifacts/junit_02.xml": junit(case("test_cronjobs[c1]", 26.0))}, {}),
        ("106", 12, "ABORTED", {art: junit(*PASSING_CASES[:2])}, {}),
        ("107", 8, "FAILURE", {art: '<testsuites><testsuite name="fedtest e2e"><testcase name="cut'}, {}),
        ("108", 4, "SUCCESS", {art: junit(*PASSING_CASES), "artifacts/c2/junit_nested.xml": nested},
         {"provider": "kind-podman"}),
    ]  # fmt: skip
    for build, hours, result, files, metadata in finished_builds:
        start = t - hours * HOUR
        write_build(root, build, started=start, finished=done(start, result, **metadata), files=files)
    write_build(root, "102", started=t - 34 * HOUR, finished=b'{"timestamp": "1700000000", "passed": true}')
    write_build(root, "103", started=t - 30 * HOUR)  # never finished: failed after 24 h
    write_build(root, "109", started=t - HOUR)  # still running
    return root


def render_sample(folder: Path, now: float) -> Path:
    """The sample tree (with conformance) and its site under `folder`; returns the kind nightly tab's page.

    The kind conformance tab is at ../provider-fedtest-conformance/tab-kind-conformance.html from it.
    """
    import argparse

    from dashboard_config.grid import cli

    results = conformance_tree(folder / "results", now)
    out = folder / "site"
    cli.build(argparse.Namespace(results=[str(results)], config=cli.CONFIG_DIR, out=out, days=None, serve=False), now)
    return folder / "site" / "provider-fedtest-nightly" / "tab-kind-nightly.html"


# --- trees that pin TestGrid's rules, each compared with tg-read (tests/dashboard/test_grid_oracle.py) ---

GROUP = {  # the kind nightly test group of dashboard_config/fedtest.yaml, as the oracle trees use it
    "name": JOB,
    "gcs_prefix": f"fedtest-results/logs/{JOB}",
    "days_of_results": 15,
    "num_columns_recent": 10,
    "disable_prowjob_analysis": True,
    "column_header": [{"configuration_value": "job-version"}, {"configuration_value": "provider"}],
}
TAB = {
    "name": "kind nightly",
    "test_group_name": JOB,
    "alert_options": {"num_failures_to_alert": 2, "alert_stale_results_hours": 48, "num_passes_to_disable_alert": 1},
}
CONFORMANCE = "Kubernetes e2e suite.[sig-apps] Deployment should run the lifecycle of a Deployment [Conformance]"


def conformance_junit(cluster: str, failed: bool = False) -> str:
    """What --conformance adds to a build: upstream rows per cluster and the tester's own row."""
    body = failure("timed out waiting for the deployment") if failed else ""
    name = CONFORMANCE.split(".", 1)[1]
    return (
        f'<testsuites><testsuite name="Kubernetes e2e suite"><testcase name="{name} [{cluster}]" time="20">{body}'
        f'</testcase></testsuite><testsuite name="fedtest"><testcase name="Conformance: {cluster}" time="300"/>'
        "</testsuite></testsuites>"
    )


def conformance_tree(root: Path, now: float) -> Path:
    """The sample tree, with upstream Conformance in builds 104 and 108 (the conformance tab's rows)."""
    sample_tree(root, now)
    for build, failed in (("104", True), ("108", False)):
        for cluster in ("c1", "c2"):
            path = root / "logs" / JOB / build / f"artifacts/junit_conformance_{cluster}.xml"
            path.write_text(conformance_junit(cluster, failed and cluster == "c2"))
    return root


def _finished_builds(root: Path, now: float, specs: list[tuple[str, float, str, dict[str, str | bytes]]]) -> Path:
    for build, hours, result, files in specs:
        start = int(now - hours * HOUR)
        write_build(root, build, started=start, finished=done(start, result), files=files)
    return root


def no_start_tree(root: Path, now: float) -> Path:
    """Builds without started.json: TestGrid shows RUNNING "Start timestamp for this job is 0."."""
    _finished_builds(root, now, [("1", 30, "SUCCESS", {}), ("4", 2, "SUCCESS", {})])
    folder = root / "logs" / JOB / "2"
    folder.mkdir(parents=True)
    (folder / "build-log.txt").write_text("only a log\n")
    write_build(root, "3", started=None, finished=done(int(now) - 3 * HOUR, "SUCCESS"))
    return root


def finished_zero_tree(root: Path, now: float) -> Path:
    """finished.json with "timestamp": 0 did not complete; without a timestamp it is still running."""
    _finished_builds(root, now, [("1", 30, "SUCCESS", {})])
    write_build(root, "2", started=int(now) - 2 * HOUR, finished={"timestamp": 0, "passed": True})
    write_build(root, "3", started=int(now) - 2 * HOUR, finished={"passed": True})
    return root


def go_decoder_tree(root: Path, now: float) -> Path:
    """JUnit Go's decoder refuses is "Malformed artifacts"; artifacts/test.xml is read like junit*.xml."""
    comma = '<testsuite name="s"><testcase name="comma" time="1,5"/></testsuite>'
    tests = '<testsuites><testsuite name="s" tests="3.0"><testcase name="float-count"/></testsuite></testsuites>'
    fine = (
        '<testsuite name="s"><testcase name="odd" time=" 2 " file="x" line="y"/>'
        '<testcase name="e" time="1e2"/></testsuite>'
    )
    return _finished_builds(root, now, [
        ("1", 5, "SUCCESS", {ART: comma}), ("2", 4, "SUCCESS", {ART: tests}),
        ("3", 3, "SUCCESS", {"artifacts/test.xml": junit(case("from test.xml"))}), ("4", 2, "SUCCESS", {ART: fine}),
    ])  # fmt: skip


def message_bytes_tree(root: Path, now: float) -> Path:
    """Messages cut at 140 bytes (inside "é": "invalid utf8: ..."), merged flaky messages cut twice."""
    split = "a" * 69 + "é" + "b" * 100
    wide = "€" * 60
    cases = (
        case("split", body=failure(split)), case("wide", body=failure(wide)),
        case("flaky", 1.0, failure("x" * 150, "t")), case("flaky", 3.0),
    )  # fmt: skip
    return _finished_builds(root, now, [("1", 2, "FAILURE", {ART: junit(*cases)})])


def properties_tree(root: Path, now: float) -> Path:
    """Numeric properties are metrics; a property can name rows (test_name_config) or be the cell text."""
    def prop_case(name: str, attempt: str, cluster: str, body: str = "") -> str:
        props = f'<properties><property name="attempt" value="{attempt}"/><property name="cluster" value="{cluster}"/>'
        props += '<property name="wait" value="1.5"/></properties>'
        return f'<testcase name="{name}" time="3">{props}{body}</testcase>'

    cases = (
        prop_case("test_cronjobs", "1", "c1", failure("missed a tick")), prop_case("test_cronjobs", "2", "c1"),
        prop_case("test_cronjobs", "1", "c2"), prop_case("test_runner_pods", "1", "c1", skipped("no GPU")),
    )  # fmt: skip
    builds = [("1", 3, "SUCCESS", {ART: junit(*cases)}), ("2", 2, "FAILURE", {ART: junit(*cases[:1])})]
    return _finished_builds(root, now, builds)


def natural_order_tree(root: Path, now: float) -> Path:
    """Rows and builds in natural order; builds started in the same second keep the order they were read in."""
    cases = junit(case("test 10"), case("test 9"), case("Test 1"), case("test 9a"))
    start = int(now - 3 * HOUR)
    for build in ("9", "10", "b2", "b10"):
        write_build(root, build, started=start, finished=done(start, "SUCCESS"), files={ART: cases})
    return root


def too_old_tree(root: Path, now: float) -> Path:
    """Every build older than days_of_results: one UNKNOWN "build too old" column."""
    return _finished_builds(root, now, [("1", 20 * 24, "SUCCESS", {}), ("2", 18 * 24, "FAILURE", {})])


def alert_tree(root: Path, now: float) -> Path:
    """Two failures in a row: the tab's alert_options say 2, the test group's default (3) decides."""
    bad = {ART: junit(case("test_federation", body=failure("failover took 95 s")))}
    return _finished_builds(root, now, [("1", 40, "SUCCESS", {ART: junit(case("test_federation"))}),
                                        ("2", 30, "FAILURE", bad), ("3", 20, "FAILURE", bad)])  # fmt: skip


def failing_tree(root: Path, now: float) -> Path:
    """Three failures in a row: FAIL."""
    alert_tree(root, now)
    bad = {ART: junit(case("test_federation", body=failure("failover took 95 s")))}
    return _finished_builds(root, now, [("4", 10, "FAILURE", bad)])


def id_out_of_sequence_tree(root: Path, now: float) -> Path:
    """An epoch-seconds id among small ids: every later small id sorts before it and is never read."""
    return _finished_builds(root, now, [("7", 50, "SUCCESS", {}), ("1765000000", 40, "SUCCESS", {}),
                                        ("8", 30, "SUCCESS", {}), ("9", 2, "FAILURE", {})])  # fmt: skip


def crash_tree(root: Path, now: float) -> Path:
    """A non-string job-version in finished.json metadata: TestGrid's updater panics."""
    _finished_builds(root, now, [("1", 3, "SUCCESS", {})])
    finished = done(int(now) - 2 * HOUR, "SUCCESS")
    finished["metadata"] = {"job-version": {"kubernetes": "v1.31.2"}}
    write_build(root, "2", started=int(now) - 2 * HOUR, finished=finished)
    return root


def empty_tree(root: Path, now: float) -> Path:
    (root / "logs" / JOB).mkdir(parents=True)
    return root


def pod_tree(root: Path, now: float) -> Path:
    """Prowjob analysis on: the `<job>.Pod` row says podinfo.json is missing (RUNNING for an hour)."""
    return _finished_builds(root, now, [("1", 26, "SUCCESS", {}), ("2", 5, "SUCCESS", {}), ("3", 0.5, "FAILURE", {})])


# Trees tg-read reads build by build as they start, keeping its grid, as TestGrid does over time.
READ_OVER_TIME = {"build-id-out-of-sequence"}
# name: (tree, test group changes, tab changes); each pins one of TestGrid's rules against tg-read.
ORACLE_TREES: dict[str, tuple[Any, dict[str, Any], dict[str, Any]]] = {
    "sample": (sample_tree, {}, {}),
    "conformance-tab-filtered": (conformance_tree, {}, {"base_options": "include-filter-by-regex=Conformance"}),
    "exclude-filter": (conformance_tree, {}, {"base_options": "exclude-filter-by-regex=Overall&"
                                                              "exclude-filter-by-regex=cron"}),
    "no-started-json": (no_start_tree, {}, {}),
    "finished-timestamp-zero": (finished_zero_tree, {}, {}),
    "go-decoder-refuses-and-test-xml": (go_decoder_tree, {}, {}),
    "messages-cut-at-140-bytes": (message_bytes_tree, {}, {}),
    "disable-merged-status": (properties_tree, {"disable_merged_status": True}, {}),
    "test-name-config": (properties_tree, {"test_name_config": {"name_format": "%s [%s]", "name_elements": [
        {"target_config": "Tests name"}, {"test_property": "cluster"}]}}, {}),
    "short-text-metric": (properties_tree, {"short_text_metric": "attempt"}, {}),
    "numeric-properties-are-metrics": (properties_tree, {}, {}),
    "prowjob-analysis-pod-row": (pod_tree, {"disable_prowjob_analysis": False}, {}),
    "natural-order-and-same-second": (natural_order_tree, {}, {}),
    "all-builds-too-old": (too_old_tree, {}, {}),
    "alerts-by-test-group-not-tab": (alert_tree, {}, {}),
    "alerts-at-three-failures": (failing_tree, {}, {}),
    "build-id-out-of-sequence": (id_out_of_sequence_tree, {}, {}),
    "non-string-metadata-crashes": (crash_tree, {}, {}),
    "summary-unknown": (empty_tree, {}, {}),
    "summary-stale-no-results": (empty_tree, {}, {"alert_options": {"alert_stale_results_hours": 48}}),
}  # fmt: skip
