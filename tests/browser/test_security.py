"""In Chromium (SPEC §9): every page carries the Content-Security-Policy and none of them, the
Chart.js dashboard and the admin's own scripts included, runs into it; the admin log-in shows the
lockout after repeated failures."""
import pytest
from django.conf import settings

from attribution.admin_analysis import REPORT_PAGES
from attribution.models import AttributionModel
from journeys.models import Conversion
from tests.browser.conftest import ADMIN_PASSWORD, css, log_in, visit, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Installed before any page script runs, so every violation of every page is recorded.
RECORD_VIOLATIONS = (
    "window.__cspViolations = [];"
    "document.addEventListener('securitypolicyviolation', function (event) {"
    "  window.__cspViolations.push(event.violatedDirective + ' ' + event.blockedURI);"
    "});"
)
POLICY_OF_THIS_PAGE = (
    "const done = arguments[arguments.length - 1];"
    "fetch(location.href, {credentials: 'same-origin'}).then(r => done(r.headers.get('content-security-policy')));"
)


@pytest.fixture
def watched(browser):
    """The browser, recording CSP violations on every page it loads from now on."""
    script = browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_VIOLATIONS})
    yield browser
    browser.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": script["identifier"]})


def violations(driver):
    return driver.execute_script("return window.__cspViolations")


def test_pages_carry_the_policy_and_none_violates_it(watched, admin_user, demo_data):
    model = AttributionModel.objects.filter(is_default=True).order_by("model_id").first()
    conversion = Conversion.objects.filter(deleted=0).order_by("conv_id").first()
    log_in(watched)
    pages = [
        "/admin/", "/admin/attribution/dashboard/", "/admin/attribution/compare/",
        f"/admin/attribution/attributionmodel/{model.model_id}/change/",
        "/admin/attribution/attributionmodel/add/", "/admin/attribution/exports/schedule/",
        "/admin/attribution/system-checks/", "/admin/journeys/conversion/",
        f"/admin/journeys/conversion/{conversion.conv_id}/change/", "/admin/attribution/snapshot/",
        *(f"/admin/attribution/analysis/{report}/" for report in REPORT_PAGES),
    ]
    for path in pages:
        visit(watched, path)
        policy = watched.execute_async_script(POLICY_OF_THIS_PAGE)
        assert "script-src 'self'" in policy, path
        if path == "/admin/attribution/dashboard/":
            wait_for(watched, lambda d: d.execute_script(
                "return !!(window.Chart && Chart.getChart(document.getElementById('dashboard-chart')))"),
                "Chart.js did not draw the dashboard under the policy")
        if path.endswith("/change/") and "attributionmodel" in path:
            wait_for(watched, lambda d: d.execute_script(
                "return document.getElementById('model-config-live').style.display === 'block'"),
                "model_form.js did not check the config under the policy")
        assert violations(watched) == [], path


def test_an_inline_script_is_blocked(watched, admin_user):
    """The control: the recorder sees a violation when there is one, and the script does not run."""
    log_in(watched)
    watched.execute_script(
        "const script = document.createElement('script');"
        "script.textContent = 'window.__inlineRan = true';"
        "document.body.appendChild(script);"
    )
    wait_for(watched, lambda d: violations(d), "no violation was reported for an inline script")
    assert watched.execute_script("return window.__inlineRan === undefined")
    assert violations(watched)[0].startswith("script-src")


def test_the_log_in_page_says_when_it_is_locked(browser, admin_user):
    from selenium.webdriver.common.by import By

    for _ in range(settings.AXES_FAILURE_LIMIT):
        visit(browser, "/admin/login/?next=/admin/")
        css(browser, "#id_username").send_keys(admin_user.username)
        css(browser, "#id_password").send_keys("not-the-password")
        css(browser, "input[type=submit]").click()
        # The answer (an error note, or the lockout) is shown before the next attempt starts.
        wait_for(browser, lambda driver: driver.find_elements(By.CSS_SELECTOR, ".errornote, #login-locked"),
                 "the log-in form was not answered")
    assert "Log-in is locked" in css(browser, "#login-locked").text
    visit(browser, "/admin/login/?next=/admin/")
    css(browser, "#id_username").send_keys(admin_user.username)
    css(browser, "#id_password").send_keys(ADMIN_PASSWORD)
    css(browser, "input[type=submit]").click()
    assert "Log-in is locked" in css(browser, "#login-locked").text  # even the right password
