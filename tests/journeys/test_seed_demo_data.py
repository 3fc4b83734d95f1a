"""seed_demo_data: deterministic, realistic, refuses to write next to existing tracker rows."""
import io

import pytest
from django.core.management import call_command

from attribution import demo_data
from attribution.credit import MODEL_TYPES, validate_config
from attribution.models import AttributionModel, AttributionSetting
from journeys.building import MATCH_VISITOR, Candidate, build_journey
from journeys.models import (
    Advertiser,
    Campaign,
    Click,
    ClickAdvance,
    Conversion,
    LandingPage,
    TrafficSourceAccount,
)
from tracker.models import Account

NOW = 1_760_000_000
CLICKS = 800


def _seed(*extra):
    out, err = io.StringIO(), io.StringIO()
    call_command("seed_demo_data", "--clicks", str(CLICKS), "--seed", "7", "--now", str(NOW), *extra,
                 stdout=out, stderr=err)
    return out.getvalue()


def _table_rows():
    return {
        "clicks": list(Click.objects.order_by("click_id").values_list()),
        "conversions": list(Conversion.objects.order_by("conv_id").values_list()),
        "advance": list(ClickAdvance.objects.order_by("click_id").values_list()),
        "models": list(AttributionModel.objects.order_by("user_id", "model_slug").values_list(
            "user_id", "model_slug", "model_type", "weighting_config", "is_default")),
    }


def test_generator_is_deterministic_and_seed_sensitive():
    first = demo_data.generate(CLICKS, 7, NOW)
    again = demo_data.generate(CLICKS, 7, NOW)
    other = demo_data.generate(CLICKS, 8, NOW)
    assert first.clicks == again.clicks and first.conversions == again.conversions
    assert first.clicks != other.clicks
    assert len(first.clicks) == CLICKS


def test_generator_rejects_too_few_clicks():
    with pytest.raises(ValueError, match="click_count must be at least 100, got 5"):
        demo_data.generate(5, 1, NOW)


@pytest.mark.django_db
def test_same_seed_writes_the_same_rows():
    output = _seed()
    first = _table_rows()
    for model in (Click, ClickAdvance, Conversion, AttributionSetting, AttributionModel, Account):
        model.objects.all().delete()
    for model in (Advertiser, Campaign, LandingPage, TrafficSourceAccount):
        model.objects.all().delete()
    _seed()
    assert _table_rows() == first
    assert f"clicks: {CLICKS}" in output
    assert "manage.py backfill_conversion_journeys --start" in output
    assert "manage.py attribution_rebuild --start" in output


@pytest.mark.django_db
def test_dataset_has_the_promised_features():
    _seed()
    dataset = demo_data.generate(CLICKS, 7, NOW)
    features = dataset.features
    window_start = features["window_start"]
    assert Click.objects.count() == CLICKS
    assert Click.objects.filter(click_time__lt=window_start).count() == 0
    assert Click.objects.filter(click_time__gt=NOW).count() == 0
    conversions = Conversion.objects.count()
    assert 0.01 * CLICKS <= conversions <= 0.05 * CLICKS

    # Accounts: two live, one deleted with conversions of its own.
    assert list(Account.objects.values_list("user_id", "user_deleted")) == [(1, 0), (2, 0), (3, 1)]
    assert Conversion.objects.filter(user_id=3).exists()

    # Soft-deleted conversions and one whose converting click row is missing.
    assert Conversion.objects.filter(deleted=1).count() == len(features["deleted_conv_ids"]) >= 1
    missing = Conversion.objects.get(conv_id=features["missing_click_conv_id"])
    assert not Click.objects.filter(click_id=missing.click_id).exists()

    # Multi-touch candidates: converting visitors with earlier clicks on the same campaign.
    multi_touch = 0
    for conversion in Conversion.objects.filter(deleted=0, user_id__in=(1, 2)):
        visitor = ClickAdvance.objects.filter(click_id=conversion.click_id).first()
        if visitor is None:
            continue
        same_visitor = ClickAdvance.objects.filter(ip_id=visitor.ip_id).values("click_id")
        earlier = Click.objects.filter(
            click_id__in=same_visitor, aff_campaign_id=conversion.campaign_id,
            click_time__lte=conversion.conv_time,
        ).count()
        multi_touch += earlier > 1
    assert multi_touch >= 5

    # Ties in click_time within one campaign (the click-id tie-break has something to do).
    times = list(Click.objects.values_list("aff_campaign_id", "click_time"))
    assert len(times) > len(set(times))

    # The cap case: 25 most recent clicks of the visitor plus the converting (first) click.
    capped = Conversion.objects.get(conv_id=features["capped_conv_id"])
    ip_id = ClickAdvance.objects.get(click_id=capped.click_id).ip_id
    visitor_clicks = Click.objects.filter(
        click_id__in=ClickAdvance.objects.filter(ip_id=ip_id).values("click_id")
    )
    candidates = [Candidate(c.click_id, c.click_time, ip_id) for c in visitor_clicks]
    assert len(candidates) == demo_data.CAPPED_VISITOR_CLICKS
    journey = build_journey(capped, candidates, lookback_seconds=2_592_000, max_touches=25,
                            match=MATCH_VISITOR, visitor_ip_id=ip_id)
    assert len(journey.touches) == 26
    assert "beyond_cap" in journey.flags

    # A converting click without a visitor row.
    unknown = Conversion.objects.get(conv_id=features["unknown_visitor_conv_id"])
    assert not ClickAdvance.objects.filter(click_id=unknown.click_id).exists()


@pytest.mark.django_db
def test_models_and_settings():
    _seed()
    models = AttributionModel.objects.filter(user_id=1)
    assert sorted(models.values_list("model_type", flat=True)) == sorted(MODEL_TYPES)
    for model in models:
        validate_config(model.model_type, model.weighting_config)  # raises when invalid
    by_type = {m.model_type: m for m in models}
    assert validate_config("time_decay", by_type["time_decay"].weighting_config) == {"half_life_hours": 24}
    assert validate_config("position_based", by_type["position_based"].weighting_config) == {
        "first_touch_weight": 0.4, "last_touch_weight": 0.4}
    assert validate_config("algorithmic", by_type["algorithmic"].weighting_config)["channel"] == "account"
    assert [m.model_type for m in models if m.is_default] == ["last_touch"]
    second = AttributionModel.objects.filter(user_id=2)
    assert sorted(second.values_list("model_type", "is_default")) == [("last_touch", True), ("linear", False)]

    global_rows = AttributionSetting.objects.filter(scope_type="global")
    assert sorted(global_rows.values_list("user_id", "model__model_type", "multi_touch_enabled")) == [
        (1, "last_touch", True), (2, "last_touch", True)]
    disabled = AttributionSetting.objects.get(scope_type="campaign")
    assert (disabled.user_id, disabled.scope_id, disabled.multi_touch_enabled) == (
        1, demo_data.DISABLED_CAMPAIGN_ID, False)


@pytest.mark.django_db
def test_refuses_a_database_with_tracker_rows(tracker):
    tracker.account("existing")
    err = io.StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("seed_demo_data", "--clicks", "200", stdout=io.StringIO(), stderr=err)
    assert exit_info.value.code == 2
    assert "202_users" in err.getvalue()
    assert Click.objects.count() == 0


@pytest.mark.django_db
def test_bad_click_count_is_exit_2_naming_the_argument():
    err = io.StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("seed_demo_data", "--clicks", "10", stdout=io.StringIO(), stderr=err)
    assert exit_info.value.code == 2
    assert "--clicks must be at least 100, got 10" in err.getvalue()
    assert not Account.objects.exists()
