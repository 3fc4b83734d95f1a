"""Purge (SPEC §4.4) and verification (SPEC §4.3) against the real database."""
import pytest
from django.core.cache import cache

from journeys import services
from journeys.cache import get_journey, journey_cache_key, journey_cache_version
from tests.journeys.journey_helpers import DAY, NOW, audits, setting, store_rows, stored
from tracker.arguments import InvalidArgument
from tracker.audit import Actor

ACTOR = Actor.cli("tester")
pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(tracker, settings):
    settings.ATTRIBUTION_LOOKBACK_SECONDS = 10 * DAY
    settings.ATTRIBUTION_MAX_TOUCHES = 25
    settings.ATTRIBUTION_JOURNEY_MATCH = "campaign"
    account = tracker.account("shop")
    advertiser = tracker.advertiser(account)
    other_advertiser = tracker.advertiser(account, name="Other network")
    return {
        "account": account,
        "campaign": tracker.campaign(account, advertiser),
        "sibling": tracker.campaign(account, advertiser),
        "elsewhere": tracker.campaign(account, other_advertiser),
        "advertiser": advertiser,
    }


def conv_with_rows(tracker, shop, campaign_key="campaign", rows=2, conv_time=NOW - DAY, **columns):
    conv = tracker.conversion(shop["account"], shop[campaign_key], conv_time, click_id=1, click_time=conv_time - rows,
                              transaction_id=str(tracker_counter()), **columns)
    store_rows(conv.conv_id, *[(n + 1, conv_time - rows + n, n) for n in range(rows)])
    return conv


_counter = iter(range(1_000_000))


def tracker_counter():
    return next(_counter)


def test_purge_by_conv_id_reports_rows_not_conversions_and_evicts(tracker, shop, django_capture_on_commit_callbacks):
    three = conv_with_rows(tracker, shop, rows=3)
    two = conv_with_rows(tracker, shop, rows=2)
    kept = conv_with_rows(tracker, shop, rows=1)
    get_journey(three.conv_id)

    with django_capture_on_commit_callbacks(execute=True):
        result = services.purge_journeys(conv_ids=[three.conv_id, two.conv_id, 424_242], actor=ACTOR)

    assert (result.rows_deleted, result.conversions) == (5, 2)
    assert stored(three.conv_id) == [] and stored(two.conv_id) == []
    assert len(stored(kept.conv_id)) == 1
    assert cache.get(journey_cache_key(three.conv_id), version=journey_cache_version()) is None
    [(account_id, metadata)] = audits("journey_purge")
    assert account_id == shop["account"].user_id
    assert (metadata["rows_deleted"], metadata["conversions"]) == (5, 2)
    assert metadata["conv_ids"] == [three.conv_id, two.conv_id]


def test_dry_run_counts_and_deletes_nothing(tracker, shop):
    conv = conv_with_rows(tracker, shop, rows=3)

    result = services.purge_journeys(conv_ids=[conv.conv_id], dry_run=True, actor=ACTOR)

    assert (result.rows_deleted, result.conversions, result.dry_run) == (3, 1, True)
    assert len(stored(conv.conv_id)) == 3
    assert audits("journey_purge") == []


def test_purge_by_user_window_and_campaign(tracker, shop):
    in_window = conv_with_rows(tracker, shop, rows=2, conv_time=NOW - DAY)
    too_early = conv_with_rows(tracker, shop, rows=2, conv_time=NOW - 5 * DAY)
    other_campaign = conv_with_rows(tracker, shop, "sibling", rows=2, conv_time=NOW - DAY)

    result = services.purge_journeys(
        user_ids=[shop["account"].user_id], start=NOW - 2 * DAY, end=NOW,
        campaign_id=shop["campaign"].aff_campaign_id, actor=ACTOR,
    )

    assert (result.rows_deleted, result.conversions) == (2, 1)
    assert stored(in_window.conv_id) == []
    assert len(stored(too_early.conv_id)) == 2 and len(stored(other_campaign.conv_id)) == 2


def test_disabled_scopes_honour_precedence(tracker, shop):
    account = shop["account"]
    setting(account, "global", None, False)
    setting(account, "advertiser", shop["advertiser"].aff_network_id, True, model_id=2)
    setting(account, "campaign", shop["sibling"].aff_campaign_id, False, model_id=3)
    enabled_by_advertiser = conv_with_rows(tracker, shop, "campaign", rows=2)
    disabled_by_campaign = conv_with_rows(tracker, shop, "sibling", rows=3)
    disabled_by_global = conv_with_rows(tracker, shop, "elsewhere", rows=1)

    result = services.purge_journeys(disabled_scopes=True, actor=ACTOR)

    assert (result.rows_deleted, result.conversions) == (4, 2)
    assert len(stored(enabled_by_advertiser.conv_id)) == 2
    assert stored(disabled_by_campaign.conv_id) == [] and stored(disabled_by_global.conv_id) == []


