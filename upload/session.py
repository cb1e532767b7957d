"""The build record of one pytest run: started.json at the start, the verdict at the end.

The plugin (conftest.py) calls open() as the run starts, finish() after teardown; the abort
path (SIGTERM, SIGINT, --deadline) goes through the same finish() with aborted=True, so
finished.json always follows the JUnit and latest-build.txt comes last.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from upload.record import BuildRecord, PublishReport, parse_results

BUILD_LOG = "build-log.txt"


@dataclass(frozen=True)
class PublishSettings:
    results: str | None
    job: str | None
    build_id: str | None
    artifacts: Path
    provider: str


def default_job(provider: str, env: Mapping[str, str]) -> str:
    return env.get("JOB_NAME") or f"e2e-{provider}"


def infra_commit() -> str:
    """The harness's own git commit (9 characters, as test-infra's infra-commit), or 'unknown'."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent, timeout=10,
                             capture_output=True, text=True, check=True)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip()[:9] or "unknown"


@dataclass
class RunRecord:
    settings: PublishSettings
    record: BuildRecord | None = None
    log: Callable[[str], None] = print
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def build_log(self) -> Path:
        return self.settings.artifacts / BUILD_LOG

    def open(self) -> BuildRecord:
        """Claim the build: started.json first. The local default is the bucket layout under artifacts/."""
        s = self.settings
        job = s.job or default_job(s.provider, os.environ)
        target = parse_results(s.results or str(s.artifacts), job)
        self.record = BuildRecord.open(target, build_id=s.build_id, log=self.log)
        return self.record

    def finish(self, *, passed: bool, aborted: str | None, metadata: Mapping[str, str],
               budget_seconds: float | None) -> PublishReport | None:
        if self.record is None:
            return None
        meta = {**metadata, **{f"{k}-seconds": f"{v:.1f}" for k, v in self.timings.items()}}
        log = self.build_log if self.build_log.is_file() else None
        if aborted:
            return self.record.abort(reason=aborted, metadata=meta, artifacts_dir=self.settings.artifacts,
                                     build_log=log, budget_seconds=budget_seconds)
        return self.record.finish("SUCCESS" if passed else "FAILURE", metadata=meta,
                                  artifacts_dir=self.settings.artifacts, build_log=log,
                                  budget_seconds=budget_seconds)
