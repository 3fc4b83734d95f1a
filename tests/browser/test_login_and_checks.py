"""Log in, reach System Checks from the admin, see each check's status and hint."""
import pytest

from tests.attribution.pipeline_state import make_pipeline_healthy
from tests.browser.conftest import css, log_in, screenshot, visit

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_login_rejects_a_wrong_password(browser, admin_user):
    log_in_page = "/admin/login/?next=/admin/"
    visit(browser, log_in_page)
    css(browser, "#id_username").send_keys(admin_user.username)
    css(browser, "#id_password").send_keys("not-the-password")
    css(browser, "input[type=submit]").click()
    assert "Please enter the correct username and password" in css(browser, ".errornote").text


def test_system_checks_page(browser, admin_user, demo_data):
    make_pipeline_healthy()
    log_in(browser)
    screenshot(browser, "admin-index")
    visit(browser, "/admin/attribution/system-checks/")
    rows = {row.get_attribute("data-check"): row.get_attribute("data-status")
            for row in browser.find_elements("css selector", "#system-checks tbody tr")}
    assert rows["schema"] == "ok"
    assert rows["rebuild_cron"] == "ok"
    assert rows["model_rows"] == "ok"
    assert "manage.py attribution_rebuild" in css(browser, "tr.check-rebuild_cron td.hint").text
    overall = css(browser, "#checks-overall")
    assert overall.get_attribute("data-status") in ("ok", "warning")
    screenshot(browser, "system-checks")


def test_system_checks_turn_red_when_the_rebuild_never_ran(browser, admin_user):
    log_in(browser)
    visit(browser, "/admin/attribution/system-checks/")
    assert css(browser, "tr.check-rebuild_cron").get_attribute("data-status") == "error"
    assert css(browser, "#checks-overall").get_attribute("data-status") == "error"
    assert "never completed" in css(browser, "tr.check-rebuild_cron").text
