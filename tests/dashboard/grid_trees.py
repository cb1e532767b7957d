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
    """The sample tree and its site under `folder`; returns the kind nightly tab's grid page."""
    import argparse

    from dashboard_config.grid import cli

    results = sample_tree(folder / "results", now)
    out = folder / "site"
    cli.build(argparse.Namespace(results=str(results), config=cli.CONFIG_DIR, out=out, days=None, serve=False), now)
    return folder / "site" / "provider-fedtest-nightly" / "tab-kind-nightly.html"
