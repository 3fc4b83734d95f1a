"""Model comparison: on the fly from stored journeys, from snapshots, the page and promotion."""
import json
import time
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from django.urls import reverse

from attribution import reporting
from attribution.models import AttributionModel
from journeys.models import Conversion, JourneyTouch
from tests.attribution.reporting_fixtures import (
    BASE_HOUR,
    make_model,
    snapshot,
    staff_user,
    touch_credit,
)
from tracker.models import AuditEntry

pytestmark = pytest.mark.django_db

T0 = BASE_HOUR + 600


def store_journey(conversion, clicks):
    for position, click in enumerate(clicks):
        JourneyTouch.objects.create(conv_id=conversion.conv_id, click_id=click.click_id,
                                    click_time=click.click_time, position=position, created_at=int(time.time()))


@pytest.fixture
def journeys(tracker):
    """Campaign 1: a 3-touch journey (payout 30, converting cpc 0.90) and a one-touch conversion
    with no stored journey (payout 10, cpc 0.50). Campaign 2: one one-touch conversion (payout 100).
    Landing pages: c1, c2 on 7; c3, c4 on 8. Plus a deleted and an out-of-window conversion."""
    account = tracker.account()
    campaign, other_campaign = tracker.campaign(account, name="One"), tracker.campaign(account, name="Two")
    c1 = tracker.click(account, campaign, T0, landing_page_id=7)
    c2 = tracker.click(account, campaign, T0 + 100, landing_page_id=7)
    c3 = tracker.click(account, campaign, T0 + 200, cpc="0.90000", landing_page_id=8)
    conv1 = tracker.conversion(account, campaign, T0 + 300, click=c3, payout="30")
    store_journey(conv1, [c1, c2, c3])
    c4 = tracker.click(account, campaign, T0 + 400, cpc="0.50000", landing_page_id=8)
    tracker.conversion(account, campaign, T0 + 500, click=c4, payout="10")
    c5 = tracker.click(account, other_campaign, T0 + 450, cpc="0.50000")
    tracker.conversion(account, other_campaign, T0 + 460, click=c5, payout="100")
    tracker.conversion(account, campaign, T0 + 470, click=c4, payout="555", deleted=1, transaction_id="d")
    late = tracker.click(account, campaign, BASE_HOUR + 3600 + 5)
    tracker.conversion(account, campaign, BASE_HOUR + 3600 + 10, click=late, payout="999")
    return account, campaign


def compare(models, scope_type="global", scope_id=None):
    return reporting.compare_models(model_ids=[m.model_id for m in models], scope_type=scope_type,
                                    scope_id=scope_id, start_hour=BASE_HOUR, end_hour=BASE_HOUR)


def test_on_the_fly_global_linear_matches_hand_computation(journeys):
    account, _campaign = journeys
    (row,) = compare([make_model(account)])
    assert row.source == "journeys"
    assert (row.kpis.revenue, row.kpis.cost) == (Decimal("140.0000"), Decimal("1.9000"))
    assert (row.kpis.conversions, row.kpis.clicks) == (3, 5)
    # Credits as stored (DECIMAL(10,5), SPEC §7): first 0.33333 + 1 + 1, middle 0.33333, last
    # 0.33333, of 2.99999 in all: 2.33333 / 2.99999 = 0.7777793, 0.33333 / 2.99999 = 0.1111104.
    assert row.position_share == {"first": 0.777779, "middle": 0.11111, "last": 0.11111}


