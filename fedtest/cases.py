"""The run's JUnit: one case per test (its setup, call and teardown folded together), plus infra cases.

pytest reports phases; TestGrid wants one row per test. The book folds each phase into the test's
case, turns tests an abort cut short into errors, and writes junit_01.xml as the run goes (atomically,
at most once per `every` seconds, and never more than `every` seconds behind the last finished test),
so a run killed with SIGKILL still leaves the cases written so far for `fedtest abort` to publish.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from fedtest.steps import StepResult
from upload.junit import CaseResult, write_junit

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


class CaseBook:
    def __init__(self, path: Path, provider: str, cluster_names: list[str], every: float = 1.0,
                 suite_name: str = "fedtest") -> None:
        self.path = path
        self.provider = provider
        self.cluster_names = cluster_names
        self.every = every
        self.suite_name = suite_name
        self.cases: dict[str, CaseResult] = {}
        self.running: set[str] = set()
        self.steps: list[StepResult] = []
        self._lock = threading.Lock()
        self._written = 0.0
        self._deferred: threading.Timer | None = None

    def record(self, phase: Phase) -> None:
        """Fold one pytest phase (setup, call, teardown) into the test's single JUnit case."""
        with self._lock:
            case = self.cases.get(phase.nodeid) or self._new_case(phase.nodeid)
            if phase.when == "teardown":
                self.running.discard(phase.nodeid)
            else:
                self.running.add(phase.nodeid)
            case.seconds += phase.seconds
            case.properties.update({str(k): str(v) for k, v in phase.properties})
            if phase.outcome == "failed":
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

    def _new_case(self, nodeid: str) -> CaseResult:
        module, _, rest = nodeid.partition("::")
        case = self.cases[nodeid] = CaseResult(
            name=f"{module.rpartition('/')[2]}::{rest}" if rest else nodeid,
            classname=module.removesuffix(".py").replace("/", "."),
            seconds=0.0, properties={"provider": self.provider} if self.provider else {},
        )
        cluster_id = rest.rpartition("[")[2].rstrip("]") if rest.endswith("]") else ""
        if cluster_id in self.cluster_names:
            case.properties["cluster"] = cluster_id
        return case

    def collect_error(self, nodeid: str, message: str, details: str) -> None:
        with self._lock:
            self.cases[f"collect:{nodeid}"] = CaseResult(f"Collect: {nodeid}", "fedtest.collect", 0.0, "error",
                                                         message=message[:500], details=details)

    def interrupted(self, reason: str) -> None:
        """Tests an abort cut short have no teardown report: they become errors, not silence."""
        with self._lock:
            for nodeid in sorted(self.running):
                case = self.cases[nodeid]
                case.outcome, case.message = "error", f"interrupted: run aborted ({reason})"
            self.running.clear()

    @property
    def failed_tests(self) -> bool:
        return any(c.outcome in ("failed", "error") for c in self.cases.values())

    def infra_cases(self) -> list[CaseResult]:
        return [
            CaseResult(r.name, "fedtest.infra", r.seconds, "passed" if r.ok else "failed",
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
            return write_junit(self.path, self.suite_name, setup + list(self.cases.values()) + later)
