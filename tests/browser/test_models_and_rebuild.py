"""Create a time-decay model (an invalid half-life first), make it default, rebuild its window."""
import json

import pytest
from django_q.conf import Conf
from selenium.webdriver.support.ui import Select

from attribution.models import AttributionModel, Snapshot
from tests.browser.conftest import css, log_in, screenshot, visit, wait_for
from tracker.models import Account, AuditEntry

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def fill_time_decay_form(browser, account, half_life):
    Select(css(browser, "#id_user")).select_by_value(str(account.user_id))
    name = css(browser, "#id_model_name")
    name.clear()
    name.send_keys("Browser decay")
    Select(css(browser, "#id_model_type")).select_by_value("time_decay")
    field = css(browser, "#id_half_life_hours")
    field.clear()
    field.send_keys(half_life)


def test_create_time_decay_model_make_default_and_rebuild(browser, admin_user, demo_data, monkeypatch):
    # django-q2 sync mode: the queued rebuild runs inside the request, no worker needed.
    monkeypatch.setattr(Conf, "SYNC", True)
    account = Account.objects.filter(user_deleted=0).order_by("user_id").first()
    log_in(browser)

    visit(browser, "/admin/attribution/attributionmodel/add/")
    fill_time_decay_form(browser, account, "0")
    css(browser, "input[name=_save]").click()
    error = css(browser, ".errorlist")
    assert "8760" in error.text  # the message names the allowed range
    assert not AttributionModel.objects.filter(model_name="Browser decay").exists()
    screenshot(browser, "model-invalid-half-life")

    fill_time_decay_form(browser, account, "36")
    css(browser, "input[name=_save]").click()
    wait_for(browser, lambda d: "/admin/attribution/rebuild/" in d.current_url, "no rebuild offer after saving")
    model = AttributionModel.objects.get(model_name="Browser decay")
    assert model.user_id == account.user_id
    assert json.loads(model.weighting_config) == {"half_life_hours": 36}
    screenshot(browser, "rebuild-offer")

    css(browser, "input[type=submit][value='Queue rebuild']").click()
    wait_for(browser, lambda d: "/admin/attribution/rebuild/" in d.current_url and "account=" not in d.current_url,
             "the rebuild status page did not open")
    assert AuditEntry.objects.filter(action="snapshot_rebuild", model_id=model.model_id).exists()
    assert Snapshot.objects.filter(model_id=model.model_id, scope_type="global").exists()
    screenshot(browser, "rebuild-status")

    visit(browser, f"/admin/attribution/attributionmodel/{model.model_id}/change/")
    css(browser, "#content-main")
    browser.find_element("xpath", "//button[normalize-space()='Make default']").click()
    wait_for(browser, lambda d: AttributionModel.objects.get(pk=model.pk).is_default, "Make default did not apply")
    defaults = AttributionModel.objects.filter(user_id=account.user_id, is_default=True)
    assert list(defaults.values_list("model_id", flat=True)) == [model.model_id]
    visit(browser, "/admin/attribution/attributionmodel/")
    screenshot(browser, "models")
