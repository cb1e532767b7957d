"""Fixtures for the results pipeline: a fake-gcs-server per test, sinks, and a sample run's files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.standins.gcs import FakeGCS
from tests.upload.emulator import BUCKET
from upload.junit import CaseResult, write_junit


@pytest.fixture
def fake_gcs(tmp_path: Path) -> Iterator[FakeGCS]:
    server = FakeGCS.start(tmp_path / "fake-gcs")
    server.create_bucket(BUCKET)
    yield server
    server.stop()


@pytest.fixture
def sample_run(tmp_path: Path) -> tuple[Path, Path]:
    """An artifacts folder (JUnit with a pass, a failure-free skip, properties; other files) and a log."""
    artifacts = tmp_path / "artifacts"
    write_junit(
        artifacts / "junit_01.xml",
        "fedtest e2e",
        [
            CaseResult(
                "test_pods[c1]", "e2e.test_pods", 1.25, properties={"cluster": "c1", "provider": "kind"}
            ),
            CaseResult("test_ingress[c1]", "e2e.test_ingress", 0.1, "skipped", message="no IngressClass"),
            CaseResult("cluster bring-up", "infra", 12.0, properties={"seconds": "12.0"}),
        ],
    )
    (artifacts / "c1").mkdir()
    (artifacts / "c1" / "events.txt").write_text("event one\n")
    (artifacts / "ledger.json").write_text('{"run": "r1"}\n')
    log = tmp_path / "console.log"
    log.write_text("collected 3 items\nPASSED\n")
    return artifacts, log
