"""Reading what the upstream suite says: progress from ginkgo's log, results from the carrier's log,
and its JUnit merged into the build with case names that stay unique per cluster."""

from __future__ import annotations

import base64
import binascii
import io
import re
import tarfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from e2e.framework.conformance_pod import NO_RESULTS, RESULTS_BEGIN, RESULTS_END
from upload.junit import CaseResult, write_junit

UPSTREAM_SUITE = "Kubernetes e2e suite"
_WILL_RUN = re.compile(r"Will run (\d+) of (\d+) specs")
_RAN = re.compile(r"Ran (\d+) of (\d+) Specs in ([\d.]+) seconds")
_FAILED = re.compile(r"^\s*• \[(FAILED|PANICKED|TIMEDOUT|INTERRUPTED|ABORTED)\]")
_BULLET = "•"  # ginkgo prints one per spec that ran (passed or not), in every output mode
MAX_CASE_OUTPUT = 64 * 1024


@dataclass
class Progress:
    """How far ginkgo is, from its console output (the same text go-runner tees into e2e.log)."""

    total: int | None = None
    done: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)
    summary: str = ""
    pending: int = 0  # bullets on the line ginkgo is still writing (it ends a line only now and then)
    _expect_name: bool = False

    def partial(self, text: str) -> None:
        """The unfinished last line: without -v ginkgo prints a row of bullets with no newline for long."""
        self.pending = text.count(_BULLET)

    def feed(self, line: str) -> None:
        self.pending = 0
        if self._expect_name and line.strip() and not line.startswith("-"):
            self.failures.append(line.strip())
            self._expect_name = False
        if match := _WILL_RUN.search(line):
            self.total = int(match.group(1))
        if match := _RAN.search(line):
            self.summary = match.group(0)
        self.done += line.count(_BULLET)
        if _FAILED.match(line):
            self.failed += 1
            self._expect_name = True

    def line(self, elapsed: float) -> str:
        minutes = f"{int(elapsed // 60)}m{int(elapsed % 60):02d}s"
        if self.total is None:
            return f"e2e.test starting ({minutes})"
        text = f"ran {self.done + self.pending} of {self.total} specs, {self.failed} failed ({minutes})"
        return f"{text}; last failure: {self.failures[-1]}" if self.failures else text


def results_archive(log: str) -> bytes | None:
    """The tar.gz the carrier printed between its markers; None when it printed none (or a cut one)."""
    lines = log.splitlines()
    if NO_RESULTS in lines or RESULTS_BEGIN not in lines or RESULTS_END not in lines:
        return None
    begin, end = lines.index(RESULTS_BEGIN), lines.index(RESULTS_END)
    try:
        return base64.b64decode("".join(lines[begin + 1:end]), validate=True)
    except (binascii.Error, ValueError):
        return None


def unpack(archive: bytes) -> dict[str, bytes]:
    """File name -> content of the archive's regular files (names only, never paths)."""
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        for member in tar.getmembers():
            handle = tar.extractfile(member) if member.isfile() else None
            if handle is not None:
                files[Path(member.name).name] = handle.read()
    return files


@dataclass(frozen=True)
class Counts:
    passed: int = 0
    failed: int = 0
    skipped: int = 0


def _text(element: ET.Element | None) -> str:
    return "".join(element.itertext()).strip() if element is not None else ""


@dataclass
class UpstreamReport:
    """ginkgo's JUnit split into specs (by their upstream names) and suite nodes."""

    specs: list[CaseResult]
    suite_failures: list[str]  # "[SynchronizedBeforeSuite]: <message>" for each suite node that failed


# ginkgo v2 names a JUnit case "[<node type>] <spec text>": specs are [It]; the rest are the suite's own
# setup and reporting nodes ([ReportBeforeSuite], [SynchronizedBeforeSuite], [SynchronizedAfterSuite],
# [ReportAfterSuite] Kubernetes e2e suite report, [BeforeSuite], [DeferCleanup (Suite)], ...), not tests.
_NODE_TYPE = re.compile(r"^\[([A-Za-z]+(?: \([A-Za-z]+\))?)\](?: |$)")
SPEC_NODE = "It"


def upstream_report(junit: bytes) -> UpstreamReport:
    """The specs of ginkgo's JUnit under their upstream names, minus those the focus/skip filter left out.

    Filtered specs carry a bare `<skipped message="skipped"/>` (thousands of them; TestGrid drops such
    cells anyway). A skip with a reason (e.g. "Only supported for providers [gce]") is kept.
    """
    root = ET.fromstring(junit)
    specs: list[CaseResult] = []
    suite_failures: list[str] = []
    for element in root.iter("testcase"):
        raw = element.get("name", "")
        node = _NODE_TYPE.match(raw)
        name = raw[node.end():] if node else raw
        outcome, message, details = "passed", "", ""
        for tag, verdict in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
            child = element.find(tag)
            if child is not None:
                outcome, message, details = verdict, (child.get("message") or "").strip(), _text(child)
                break
        if not message and details:
            message = details.splitlines()[0]  # ginkgo leaves the attribute empty (OmitFailureMessageAttr)
        if node and node.group(1) != SPEC_NODE:
            if outcome in ("failed", "error"):
                suite_failures.append(f"{raw}: {message}" if message else raw)
            continue
        if outcome == "skipped" and message.lower() in ("", "skipped") and not details:
            continue
        output = "\n".join(filter(None, (_text(element.find("system-out")), _text(element.find("system-err")))))
        specs.append(CaseResult(
            name=name, classname=element.get("classname", ""),
            seconds=float(element.get("time") or 0), outcome=outcome,
            message=message[:500],
            details=details, stdout=output[-MAX_CASE_OUTPUT:],
        ))
    return UpstreamReport(specs, suite_failures)


def upstream_cases(junit: bytes) -> list[CaseResult]:
    """The specs only (see upstream_report)."""
    return upstream_report(junit).specs


def per_cluster(cases: list[CaseResult], cluster: str, properties: dict[str, str]) -> list[CaseResult]:
    """`<name> [<cluster>]`: each upstream test gets one TestGrid row per cluster, next to each other."""
    return [CaseResult(f"{c.name} [{cluster}]", c.classname, c.seconds, c.outcome, c.message, c.details,
                       c.stdout, {**properties, "cluster": cluster}) for c in cases]


def count(cases: list[CaseResult]) -> Counts:
    outcomes = [c.outcome for c in cases]
    return Counts(passed=outcomes.count("passed"),
                  failed=outcomes.count("failed") + outcomes.count("error"),
                  skipped=outcomes.count("skipped"))


def junit_path(artifacts: Path, cluster: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", cluster)
    return artifacts / f"junit_conformance_{safe}.xml"


def write_cluster_junit(artifacts: Path, cluster: str, cases: list[CaseResult],
                        properties: dict[str, str]) -> tuple[Path, Counts]:
    """artifacts/junit_conformance_<cluster>.xml, directly in artifacts/ where Kettle and TestGrid read."""
    renamed = per_cluster(cases, cluster, properties)
    return write_junit(junit_path(artifacts, cluster), UPSTREAM_SUITE, renamed), count(renamed)


def dry_run_listing(cases: list[CaseResult]) -> list[str]:
    """The specs a ginkgo dry run selected: it reports them as run; filtered ones are already gone."""
    return sorted(c.name for c in cases if c.outcome != "skipped")
