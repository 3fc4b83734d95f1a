"""Real headless Chromium (Debian's chromium + chromium-driver) against pytest-django's live server.

Never downloads a browser: the tests skip, with the reason, when /usr/bin/chromedriver is absent.
The live server needs committed data; tests/conftest.py empties the 202 tables after each one.
"""
import io
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM = Path("/usr/bin/chromium")
# Screenshots land in docs/screenshots (shown in the README) only when asked for, so an
# ordinary test run leaves the repository clean: UPDATE_SCREENSHOTS=1 scripts/test.sh -m browser
SCREENSHOTS = (
    Path(__file__).resolve().parent.parent.parent / "docs" / "screenshots"
    if os.environ.get("UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "attribution-ops-screenshots"
)
ADMIN_USERNAME, ADMIN_PASSWORD = "admin", "browser-test-password"
WAIT_SECONDS = 20


@pytest.fixture(scope="session")
def chromium():
    if not CHROMEDRIVER.exists() or not CHROMIUM.exists():
        pytest.skip("browser tests need the Debian packages chromium and chromium-driver (/usr/bin/chromedriver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="attribution-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--no-first-run", f"--user-data-dir={profile}", "--window-size=1400,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def browser(chromium, live_server, transactional_db):
    """The shared Chromium on a clean session, with the live server's URL as `.base_url`."""
    chromium.delete_all_cookies()
    chromium.base_url = live_server.url
    return chromium


@pytest.fixture
def admin_user(transactional_db):
    return get_user_model().objects.create_superuser(ADMIN_USERNAME, "admin@example.com", ADMIN_PASSWORD)


@pytest.fixture
def demo_data(transactional_db, settings, tmp_path):
    """The demo dataset with journeys and two days of snapshots, as `make demo` builds it."""
    settings.ATTRIBUTION_EXPORT_DIR = tmp_path
    now = int(time.time())
    quiet = {"stdout": io.StringIO(), "stderr": io.StringIO()}
    call_command("seed_demo_data", clicks=600, seed=11, now=now, **quiet)
    call_command("backfill_conversion_journeys", start="0", end=str(now), **quiet)
    call_command("attribution_rebuild", start=str(now - 3 * 86400), end=str(now), **quiet)
    return now


def wait_for(driver, condition, message):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_SECONDS).until(condition, message)


def css(driver, selector):
    """The first element matching `selector` once it is present."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC

    return wait_for(driver, EC.presence_of_element_located((By.CSS_SELECTOR, selector)), f"no element {selector}")


def visit(driver, path):
    driver.get(driver.base_url + path)
    css(driver, "body")


def log_in(driver, username=ADMIN_USERNAME, password=ADMIN_PASSWORD):
    visit(driver, "/admin/login/?next=/admin/")
    css(driver, "#id_username").send_keys(username)
    css(driver, "#id_password").send_keys(password)
    css(driver, "input[type=submit]").click()
    css(driver, "#user-tools")


def screenshot(driver, name):
    """Save the page as <name>.png (see SCREENSHOTS), full height up to 2400 px."""
    height = driver.execute_script("return Math.min(document.body.scrollHeight, 2400)")
    driver.set_window_size(1400, max(1000, height))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))
    driver.set_window_size(1400, 1000)
