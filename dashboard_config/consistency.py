"""The TestGrid config and the nightly jobs must name the same jobs and the same bucket paths."""

from __future__ import annotations

from dashboard_config.config import Config
from dashboard_config.nightly_jobs import NightlyJob
from dashboard_config.problems import Problem
from dashboard_config.rules import label


def check(config: Config, jobs: list[NightlyJob], jobs_source: str) -> list[Problem]:
    problems = []
    groups = {entry.name: (index, entry) for index, entry in enumerate(config.test_groups)}
    by_name = {job.name: job for job in jobs}
    target = config.files[0] if config.files else "dashboard_config"
    for job in jobs:
        if job.name not in groups:
            detail = f"no test group named '{job.name}' in the TestGrid config ({target})"
            problems.append(Problem(jobs_source, job.name, "job-has-test-group", detail))
            continue
        index, entry = groups[job.name]
        prefix = entry.data.get("gcs_prefix")
        if prefix != job.gcs_prefix:
            detail = f"gcs_prefix is '{prefix}' but the job publishes to '{job.gcs_prefix}'"
            problems.append(
                Problem(entry.file, label("test_groups", entry, index), "gcs-prefix-matches-job", detail)
            )
    known = ", ".join(sorted(by_name)) or "none"
    for name, (index, entry) in groups.items():
        if name and name not in by_name:
            detail = f"no nightly job named '{name}' in {jobs_source} (jobs: {known})"
            problems.append(
                Problem(entry.file, label("test_groups", entry, index), "test-group-has-job", detail)
            )
    return problems
