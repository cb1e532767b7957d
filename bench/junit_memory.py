"""JUnit verdict benchmark: a 200 MB JUnit file read for its verdict, in a fresh process.

Prints the peak resident memory of that process (the interpreter included), the peak Python allocation
seen by tracemalloc, and the time. Target (exit 1 when missed): peak resident memory under 100 MB.

    PYTHONPATH=$PWD python bench/junit_memory.py [--mb 200]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MAX_PEAK_MB = 100.0


def make_junit(path: Path, size: int) -> None:
    """Many cases with output, a failure now and then, and one large <system-out>."""
    with path.open("wb") as out:
        out.write(b"<?xml version='1.0' encoding='utf-8'?>\n<testsuites><testsuite name='bench'>\n")
        out.write(b"<testcase name='big'><system-out>" + b"log line\n" * 2_000_000 + b"</system-out></testcase>\n")
        n = 0
        while out.tell() < size:
            outcome = b"<failure message='boom'>trace</failure>" if n % 1000 == 0 else b""
            out.write(
                b"<testcase classname='e2e' name='test_%d[c1]' time='0.5'><properties>"
                b"<property name='cluster' value='c1'/></properties>%s<system-out>%s</system-out></testcase>\n"
                % (n, outcome, b"x" * 900)
            )
            n += 1
        out.write(b"</testsuite></testsuites>\n")


def measure(path: str, traced: bool) -> None:
    """Run in the child: print one JSON line with the figures (tracemalloc slows the parse: timed apart)."""
    from upload.junit import junit_summary

    if traced:
        tracemalloc.start()
    began = time.perf_counter()
    summary = junit_summary(Path(path))
    seconds = time.perf_counter() - began
    _current, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"seconds": seconds, "traced": traced_peak, "rss_kb": peak_kb, "cases": summary.cases,
                      "failed": summary.failed, "verdict": summary.verdict}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--traced", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(args.measure, args.traced)
        return 0
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "junit_01.xml"
        make_junit(path, args.mb * 1_000_000)
        size = path.stat().st_size
        runs = [
            subprocess.run([sys.executable, __file__, "--measure", str(path), *flag], capture_output=True,
                           text=True, check=True)
            for flag in ([], ["--traced"])
        ]
    figures, traced = (json.loads(run.stdout) for run in runs)
    peak_mb = figures["rss_kb"] / 1024
    print(
        f"{size / 1e6:.0f} MB JUnit, {figures['cases']} cases, verdict {figures['verdict']}: "
        f"{figures['seconds']:.1f} s ({size / 1e6 / figures['seconds']:.0f} MB/s), peak resident memory "
        f"{peak_mb:.0f} MB (target < {MAX_PEAK_MB:.0f}), peak Python allocations {traced['traced'] / 1e6:.1f} MB"
    )
    return 0 if peak_mb < MAX_PEAK_MB else 1


if __name__ == "__main__":
    sys.exit(main())
