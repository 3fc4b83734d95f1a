"""Read-only admins over the Prosper202 tracker tables: they render, and refuse writes."""
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from journeys.models import Campaign, Click
from tests.journeys.admin_fixtures import superuser_client  # noqa: F401 (fixture)
from tracker.models import Account

CLICK_TIME = 1_750_000_000
MODELS = ("journeys_click", "journeys_campaign", "journeys_advertiser", "journeys_landingpage",
          "journeys_trafficsourceaccount", "tracker_account", "journeys_conversion")


@pytest.fixture
def clicks(tracker):
    account = tracker.account("acme")
    campaign = tracker.campaign(account, name="Keto")
    other = tracker.campaign(account, name="VPN")
    tracker.landing_page(account, campaign)
    tracker.traffic_source(account)
    made = [tracker.click(account, campaign, CLICK_TIME + offset) for offset in (0, 50, 20)]
    made.append(tracker.click(account, other, CLICK_TIME + 10))
    tracker.conversion(account, campaign, CLICK_TIME + 100, click=made[0])
    return {"account": account, "campaign": campaign, "other": other, "clicks": made}


@pytest.mark.django_db
@pytest.mark.parametrize("model_name", MODELS)
def test_changelists_render_and_refuse_add_change_delete(superuser_client, clicks, model_name):
    changelist = reverse(f"admin:{model_name}_changelist")
    response = superuser_client.get(changelist)
    assert response.status_code == 200
    add = reverse(f"admin:{model_name}_add")
    assert f'href="{add}"' not in response.content.decode()
    assert superuser_client.get(add).status_code == 403
    obj = response.context["cl"].result_list[0]
    assert superuser_client.post(reverse(f"admin:{model_name}_delete", args=[obj.pk])).status_code == 403
    if model_name != "journeys_conversion":
        change = reverse(f"admin:{model_name}_change", args=[obj.pk])
        assert superuser_client.get(change).status_code == 200  # read-only view
        assert superuser_client.post(change, {}).status_code == 403


@pytest.mark.django_db
def test_rows_are_unchanged_after_refused_writes(superuser_client, clicks):
    account = clicks["account"]
    superuser_client.post(reverse("admin:tracker_account_change", args=[account.pk]),
                          {"user_name": "hacked"})
    assert Account.objects.get(pk=account.pk).user_name == "acme"
    assert Campaign.objects.count() == 2


@pytest.mark.django_db
def test_clicks_newest_first_with_filters_and_exact_search(superuser_client, clicks):
    url = reverse("admin:journeys_click_changelist")
    made = clicks["clicks"]

    def listed(**params):
        return [c.click_id for c in superuser_client.get(url, params).context["cl"].result_list]

    assert listed() == [made[i].click_id for i in (1, 2, 3, 0)]
    assert listed(campaign=clicks["other"].pk) == [made[3].click_id]
    assert listed(account=clicks["account"].pk) == [made[i].click_id for i in (1, 2, 3, 0)]
    assert listed(q=str(made[2].click_id)) == [made[2].click_id]
    assert listed(q=str(made[2].click_id)[:-1]) == []
    assert listed(q="not-a-number") == []
    html = superuser_client.get(url).content.decode()
    assert f'title="epoch {CLICK_TIME}"' in html


@pytest.mark.django_db
def test_click_changelist_never_counts_the_whole_table(superuser_client, clicks, django_assert_max_num_queries):
    url = reverse("admin:journeys_click_changelist")
    with CaptureQueriesContext(connection) as queries, django_assert_max_num_queries(12):
        assert superuser_client.get(url).status_code == 200
    counts = [q["sql"] for q in queries if re.search(r"COUNT\(", q["sql"], re.I) and "202_clicks" in q["sql"]]
    assert counts and all(re.search(r"LIMIT \d+", sql) for sql in counts)
    assert Click.objects.count() == 4
