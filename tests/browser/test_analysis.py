"""Journey analysis pages in real Chromium on the demo data: the top paths table with share bars
and a path's link to its conversions; the path length bar chart drawn by the vendored Chart.js."""
import io
import time

import pytest
from django.core.management import call_command
from selenium.webdriver.common.by import By

from tests.attribution.analysis_fixtures import summarise
from tests.browser.conftest import css, log_in, screenshot, visit, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow]
DEMO_ACCOUNTS = (1, 2)  # the demo's live accounts


@pytest.fixture
def summarised_demo(transactional_db, settings):
    """The demo dataset with visitor journeys (one visitor's clicks each), summarised as the
    rebuild does."""
    settings.ATTRIBUTION_JOURNEY_MATCH = "visitor"
    now = int(time.time())
    quiet = {"stdout": io.StringIO(), "stderr": io.StringIO()}
    call_command("seed_demo_data", clicks=3000, seed=11, now=now, **quiet)
    call_command("backfill_conversion_journeys", start="0", end=str(now), **quiet)
    summarise(DEMO_ACCOUNTS, start=now - 15 * 86_400, end=now)
    return now


def test_top_paths_with_share_bars_link_to_their_conversions(browser, admin_user, summarised_demo):
    log_in(browser)
    visit(browser, "/admin/attribution/analysis/paths/?range=30d&account=1&collapse=on")
    rows = browser.find_elements(By.CSS_SELECTOR, "#analysis-table tbody tr")
    assert rows, "no paths shown"
    bars = browser.find_elements(By.CSS_SELECTOR, "#analysis-table meter.share")
    assert len(bars) == len(rows)
    assert all(bar.size["width"] > 0 for bar in bars)
    first_path = css(browser, "#analysis-table tbody tr td a")
    conversions = int(browser.find_elements(By.CSS_SELECTOR, "#analysis-table tbody tr td")[1].text)
    screenshot(browser, "analysis-paths")

    first_path.click()
    wait_for(browser, lambda d: "/admin/journeys/conversion/" in d.current_url, "the path link did not open the conversions")
    listed = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert len(listed) == min(conversions, 100)


def test_path_length_bar_chart_draws(browser, admin_user, summarised_demo):
    log_in(browser)
    visit(browser, "/admin/attribution/analysis/path-length/?range=30d")
    canvas = css(browser, "#analysis-chart")
    chart = wait_for(browser, lambda d: d.execute_script(
        "var c = window.Chart && Chart.getChart('analysis-chart');"
        "return c ? {type: c.config.type, labels: c.data.labels, conversions: c.data.datasets[0].data} : null;"),
        "no Chart.js instance on the path length canvas")
    assert chart["type"] == "bar"
    assert chart["labels"] == [str(n) for n in range(1, 11)] + ["11–25", "26"]
    shown = [int(row.find_elements(By.TAG_NAME, "td")[1].text)
             for row in browser.find_elements(By.CSS_SELECTOR, "#analysis-table tbody tr")]
    assert chart["conversions"] == shown and sum(shown) > 0
    assert canvas.size["width"] > 0 and canvas.size["height"] > 0
    screenshot(browser, "analysis-path-length")