def test_orphans_purge_soft_deleted_and_missing_conversions(tracker, shop):
    live = conv_with_rows(tracker, shop, rows=2)
    soft_deleted = conv_with_rows(tracker, shop, rows=3, deleted=1)
    store_rows(777_777, (1, 10, 0))

    result = services.purge_journeys(orphans=True, actor=ACTOR)

    assert (result.rows_deleted, result.conversions) == (4, 2)
    assert len(stored(live.conv_id)) == 2 and stored(soft_deleted.conv_id) == [] and stored(777_777) == []
    assert sorted(account_id for account_id, _ in audits("journey_purge")) == [0, shop["account"].user_id]


@pytest.mark.parametrize("selection", [
    {},
    {"conv_ids": [1], "orphans": True},
    {"disabled_scopes": True, "start": 5},
    {"conv_ids": [1], "campaign_id": 3},
])
def test_purge_needs_exactly_one_selection(selection):
    with pytest.raises(InvalidArgument):
        services.purge_journeys(actor=ACTOR, **selection)


def test_verify_accepts_freshly_built_journeys(tracker, shop):
    click = tracker.click(shop["account"], shop["campaign"], NOW - 2 * DAY)
    tracker.click(shop["account"], shop["campaign"], NOW - 3 * DAY)
    tracker.conversion(shop["account"], shop["campaign"], NOW - DAY, click=click)
    services.backfill_journeys(start=0, end=NOW, actor=ACTOR)

    report = services.verify_journeys()

    assert (report.checked, report.with_journey, report.failing_conv_ids, report.review_conv_ids) == (1, 1, [], [])


def tampered(tracker, shop, *touches, conv_time=NOW - DAY, click_id=2, click_time=None, **columns):
    """A conversion whose only click row is its converting click, with the given stored rows."""
    click_time = NOW - 2 * DAY if click_time is None else click_time
    tracker.click(shop["account"], shop["campaign"], click_time, click_id=click_id)
    conv = tracker.conversion(shop["account"], shop["campaign"], conv_time, click_id=click_id,
                              click_time=click_time, **columns)
    store_rows(conv.conv_id, *touches)
    return conv


@pytest.mark.parametrize("touches, expected", [
    (((2, NOW - 2 * DAY, 1),), "positions are [1], expected 0..0"),
    (((9, NOW - 2 * DAY, 0),), "converting click 2 appears 0 time(s)"),
    (((2, NOW - 2 * DAY, 0), (2, NOW - 2 * DAY, 1)), "converting click 2 appears 2 time(s)"),
    (((2, NOW - 2 * DAY, 0), (1, NOW - 3 * DAY, 1)), "touches out of order at position 1"),
    (((2, NOW - 2 * DAY, 0), (3, NOW, 1)), "later than the conversion"),
    (((1, NOW - 3 * DAY, 0), (2, NOW - 2 * DAY, 1)), "stale: stored journey has 2 touch(es), a fresh build has 1"),
])
def test_verify_detects_each_error_kind(tracker, shop, touches, expected):
    conv = tampered(tracker, shop, *touches)

    report = services.verify_journeys()

    assert report.failing_conv_ids == [conv.conv_id]
    assert any(expected in error for error in report.results[conv.conv_id].errors), report.results


def test_verify_detects_orphans(tracker, shop):
    deleted = tampered(tracker, shop, (2, NOW - 2 * DAY, 0), deleted=1)
    store_rows(555_555, (1, 10, 0))

    report = services.verify_journeys()

    assert report.failing_conv_ids == [deleted.conv_id, 555_555]
    assert report.results[555_555].errors == ["orphan: touchpoints of a missing conversion"]
    assert report.results[deleted.conv_id].errors == ["orphan: touchpoints of a soft-deleted conversion"]
    by_id = services.verify_journeys(conv_ids=[555_555])
    assert by_id.failing_conv_ids == [555_555]


def test_verify_lists_review_warnings_without_failing(tracker, shop):
    # The converting click is 12 days old: outside the 10-day window, added back by the rules.
    conv = tampered(tracker, shop, (2, NOW - 13 * DAY, 0), click_time=NOW - 13 * DAY)

    report = services.verify_journeys()

    assert report.failing_conv_ids == []
    assert report.review_conv_ids == [conv.conv_id]
    assert "before the lookback window" in report.results[conv.conv_id].warnings[0]


def test_verify_narrowed_by_window_and_user(tracker, shop):
    conv = tampered(tracker, shop, (9, NOW - 2 * DAY, 0))
    assert services.verify_journeys(start=NOW, end=NOW + 1).checked == 0
    assert services.verify_journeys(user_ids=[shop["account"].user_id]).failing_conv_ids == [conv.conv_id]