def test_on_the_fly_campaign_scope_for_three_model_types(journeys):
    account, campaign = journeys
    linear = make_model(account, "Linear")
    last = make_model(account, "Last", "last_touch")
    first = make_model(account, "First", "first_touch")
    rows = {r.model_type: r for r in compare([linear, last, first], "campaign", campaign.aff_campaign_id)}
    for row in rows.values():
        assert (row.kpis.revenue, row.kpis.cost, row.kpis.conversions) == (
            Decimal("40.0000"), Decimal("1.4000"), 2)
    assert rows["linear"].kpis.clicks == 4
    # 1.33333 / 1.99999 = 0.6666683 and 0.33333 / 1.99999 = 0.1666658 (rounded credits, SPEC §7).
    assert rows["linear"].position_share == {"first": 0.666668, "middle": 0.166666, "last": 0.166666}
    assert rows["last_touch"].kpis.clicks == 2
    assert rows["last_touch"].position_share == {"first": 0.5, "middle": 0.0, "last": 0.5}
    assert rows["first_touch"].position_share == {"first": 1.0, "middle": 0.0, "last": 0.0}
    assert rows["linear"].kpis.roi_percent == Decimal("2757.14")  # (40 - 1.4) / 1.4 × 100


def test_on_the_fly_landing_page_scope_counts_only_its_touches(journeys):
    account, _campaign = journeys
    (row,) = compare([make_model(account)], "landing_page", 7)
    # conv1's c1 and c2 (1/3 each of 30 revenue and 0.90 cost); no other conversion touches page 7.
    assert (row.kpis.revenue, row.kpis.cost, row.kpis.clicks, row.kpis.conversions) == (
        Decimal("20.0000"), Decimal("0.6000"), 2, 1)
    assert row.position_share == {"first": 0.5, "middle": 0.5, "last": 0.0}


def test_on_the_fly_algorithmic_gives_each_conversion_full_credit(journeys):
    account, _campaign = journeys
    model = make_model(account, "Markov", "algorithmic", weighting_config='{"method": "markov"}')
    (row,) = compare([model])
    assert row.error is None
    assert row.kpis.revenue == Decimal("140.0000") and row.kpis.conversions == 3
    assert sum(row.position_share.values()) == pytest.approx(1.0, abs=1e-5)


def test_invalid_legacy_model_row_is_reported_not_raised(journeys):
    account, _campaign = journeys
    model = make_model(account, "Broken", "time_decay", weighting_config="{}")
    (row,) = compare([model])
    assert row.error and "half_life_hours" in row.error
    assert row.kpis.revenue == Decimal("0.0000")


def test_too_many_conversions_on_the_fly_ask_for_a_rebuild(journeys, monkeypatch):
    account, _campaign = journeys
    monkeypatch.setattr(reporting, "COMPARISON_BATCH_SIZE", 2)
    monkeypatch.setattr(reporting, "COMPARISON_MAX_CONVERSIONS", 2)
    (row,) = compare([make_model(account)])
    assert "more than 2 conversions" in row.error and row.kpis.revenue == Decimal("0.0000")


def test_keyset_batches_give_the_same_result(journeys, monkeypatch):
    account, _campaign = journeys
    monkeypatch.setattr(reporting, "COMPARISON_BATCH_SIZE", 1)
    (row,) = compare([make_model(account)])
    assert (row.kpis.revenue, row.kpis.clicks, row.kpis.conversions) == (Decimal("140.0000"), 5, 3)


def test_from_snapshots_uses_kpis_and_stored_credits(journeys):
    account, campaign = journeys
    conv1, conv2 = account_conversions(account, campaign)[:2]
    linear = make_model(account, "Linear")
    assisted = make_model(account, "Assisted", "assisted")
    global_row = snapshot(linear, BASE_HOUR, clicks=4, conversions=2, revenue="40", cost="1.4")
    c1, c2, c3 = JourneyTouch.objects.filter(conv_id=conv1.conv_id).order_by("position")
    for touch, credit in zip((c1, c2, c3), ("0.33333", "0.33333", "0.33334")):
        touch_credit(global_row, conv1.conv_id, touch.click_id, touch.position, credit)
    touch_credit(global_row, conv2.conv_id, conv2.click_id, 0, "1")
    assisted_row = snapshot(assisted, BASE_HOUR, clicks=2, conversions=1, revenue="30", cost="0.9")
    touch_credit(assisted_row, conv1.conv_id, c1.click_id, 0, "0.5")
    touch_credit(assisted_row, conv1.conv_id, c2.click_id, 1, "0.5")
    rows = {r.model_type: r for r in compare([linear, assisted])}
    assert rows["linear"].source == "snapshots"
    assert rows["linear"].kpis.revenue == Decimal("40.0000") and rows["linear"].kpis.conversions == 2
    assert rows["linear"].position_share == {"first": 0.666665, "middle": 0.166665, "last": 0.16667}
    # Position 1 of a 3-touch journey is middle even though it is the last credited row.
    assert rows["assisted"].position_share == {"first": 0.5, "middle": 0.5, "last": 0.0}


