"""The dashboard chart really draws in a browser from the vendored Chart.js (no network needed)."""
import pytest
from django.contrib.auth.models import User

from tests.attribution.reporting_fixtures import (
    BASE_HOUR,
    dashboard_url,
    make_model,
    snapshot,
)


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_chart_draws_the_embedded_series(live_server, client, tracker):
    from selenium import webdriver
    from selenium.webdriver.support.ui import WebDriverWait

    account = tracker.account()
    linear, last = make_model(account, "Linear"), make_model(account, "Last", "last_touch")
    snapshot(linear, BASE_HOUR, clicks=3, conversions=2, revenue="20.5", cost="4")
    snapshot(last, BASE_HOUR + 3600, clicks=1, conversions=1, revenue="7", cost="1")
    client.force_login(User.objects.create_superuser("root", "root@example.com", None))
    options = webdriver.ChromeOptions()
    options.add_argument("--headless=new")
    options.add_argument("--no-sandbox")
    browser = webdriver.Chrome(options=options)
    try:
        browser.get(live_server.url + "/admin/login/")
        browser.add_cookie({"name": "sessionid", "value": client.cookies["sessionid"].value, "path": "/"})
        browser.get(live_server.url + dashboard_url([linear, last]))
        chart_script = "var c = window.Chart && Chart.getChart('dashboard-chart'); return c ? c.data : null;"
        data = WebDriverWait(browser, 10).until(lambda b: b.execute_script(chart_script))
        assert len(data["labels"]) == 6 and data["labels"][0] == "2024-03-01 00:00 UTC"
        labels = [dataset["label"] for dataset in data["datasets"]]
        assert len(labels) == 8  # revenue, cost, profit, conversions for each of the two models
        by_label = {dataset["label"]: dataset["data"] for dataset in data["datasets"]}
        assert by_label[f"Linear #{linear.model_id} — revenue"] == [20.5, 0, 0, 0, 0, 0]
        assert by_label[f"Last #{last.model_id} — conversions"] == [0, 1, 0, 0, 0, 0]
    finally:
        browser.quit()
