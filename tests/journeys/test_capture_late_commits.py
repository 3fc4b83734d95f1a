"""Capture never misses a conversion that commits after a higher conv_id (SPEC §4.2).

conv_ids are allocated before commit: the MariaDB test holds a real INSERT open on a second
connection while capture runs past it. The other tests make the same situation on either vendor
by inserting a conversion whose conv_id is below the watermark.
"""
import time

import pytest
from django.db import connection

from journeys import services
from journeys.models import CapturePass, CaptureWatermark, JourneyTouch
from tests.journeys.journey_helpers import DAY, setting, stored
from tracker.audit import Actor

ACTOR = Actor.task("capture-test")
pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(tracker):
    account = tracker.account("shop")
    campaign = tracker.campaign(account)
    click = tracker.click(account, campaign, int(time.time()) - DAY)
    return account, campaign, click


def _conversion(tracker, shop, **columns):
    account, campaign, click = shop
    return tracker.conversion(account, campaign, click.click_time + 60, click=click, **columns)


def _touchpoint_rows(conv_id):
    return list(JourneyTouch.objects.filter(conv_id=conv_id).values_list("touchpoint_id", "created_at"))


def _age_passes(seconds):
    """As if the capture passes happened `seconds` before the latest run started."""
    started = CaptureWatermark.objects.get().run_started_at
    CapturePass.objects.update(passed_at=started - seconds)


def test_a_late_conversion_below_the_watermark_is_captured_once(tracker, shop):
    services.capture_new_conversions(actor=ACTOR)
    late_id = _conversion(tracker, shop, transaction_id="first").conv_id + 10
    higher = _conversion(tracker, shop, transaction_id="higher", conv_id=late_id + 1)
    first = services.capture_new_conversions(actor=ACTOR)
    assert (first.written, first.late_written, first.watermark_after) == (2, 0, higher.conv_id)

    late = _conversion(tracker, shop, transaction_id="late", conv_id=late_id)
    second = services.capture_new_conversions(actor=ACTOR)

    assert (second.late_written, second.written, second.conversions) == (1, 1, 0)
    assert second.watermark_after == higher.conv_id
    assert len(stored(late.conv_id)) == 1
    rows = _touchpoint_rows(late.conv_id)
    third = services.capture_new_conversions(actor=ACTOR)
    assert (third.late_written, third.written) == (0, 0)
    assert _touchpoint_rows(late.conv_id) == rows


def test_late_conversions_in_disabled_scopes_or_deleted_are_left_alone(tracker, shop):
    account, campaign, _ = shop
    services.capture_new_conversions(actor=ACTOR)
    base = _conversion(tracker, shop, transaction_id="base").conv_id
    _conversion(tracker, shop, transaction_id="higher", conv_id=base + 10)
    services.capture_new_conversions(actor=ACTOR)
    deleted = _conversion(tracker, shop, transaction_id="deleted", conv_id=base + 3, deleted=1)
    setting(account, "campaign", campaign.aff_campaign_id, enabled=False)
    disabled = _conversion(tracker, shop, transaction_id="disabled", conv_id=base + 4)

    result = services.capture_new_conversions(actor=ACTOR)

    assert (result.late_written, result.failed) == (0, {})
    assert stored(deleted.conv_id) == [] and stored(disabled.conv_id) == []


def test_a_conversion_later_than_the_grace_period_is_left_to_the_backfill(tracker, shop, settings):
    settings.ATTRIBUTION_CAPTURE_GRACE_SECONDS = 600
    services.capture_new_conversions(actor=ACTOR)
    base = _conversion(tracker, shop, transaction_id="base").conv_id
    _conversion(tracker, shop, transaction_id="higher", conv_id=base + 10)
    services.capture_new_conversions(actor=ACTOR)
    _age_passes(600 + services.CAPTURE_RESCAN_MARGIN_SECONDS + 1)
    too_late = _conversion(tracker, shop, transaction_id="too late", conv_id=base + 5)

    result = services.capture_new_conversions(actor=ACTOR)

    assert result.late_written == 0 and stored(too_late.conv_id) == []
    assert result.rescan_floor == result.watermark_before == base + 10
    assert not CapturePass.objects.exists()  # pruned: nothing left to re-scan


def test_a_late_conversion_within_the_grace_period_survives_a_long_outage(tracker, shop, settings):
    """The re-scan is bounded by the previous run's start, not by now: a late commit that became
    visible in time is captured even when the next run comes hours later."""
    settings.ATTRIBUTION_CAPTURE_GRACE_SECONDS = 600
    services.capture_new_conversions(actor=ACTOR)
    base = _conversion(tracker, shop, transaction_id="base").conv_id
    _conversion(tracker, shop, transaction_id="higher", conv_id=base + 10)
    services.capture_new_conversions(actor=ACTOR)
    # Passed five minutes before the last run started; workers then stopped for three hours.
    CapturePass.objects.update(passed_at=int(time.time()) - 3 * 3600 - 300)
    CaptureWatermark.objects.update(run_started_at=int(time.time()) - 3 * 3600)
    late = _conversion(tracker, shop, transaction_id="late", conv_id=base + 5)

    result = services.capture_new_conversions(actor=ACTOR)

    assert result.late_written == 1 and len(stored(late.conv_id)) == 1


def test_first_run_records_its_start_and_no_pass(tracker, shop):
    _conversion(tracker, shop)
    first = services.capture_new_conversions(actor=ACTOR)
    assert first.first_run and first.rescan_floor == first.watermark_after
    assert CaptureWatermark.objects.get().run_started_at is not None
    assert not CapturePass.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_an_insert_held_open_on_another_connection_is_captured_after_it_commits(tracker, shop):
    """Two real MariaDB connections: the lower conv_id is allocated first and commits last."""
    if connection.vendor != "mysql":
        pytest.skip("SQLite has one writer at a time: an INSERT cannot stay open while another commits")
    import MySQLdb

    account, campaign, click = shop
    services.capture_new_conversions(actor=ACTOR)
    db = connection.settings_dict
    other = MySQLdb.connect(
        host=db["HOST"] or "127.0.0.1", port=int(db["PORT"] or 3306), user=db["USER"] or "root",
        password=db["PASSWORD"] or "", database=db["NAME"], charset="utf8mb4", autocommit=False,
    )
    try:
        cursor = other.cursor()
        cursor.execute(
            "INSERT INTO `202_conversion_logs` (click_id, click_time, transaction_id, campaign_id, "
            "click_payout, user_id, conv_time, time_difference, pixel_type, user_agent, deleted) "
            "VALUES (%s, %s, 'slow', %s, 5, %s, %s, '', 1, 'pytest', 0)",
            [click.click_id, click.click_time, campaign.aff_campaign_id, account.user_id, click.click_time + 30],
        )
        late_id = cursor.lastrowid
        higher = _conversion(tracker, shop, transaction_id="fast")
        assert higher.conv_id > late_id

        while_open = services.capture_new_conversions(actor=ACTOR)
        assert (while_open.written, while_open.watermark_after) == (1, higher.conv_id)
        assert stored(late_id) == []
        other.commit()
    finally:
        other.close()

    after_commit = services.capture_new_conversions(actor=ACTOR)
    assert (after_commit.late_written, after_commit.conversions) == (1, 0)
    assert stored(late_id) == [(click.click_id, click.click_time, 0)]
    rows = _touchpoint_rows(late_id)
    again = services.capture_new_conversions(actor=ACTOR)
    assert (again.late_written, again.written) == (0, 0)
    assert _touchpoint_rows(late_id) == rows
