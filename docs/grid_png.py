"""Make docs/grid.png, the README's picture of the grid: the browser test's sample tree in headless Chromium.

    .venv/bin/python docs/grid_png.py   # needs Debian's chromium and chromium-driver
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.dashboard import chromium  # noqa: E402
from tests.dashboard.grid_trees import render_sample  # noqa: E402


def main() -> int:
    problem = chromium.missing()
    if problem:
        print(f"docs/grid_png.py: {problem}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        page = render_sample(Path(tmp), time.time())
        driver = chromium.start(Path(tmp) / "profile", width=1280, height=560)
        try:
            chromium.open_page(driver, page)
            driver.execute_script("document.querySelector('td.s-flaky').click()")
            target = ROOT / "docs" / "grid.png"
            driver.save_screenshot(str(target))
        finally:
            driver.quit()
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
