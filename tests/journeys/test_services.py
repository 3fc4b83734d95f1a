"""Backfill, rebuild, hydration and capture against the real database (SPEC §4.1, §4.2)."""
import threading
import time

import pytest
from django.db import DatabaseError, connection, transaction

from journeys import services, store
from journeys.models import CaptureWatermark, JourneyTouch
from tests.journeys.journey_helpers import (
    DAY,
    NOW,
    RefuseTouchpointsOf,
    audits,
    setting,
    store_rows,
    stored,
)
from tracker.arguments import InvalidArgument
from tracker.audit import Actor

ACTOR = Actor.cli("tester")
pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(tracker, settings):
    """One account with two campaigns (same advertiser) and a second account."""
    settings.ATTRIBUTION_LOOKBACK_SECONDS = 10 * DAY
    settings.ATTRIBUTION_MAX_TOUCHES = 25
    settings.ATTRIBUTION_JOURNEY_MATCH = "campaign"
    account = tracker.account("shop")
    advertiser = tracker.advertiser(account)
    other_account = tracker.account("other")
    return {
        "account": account,
        "advertiser": advertiser,
        "campaign": tracker.campaign(account, advertiser, name="Main"),
        "sibling": tracker.campaign(account, advertiser, name="Sibling"),
        "other_account": other_account,
        "other_campaign": tracker.campaign(other_account),
    }


def backfill(**options):
    options.setdefault("start", NOW - 20 * DAY)
    options.setdefault("end", NOW)
    return services.backfill_journeys(actor=ACTOR, **options)


def test_backfill_builds_journeys_from_the_campaigns_clicks_only(tracker, shop):
    account, campaign = shop["account"], shop["campaign"]
    early = tracker.click(account, campaign, NOW - 3 * DAY)
    tracker.click(account, shop["sibling"], NOW - 2 * DAY)  # other campaign
    tracker.click(shop["other_account"], shop["other_campaign"], NOW - 2 * DAY)  # other account
    tracker.click(account, campaign, NOW - 11 * DAY)  # before the 10-day window
    converting = tracker.click(account, campaign, NOW - DAY)
    tracker.click(account, campaign, NOW - DAY + 60)  # after the conversion
    conv = tracker.conversion(account, campaign, NOW - DAY + 30, click=converting)

    result = backfill()

    assert stored(conv.conv_id) == [(early.click_id, early.click_time, 0), (converting.click_id, converting.click_time, 1)]
    assert (result.conversions, result.written, result.touch_rows, result.failed) == (1, 1, 2, {})
    [(account_id, metadata)] = audits("journey_backfill")
    assert account_id == account.user_id
    assert metadata["written"] == 1 and metadata["touch_rows"] == 2
    assert (metadata["start"], metadata["end"]) == (NOW - 20 * DAY, NOW)
    assert metadata["actor"] == {"type": "cli", "username": "tester"}


def test_backfill_replaces_old_rows_and_leaves_conversions_outside_the_window(tracker, shop):
    account, campaign = shop["account"], shop["campaign"]
    click = tracker.click(account, campaign, NOW - DAY)
    inside = tracker.conversion(account, campaign, NOW - DAY, click=click)
    outside = tracker.conversion(account, campaign, NOW + 10, click=click)
    store_rows(inside.conv_id, (1, 5, 0), (2, 6, 1), (3, 7, 2))
    store_rows(outside.conv_id, (4, 5, 0))

    backfill()

    assert stored(inside.conv_id) == [(click.click_id, click.click_time, 0)]
    assert stored(outside.conv_id) == [(4, 5, 0)]


