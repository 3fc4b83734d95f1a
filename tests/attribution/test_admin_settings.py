"""Scope settings admin: the form goes through save_scope_setting (validation, audit, tasks)."""
import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse
from django_q.models import OrmQ
from django_q.signing import SignedPackage

from attribution import services
from attribution.models import AttributionSetting
from tracker.audit import Actor
from tracker.models import AccountAccess, AuditEntry

pytestmark = pytest.mark.django_db

SETUP = Actor("cli", "setup")
ADD = "admin:attribution_attributionsetting_add"
CHANGELIST = "admin:attribution_attributionsetting_changelist"


@pytest.fixture
def acme(tracker):
    account = tracker.account("acme")
    account.campaign = tracker.campaign(account, name="Spring")
    account.main = services.create_model(
        account_id=account.user_id, model_name="Main", model_type="linear", is_default=True, actor=SETUP
    )
    return account


@pytest.fixture
def globex(tracker):
    account = tracker.account("globex")
    account.campaign = tracker.campaign(account, name="Theirs")
    account.main = services.create_model(
        account_id=account.user_id, model_name="Globex main", model_type="linear", is_default=True, actor=SETUP
    )
    return account


@pytest.fixture
def manager_client(client, acme):
    user = User.objects.create_user("manager", is_staff=True)
    user.groups.add(Group.objects.get(name="Attribution managers"))
    AccountAccess.objects.create(django_user=user, account_id=acme.user_id)
    client.force_login(user)
    return client


def _data(account, scope_type, scope_id, model, enabled=True):
    data = {"user": account.user_id, "scope_type": scope_type, "scope_id": scope_id or "", "model": model.pk}
    if enabled:
        data["multi_touch_enabled"] = "on"
    return data


def _queued_funcs():
    return [SignedPackage.loads(row.payload)["func"] for row in OrmQ.objects.order_by("id")]


def test_list_shows_scope_model_and_flag_of_visible_accounts_only(manager_client, acme, globex):
    page = manager_client.get(reverse(CHANGELIST)).content.decode()
    assert "Main (linear" in page and "Globex main" not in page
    assert "UTC" in page


def test_add_campaign_setting_disabled_audits_and_purges_on_commit(
    manager_client, acme, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = manager_client.post(
            reverse(ADD), _data(acme, "campaign", acme.campaign.aff_campaign_id, acme.main, enabled=False)
        )

    assert response.status_code == 302
    setting = AttributionSetting.objects.get(scope_type="campaign")
    assert (setting.scope_id, setting.model_id, setting.multi_touch_enabled) == (
        acme.campaign.aff_campaign_id, acme.main.pk, False,
    )
    actions = set(AuditEntry.objects.filter(user_id=acme.user_id).values_list("action", flat=True))
    assert {"settings_update", "multi_touch_disable"} <= actions
    assert _queued_funcs() == ["journeys.tasks.purge_disabled_scopes_task"]


def test_scope_of_another_account_is_refused(manager_client, acme, globex):
    response = manager_client.post(reverse(ADD), _data(acme, "campaign", globex.campaign.aff_campaign_id, acme.main))
    assert response.status_code == 200
    assert "does not exist for account" in response.context["adminform"].form.errors["scope_id"][0]
    assert not AttributionSetting.objects.filter(scope_type="campaign").exists()


def test_model_of_another_account_is_refused(client, acme, globex):
    client.force_login(User.objects.create_superuser("root", "root@example.com", None))
    response = client.post(reverse(ADD), _data(acme, "campaign", acme.campaign.aff_campaign_id, globex.main))
    assert f"belongs to account {globex.user_id}" in response.context["adminform"].form.errors["model"][0]


def test_manager_cannot_pick_another_accounts_model(manager_client, acme, globex):
    response = manager_client.post(reverse(ADD), _data(acme, "campaign", acme.campaign.aff_campaign_id, globex.main))
    assert "model" in response.context["adminform"].form.errors


def test_second_global_row_is_refused(manager_client, acme):
    existing = AttributionSetting.objects.get(user_id=acme.user_id, scope_type="global")
    response = manager_client.post(reverse(ADD), _data(acme, "global", None, acme.main))
    assert f"setting #{existing.setting_id}" in str(response.context["adminform"].form.errors)
    assert AttributionSetting.objects.filter(user_id=acme.user_id, scope_type="global").count() == 1


def test_global_with_a_scope_id_is_refused(manager_client, acme):
    response = manager_client.post(reverse(ADD), _data(acme, "global", 7, acme.main))
    assert "takes no scope_id" in response.context["adminform"].form.errors["scope_id"][0]


def test_change_flag_enables_and_hydrates(manager_client, acme, django_capture_on_commit_callbacks):
    setting = AttributionSetting.objects.get(user_id=acme.user_id, scope_type="global")
    url = reverse("admin:attribution_attributionsetting_change", args=[setting.pk])
    with django_capture_on_commit_callbacks(execute=True):
        manager_client.post(url, {"model": acme.main.pk})
    assert not AttributionSetting.objects.get(pk=setting.pk).multi_touch_enabled

    with django_capture_on_commit_callbacks(execute=True):
        manager_client.post(url, {"model": acme.main.pk, "multi_touch_enabled": "on"})

    row = AttributionSetting.objects.get(pk=setting.pk)
    assert row.multi_touch_enabled and row.multi_touch_enabled_at == row.updated_at
    assert _queued_funcs() == [
        "journeys.tasks.purge_disabled_scopes_task", "journeys.tasks.hydrate_scope_task",
    ]


def test_settings_cannot_be_deleted_or_seen_across_tenants(manager_client, acme, globex):
    own = AttributionSetting.objects.get(user_id=acme.user_id)
    theirs = AttributionSetting.objects.get(user_id=globex.user_id)
    assert manager_client.get(reverse("admin:attribution_attributionsetting_change", args=[theirs.pk])).status_code == 404
    manager_client.post(reverse("admin:attribution_attributionsetting_delete", args=[own.pk]), {"post": "yes"})
    assert AttributionSetting.objects.filter(pk=own.pk).exists()
