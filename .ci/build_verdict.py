"""CI's verdict on one e2e build: the build the suite just published, read back from its results folder.

    python .ci/build_verdict.py RESULTS_JOB_DIR [--previous BUILD]

RESULTS_JOB_DIR is the job's folder in the test-history layout (`<artifacts>/logs/<job>` when the run had
no --results). The build is the one latest-build.txt names; `--previous` is what latest-build.txt said
before the run, so a run that published nothing is not judged by an older build. The build passes when
finished.json says SUCCESS and its JUnit has no failed or errored case (infra cases included: a leaked
namespace is the failed case `Teardown: leaked namespaces`). Prints one line for the build, then
`tests-seconds N` (the tests phase, from finished.json) last. Exit codes: 0 passed, 1 failed, 2 no build.
"""

from __future__ import annotations

import argparse
import json
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from upload import layout

PASSED, FAILED, NO_BUILD = 0, 1, 2
LEAK_CASE = "Teardown: leaked namespaces"


@dataclass
class JunitCounts:
    tests: int = 0
    failed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    skipped: int = 0
    leak: str = ""


def junit_counts(files: list[Path]) -> JunitCounts:
    """Cases by outcome over every junit*.xml of the build's artifacts."""
    counts = JunitCounts()
    for path in files:
        for case in ET.parse(path).getroot().iter("testcase"):
            counts.tests += 1
            name = case.get("name", "")
            failure, error = case.find("failure"), case.find("error")
            bad = failure if failure is not None else error
            if bad is not None and name == LEAK_CASE:
                counts.leak = bad.get("message", "") or "leaked namespaces"
            if failure is not None:
                counts.failed.append(name)
            elif error is not None:
                counts.errors.append(name)
            elif case.find("skipped") is not None:
                counts.skipped += 1
    return counts


def _problem(text: str) -> int:
    print(f"build verdict: {text}")
    return NO_BUILD


def verdict(job_dir: Path, previous: str = "") -> int:
    latest_file = job_dir / layout.LATEST_BUILD
    if not latest_file.is_file():
        return _problem(f"no build in {job_dir}: {layout.LATEST_BUILD} is missing (the run published nothing)")
    build = latest_file.read_text(encoding="utf-8").strip()
    if build == previous.strip():
        return _problem(f"no new build in {job_dir}: {layout.LATEST_BUILD} still names build {build or '(none)'}")
    build_dir = job_dir / build
    try:
        finished = json.loads((build_dir / layout.FINISHED).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        return _problem(f"build {build}: {layout.FINISHED} unreadable ({err})")
    meta = finished.get("metadata") or {}
    junit_files = sorted(p for p in (build_dir / layout.ARTIFACTS).rglob("junit*.xml"))
    try:
        counts = junit_counts(junit_files)
    except ET.ParseError as err:
        return _problem(f"build {build}: JUnit does not parse ({err})")
    result = finished.get("result", "?")
    reasons = []
    if result != "SUCCESS":
        reasons.append(f"result {result} ({meta.get('failure', 'no failure kind given')})")
    if not junit_files:
        reasons.append("no JUnit in its artifacts")
    if counts.leak:
        reasons.append(f"leaked namespaces: {counts.leak}")
    for kind, names in (("failed", counts.failed), ("errors", counts.errors)):
        others = [n for n in names if n != LEAK_CASE]
        if others:
            reasons.append(f"{kind}: {', '.join(others[:5])}{' ...' if len(others) > 5 else ''}")
    summary = (f"build {build} {result}: {counts.tests} cases, {len(counts.failed)} failed, {len(counts.errors)} "
               f"errors, {counts.skipped} skipped; run {meta.get('run-id', '?')}")
    print(f"build verdict: {summary}" + (f"; FAILED: {'; '.join(reasons)}" if reasons else "; passed"))
    print(f"tests-seconds {meta.get('tests-seconds', 'unknown')}")
    return FAILED if reasons else PASSED


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("job_dir", type=Path, help="the job's results folder (<artifacts>/logs/<job>)")
    parser.add_argument("--previous", default="", help="latest-build.txt's content before the run")
    args = parser.parse_args(argv)
    return verdict(args.job_dir, args.previous)


if __name__ == "__main__":
    sys.exit(main())
