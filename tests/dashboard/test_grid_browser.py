"""The grid page in a real browser: headless Chromium (Debian's chromium + chromium-driver) via selenium.

Skips with the reason when the browser is not installed, except in CI (CI=true), where that fails.
The page is opened from file://; the browser has no network to reach.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dashboard import chromium
from tests.dashboard.grid_trees import render_sample

FLAKY_ROW = "fedtest e2e.test_cronjobs[c1]"
OVERALL = "e2e-kind-nightly.Overall"
CONFORMANCE_C2 = (
    "Kubernetes e2e suite.[sig-apps] Deployment should run the lifecycle of a Deployment [Conformance] [c2]"
)
COLOURS = {  # dashboard_config/grid/assets/grid.css
    "PASS": "rgb(76, 175, 80)",
    "PASS_WITH_SKIPS": "rgb(165, 214, 167)",
    "FLAKY": "rgb(156, 106, 214)",
    "FAIL": "rgb(229, 57, 53)",
    "TOOL_FAIL": "rgb(139, 26, 26)",
    "RUNNING": "rgb(251, 192, 45)",
}
BUILDS_JS = "return [...document.querySelectorAll('thead tr:nth-child(3) th')].slice(1).map(th => th.textContent)"
CELL_JS = """
const [row, build] = arguments;
const builds = [...document.querySelectorAll('thead tr:nth-child(3) th')].map(th => th.textContent);
const tr = [...document.querySelectorAll('tbody tr')].find(tr => tr.cells[0].textContent === row);
const td = tr.cells[builds.indexOf(build)];
return [td.textContent, getComputedStyle(td).backgroundColor];
"""


@pytest.fixture(scope="module")
def browser(tmp_path_factory) -> Iterator[object]:
    chromium.require()
    driver = chromium.start(tmp_path_factory.mktemp("chromium-profile"))
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    return render_sample(tmp_path_factory.mktemp("grid"), time.time())


def visible_rows(driver) -> list[str]:
    return driver.execute_script(
        "return [...document.querySelectorAll('tbody tr')].filter(tr => !tr.hidden).map(tr => tr.cells[0].textContent)"
    )


def test_cells_show_testgrid_statuses_and_colours(browser, page: Path, tmp_path_factory) -> None:
    chromium.open_page(browser, page)
    expected = {
        (OVERALL, "108"): ("", "PASS"),
        (OVERALL, "109"): ("R", "RUNNING"),
        (OVERALL, "107"): ("E", "FAIL"),
        (OVERALL, "106"): ("F", "FAIL"),
        (OVERALL, "103"): ("T", "FAIL"),
        ("Overall", "102"): ("", "TOOL_FAIL"),  # a build TestGrid could not read has its own row
        ("fedtest e2e.test_federation[c1,c2]", "104"): ("F", "FAIL"),
        ("fedtest e2e.test_ingress[c1]", "108"): ("S", "PASS_WITH_SKIPS"),
        (FLAKY_ROW, "105"): ("1/2", "FLAKY"),
    }
    for (row, build), (text, status) in expected.items():
        assert browser.execute_script(CELL_JS, row, build) == [text, COLOURS[status]], (row, build)
    assert browser.execute_script("return getComputedStyle(document.querySelector('th.name')).position") == "sticky"
    shots = tmp_path_factory.mktemp("artifacts")
    assert browser.save_screenshot(str(shots / "grid.png"))


def test_hover_and_click_show_status_message_duration_and_links(browser, page: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    chromium.open_page(browser, page)
    cell = browser.find_element(By.CSS_SELECTOR, "td.s-flaky")
    ActionChains(browser).move_to_element(cell).perform()
    assert cell.get_attribute("title").startswith("FLAKY (1/2)\n1/2 runs passed: job did not run")
    cell.click()
    detail = browser.find_element(By.ID, "detail")
    assert detail.is_displayed()
    assert "1/2 runs passed: job did not run" in detail.find_element(By.CLASS_NAME, "message").text
    assert detail.find_element(By.CLASS_NAME, "duration").text == "27.0 s"  # mean of 28 s and 26 s
    artifacts = detail.find_element(By.CLASS_NAME, "artifacts").get_attribute("href")
    assert artifacts.startswith("file://") and artifacts.endswith("/logs/e2e-kind-nightly/105/artifacts/")
    detail.find_element(By.CLASS_NAME, "log").click()
    assert browser.find_element(By.TAG_NAME, "body").text.strip() == "build 105 log"


def test_filter_by_name_and_failing_only(browser, page: Path) -> None:
    from selenium.webdriver.common.by import By

    chromium.open_page(browser, page)
    assert len(visible_rows(browser)) == 11
    browser.find_element(By.ID, "filter").send_keys("federation")
    assert visible_rows(browser) == ["fedtest e2e.test_federation[c1,c2]"]
    assert browser.find_element(By.ID, "count").text == "1 of 11 tests"
    browser.find_element(By.ID, "filter").clear()
    browser.execute_script("document.getElementById('filter').dispatchEvent(new Event('input'))")
    browser.find_element(By.ID, "failing").click()
    failing = [CONFORMANCE_C2, "Overall", OVERALL, FLAKY_ROW, "fedtest e2e.test_federation[c1,c2]"]  # natural order
    assert visible_rows(browser) == failing


def test_conformance_tab_shows_only_conformance_rows_and_their_builds(browser, page: Path) -> None:
    """base_options include-filter-by-regex=Conformance: TestGrid's tabulator keeps matching rows and drops
    builds left empty (builds 104 and 108 ran conformance)."""
    chromium.open_page(browser, page.parent.parent / "provider-fedtest-conformance" / "tab-kind-conformance.html")
    rows = visible_rows(browser)
    assert rows and all("Conformance" in row for row in rows)
    assert len(rows) == 4 and CONFORMANCE_C2 in rows
    assert browser.execute_script(BUILDS_JS) == ["108", "104"]
    assert browser.execute_script(CELL_JS, CONFORMANCE_C2, "104") == ["F", COLOURS["FAIL"]]


def test_long_names_show_their_end(browser, page: Path) -> None:
    """The name column cuts a long name at its start, so "[c1]" and "[c2]" rows stay apart."""
    chromium.open_page(browser, page)
    box = browser.execute_script(
        "const th = [...document.querySelectorAll('tbody th.name')].find(th => th.textContent === arguments[0]);"
        "const a = th.getBoundingClientRect(), b = th.querySelector('bdi').getBoundingClientRect();"
        "return [a.left, a.right, b.left, b.right, th.scrollWidth > th.clientWidth];",
        CONFORMANCE_C2,
    )
    th_left, th_right, name_left, name_right, overflows = box
    assert overflows and name_left < th_left  # the start is cut off ...
    assert abs(name_right - th_right) < 8  # ... and the end, "[Conformance] [c2]", is in view


def test_summary_page_links_each_tab_with_its_state(browser, page: Path) -> None:
    from selenium.webdriver.common.by import By

    browser.get((page.parent / "index.html").resolve().as_uri())
    rows = browser.find_elements(By.CSS_SELECTOR, "tr.tab")
    states = {r.find_element(By.TAG_NAME, "a").text: r.find_element(By.CLASS_NAME, "state").text for r in rows}
    assert states == {"kind nightly": "flaky", "gce nightly": "stale", "azure nightly": "stale"}
    rows[0].find_element(By.TAG_NAME, "a").click()
    chromium.open_page(browser, page)  # the link leads to the grid page
    assert browser.current_url == page.resolve().as_uri()


def test_a_missing_browser_skips_with_the_reason_but_fails_in_ci(monkeypatch) -> None:
    monkeypatch.setattr(chromium, "CHROMIUM", Path("/nonexistent/chromium"))
    with pytest.raises(pytest.skip.Exception, match="/nonexistent/chromium not found"):
        chromium.require({})
    with pytest.raises(pytest.fail.Exception, match="must run in CI: /nonexistent/chromium not found"):
        chromium.require({"CI": "true"})
