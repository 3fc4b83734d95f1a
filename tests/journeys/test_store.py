"""The journeys data-access layer against the real database."""
import random

import pytest
from django.db import connection

from journeys import store
from journeys.building import MATCH_CAMPAIGN, MATCH_VISITOR, BuiltJourney, build_journey
from journeys.models import Click, ClickAdvance
from tests.journeys.journey_helpers import DAY, NOW, store_rows, stored
from tracker import schema
from tracker.schema_check import key_columns

pytestmark = pytest.mark.django_db


def conversion_rows(**filters):
    return store.conversion_batch(after_conv_id=0, limit=1000, **filters)


def spec_journey(conversion, rows, *, lookback_seconds, max_touches, ip_id=None):
    """SPEC §4.1 written as the SQL it means: candidate rows (account, campaign, window, visitor)
    grouped by click_id with MIN(click_time), the max_touches most recent, the converting click
    added, ascending. `rows`: (click_id, click_time, user_id, campaign_id, ip_id) of 202_clicks."""
    start = max(0, conversion.conv_time - lookback_seconds)
    earliest = {}
    for click_id, click_time, user_id, campaign_id, row_ip in rows:
        if (user_id, campaign_id) == (conversion.user_id, conversion.campaign_id) \
                and start <= click_time <= conversion.conv_time and ip_id in (None, row_ip):
            earliest[click_id] = min(click_time, earliest.get(click_id, click_time))
    kept = sorted(((t, c) for c, t in earliest.items()), reverse=True)[:max_touches]
    if conversion.click_id not in {c for _, c in kept}:
        kept.append((conversion.click_time, conversion.click_id))
    return [(c, t) for t, c in sorted(kept)]


def write_clicks(rows):
    """Insert (click_id, click_time, user_id, campaign_id, ip_id) rows, duplicates included."""
    Click.objects.bulk_create(
        Click(click_id=click_id, click_time=click_time, user_id=user_id, aff_campaign_id=campaign_id,
              landing_page_id=0, ppc_account_id=0, click_cpc=0)
        for click_id, click_time, user_id, campaign_id, _ in rows
    )
    ClickAdvance.objects.bulk_create(
        ClickAdvance(click_id=click_id, ip_id=ip_id) for click_id, ip_id in {(r[0], r[4]) for r in rows}
    )


def random_tracker(tracker, seed):
    """Two accounts: a busy campaign, sparse ones, and clicks with identical and differing
    duplicate rows; conversions on some of the clicks. Returns (click rows, conversions)."""
    rng = random.Random(seed)
    accounts = [tracker.account(), tracker.account(name="other")]
    campaigns = [(account, tracker.campaign(account)) for account in accounts for _ in range(3)]
    rows, next_id = [], 50_000
    for n, (account, campaign) in enumerate(campaigns):
        for _ in range(120 if n in (0, 3) else 12):
            next_id += 1
            row = (next_id, NOW - rng.randrange(40 * 100), account.user_id, campaign.aff_campaign_id,
                   rng.choice([1, 2]))
            rows.append(row)
            if rng.random() < 0.15:  # a replayed row, identical or at another time
                rows.append(row if rng.random() < 0.5 else (*row[:1], row[1] - rng.randrange(1, 2_000), *row[2:]))
    write_clicks(rows)
    conversions = []
    for n in range(30):
        click_id, click_time, user_id, campaign_id, _ = rng.choice(rows)
        account, campaign = next(pair for pair in campaigns if pair[1].aff_campaign_id == campaign_id)
        conversions.append(tracker.conversion(account, campaign, click_time + rng.randrange(0, 300),
                                              click_id=click_id, click_time=click_time, transaction_id=str(n)))
    return rows, conversions


OPTIONS = {"lookback_seconds": 2_500, "max_touches": 4}


@pytest.mark.parametrize("slice_rows", [3, 50_000])
@pytest.mark.parametrize("match", [MATCH_CAMPAIGN, MATCH_VISITOR])
@pytest.mark.parametrize("seed", range(3))
def test_candidate_reads_give_every_journey_spec_4_1_gives(tracker, monkeypatch, seed, match, slice_rows):
    """Journeys from the batched newest-first read equal SPEC §4.1 computed over every click row:
    slices as small as 3 rows (many slices, whole campaigns read after the batch's span) or one
    slice, ties, duplicate rows that are identical or older than the cap reached."""
    monkeypatch.setattr(store, "CANDIDATE_SLICE_ROWS", slice_rows)
    rows, _ = random_tracker(tracker, seed)
    conversions = conversion_rows()
    visitors = None
    if match == MATCH_VISITOR:
        ips = store.visitors_of_clicks([c.click_id for c in conversions])
        visitors = {c.conv_id: ips.get(c.click_id) for c in conversions}

    candidates = store.collect_candidates(conversions, visitors=visitors, **OPTIONS)

    for conversion in conversions:
        ip_id = None if visitors is None else visitors[conversion.conv_id]
        built = build_journey(conversion, candidates[conversion.conv_id], match=match, visitor_ip_id=ip_id, **OPTIONS)
        assert built.pairs() == spec_journey(conversion, rows, ip_id=ip_id, **OPTIONS), conversion.conv_id


