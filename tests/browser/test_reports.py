"""The dashboard chart renders; an export is scheduled, processed and downloaded."""
import pytest
from django.core.management import call_command
from selenium.webdriver.support.ui import Select

from attribution.models import AttributionModel, Export
from tests.browser.conftest import css, log_in, screenshot, visit, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_dashboard_chart_renders(browser, admin_user, demo_data):
    log_in(browser)
    visit(browser, "/admin/attribution/dashboard/")
    canvas = css(browser, "#dashboard-chart")
    wait_for(browser, lambda d: d.execute_script(
        "return !!(window.Chart && Chart.getChart(document.getElementById('dashboard-chart')))"),
        "no Chart.js instance on the dashboard canvas")
    size = browser.execute_script("const c = arguments[0]; return [c.clientWidth, c.clientHeight];", canvas)
    assert size[0] > 0 and size[1] > 0
    datasets = browser.execute_script(
        "return Chart.getChart(document.getElementById('dashboard-chart')).data.datasets.length")
    assert datasets >= 1
    screenshot(browser, "dashboard")


def test_schedule_and_download_an_export(browser, admin_user, demo_data):
    model = AttributionModel.objects.filter(is_default=True, user__user_deleted=0).order_by("model_id").first()
    log_in(browser)
    visit(browser, "/admin/attribution/exports/schedule/")
    Select(css(browser, "#id_model")).select_by_value(str(model.model_id))
    for field, value in (("#id_start", _utc(demo_data - 3 * 86400)), ("#id_end", _utc(demo_data))):
        element = css(browser, field)
        element.clear()
        element.send_keys(value)
    Select(css(browser, "#id_requested_format")).select_by_value("csv")
    screenshot(browser, "export-schedule")
    css(browser, "#schedule-export-form input[type=submit]").click()
    wait_for(browser, lambda d: Export.objects.filter(model_id=model.model_id).exists(), "no export row was created")

    call_command("process_exports", stdout=open("/dev/null", "w"))
    export = Export.objects.get(model_id=model.model_id)
    assert export.status == "completed", export.last_error

    visit(browser, "/admin/attribution/export/")
    screenshot(browser, "exports")
    body = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0], {credentials: 'same-origin'}).then(r => r.text().then(t => done([r.status, t])));",
        f"/admin/attribution/exports/{export.export_id}/download/",
    )
    assert body[0] == 200
    header = body[1].splitlines()[0]
    assert header.startswith("date_hour,date_hour_epoch,model_id,model_name,scope_type,scope_id")
    assert len(body[1].splitlines()) == export.rows_exported + 1


def _utc(epoch):
    from datetime import datetime, timezone

    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")
