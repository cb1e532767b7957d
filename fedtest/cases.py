"""The run's JUnit: one case per test attempt (its setup, call and teardown folded together), plus infra cases.

pytest reports phases; TestGrid wants one row per test. The book folds each phase into the test's
case, turns tests an abort cut short into errors, and writes junit_01.xml as the run goes (atomically,
at most once per `every` seconds, and never more than `every` seconds behind the last finished test),
so a run killed with SIGKILL still leaves the cases written so far for `fedtest abort` to publish.

A test rerun after a failure (pytest-rerunfailures, `--reruns N`) gets one case per attempt, all
with the test's name and an `attempt` property: TestGrid merges them into one cell, "1/2 runs
passed", FLAKY. The test's verdict is its last attempt's; infra cases are never rerun.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from fedtest.steps import StepResult
from upload import files
from upload.junit import CaseResult, render

FAILED = ("failed", "error")

JUNIT_NAME = "junit_01.xml"


@dataclass
class Phase:
    """One pytest report, reduced to what the JUnit needs."""

    nodeid: str
    when: str
    outcome: str
    seconds: float
    message: str = ""
    details: str = ""
    properties: list[tuple[str, object]] = field(default_factory=list)
    stdout: str = ""
    attempt: int = 0  # 0 for the first run; pytest-rerunfailures' report.rerun for reruns


class CaseBook:
    def __init__(self, path: Path, provider: str, cluster_names: list[str], every: float = 1.0,
                 suite_name: str = "fedtest") -> None:
        self.path = path
        self.provider = provider
        self.cluster_names = cluster_names
        self.every = every
        self.suite_name = suite_name
        self.cases: dict[tuple[str, int], CaseResult] = {}  # (nodeid, attempt), attempts in order
        self.running: set[tuple[str, int]] = set()
        self.steps: list[StepResult] = []
        self.suite_properties: dict[str, str] = {}  # the run's own, e.g. tests-seconds
        self._lock = threading.Lock()
        self._written = 0.0
        self._deferred: threading.Timer | None = None

    def record(self, phase: Phase) -> None:
        """Fold one pytest phase (setup, call, teardown) into the JUnit case of the test's attempt."""
        key = (phase.nodeid, phase.attempt)
        with self._lock:
            case = self.cases.get(key) or self._new_case(*key)
            if phase.when == "teardown":
                self.running.discard(key)
            else:
                self.running.add(key)
            case.seconds += phase.seconds
            case.properties.update({str(k): str(v) for k, v in phase.properties})
            if phase.outcome in ("failed", "rerun"):  # rerun: this attempt failed and another follows
                case.outcome = "failed" if phase.when == "call" or case.outcome == "failed" else "error"
                text = phase.message if phase.when == "call" else f"{phase.when}: {phase.message}"
                case.message = case.message or text[:500]
                case.details = f"{case.details}\n{phase.details}".strip()
            elif phase.outcome == "skipped" and case.outcome == "passed":
                case.outcome, case.message = "skipped", (phase.message or "skipped")[:500]
            if phase.stdout:
                case.stdout = f"{case.stdout}{phase.stdout}"
        if phase.when == "teardown":
            self.write(force=False)

    def _new_case(self, nodeid: str, attempt: int) -> CaseResult:
        module, _, rest = nodeid.partition("::")
        case = self.cases[nodeid, attempt] = CaseResult(
            name=f"{module.rpartition('/')[2]}::{rest}" if rest else nodeid,
            classname=module.removesuffix(".py").replace("/", "."),
            seconds=0.0, properties={"provider": self.provider} if self.provider else {},
        )
        cluster_id = rest.rpartition("[")[2].rstrip("]") if rest.endswith("]") else ""
        if cluster_id in self.cluster_names:
            case.properties["cluster"] = cluster_id
        if attempt:
            for (other, earlier), first in self.cases.items():
                if other == nodeid:
                    first.properties["attempt"] = str(earlier + 1)
        return case

    def collect_error(self, nodeid: str, message: str, details: str) -> None:
        with self._lock:
            self.cases[f"collect:{nodeid}", 0] = CaseResult(f"Collect: {nodeid}", "fedtest.collect", 0.0, "error",
                                                         message=message[:500], details=details)

    def interrupted(self, reason: str) -> None:
        """Tests an abort cut short have no teardown report: they become errors, not silence."""
        with self._lock:
            for key in sorted(self.running):
                case = self.cases[key]
                case.outcome, case.message = "error", f"interrupted: run aborted ({reason})"
            self.running.clear()

    def attempts(self) -> dict[str, list[CaseResult]]:
        """Every test's cases, first attempt first."""
        by_test: dict[str, list[CaseResult]] = {}
        for (nodeid, _attempt), case in sorted(self.cases.items()):
            by_test.setdefault(nodeid, []).append(case)
        return by_test

    @property
    def failed_tests(self) -> bool:
        """A test failed when an attempt failed and none passed after it (a skipped rerun does not hide it)."""
        return any(cases[-1].outcome != "passed" and any(c.outcome in FAILED for c in cases)
                   for cases in self.attempts().values())

    def flaky(self) -> list[str]:
        """Tests that failed, then passed on a rerun: passed, with the mark TestGrid shows (FLAKY)."""
        return [cases[-1].name for cases in self.attempts().values()
                if len(cases) > 1 and cases[-1].outcome == "passed" and any(c.outcome in FAILED for c in cases)]

    def infra_cases(self) -> list[CaseResult]:
        """A failed infra step is an error, as pytest's closing line counts it (plugin.pytest_terminal_summary)."""
        return [
            CaseResult(r.name, "fedtest.infra", r.seconds, "passed" if r.ok else "error",
                       message=r.error.splitlines()[0][:500] if r.error else "", details=r.error,
                       properties={"provider": self.provider, **r.properties} if self.provider else r.properties)
            for r in list(self.steps)
        ]

    def write(self, force: bool = True) -> Path | None:
        """junit_01.xml with every case so far: Setup cases, tests, then Teardown and the rest."""
        now = time.monotonic()
        if not force and now - self._written < self.every:
            with self._lock:  # too soon: write once the interval has passed, with whatever came meanwhile
                if self._deferred is None:
                    self._deferred = threading.Timer(self.every - (now - self._written), self.write)
                    self._deferred.daemon = True
                    self._deferred.start()
            return None
        with self._lock:
            if self._deferred is not None:
                self._deferred.cancel()
                self._deferred = None
            self._written = now
            infra = self.infra_cases()
            setup = [c for c in infra if c.name.startswith("Setup")]
            later = [c for c in infra if not c.name.startswith("Setup")]
            cases = setup + list(self.cases.values()) + later
            return _write(self.path, render(self.suite_name, cases, self.suite_properties))


def _write(path: Path, data: bytes) -> Path:
    """Atomically, through upload.files: a reader (or a kill) never sees half a file, no link is written through."""
    return files.write_path(path, data)
