"""System Checks that catch lost or inconsistent work (SPEC §10): capture lag, missing journeys
and settings drift, each in its states and filtered by tenant. (Deleted models' rows:
test_model_deletion.py.)"""
import time

import pytest

from attribution import services
from attribution.models import AttributionModel, AttributionSetting
from attribution.system_checks import (
    ERROR,
    OK,
    WARNING,
    check_capture_lag,
    check_missing_journeys,
    check_settings_drift,
    run_checks,
)
from journeys import services as journey_services
from tests.journeys.journey_helpers import setting, store_rows
from tracker.audit import Actor

pytestmark = pytest.mark.django_db

ACTOR = Actor.cli("checks")
MINUTE = 60


@pytest.fixture
def shop(tracker):
    account = tracker.account("shop")
    campaign = tracker.campaign(account)
    return account, campaign


def _conversion(tracker, account, campaign, age_seconds, **columns):
    now = int(time.time())
    click = tracker.click(account, campaign, now - age_seconds - 5)
    return tracker.conversion(account, campaign, now - age_seconds, click=click,
                              transaction_id=f"t{click.click_id}", **columns)


@pytest.mark.parametrize(("age_seconds", "status"), [
    (2 * MINUTE, OK), (11 * MINUTE, WARNING), (61 * MINUTE, ERROR),
])
def test_capture_lag_is_the_age_of_the_oldest_uncaptured_conversion(tracker, shop, age_seconds, status):
    account, campaign = shop
    _conversion(tracker, account, campaign, age_seconds)
    _conversion(tracker, account, campaign, 30)

    result = check_capture_lag()

    assert result.status == status, result
    assert "2 conversion(s) waiting for capture" in result.detail
    assert check_missing_journeys().status == OK  # capture never ran: it will still write them


def test_captured_disabled_deleted_and_old_conversions_do_not_count(tracker, shop):
    account, campaign = shop
    captured = _conversion(tracker, account, campaign, 3 * 3600)
    store_rows(captured.conv_id, (captured.click_id, captured.click_time, 0))
    _conversion(tracker, account, campaign, 3 * 3600, deleted=1)
    _conversion(tracker, account, campaign, 25 * 3600)  # older than the last 24 hours
    disabled_campaign = tracker.campaign(account, name="Off")
    setting(account, "campaign", disabled_campaign.aff_campaign_id, enabled=False)
    _conversion(tracker, account, disabled_campaign, 3 * 3600)

    assert check_capture_lag().status == OK
    assert check_missing_journeys().status == OK


def test_conversions_capture_passed_for_good_are_missing_journeys(tracker, shop, settings):
    """History before the first capture run, and conversions later than the grace period."""
    settings.ATTRIBUTION_CAPTURE_GRACE_SECONDS = 600
    account, campaign = shop
    before_capture = _conversion(tracker, account, campaign, 3 * 3600)
    journey_services.capture_new_conversions(actor=ACTOR)  # first run: the watermark starts here
    new = _conversion(tracker, account, campaign, 4 * MINUTE)

    missing = check_missing_journeys()
    lag = check_capture_lag()

    assert missing.status == ERROR
    assert f"conv_id {before_capture.conv_id}" in missing.detail
    assert "backfill_conversion_journeys" in missing.hint
    assert lag.status == OK and "1 conversion(s) waiting" in lag.detail  # `new`, above the watermark
    journey_services.capture_new_conversions(actor=ACTOR)
    assert len(list(journey_services.store.stored_touches([new.conv_id]))) == 1
    assert check_capture_lag().detail.startswith("every one of the")
    assert check_missing_journeys().status == ERROR  # only a backfill writes the old one


def test_capture_checks_are_filtered_by_tenant(tracker, shop):
    account, campaign = shop
    other = tracker.account("other")
    _conversion(tracker, other, tracker.campaign(other), 2 * 3600)

    assert check_capture_lag().status == ERROR
    assert check_capture_lag(account_ids={account.user_id}).status == OK
    assert check_capture_lag(account_ids=set()).status == OK


# --- settings drift ----------------------------------------------------------------------------

@pytest.fixture
def configured(tracker):
    account = tracker.account("acme")
    main = services.create_model(account_id=account.user_id, model_name="Main", model_type="last_touch",
                                 is_default=True, actor=ACTOR)
    side = services.create_model(account_id=account.user_id, model_name="Side", model_type="linear", actor=ACTOR)
    campaign = tracker.campaign(account)
    row = services.save_scope_setting(
        account_id=account.user_id, scope_type="campaign", scope_id=campaign.aff_campaign_id,
        model_id=side.pk, multi_touch_enabled=True, actor=ACTOR,
    ).setting
    return account, main, side, row


def test_settings_that_follow_the_rules_are_ok(configured):
    result = check_settings_drift()
    assert result.status == OK and "2 settings row(s)" in result.detail


def test_drift_is_reported_with_the_fix_that_exists(configured, tracker):
    account, main, side, row = configured
    AttributionSetting.objects.filter(user_id=account.user_id, scope_type="global").update(model_id=side.pk)
    AttributionModel.objects.filter(pk=side.pk).update(is_active=False)

    result = check_settings_drift()

    assert result.status == WARNING
    assert f"names model {side.pk}, not the account's default" in result.detail
    assert f"setting #{row.pk} (user {account.user_id}, campaign {row.scope_id}) names model {side.pk}, which is inactive" in result.detail
    assert "Make default" in result.hint and "PATCH /api/v2/attribution/models/<id>" in result.hint
    assert check_settings_drift(account_ids={tracker.account("other").user_id}).status == OK

    AttributionModel.objects.filter(pk=side.pk).delete()
    assert f"names model {side.pk}, which is deleted" in check_settings_drift().detail


def test_duplicate_global_rows_are_an_error_naming_the_merge_action(configured):
    account, main, _side, _row = configured
    duplicate = AttributionSetting.objects.create(
        user_id=account.user_id, scope_type="global", scope_id=None, model_id=main.pk,
        multi_touch_enabled=True, effective_at=1, created_at=1, updated_at=1,
    )
    result = check_settings_drift()
    assert result.status == ERROR
    assert f"user {account.user_id} has 2 global rows" in result.detail and f"#{duplicate.pk}" in result.detail
    assert "Merge duplicate global rows" in result.hint

    services.merge_global_settings(account.user_id, actor=ACTOR)
    assert check_settings_drift().status == OK


def test_every_new_check_runs_on_the_page(configured):
    names = [result.name for result in run_checks()]
    for name in ("capture_lag", "missing_journeys", "settings_drift", "deleted_model_rows"):
        assert name in names