def account_conversions(account, campaign):
    return list(Conversion.objects.filter(user_id=account.user_id, campaign_id=campaign.aff_campaign_id,
                                          deleted=0).order_by("conv_id"))


def compare_url(models, **params):
    query = [("models", m.model_id) for m in models] + [("scope_type", "global"), ("range", "custom"),
                                                       ("start", "2024-03-01 00:00"), ("end", "2024-03-01 00:00")]
    query += list(params.items())
    return reverse("attribution_compare") + "?" + urlencode(query)


def test_comparison_page_renders_models_side_by_side(client, journeys):
    account, _campaign = journeys
    linear, last = make_model(account, "Linear"), make_model(account, "Last", "last_touch")
    client.force_login(staff_user("viewer", [account]))
    response = client.get(compare_url([linear, last]))
    assert response.status_code == 200
    page = response.content.decode()
    assert f'data-model="{linear.model_id}" data-source="journeys"' in page
    assert '<td class="num" data-field="revenue">140.0000</td>' in page
    assert "Promote to default" not in page  # viewers cannot promote


def test_other_tenants_models_cannot_be_compared(client, journeys, tracker):
    account, _campaign = journeys
    model = make_model(account)
    outsider = tracker.account("outsider")
    client.force_login(staff_user("outsider", [outsider]))
    response = client.get(compare_url([model]))
    assert response.status_code == 200
    assert "140.0000" not in response.content.decode()
    assert "models" in response.context["form"].errors


def test_promote_to_default_from_the_comparison(client, journeys):
    account, _campaign = journeys
    current = make_model(account, "Current", "last_touch", is_default=True)
    challenger = make_model(account, "Challenger")
    client.force_login(staff_user("manager", [account], manage=True))
    page = client.get(compare_url([current, challenger])).content.decode()
    assert "Promote to default" in page
    response = client.post(reverse("attribution_compare"), {"model_id": challenger.model_id,
                                                             "query_string": "scope_type=global"})
    assert response.status_code == 302 and response["Location"].endswith("?scope_type=global")
    assert AttributionModel.objects.get(pk=challenger.pk).is_default
    assert not AttributionModel.objects.get(pk=current.pk).is_default
    audit = AuditEntry.objects.get(action="model_default_changed", model_id=challenger.model_id)
    assert json.loads(audit.metadata)["actor"] == {"type": "admin", "username": "manager"}


def test_refused_promotion_is_shown_as_a_message(client, journeys):
    account, _campaign = journeys
    broken = make_model(account, "Broken", "time_decay", weighting_config="{}")
    client.force_login(staff_user("manager", [account], manage=True))
    response = client.post(reverse("attribution_compare"), {"model_id": broken.model_id}, follow=True)
    assert not AttributionModel.objects.get(pk=broken.pk).is_default
    texts = [str(m) for m in response.context["messages"]]
    assert any("was not made the default" in t and "invalid config" in t for t in texts)


def test_promotion_needs_manage_permission_and_tenancy(client, journeys, tracker):
    account, _campaign = journeys
    model = make_model(account)
    client.force_login(staff_user("viewer", [account]))
    assert client.post(reverse("attribution_compare"), {"model_id": model.model_id}).status_code == 403
    outsider = tracker.account("outsider")
    client.force_login(staff_user("other-manager", [outsider], manage=True))
    assert client.post(reverse("attribution_compare"), {"model_id": model.model_id}).status_code == 404
    assert not AttributionModel.objects.get(pk=model.pk).is_default
