"""The nightly jobs rendered once per test module by jenkins-job-builder itself."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from dashboard_config import nightly_jobs

ROOT = Path(__file__).resolve().parents[2]
JOBS_DIR = ROOT / "jobs"
PROVIDERS = ("kind", "gce", "azure")
BUCKET = "fedtest-results"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, ET.ElementTree]]:
    out = tmp_path_factory.mktemp("jobs-xml")
    return out, nightly_jobs.render(JOBS_DIR, out)


@pytest.fixture(scope="module")
def jobs(rendered: tuple[Path, dict[str, ET.ElementTree]]) -> dict[str, ET.ElementTree]:
    return rendered[1]
