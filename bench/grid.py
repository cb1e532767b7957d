"""Grid benchmark: a tab of 60 builds x 500 tests opened from file:// in headless Chromium, against the 2 s target.

The results tree is written in the test-history layout, read and rendered by `fedtest grid` (its time is
printed, not judged); then the page is loaded several times in a fresh tab. Measured in the browser:
from navigation start to the grid painted (window.gridPaintedAt, set by the page's script after its
first frame). Prints each round, the median and the ratio median / 2 s; exits 1 when the target is missed.

    .venv/bin/python bench/grid.py [--builds 60] [--tests 500] [--rounds 5]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dashboard_config.grid import cli
from tests.dashboard import chromium
from tests.dashboard.grid_trees import HOUR, case, done, failure, junit, skipped, write_build

TARGET_MS = 2000.0
JOB = "e2e-kind-nightly"


def write_tree(root: Path, builds: int, tests: int, now: int) -> Path:
    """`builds` finished builds, 500 tests each: mostly passes, some failures, skips and flaky reruns."""
    rng = random.Random(15)
    for b in range(builds):
        start = now - (builds - b) * HOUR
        cases = []
        for t in range(tests):
            name = f"[sig-fedtest] suite {t // 50} test {t:03d} on cluster c{t % 3 + 1}"
            roll = rng.random()
            if roll < 0.03:
                cases.append(case(name, rng.uniform(1, 90), failure(f"assertion failed in step {t}", "details")))
            elif roll < 0.08:
                cases.append(case(name, 0.1, skipped("needs two clusters with LoadBalancer support")))
            else:
                cases.append(case(name, rng.uniform(0.5, 60)))
            if roll > 0.99:
                cases.append(case(name, 3.0, failure("flaked once")))
        result = "FAILURE" if any("<failure" in c for c in cases) else "SUCCESS"
        write_build(root, str(1000 + b), job=JOB, started=start, finished=done(start, result),
                    files={"artifacts/junit_01.xml": junit(*cases)})  # fmt: skip
    return root


def load_ms(driver, page: Path) -> float:
    driver.get("about:blank")
    chromium.open_page(driver, page, timeout=30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        painted = driver.execute_script("return window.gridPaintedAt")
        if painted:
            return float(painted)
        time.sleep(0.02)
    raise RuntimeError("the grid never painted")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--builds", type=int, default=60, help="build columns (default: %(default)s)")
    parser.add_argument("--tests", type=int, default=500, help="test rows per build (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=5, help="page loads measured (default: %(default)s)")
    args = parser.parse_args()
    problem = chromium.missing()
    if problem:
        print(f"bench/grid.py: {problem}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        now = int(time.time())
        write_tree(folder / "results", args.builds, args.tests, now)
        began = time.monotonic()
        options = argparse.Namespace(results=str(folder / "results"), config=cli.CONFIG_DIR, out=folder / "site",
                                     days=None, serve=False)  # fmt: skip
        _, dashboards = cli.build(options, now)
        built = time.monotonic() - began
        tab = next(t for d in dashboards for t in d.tabs if t.test_group == JOB)
        page = folder / "site" / "provider-fedtest-nightly" / "tab-kind-nightly.html"
        print(f"site: {len(tab.columns)} builds x {len(tab.rows)} rows, read and written in {built:.2f} s, "
              f"page {page.stat().st_size / 1e6:.1f} MB")  # fmt: skip
        driver = chromium.start(folder / "profile")
        try:
            times = []
            for round_ in range(args.rounds):
                times.append(load_ms(driver, page))
                render = driver.execute_script("return window.gridRenderMs")
                print(f"round {round_ + 1}: grid painted {times[-1]:.0f} ms after navigation (script {render:.0f} ms)")
        finally:
            driver.quit()
    median = statistics.median(times)
    ratio = median / TARGET_MS
    verdict = "met" if ratio <= 1 else "MISSED"
    print(f"median {median:.0f} ms; ratio to the {TARGET_MS / 1000:g} s target: {ratio:.2f} ({verdict})")
    return 0 if ratio <= 1 else 1


if __name__ == "__main__":
    sys.exit(main())