def test_an_older_duplicate_row_beyond_the_cap_gives_the_click_its_earliest_time(tracker, monkeypatch):
    """Cap 2: the read takes clicks 7 and 8 first, but click 7 also has a row at NOW - 900, so
    it is one click at that time and click 9 is among the two most recent instead."""
    monkeypatch.setattr(store, "CANDIDATE_SLICE_ROWS", 1)
    account = tracker.account()
    campaign = tracker.campaign(account)
    user, campaign_id = account.user_id, campaign.aff_campaign_id
    write_clicks([(7, NOW - 100, user, campaign_id, 1), (8, NOW - 200, user, campaign_id, 1),
                  (9, NOW - 300, user, campaign_id, 1), (7, NOW - 900, user, campaign_id, 1),
                  (7, NOW - 5_000, user, campaign_id, 1)])  # outside the window: not a candidate
    tracker.conversion(account, campaign, NOW, click_id=8, click_time=NOW - 200)
    [conversion] = conversion_rows()

    candidates = store.collect_candidates([conversion], lookback_seconds=2_500, max_touches=2)

    journey = build_journey(conversion, candidates[conversion.conv_id], lookback_seconds=2_500, max_touches=2)
    assert journey.pairs() == [(9, NOW - 300), (8, NOW - 200)]


def test_identical_duplicate_rows_are_one_touch(tracker):
    account = tracker.account()
    campaign = tracker.campaign(account)
    row = (7, NOW - 100, account.user_id, campaign.aff_campaign_id, 1)
    write_clicks([row, row, (8, NOW - 50, account.user_id, campaign.aff_campaign_id, 1)])
    tracker.conversion(account, campaign, NOW, click_id=8, click_time=NOW - 50)
    [conversion] = conversion_rows()

    for max_touches, expected in ((1, [(8, NOW - 50)]), (2, [(7, NOW - 100), (8, NOW - 50)])):
        candidates = store.collect_candidates([conversion], lookback_seconds=2_500, max_touches=max_touches)
        journey = build_journey(conversion, candidates[conversion.conv_id], lookback_seconds=2_500,
                                max_touches=max_touches)
        assert journey.pairs() == expected


def test_sparse_campaigns_of_a_busy_account_are_read_whole_and_give_spec_journeys(tracker, monkeypatch):
    """After the batch's own span, a sparse campaign's journeys still reach back to the window
    start; the account's busy campaign makes walking the account's clicks dearer than reading
    the sparse campaigns' few clicks whole, duplicates included."""
    monkeypatch.setattr(store, "CANDIDATE_SLICE_ROWS", 10)
    account = tracker.account()
    busy, sparse = tracker.campaign(account), tracker.campaign(account, name="Sparse")
    user = account.user_id
    rows = [(100 + n, NOW - 2 * n, user, busy.aff_campaign_id, 1) for n in range(300)]
    rows += [(1, NOW - 2_000, user, sparse.aff_campaign_id, 1), (2, NOW - 1_500, user, sparse.aff_campaign_id, 1),
             (2, NOW - 2_400, user, sparse.aff_campaign_id, 1), (3, NOW - 20, user, sparse.aff_campaign_id, 1)]
    write_clicks(rows)
    tracker.conversion(account, sparse, NOW, click_id=3, click_time=NOW - 20)
    tracker.conversion(account, sparse, NOW - 10, click_id=1, click_time=NOW - 2_000, transaction_id="2")
    conversions = conversion_rows()

    candidates = store.collect_candidates(conversions, **OPTIONS)

    for conversion in conversions:
        built = build_journey(conversion, candidates[conversion.conv_id], **OPTIONS)
        assert built.pairs() == spec_journey(conversion, rows, **OPTIONS)
    assert built.pairs() == [(2, NOW - 2_400), (1, NOW - 2_000), (3, NOW - 20)]


@pytest.mark.django_db(transaction=True)
def test_candidate_reads_with_the_recommended_key_give_the_same_journeys(tracker, monkeypatch):
    monkeypatch.setattr(store, "CANDIDATE_SLICE_ROWS", 5)
    rows, _ = random_tracker(tracker, 11)
    conversions = conversion_rows()
    vendor = connection.vendor
    with connection.cursor() as cursor:
        cursor.execute(schema.add_key_statement(vendor, "202_clicks", schema.CAMPAIGN_TIME_KEY))
    try:
        assert schema.CAMPAIGN_TIME_KEY.name in key_columns("202_clicks")
        candidates = store.collect_candidates(conversions, **OPTIONS)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE `202_clicks` DROP KEY `attribution_campaign_time`" if vendor == "mysql"
                           else 'DROP INDEX "202_clicks__attribution_campaign_time"')
    for conversion in conversions:
        built = build_journey(conversion, candidates[conversion.conv_id], **OPTIONS)
        assert built.pairs() == spec_journey(conversion, rows, **OPTIONS)


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
    journey = BuiltJourney(1, ((3, 30, 0), (4, 40, 1)), frozenset())

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
