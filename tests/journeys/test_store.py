"""The journeys data-access layer against the real database."""
import random

import pytest

from journeys import store
from journeys.building import BuiltJourney, Candidate, JourneyTouchSpec, build_journey
from tests.journeys.journey_helpers import DAY, NOW, store_rows, stored

pytestmark = pytest.mark.django_db


def conversion_rows(**filters):
    return store.conversion_batch(after_conv_id=0, limit=1000, **filters)


def test_candidates_read_in_small_slices_give_the_same_journeys_as_all_clicks(tracker, monkeypatch):
    """Slices of 3 rows with many tied click times and two campaigns read together: slice
    boundaries and campaigns leaving the read must not change any journey."""
    monkeypatch.setattr(store, "CANDIDATE_CHUNK_ROWS", 3)
    rng = random.Random(7)
    account = tracker.account()
    campaigns = [tracker.campaign(account), tracker.campaign(account)]
    clicks = {campaign.aff_campaign_id: [] for campaign in campaigns}
    for n in range(80):
        campaign = campaigns[n % 2] if n < 70 else campaigns[0]
        click_time = NOW - rng.choice([1, 2, 3, 5, 8]) * 100  # few distinct seconds: many ties
        click = tracker.click(account, campaign, click_time, click_id=10_000 + n)
        clicks[campaign.aff_campaign_id].append(Candidate(click.click_id, click.click_time))
    tracker.click(account, campaigns[0], NOW - 200, click_id=10_002)  # duplicate click row
    clicks[campaigns[0].aff_campaign_id].append(Candidate(10_002, NOW - 200))
    for n in range(8):
        campaign = campaigns[n % 2]
        click = rng.choice(clicks[campaign.aff_campaign_id])
        tracker.conversion(account, campaign, NOW - rng.choice([0, 150, 250]), click_id=click.click_id,
                           click_time=click.click_time, transaction_id=str(n))
    conversions = conversion_rows()

    candidates = store.collect_candidates(conversions, lookback_seconds=650, max_touches=4)

    options = {"lookback_seconds": 650, "max_touches": 4}
    for conversion in conversions:
        assert build_journey(conversion, candidates[conversion.conv_id], **options) == build_journey(
            conversion, clicks[conversion.campaign_id], **options
        )


def test_conversion_batches_are_keyset_pages_with_account_and_campaign_state(tracker):
    account = tracker.account()
    campaign = tracker.campaign(account)
    convs = [tracker.conversion(account, campaign, NOW, click_id=n, click_time=NOW) for n in range(1, 6)]

    first = store.conversion_batch(after_conv_id=0, limit=2)
    rest = store.conversion_batch(after_conv_id=first[-1].conv_id, limit=10)

    assert [c.conv_id for c in first + rest] == [c.conv_id for c in convs]
    assert first[0].user_deleted == 0
    assert first[0].advertiser_id == campaign.aff_network_id
    assert store.conversion_batch(after_conv_id=0, limit=10, user_ids=[]) == []


def test_replace_journeys_deletes_old_rows_and_inserts_the_new_ones(tracker):
    store_rows(1, (7, 70, 0), (8, 80, 1), (9, 90, 2))
    store_rows(2, (5, 50, 0))
    journey = BuiltJourney(1, (JourneyTouchSpec(3, 30, 0), JourneyTouchSpec(4, 40, 1)), frozenset())

    rows = store.replace_journeys([journey], created_at=NOW)

    assert rows == 2
    assert stored(1) == [(3, 30, 0), (4, 40, 1)]
    assert stored(2) == [(5, 50, 0)]


def test_orphans_are_soft_deleted_or_missing_conversions(tracker):
    account = tracker.account()
    campaign = tracker.campaign(account)
    live = tracker.conversion(account, campaign, NOW, click_id=1, click_time=NOW)
    deleted = tracker.conversion(account, campaign, NOW, click_id=2, click_time=NOW, deleted=1)
    for conv_id in (live.conv_id, deleted.conv_id, 888_888):
        store_rows(conv_id, (1, NOW - DAY, 0))

    orphans, last = store.orphan_batch(after_conv_id=0, limit=10)

    assert [(o.conv_id, o.user_id) for o in orphans] == [(deleted.conv_id, account.user_id), (888_888, None)]
    assert last == 888_888
    narrowed, _ = store.orphan_batch(after_conv_id=0, limit=10, user_ids=[account.user_id])
    assert [o.conv_id for o in narrowed] == [deleted.conv_id]
    assert store.orphan_batch(after_conv_id=888_888, limit=10) == ([], None)


def test_review_flags_is_the_one_needs_review_query(tracker):
    """SPEC §4.3: a touch before the lookback window, more stored touches than the cap, and (in
    visitor mode) a live conversion whose converting click has no 202_clicks_advance row."""
    account = tracker.account()
    campaign = tracker.campaign(account)
    clicks = [tracker.click(account, campaign, NOW - offset) for offset in (3 * DAY, 2 * 3600, 3600, 60)]
    early = tracker.conversion(account, campaign, NOW, click=clicks[3], transaction_id="early")
    capped = tracker.conversion(account, campaign, NOW, click=clicks[3], transaction_id="capped")
    fine = tracker.conversion(account, campaign, NOW, click=clicks[3], transaction_id="fine")
    for conversion, touches in ((early, [clicks[0], clicks[3]]), (capped, clicks[1:]), (fine, clicks[2:])):
        store_rows(conversion.conv_id, *((c.click_id, c.click_time, n) for n, c in enumerate(touches)))
    options = {"lookback_seconds": DAY, "max_touches": 2}

    flags = store.review_flags(min_conv_id=0, visitor_match="campaign", **options)

    assert flags == {early.conv_id: {"outside_window"}, capped.conv_id: {"beyond_cap"}}
    assert store.review_flags(conv_ids=[fine.conv_id, capped.conv_id], visitor_match="campaign",
                              **options) == {capped.conv_id: {"beyond_cap"}}
    assert store.review_flags(min_conv_id=0, account_ids=[account.user_id + 1], visitor_match="campaign",
                              **options) == {}
    visitor = store.review_flags(conv_ids=[fine.conv_id], visitor_match="visitor", **options)
    assert visitor == {fine.conv_id: {"visitor_unknown"}}