def test_backfill_skips_deleted_conversions_deleted_accounts_and_disabled_scopes(tracker, shop):
    account, campaign = shop["account"], shop["campaign"]
    click = tracker.click(account, campaign, NOW - DAY)
    soft_deleted = tracker.conversion(account, campaign, NOW - DAY, click=click, deleted=1)
    gone = tracker.account("gone", user_deleted=1)
    gone_campaign = tracker.campaign(gone)
    of_deleted_account = tracker.conversion(gone, gone_campaign, NOW - DAY, click_id=5, click_time=NOW - DAY)
    disabled = tracker.conversion(account, shop["sibling"], NOW - DAY, click_id=6, click_time=NOW - DAY)
    setting(account, "campaign", shop["sibling"].aff_campaign_id, False)
    store_rows(disabled.conv_id, (9, 9, 0))
    enabled = tracker.conversion(account, campaign, NOW - DAY, click=click, transaction_id="t2")

    result = backfill()

    assert (result.conversions, result.written, result.skipped_disabled, result.skipped_deleted) == (4, 1, 1, 2)
    assert stored(soft_deleted.conv_id) == [] and stored(of_deleted_account.conv_id) == []
    assert stored(disabled.conv_id) == [(9, 9, 0)]  # disabled: existing rows left alone
    assert len(stored(enabled.conv_id)) == 1


def test_dry_run_writes_nothing(tracker, shop):
    account, campaign = shop["account"], shop["campaign"]
    click = tracker.click(account, campaign, NOW - DAY)
    conv = tracker.conversion(account, campaign, NOW - DAY, click=click)

    result = backfill(dry_run=True)

    assert (result.written, result.touch_rows) == (1, 1)
    assert stored(conv.conv_id) == []
    assert audits("journey_backfill") == []


@pytest.mark.django_db(transaction=True)
def test_backfill_outside_a_transaction_reads_the_next_batch_on_a_second_connection(tracker, shop, monkeypatch):
    """MariaDB: batches are read and built on a reader thread (its own connection) while the
    previous one is written; the journeys equal those of a run that reads and writes in turn."""
    if connection.vendor != "mysql":
        pytest.skip("the reader thread is for a database server with cores of its own")
    account, campaign, sibling = shop["account"], shop["campaign"], shop["sibling"]
    conv_ids = []
    for visitor in range(7):
        target = campaign if visitor % 2 else sibling
        clicks = [tracker.click(account, target, NOW - 5 * DAY + visitor * 600 + touch * 3600) for touch in range(3)]
        conv_ids.append(tracker.conversion(account, target, clicks[-1].click_time + 60, click=clicks[-1]).conv_id)
    reading_threads = []
    collect = store.collect_candidates

    def spy(*args, **kwargs):
        reading_threads.append(threading.current_thread().name)
        return collect(*args, **kwargs)

    monkeypatch.setattr(store, "collect_candidates", spy)
    prefetched = backfill(batch_size=2)
    journeys = {conv_id: stored(conv_id) for conv_id in conv_ids}
    with transaction.atomic():  # inside a transaction: read and built in turn, on this thread
        in_turn = backfill(batch_size=2)

    assert len(reading_threads) == 8
    assert all(name.startswith("backfill-read") for name in reading_threads[:4])
    assert reading_threads[4:] == [threading.current_thread().name] * 4
    # Campaign match: every click of the campaign up to the conversion. Sibling (visitors 0, 2,
    # 4, 6: 12 clicks) gives 9, 10, 11, 12 touches; Main (visitors 1, 3, 5: 9 clicks) 7, 8, 9.
    assert [len(journeys[conv_id]) for conv_id in conv_ids] == [9, 7, 10, 8, 11, 9, 12]
    assert (prefetched.batches, prefetched.written, prefetched.touch_rows) == (4, 7, 66)
    assert (in_turn.batches, in_turn.written, in_turn.touch_rows) == (4, 7, 66)
    assert {conv_id: stored(conv_id) for conv_id in conv_ids} == journeys


