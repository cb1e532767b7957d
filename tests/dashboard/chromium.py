"""Headless Chromium from Debian's packages (chromium, chromium-driver) through selenium, fully offline.

Service and binary paths are given explicitly, so Selenium Manager never looks for (or downloads) a
driver; the flags keep the browser from reaching any network on its own.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


def missing() -> str | None:
    """Why the browser cannot run here, or None."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not path.exists():
            return f"{path} not found (apt-get install {package})"
    if importlib.util.find_spec("selenium") is None:
        return "selenium is not installed (pip install -e '.[test]')"
    return None


def require(env: Mapping[str, str] = os.environ) -> None:
    """Skip the test when the browser is missing, with the reason; in CI (CI=true) fail instead."""
    import pytest

    problem = missing()
    if problem and env.get("CI") == "true":
        pytest.fail(f"the browser test must run in CI: {problem}")
    if problem:
        pytest.skip(problem)


def start(profile: Path, width: int = 1366, height: int = 768):
    """A headless Chromium with a fresh profile folder and a laptop-sized window."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={width},{height}")
    return webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)


def open_page(driver, page: Path, timeout: float = 10.0) -> None:
    """Load a grid page from file:// and wait until its script has drawn the grid."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(page.resolve().as_uri())
    WebDriverWait(driver, timeout).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
