"""Tenancy in the journeys admin (SPEC §9): a tenant sees only its accounts' rows, anywhere."""
import pytest
from django.urls import reverse

from tests.journeys.admin_fixtures import client_for, make_user

CONV_TIME = 1_750_000_000
VIEW = ["view_attribution_reports"]


@pytest.fixture
def two_tenants(tracker):
    rows = {}
    for name in ("mine", "theirs"):
        account = tracker.account(name)
        advertiser = tracker.advertiser(account, f"{name} network")
        campaign = tracker.campaign(account, advertiser, f"{name} campaign")
        lander = tracker.landing_page(account, campaign, f"{name}lander")
        source = tracker.traffic_source(account, f"{name} source")
        click = tracker.click(account, campaign, CONV_TIME - 60)
        conversion = tracker.conversion(account, campaign, CONV_TIME, click=click)
        rows[name] = {"account": account, "advertiser": advertiser, "campaign": campaign,
                      "lander": lander, "source": source, "click": click, "conversion": conversion}
    return rows


@pytest.fixture
def tenant(client, django_user_model, two_tenants):
    return client_for(client, make_user(
        django_user_model, "tenant", codenames=VIEW, account_ids=[two_tenants["mine"]["account"].user_id]
    ))


CHANGELISTS = {
    "journeys_conversion": ("conversion", "conv_id"),
    "journeys_click": ("click", "click_id"),
    "journeys_campaign": ("campaign", "aff_campaign_id"),
    "journeys_advertiser": ("advertiser", "aff_network_id"),
    "journeys_landingpage": ("lander", "landing_page_id"),
    "journeys_trafficsourceaccount": ("source", "ppc_account_id"),
    "tracker_account": ("account", "user_id"),
}


@pytest.mark.django_db
@pytest.mark.parametrize("model_name", CHANGELISTS)
def test_changelists_show_only_the_tenants_rows(tenant, two_tenants, model_name):
    row_name, id_field = CHANGELISTS[model_name]
    response = tenant.get(reverse(f"admin:{model_name}_changelist"))
    assert response.status_code == 200
    shown = [getattr(obj, id_field) for obj in response.context["cl"].result_list]
    assert shown == [getattr(two_tenants["mine"][row_name], id_field)]


@pytest.mark.django_db
def test_filters_offer_only_the_tenants_accounts_and_campaigns(tenant, two_tenants):
    html = tenant.get(reverse("admin:journeys_conversion_changelist")).content.decode()
    assert "mine campaign" in html and "mine network" in html
    assert "theirs" not in html


@pytest.mark.django_db
def test_another_tenants_conversion_page_and_actions_are_404(client, django_user_model, two_tenants):
    manager = client_for(client, make_user(
        django_user_model, "manager", codenames=["manage_attribution_models"],
        account_ids=[two_tenants["mine"]["account"].user_id],
    ))
    mine = two_tenants["mine"]["conversion"].conv_id
    theirs = two_tenants["theirs"]["conversion"].conv_id
    assert manager.get(reverse("admin:journeys_conversion_change", args=[mine])).status_code == 200
    response = manager.get(reverse("admin:journeys_conversion_change", args=[theirs]))
    assert response.status_code == 404
    assert b"theirs" not in response.content
    for action in ("rebuild", "purge", "verify"):
        url = reverse("admin:journeys_conversion_journey_action", args=[theirs, action])
        assert manager.get(url).status_code == 404
        assert manager.post(url).status_code == 404


@pytest.mark.django_db
def test_tenant_without_access_rows_sees_nothing(client, django_user_model, two_tenants):
    lonely = client_for(client, make_user(django_user_model, "lonely", codenames=VIEW))
    response = lonely.get(reverse("admin:journeys_conversion_changelist"))
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == []
    conv_id = two_tenants["mine"]["conversion"].conv_id
    assert lonely.get(reverse("admin:journeys_conversion_change", args=[conv_id])).status_code == 404


@pytest.mark.django_db
def test_staff_without_the_view_permission_is_refused(client, django_user_model, two_tenants):
    staff = client_for(client, make_user(
        django_user_model, "staff", account_ids=[two_tenants["mine"]["account"].user_id]
    ))
    assert staff.get(reverse("admin:journeys_conversion_changelist")).status_code == 403
    conv_id = two_tenants["mine"]["conversion"].conv_id
    assert staff.get(reverse("admin:journeys_conversion_change", args=[conv_id])).status_code == 403


@pytest.mark.django_db
def test_filter_values_of_another_tenant_show_nothing(tenant, two_tenants):
    theirs = two_tenants["theirs"]
    for query in (f"account={theirs['account'].user_id}", f"campaign={theirs['campaign'].pk}",
                  f"advertiser={theirs['advertiser'].pk}", f"q={theirs['conversion'].conv_id}"):
        response = tenant.get(reverse("admin:journeys_conversion_changelist") + "?" + query)
        assert list(response.context["cl"].result_list) == [], query
