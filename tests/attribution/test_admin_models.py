"""Attribution model admin: changelist, per-type form, actions, make-default, tenancy, rebuild offer."""
import json

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse
from django_q.models import OrmQ, Task
from django_q.signing import SignedPackage

from attribution import services
from attribution.models import AttributionModel
from tracker.audit import Actor
from tracker.models import AccountAccess, AuditEntry

pytestmark = pytest.mark.django_db

SETUP = Actor("cli", "setup")
CHANGELIST = "admin:attribution_attributionmodel_changelist"


@pytest.fixture
def accounts(tracker):
    return tracker.account("acme"), tracker.account("globex")


@pytest.fixture
def superuser_client(client):
    client.force_login(User.objects.create_superuser("root", "root@example.com", None))
    return client


def _staff(username, group, account_ids):
    user = User.objects.create_user(username, is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    for account_id in account_ids:
        AccountAccess.objects.create(django_user=user, account_id=account_id)
    return user


@pytest.fixture
def manager_client(client, accounts):
    client.force_login(_staff("manager", "Attribution managers", [accounts[0].user_id]))
    return client


def _model(account, name, model_type="linear", **options):
    return services.create_model(
        account_id=account.user_id, model_name=name, model_type=model_type, actor=SETUP, **options
    )


def _change_url(model):
    return reverse("admin:attribution_attributionmodel_change", args=[model.pk])


def _form_data(account, **overrides):
    data = {
        "user": account.user_id, "model_name": "Decay", "model_slug": "", "model_type": "time_decay",
        "is_active": "on", "half_life_hours": "", "first_touch_weight": "", "last_touch_weight": "",
        "channel": "account", "_save": "Save",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def test_changelist_shows_summary_and_flags_invalid_legacy_rows(superuser_client, accounts):
    _model(accounts[0], "Decay", "time_decay", weighting_config={"half_life_hours": 24}, is_default=True)
    AttributionModel.objects.create(
        user_id=accounts[0].user_id, model_name="Legacy first", model_slug="legacy", model_type="first_touch",
        weighting_config='{"bogus": 1}', created_at=1, updated_at=1,
    )

    response = superuser_client.get(reverse(CHANGELIST))

    assert response.status_code == 200
    page = response.content.decode()
    assert "half-life 24 h" in page
    assert "invalid: weighting_config: first_touch takes no weighting config" in page


def test_manager_sees_only_their_accounts(manager_client, accounts):
    own = _model(accounts[0], "Ours")
    theirs = _model(accounts[1], "Theirs")

    page = manager_client.get(reverse(CHANGELIST)).content.decode()
    assert "Ours" in page and "Theirs" not in page
    assert manager_client.get(_change_url(own)).status_code == 200
    assert manager_client.get(_change_url(theirs)).status_code == 404
    assert manager_client.post(
        reverse("admin:attribution_attributionmodel_make_default", args=[theirs.pk])
    ).status_code == 404
    assert not AttributionModel.objects.get(pk=theirs.pk).is_default


def test_add_form_shows_the_half_life_error_then_creates_with_audit(manager_client, accounts):
    add_url = reverse("admin:attribution_attributionmodel_add")
    assert manager_client.get(add_url).status_code == 200

    refused = manager_client.post(add_url, _form_data(accounts[0], half_life_hours="9000"))
    assert refused.status_code == 200
    errors = refused.context["adminform"].form.errors
    assert "half_life_hours must be a whole number from 1 to 8760; got 9000" in errors["half_life_hours"][0]
    assert not AttributionModel.objects.exists()

    created = manager_client.post(add_url, _form_data(accounts[0], half_life_hours="36"))
    model = AttributionModel.objects.get()
    assert (model.model_slug, model.weighting_config) == ("decay", '{"half_life_hours":36}')
    entry = AuditEntry.objects.get(action="model_create")
    assert json.loads(entry.metadata)["actor"] == {"type": "admin", "username": "manager"}
    assert created.status_code == 302
    assert created.url.startswith(reverse("attribution_rebuild_offer"))
    assert f"account={accounts[0].user_id}" in created.url and f"models={model.pk}" in created.url


def test_add_form_refuses_an_account_outside_the_users_tenancy(manager_client, accounts):
    response = manager_client.post(
        reverse("admin:attribution_attributionmodel_add"),
        _form_data(accounts[1], model_type="linear"),
    )
    assert response.status_code == 200
    assert "user" in response.context["adminform"].form.errors
    assert not AttributionModel.objects.exists()


def test_position_weights_over_one_are_refused_with_the_sum(superuser_client, accounts):
    response = superuser_client.post(
        reverse("admin:attribution_attributionmodel_add"),
        _form_data(accounts[0], model_type="position_based", first_touch_weight="0.7", last_touch_weight="0.5"),
    )
    form_errors = response.context["adminform"].form.non_field_errors()
    assert any("at most 1" in error for error in form_errors)


def test_edit_rename_keeps_slug_and_type_change_offers_rebuild(superuser_client, accounts):
    model = _model(accounts[0], "Plain")
    renamed = superuser_client.post(
        _change_url(model), _form_data(accounts[0], model_name="Renamed", model_type="linear")
    )
    assert renamed.status_code == 302 and renamed.url == reverse(CHANGELIST)
    assert AttributionModel.objects.get(pk=model.pk).model_slug == "plain"

    retyped = superuser_client.post(
        _change_url(model), _form_data(accounts[0], model_name="Renamed", model_type="algorithmic",
                                       channel="landing_page"),
    )
    assert retyped.url.startswith(reverse("attribution_rebuild_offer"))
    assert AttributionModel.objects.get(pk=model.pk).weighting_config == '{"method":"markov","channel":"landing_page"}'
    update = json.loads(AuditEntry.objects.filter(action="model_update").latest("audit_id").metadata)
    assert update["changes"]["model_type"] == {"before": "linear", "after": "algorithmic"}


def test_deactivating_the_default_in_the_form_is_refused(superuser_client, accounts):
    model = _model(accounts[0], "Main", is_default=True)
    response = superuser_client.post(
        _change_url(model), _form_data(accounts[0], model_name="Main", model_type="linear", is_active=None)
    )
    assert response.status_code == 200
    assert "promote another model" in response.context["adminform"].form.errors["is_active"][0]
    assert AttributionModel.objects.get(pk=model.pk).is_active


def test_bulk_actions_activate_deactivate_and_refuse_the_default(superuser_client, accounts):
    main = _model(accounts[0], "Main", is_default=True)
    side = _model(accounts[0], "Side", is_active=False)
    url = reverse(CHANGELIST)

    activated = superuser_client.post(url, {"action": "activate_models", "_selected_action": [side.pk]})
    assert AttributionModel.objects.get(pk=side.pk).is_active
    assert activated.url.startswith(reverse("attribution_rebuild_offer"))
    assert f"models={side.pk}" in activated.url

    refused = superuser_client.post(
        url, {"action": "deactivate_models", "_selected_action": [main.pk, side.pk]}, follow=True
    )
    assert "promote another model" in refused.content.decode()
    assert AttributionModel.objects.get(pk=side.pk).is_active

    superuser_client.post(url, {"action": "make_selected_default", "_selected_action": [side.pk]})
    assert AttributionModel.objects.get(pk=side.pk).is_default
    assert not AttributionModel.objects.get(pk=main.pk).is_default


def test_make_default_action_refuses_two_models_of_one_account(superuser_client, accounts):
    a, b = _model(accounts[0], "A"), _model(accounts[0], "B")
    response = superuser_client.post(
        reverse(CHANGELIST), {"action": "make_selected_default", "_selected_action": [a.pk, b.pk]}, follow=True
    )
    assert "Select one model per account" in response.content.decode()
    assert not AttributionModel.objects.filter(is_default=True).exists()


def test_make_default_button(manager_client, accounts):
    main = _model(accounts[0], "Main", is_default=True)
    side = _model(accounts[0], "Side")
    button_url = reverse("admin:attribution_attributionmodel_make_default", args=[side.pk])

    assert button_url in manager_client.get(_change_url(side)).content.decode()
    assert button_url not in manager_client.get(_change_url(main)).content.decode()
    response = manager_client.post(button_url)

    assert response.status_code == 302
    assert AttributionModel.objects.get(pk=side.pk).is_default
    assert AuditEntry.objects.filter(action="model_default_changed", model_id=side.pk).exists()


def test_deleting_the_default_is_refused_and_others_are_deleted_with_audit(superuser_client, accounts):
    main = _model(accounts[0], "Main", is_default=True)
    side = _model(accounts[0], "Side")

    refused = superuser_client.get(reverse("admin:attribution_attributionmodel_delete", args=[main.pk]), follow=True)
    assert "promote another model" in refused.content.decode()
    bulk = superuser_client.post(
        reverse(CHANGELIST), {"action": "delete_models", "_selected_action": [main.pk]}, follow=True
    )
    assert "Nothing deleted" in bulk.content.decode()

    superuser_client.post(reverse("admin:attribution_attributionmodel_delete", args=[side.pk]), {"post": "yes"})
    assert list(AttributionModel.objects.values_list("pk", flat=True)) == [main.pk]
    assert AuditEntry.objects.filter(action="model_delete", model_id=side.pk).exists()


def test_viewer_can_list_but_not_change(client, accounts):
    model = _model(accounts[0], "Ours")
    client.force_login(_staff("viewer", "Attribution viewers", [accounts[0].user_id]))

    assert client.get(reverse(CHANGELIST)).status_code == 200
    assert client.get(reverse("admin:attribution_attributionmodel_add")).status_code == 403
    client.post(_change_url(model), _form_data(accounts[0], model_name="Hacked", model_type="linear"))
    client.post(reverse(CHANGELIST), {"action": "deactivate_models", "_selected_action": [model.pk]})
    row = AttributionModel.objects.get(pk=model.pk)
    assert (row.model_name, row.is_active) == ("Ours", True)


def test_live_validation_endpoint(manager_client):
    url = reverse("attribution_validate_model_config")
    bad = manager_client.get(url, {"model_type": "time_decay", "half_life_hours": "0"}).json()
    good = manager_client.get(url, {"model_type": "position_based", "first_touch_weight": "0.4",
                                     "last_touch_weight": "0.4"}).json()

    assert bad["valid"] is False and "from 1 to 8760; got 0" in bad["errors"]["half_life_hours"]
    assert good == {"valid": True, "errors": {}, "summary": "first 40% / middle 20% / last 40%"}


def test_rebuild_offer_enqueues_and_links_to_the_status_page(manager_client, accounts):
    model = _model(accounts[0], "Main")
    offer = reverse("attribution_rebuild_offer")
    query = {"account": accounts[0].user_id, "models": str(model.pk), "next": reverse(CHANGELIST)}

    page = manager_client.get(offer, query)
    assert page.status_code == 200 and "Start (UTC)" in page.content.decode()

    refused = manager_client.post(offer, {**query, "start": "2024-01-02T00:00", "end": "2024-01-01T00:00"})
    assert "Start must not be after end" in refused.content.decode()
    assert not OrmQ.objects.exists()

    queued = manager_client.post(offer, {**query, "start": "2024-01-01T00:00", "end": "2024-01-02T00:00"})
    [package] = [SignedPackage.loads(row.payload) for row in OrmQ.objects.all()]
    assert package["kwargs"] == {
        "start": 1704067200, "end": 1704153600, "user_ids": [accounts[0].user_id],
        "model_ids": [model.pk], "username": "manager",
    }
    assert queued.url == reverse("attribution_rebuild_status", args=[package["id"]])
    assert "queued or running" in manager_client.get(queued.url).content.decode()


def test_rebuild_offer_and_status_respect_tenancy(manager_client, accounts):
    offer = manager_client.get(reverse("attribution_rebuild_offer"), {"account": accounts[1].user_id})
    assert offer.status_code == 404

    Task.objects.create(
        id="f" * 32, name="rebuild", func="attribution.tasks.rebuild_task", kwargs={"user_ids": [accounts[1].user_id]},
        started="2024-01-01T00:00Z", stopped="2024-01-01T00:01Z", success=True, result={"users_done": 1},
    )
    assert manager_client.get(reverse("attribution_rebuild_status", args=["f" * 32])).status_code == 404


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_model_form_shows_type_fields_and_validates_live(live_server, client, accounts):
    from selenium import webdriver
    from selenium.webdriver.support.ui import Select, WebDriverWait

    client.force_login(User.objects.create_superuser("root", "root@example.com", None))
    options = webdriver.ChromeOptions()
    options.add_argument("--headless=new")
    options.add_argument("--no-sandbox")
    browser = webdriver.Chrome(options=options)
    try:
        browser.get(live_server.url + "/admin/login/")
        browser.add_cookie({"name": "sessionid", "value": client.cookies["sessionid"].value, "path": "/"})
        browser.get(live_server.url + reverse("admin:attribution_attributionmodel_add"))
        wait = WebDriverWait(browser, 10)

        Select(browser.find_element("name", "model_type")).select_by_value("time_decay")
        assert browser.find_element("css selector", ".field-half_life_hours").is_displayed()
        assert not browser.find_element("css selector", ".field-first_touch_weight").is_displayed()

        half_life = browser.find_element("name", "half_life_hours")
        half_life.send_keys("0")
        live = browser.find_element("id", "model-config-live")
        wait.until(lambda _: "from 1 to 8760; got 0" in live.text)
        half_life.clear()
        half_life.send_keys("24")
        wait.until(lambda _: "Config is valid: half-life 24 h" in live.text)
    finally:
        browser.quit()