@pytest.mark.django_db(transaction=True)
def test_a_failing_read_on_the_reader_thread_stops_the_backfill_with_its_error(tracker, shop, monkeypatch):
    if connection.vendor != "mysql":
        pytest.skip("the reader thread is for a database server with cores of its own")
    account, campaign = shop["account"], shop["campaign"]
    for hour in range(3):
        click = tracker.click(account, campaign, NOW - DAY + hour * 3600)
        tracker.conversion(account, campaign, click.click_time + 60, click=click)
    batches = store.conversion_batch
    calls = []

    def second_batch_fails(**kwargs):
        calls.append(kwargs["after_conv_id"])
        if len(calls) == 2:
            raise DatabaseError("lost connection to the server while reading")
        return batches(**kwargs)

    monkeypatch.setattr(store, "conversion_batch", second_batch_fails)
    with pytest.raises(DatabaseError, match="lost connection"):
        backfill(batch_size=1)
    assert JourneyTouch.objects.count() == 1  # the first batch was written and committed


def test_backfill_narrowed_by_user(tracker, shop):
    click = tracker.click(shop["account"], shop["campaign"], NOW - DAY)
    mine = tracker.conversion(shop["account"], shop["campaign"], NOW - DAY, click=click)
    theirs = tracker.conversion(shop["other_account"], shop["other_campaign"], NOW - DAY, click_id=77, click_time=NOW - DAY)

    backfill(user_ids=[shop["other_account"].user_id])

    assert stored(mine.conv_id) == []
    assert stored(theirs.conv_id) == [(77, NOW - DAY, 0)]


def test_deleted_user_is_skipped_with_a_warning_and_unknown_user_is_refused(tracker, shop):
    gone = tracker.account("gone", user_deleted=1)
    result = backfill(user_ids=[gone.user_id])
    assert result.conversions == 0
    assert result.warnings == [f"User {gone.user_id} is deleted (user_deleted=1): skipped."]
    with pytest.raises(InvalidArgument) as raised:
        backfill(user_ids=[999_999])
    assert raised.value.field == "--user" and raised.value.value == 999_999


@pytest.mark.django_db(transaction=True)
def test_a_refused_write_in_the_second_batch_keeps_earlier_batches_and_old_rows(tracker, shop):
    """The database really refuses one conversion's INSERT in batch 2 (a trigger)."""
    account, campaign = shop["account"], shop["campaign"]
    convs = []
    for n in range(4):
        click = tracker.click(account, campaign, NOW - DAY + n)
        convs.append(tracker.conversion(account, campaign, NOW - DAY + n, click=click))
    refused = convs[2]
    store_rows(refused.conv_id, (1, 5, 0), (2, 6, 1))

    with RefuseTouchpointsOf(refused.conv_id):
        result = backfill(batch_size=2)

    assert set(result.failed) == {refused.conv_id}
    assert "refused by test trigger" in result.failed[refused.conv_id]
    assert len(stored(convs[0].conv_id)) == 1 and len(stored(convs[1].conv_id)) == 2  # batch 1
    assert stored(refused.conv_id) == [(1, 5, 0), (2, 6, 1)]  # its old rows are untouched
    assert len(stored(convs[3].conv_id)) == 4  # the rest of batch 2 was still written
    assert result.written == 3


def test_hydrate_campaign_scope_backfills_only_that_campaign(tracker, shop):
    account = shop["account"]
    click = tracker.click(account, shop["campaign"], NOW - DAY)
    in_scope = tracker.conversion(account, shop["campaign"], NOW - DAY, click=click)
    other = tracker.conversion(account, shop["sibling"], NOW - DAY, click_id=31, click_time=NOW - DAY)
    real_now = int(time.time())
    for conv in (in_scope, other):  # hydration covers the last lookback window before now
        type(conv).objects.filter(conv_id=conv.conv_id).update(conv_time=real_now - 60)

    result = services.hydrate_scope(
        account_id=account.user_id, scope_type="campaign", scope_id=shop["campaign"].aff_campaign_id, actor=ACTOR
    )

    assert result.written == 1
    assert len(stored(in_scope.conv_id)) == 1
    assert stored(other.conv_id) == []
    assert audits("journey_backfill")[0][1]["source"] == "hydrate campaign"


