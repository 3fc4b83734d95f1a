"""Scope settings admin: the form goes through save_scope_setting (validation, audit, tasks)."""
import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse
from django_q.models import OrmQ
from django_q.signing import SignedPackage

from attribution import multi_touch, services
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


def test_delete_is_audited_and_other_tenants_rows_stay_hidden(manager_client, acme, globex):
    own = AttributionSetting.objects.get(user_id=acme.user_id)
    theirs = AttributionSetting.objects.get(user_id=globex.user_id)
    assert manager_client.get(reverse("admin:attribution_attributionsetting_change", args=[theirs.pk])).status_code == 404
    assert manager_client.post(
        reverse("admin:attribution_attributionsetting_delete", args=[theirs.pk]), {"post": "yes"}
    ).status_code == 404

    manager_client.post(reverse("admin:attribution_attributionsetting_delete", args=[own.pk]), {"post": "yes"})

    assert not AttributionSetting.objects.filter(pk=own.pk).exists()
    assert AttributionSetting.objects.filter(pk=theirs.pk).exists()
    [entry] = AuditEntry.objects.filter(action="settings_delete")
    assert (entry.user_id, entry.metadata_dict["setting_id"]) == (acme.user_id, own.pk)
    assert entry.metadata_dict["actor"] == {"type": "admin", "username": "manager"}


def test_deleting_a_disabled_row_links_the_chain_it_queued(manager_client, acme):
    row = services.save_scope_setting(
        account_id=acme.user_id, scope_type="campaign", scope_id=acme.campaign.aff_campaign_id,
        model_id=acme.main.pk, multi_touch_enabled=False, actor=SETUP,
    ).setting
    response = manager_client.post(
        reverse("admin:attribution_attributionsetting_delete", args=[row.pk]), {"post": "yes"}, follow=True
    )
    chain_group_id = AuditEntry.objects.filter(action="multi_touch_enable").get().metadata_dict["chain_group_id"]
    assert f'href="{reverse("attribution_multi_touch_chain", args=[chain_group_id])}"' in response.content.decode()


def _global_row(account, updated_at, enabled=True):
    return AttributionSetting.objects.create(
        user_id=account.user_id, scope_type="global", scope_id=None, model_id=account.main.pk,
        multi_touch_enabled=enabled, effective_at=updated_at, created_at=updated_at, updated_at=updated_at,
    )


def test_merge_action_keeps_the_deciding_global_row(manager_client, acme, globex):
    deciding = AttributionSetting.objects.get(user_id=acme.user_id)
    duplicate = _global_row(acme, deciding.updated_at - 10, enabled=False)
    other_tenant_duplicate = _global_row(globex, 1)

    response = manager_client.post(reverse(CHANGELIST), {
        "action": "merge_global_rows", "_selected_action": [deciding.pk, duplicate.pk, other_tenant_duplicate.pk],
    }, follow=True)

    assert f"kept global setting #{deciding.pk}, deleted #{duplicate.pk}" in response.content.decode()
    assert list(AttributionSetting.objects.filter(user_id=acme.user_id).values_list("pk", flat=True)) == [deciding.pk]
    assert AttributionSetting.objects.filter(pk=other_tenant_duplicate.pk).exists()
    assert AuditEntry.objects.filter(action="settings_merge", user_id=acme.user_id).count() == 1


def test_change_form_offers_the_global_row_only_the_default_model(manager_client, acme):
    services.create_model(account_id=acme.user_id, model_name="Other", model_type="last_touch", actor=SETUP)
    row = AttributionSetting.objects.get(user_id=acme.user_id)
    form = manager_client.get(reverse("admin:attribution_attributionsetting_change", args=[row.pk])).context["adminform"].form
    assert list(form.fields["model"].queryset) == [acme.main]


def test_global_row_naming_another_model_is_refused(manager_client, acme):
    other = services.create_model(account_id=acme.user_id, model_name="Other", model_type="last_touch", actor=SETUP)
    response = manager_client.post(reverse(ADD), _data(acme, "global", None, other))
    assert "always uses account" in response.context["adminform"].form.errors["model"][0]


def test_saving_a_flipped_flag_links_the_chain_page_which_shows_its_steps(manager_client, acme):
    row = AttributionSetting.objects.get(user_id=acme.user_id)
    response = manager_client.post(
        reverse("admin:attribution_attributionsetting_change", args=[row.pk]), {"model": acme.main.pk}, follow=True
    )
    chain_group_id = AuditEntry.objects.get(action="multi_touch_disable").metadata_dict["chain_group_id"]
    chain_url = reverse("attribution_multi_touch_chain", args=[chain_group_id])
    assert f'<a href="{chain_url}">Follow the progress</a>' in response.content.decode()

    page = manager_client.get(chain_url)
    steps = page.context["chain"].steps
    assert [(step.func, step.state) for step in steps] == [
        ("journeys.tasks.purge_disabled_scopes_task", multi_touch.STEP_PENDING),
        ("attribution.tasks.multi_touch_rebuild_task", multi_touch.STEP_WAITING),
    ]
    assert "purge the disabled journeys" in page.content.decode()


def test_chain_page_of_another_tenant_or_unknown_is_404(client, acme, globex):
    row = AttributionSetting.objects.get(user_id=globex.user_id)
    chain_group_id = services.save_scope_setting(
        account_id=globex.user_id, scope_type="global", scope_id=None, model_id=globex.main.pk,
        multi_touch_enabled=not row.multi_touch_enabled, actor=SETUP,
    ).chain_group_id
    user = User.objects.create_user("viewer", is_staff=True)
    user.groups.add(Group.objects.get(name="Attribution viewers"))
    AccountAccess.objects.create(django_user=user, account_id=acme.user_id)
    client.force_login(user)
    assert client.get(reverse("attribution_multi_touch_chain", args=[chain_group_id])).status_code == 404
    assert client.get(reverse("attribution_multi_touch_chain", args=["multitouch-000000000000"])).status_code == 404
    assert client.get(reverse("attribution_multi_touch_chain", args=["not-a-group"])).status_code == 404
