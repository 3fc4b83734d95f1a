"""The dashboard page: pickers, KPI cards, embedded chart JSON equal to the rows, permissions."""
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.urls import reverse

from tests.attribution.reporting_fixtures import (
    BASE_HOUR,
    dashboard_url,
    make_model,
    snapshot,
    staff_user,
)

pytestmark = pytest.mark.django_db


def chart_json(response):
    match = re.search(r'<script id="dashboard-chart-data" type="application/json">(.*?)</script>',
                      response.content.decode(), re.S)
    assert match, "the chart data is embedded with json_script"
    return json.loads(match.group(1))


@pytest.fixture
def account_with_rows(tracker):
    account = tracker.account()
    model = make_model(account, "Linear", is_default=True)
    snapshot(model, BASE_HOUR, clicks=3, conversions=2, revenue="20.5", cost="4")
    snapshot(model, BASE_HOUR + 2 * 3600, clicks=1, conversions=1, revenue="5", cost="6")
    snapshot(model, BASE_HOUR + 2 * 3600, "campaign", 4, clicks=1, conversions=1, revenue="5", cost="6")
    snapshot(model, BASE_HOUR + 9 * 3600, clicks=1, conversions=1, revenue="99", cost="1")  # outside
    return account, model


def test_dashboard_renders_kpis_chart_and_rows(client, account_with_rows):
    account, model = account_with_rows
    client.force_login(staff_user("viewer", [account]))
    response = client.get(dashboard_url([model]))
    assert response.status_code == 200
    page = response.content.decode()
    assert '<div class="kpi-value" data-kpi="revenue">25.5000</div>' in page
    assert '<div class="kpi-value" data-kpi="cost">10.0000</div>' in page
    assert 'data-kpi="profit">15.5000</div>' in page
    assert 'data-kpi="roi">155.00&nbsp;%</div>' in page
    assert '<div class="kpi-value" data-kpi="conversions">3</div>' in page
    assert "attribution/vendor/chartjs/chart.umd.min.js" in page and "attribution/dashboard.js" in page

    chart = chart_json(response)
    assert chart["epochs"] == [BASE_HOUR + h * 3600 for h in range(6)]
    assert chart["labels"][0] == "2024-03-01 00:00 UTC"
    (series,) = chart["series"]
    assert series["model_id"] == model.model_id
    assert series["revenue"] == [20.5, 0, 5.0, 0, 0, 0]
    assert series["cost"] == [4.0, 0, 6.0, 0, 0, 0]
    assert series["profit"] == [16.5, 0, -1.0, 0, 0, 0]
    assert series["conversions"] == [2, 0, 1, 0, 0, 0]
    # The table lists the hours that have rows, the same numbers as the chart.
    rows = response.context["panels"][0]["rows"]
    assert [(r["point"].bucket, r["point"].revenue) for r in rows] == [
        (BASE_HOUR, Decimal("20.5000")), (BASE_HOUR + 7200, Decimal("5.0000"))]


def test_day_resolution_and_scope_pickers(client, account_with_rows):
    account, model = account_with_rows
    client.force_login(staff_user("viewer", [account]))
    response = client.get(dashboard_url([model], end="2024-03-01 23:00", resolution="day"))
    (series,) = chart_json(response)["series"]
    assert chart_json(response)["epochs"] == [BASE_HOUR]
    assert chart_json(response)["labels"] == ["2024-03-01 (UTC)"]
    assert series["revenue"] == [124.5] and series["conversions"] == [4]
    scoped = client.get(dashboard_url([model], scope_type="campaign", scope_id="4"))
    assert chart_json(scoped)["series"][0]["revenue"] == [0, 0, 5.0, 0, 0, 0]


def test_default_visit_shows_the_default_model_for_the_last_24_hours(client, account_with_rows):
    account, model = account_with_rows
    client.force_login(staff_user("viewer", [account]))
    response = client.get(reverse("attribution_dashboard"))
    assert response.status_code == 200
    chart = chart_json(response)
    assert len(chart["epochs"]) == 24 and chart["series"][0]["model_id"] == model.model_id


def test_bad_custom_range_is_a_form_error(client, account_with_rows):
    account, model = account_with_rows
    client.force_login(staff_user("viewer", [account]))
    response = client.get(dashboard_url([model], start="2024-03-02 00:00", end="2024-03-01 00:00"))
    assert "is after the end" in str(response.context["form"].errors["start"])
    assert response.context["chart"] is None


def test_dashboard_needs_view_permission_and_hides_other_tenants(client, account_with_rows, tracker):
    account, model = account_with_rows
    client.force_login(staff_user("nobody", [account], view=False))
    assert client.get(dashboard_url([model])).status_code == 403
    outsider = tracker.account("outsider")
    client.force_login(staff_user("outsider", [outsider]))
    response = client.get(dashboard_url([model]))
    assert response.status_code == 200
    assert "models" in response.context["form"].errors and "25.5000" not in response.content.decode()
    client.logout()
    response = client.get(dashboard_url([model]))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_chart_library_is_vendored_with_its_licence():
    script = finders.find("attribution/vendor/chartjs/chart.umd.min.js")
    assert script and "Chart.js v4" in Path(script).read_text()[:200]
    assert finders.find("attribution/vendor/chartjs/LICENSE.md")
    assert finders.find("attribution/dashboard.js")
    assert not any(
        "cdn" in line.lower() for line in (Path(settings.BASE_DIR) / "templates/admin/attribution/dashboard.html").open()
    )
