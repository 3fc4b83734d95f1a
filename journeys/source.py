"""THE way stored journeys are read (SPEC §4.1 step 2, §5.1, §7): one module turns a batch of
conversions into the journeys every consumer credits or counts — the rebuild, the comparison
computed on the fly, the journey page, the API and the journey analysis reports.

Per batch: the stored touches (one IN query), the facts of every click involved (one IN query,
duplicate click rows resolved to each column's smallest value), the converting click added when
the stored journey lacks it, touches sorted by time then click id. A conversion without stored
rows is the one-touch journey of its converting click. A click missing from `202_clicks` is a
touch with campaign, landing page and account 0 (and cost 0 when it is the converting click).
"""
from dataclasses import dataclass
from decimal import Decimal

from journeys import cache, store
from journeys.rules import Journey, Touch, journey_from_stored

DEFAULT_BATCH_SIZE = 1000
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class JourneyRecord:
    """One conversion with the journey it is credited on."""

    conversion: store.ConversionRow
    journey: Journey
    stored_touch_count: int  # rows in 202_conversion_touchpoints (0: the one-touch fallback)
    converting_click_added: bool  # stored rows exist but lack the converting click
    cpc: Decimal  # the converting click's click_cpc: the conversion's cost (0 when its row is missing)
    missing_click_ids: frozenset  # touches whose 202_clicks row is missing (their facts are 0)

    @property
    def converting_click_found(self):
        return self.conversion.click_id not in self.missing_click_ids

    @property
    def advertiser_id(self):
        """The campaign's aff_network_id, 0 when the campaign row is missing."""
        return self.conversion.advertiser_id or 0


def read_journeys(conversions, *, use_cache=False, using="default"):
    """A JourneyRecord per conversion of one bounded batch, in the batch's order.

    `use_cache` reads stored touches through the journey cache (pages and the API, which show
    one conversion at a time); bulk readers go to the database in one query per batch.
    """
    conv_ids = [conversion.conv_id for conversion in conversions]
    if use_cache:
        stored = {conv_id: cache.get_journey(conv_id) for conv_id in conv_ids}
    else:
        stored = store.stored_journeys(conv_ids, using=using)
    click_ids = {conversion.click_id for conversion in conversions}
    for pairs in stored.values():
        click_ids.update(click_id for click_id, _ in pairs)
    facts = store.click_facts(click_ids, using=using)
    records = []
    for conversion in conversions:
        pairs = stored.get(conversion.conv_id, ())
        converting = facts.get(conversion.click_id)
        journey = journey_from_stored(
            conv_id=conversion.conv_id,
            conv_time=conversion.conv_time,
            converting_touch=_touch(conversion.click_id, conversion.click_time, converting),
            stored_touches=[_touch(click_id, click_time, facts.get(click_id)) for click_id, click_time in pairs],
        )
        records.append(JourneyRecord(
            conversion=conversion,
            journey=journey,
            stored_touch_count=len(pairs),
            converting_click_added=bool(pairs) and all(click_id != conversion.click_id for click_id, _ in pairs),
            cpc=converting.cpc if converting else ZERO,
            missing_click_ids=frozenset(
                touch.click_id for touch in journey.touches if touch.click_id not in facts
            ),
        ))
    return records


def _touch(click_id, click_time, facts):
    if facts is None:
        return Touch(click_id, click_time)
    return Touch(click_id, click_time, facts.landing_page_id, facts.ppc_account_id, facts.campaign_id)


def journey_batches(*, start, end, account_ids=None, campaign_ids=None, min_conv_id=None,
                    max_conv_id=None, batch_size=DEFAULT_BATCH_SIZE, using="default"):
    """Live conversions (deleted = 0) with conv_time in [start, end] (inclusive), as lists of
    JourneyRecord, keyset on conv_id: memory is bounded by the batch, never by the window."""
    for batch in store.conversion_batches(
        batch_size=batch_size, after_conv_id=(min_conv_id or 1) - 1, max_conv_id=max_conv_id,
        start=start, end=end, user_ids=account_ids, campaign_ids=campaign_ids, live_only=True,
        using=using,
    ):
        yield read_journeys(batch, using=using)


def journey_of(conv_id, using="default"):
    """The JourneyRecord of one conversion (any state), its stored touches read through the
    journey cache; None when the conversion does not exist."""
    batch = store.conversion_batch(after_conv_id=conv_id - 1, limit=1, conv_ids=[conv_id], using=using)
    return read_journeys(batch, use_cache=True, using=using)[0] if batch else None
