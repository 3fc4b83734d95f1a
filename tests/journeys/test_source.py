"""journeys.source, the one journey reader (SPEC §4.1 step 2, §5.1): stored touches, click facts
with the smallest-value rule for duplicate click rows, the converting click added, keyset batches."""
from decimal import Decimal

import pytest

from journeys import source, store
from journeys.rules import Touch
from tests.journeys.journey_helpers import NOW, store_rows

pytestmark = pytest.mark.django_db


def test_journey_batches_walk_live_conversions_by_conv_id_within_bounds(tracker):
    account = tracker.account()
    campaign = tracker.campaign(account)
    click = tracker.click(account, campaign, NOW - 100)
    convs = [tracker.conversion(account, campaign, NOW + n, click=click, transaction_id=str(n)) for n in range(4)]
    tracker.conversion(account, campaign, NOW + 1, click=click, transaction_id="gone", deleted=1)
    tracker.conversion(account, campaign, NOW + 10, click=click, transaction_id="late")

    batches = list(source.journey_batches(start=NOW, end=NOW + 3, account_ids=[account.user_id], batch_size=3))

    assert [[r.conversion.conv_id for r in batch] for batch in batches] == [
        [c.conv_id for c in convs[:3]], [convs[3].conv_id]
    ]
    bounded = source.journey_batches(start=NOW, end=NOW + 3, min_conv_id=convs[1].conv_id,
                                     max_conv_id=convs[2].conv_id)
    assert [r.conversion.conv_id for batch in bounded for r in batch] == [convs[1].conv_id, convs[2].conv_id]


def test_duplicate_click_rows_resolve_to_each_columns_smallest_value(tracker):
    account = tracker.account()
    campaign = tracker.campaign(account)
    click = tracker.click(account, campaign, NOW - 100, cpc="0.90000", landing_page_id=9, ppc_account_id=4)
    tracker.click(account, campaign, NOW - 100, click_id=click.click_id, cpc="0.50000", landing_page_id=3,
                  ppc_account_id=8)
    conversion = tracker.conversion(account, campaign, NOW, click=click, payout="12.34567")

    (record,) = source.read_journeys(store.conversion_batch(after_conv_id=0, limit=10))

    assert record.journey.touches == (Touch(click.click_id, NOW - 100, 3, 4, campaign.aff_campaign_id),)
    assert record.cpc == Decimal("0.50000")
    assert record.conversion.revenue == Decimal("12.34567")
    assert (record.stored_touch_count, record.converting_click_added, record.missing_click_ids) == (0, False, frozenset())
    assert record.conversion.conv_id == conversion.conv_id


def test_stored_journey_gets_its_converting_click_and_missing_clicks_are_zero(tracker):
    account = tracker.account()
    campaign = tracker.campaign(account)
    early = tracker.click(account, campaign, NOW - 300, landing_page_id=5, ppc_account_id=6)
    conversion = tracker.conversion(account, campaign, NOW, click_id=777, click_time=NOW - 200)  # no click row
    store_rows(conversion.conv_id, (early.click_id, early.click_time, 0), (888, NOW - 250, 1))  # 888: no row

    (record,) = source.read_journeys(store.conversion_batch(after_conv_id=0, limit=10))

    assert record.journey.touches == (
        Touch(early.click_id, NOW - 300, 5, 6, campaign.aff_campaign_id), Touch(888, NOW - 250), Touch(777, NOW - 200),
    )
    assert record.journey.converting_click_id == 777
    assert (record.stored_touch_count, record.converting_click_added) == (2, True)
    assert record.missing_click_ids == frozenset({777, 888}) and not record.converting_click_found
    assert record.cpc == Decimal(0)
    assert source.journey_of(conversion.conv_id).journey == record.journey
    assert source.journey_of(conversion.conv_id + 1) is None