def test_rebuild_journeys_reports_unknown_and_deleted_conversions(tracker, shop):
    account, campaign = shop["account"], shop["campaign"]
    click = tracker.click(account, campaign, NOW - DAY)
    good = tracker.conversion(account, campaign, NOW - DAY, click=click)
    deleted = tracker.conversion(account, campaign, NOW - DAY, click=click, deleted=1, transaction_id="d")

    result = services.rebuild_journeys([good.conv_id, deleted.conv_id, 987_654], actor=ACTOR)

    assert result.written == 1
    assert result.failed == {deleted.conv_id: "conversion is soft-deleted", 987_654: "no such conversion"}
    assert stored(good.conv_id) == [(click.click_id, click.click_time, 0)]
    assert audits("journey_backfill")[0][1]["conv_ids"] == [good.conv_id]


def test_capture_first_run_starts_at_the_highest_conv_id(tracker, shop):
    account, campaign = shop["account"], shop["campaign"]
    click = tracker.click(account, campaign, NOW - DAY)
    old = tracker.conversion(account, campaign, NOW - DAY, click=click)

    first = services.capture_new_conversions(actor=ACTOR)

    assert first.first_run and first.watermark_after == old.conv_id
    assert stored(old.conv_id) == []  # history is the backfill's job
    new = tracker.conversion(account, campaign, NOW - DAY, click=click, transaction_id="n")
    deleted = tracker.conversion(account, campaign, NOW - DAY, click=click, transaction_id="x", deleted=1)

    second = services.capture_new_conversions(actor=ACTOR)

    assert not second.first_run
    assert (second.written, second.skipped_deleted) == (1, 1)
    assert (second.watermark_before, second.watermark_after) == (old.conv_id, deleted.conv_id)
    assert CaptureWatermark.objects.get().last_conv_id == deleted.conv_id
    assert len(stored(new.conv_id)) == 1
    assert services.capture_new_conversions(actor=ACTOR).conversions == 0


@pytest.mark.django_db(transaction=True)
def test_capture_watermark_stops_before_a_failed_conversion(tracker, shop):
    account, campaign = shop["account"], shop["campaign"]
    click = tracker.click(account, campaign, NOW - DAY)
    services.capture_new_conversions(actor=ACTOR)
    convs = [tracker.conversion(account, campaign, NOW - DAY, click=click, transaction_id=str(n)) for n in range(3)]

    with RefuseTouchpointsOf(convs[1].conv_id):
        result = services.capture_new_conversions(actor=ACTOR)

    assert set(result.failed) == {convs[1].conv_id}
    assert result.watermark_after == convs[0].conv_id
    assert CaptureWatermark.objects.get().last_conv_id == convs[0].conv_id
    retry = services.capture_new_conversions(actor=ACTOR)
    assert retry.failed == {} and retry.watermark_after == convs[2].conv_id
    assert len(stored(convs[1].conv_id)) == 1


def test_visitor_mode_journeys(tracker, shop, settings):
    settings.ATTRIBUTION_JOURNEY_MATCH = "visitor"
    account, campaign = shop["account"], shop["campaign"]
    mine = tracker.click(account, campaign, NOW - 2 * DAY, ip_id=500)
    tracker.click(account, campaign, NOW - 2 * DAY + 5, ip_id=600)  # another visitor
    converting = tracker.click(account, campaign, NOW - DAY, ip_id=500)
    conv = tracker.conversion(account, campaign, NOW - DAY, click=converting)
    no_advance = tracker.click(account, campaign, NOW - DAY + 9)  # no 202_clicks_advance row
    unknown = tracker.conversion(account, campaign, NOW - DAY + 9, click=no_advance, transaction_id="u")

    backfill()

    assert [touch[0] for touch in stored(conv.conv_id)] == [mine.click_id, converting.click_id]
    assert stored(unknown.conv_id) == [(no_advance.click_id, no_advance.click_time, 0)]
