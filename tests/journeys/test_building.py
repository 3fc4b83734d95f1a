"""Pure journey rules (SPEC §4.1, §4.3): no database."""
import random
from collections import Counter
from types import SimpleNamespace

import pytest

from journeys.building import Candidate, CandidateCollector, build_journey
from journeys.rules import (
    FLAG_ADDED_CONVERTING_CLICK,
    FLAG_BEYOND_CAP,
    FLAG_OUTSIDE_WINDOW,
    FLAG_VISITOR_UNKNOWN,
    MultiTouchPolicy,
    SettingRow,
    check_stored_journey,
)

LOOKBACK = 1000
CONV_TIME = 10_000


def conversion(click_id=99, click_time=9_990, conv_time=CONV_TIME, conv_id=1):
    return SimpleNamespace(conv_id=conv_id, click_id=click_id, click_time=click_time, conv_time=conv_time)


def build(conv, candidates, max_touches=25, **options):
    return build_journey(conv, candidates, lookback_seconds=LOOKBACK, max_touches=max_touches, **options)


def test_touches_sorted_by_time_with_positions_and_converting_click_kept():
    journey = build(conversion(), [Candidate(99, 9_990), Candidate(5, 9_100), Candidate(7, 9_500)])
    assert journey.pairs() == [(5, 9_100), (7, 9_500), (99, 9_990)]
    assert [position for _, _, position in journey.touches] == [0, 1, 2]
    assert journey.flags == frozenset()


def test_cap_keeps_the_25_most_recent_distinct_clicks_and_the_26th_is_the_converting_click():
    # 30 clicks at 9_000..9_029; the converting click (id 1) is the oldest, so it falls off
    # the 25 most recent and is added back: 26 touches, flagged beyond the cap.
    candidates = [Candidate(click_id, 9_000 + click_id - 1) for click_id in range(1, 31)]
    journey = build(conversion(click_id=1, click_time=9_000), candidates)
    assert len(journey.touches) == 26
    assert journey.pairs()[0] == (1, 9_000)
    assert [click_id for click_id, _ in journey.pairs()[1:]] == list(range(6, 31))
    assert journey.flags == {FLAG_BEYOND_CAP, FLAG_ADDED_CONVERTING_CLICK}


def test_cap_of_25_with_the_converting_click_among_them_is_not_flagged():
    candidates = [Candidate(click_id, 9_000 + click_id) for click_id in range(1, 26)]
    journey = build(conversion(click_id=25, click_time=9_025), candidates)
    assert len(journey.touches) == 25
    assert journey.flags == frozenset()


def test_identical_click_times_are_ordered_and_capped_by_click_id():
    # Five clicks at the same second, cap 3: the highest click ids are the most recent.
    candidates = [Candidate(click_id, 9_500) for click_id in (14, 11, 15, 12, 13)]
    journey = build(conversion(click_id=15, click_time=9_500), candidates, max_touches=3)
    assert journey.pairs() == [(13, 9_500), (14, 9_500), (15, 9_500)]


def test_window_is_inclusive_at_both_edges_and_later_clicks_are_excluded():
    candidates = [
        Candidate(1, CONV_TIME - LOOKBACK - 1),  # one second too early
        Candidate(2, CONV_TIME - LOOKBACK),  # first second of the window
        Candidate(3, CONV_TIME),  # the conversion's own second
        Candidate(4, CONV_TIME + 1),  # after the conversion
    ]
    journey = build(conversion(click_id=3, click_time=CONV_TIME), candidates)
    assert journey.pairs() == [(2, CONV_TIME - LOOKBACK), (3, CONV_TIME)]


def test_window_start_never_goes_below_zero():
    journey = build(conversion(click_id=2, click_time=5, conv_time=10), [Candidate(1, 0), Candidate(2, 5)])
    assert journey.pairs() == [(1, 0), (2, 5)]


def test_duplicate_click_rows_count_once():
    candidates = [Candidate(7, 9_500), Candidate(7, 9_500), Candidate(8, 9_600), Candidate(8, 9_600)]
    journey = build(conversion(click_id=8, click_time=9_600), candidates, max_touches=2)
    assert journey.pairs() == [(7, 9_500), (8, 9_600)]


def test_missing_converting_click_row_is_added_from_the_conversion():
    journey = build(conversion(click_id=99, click_time=9_990), [Candidate(5, 9_100)])
    assert journey.pairs() == [(5, 9_100), (99, 9_990)]
    assert journey.flags == {FLAG_ADDED_CONVERTING_CLICK}


def test_converting_click_outside_the_window_is_flagged():
    journey = build(conversion(click_id=99, click_time=100), [Candidate(5, 9_100)])
    assert journey.pairs() == [(99, 100), (5, 9_100)]
    assert FLAG_OUTSIDE_WINDOW in journey.flags


def test_visitor_mode_keeps_only_the_converting_visitors_clicks():
    candidates = [Candidate(1, 9_100, 500), Candidate(2, 9_200, 600), Candidate(3, 9_300, 500)]
    journey = build(conversion(click_id=3, click_time=9_300), candidates, match="visitor", visitor_ip_id=500)
    assert journey.pairs() == [(1, 9_100), (3, 9_300)]
    assert journey.flags == frozenset()


def test_visitor_mode_with_unknown_visitor_is_the_converting_click_alone():
    candidates = [Candidate(1, 9_100, 500), Candidate(3, 9_300, 500)]
    journey = build(conversion(click_id=3, click_time=9_300), candidates, match="visitor", visitor_ip_id=None)
    assert journey.pairs() == [(3, 9_300)]
    assert FLAG_VISITOR_UNKNOWN in journey.flags


def test_differing_duplicate_rows_are_one_click_at_its_earliest_time():
    # Click 7 has a recent row and an older one: it is one click at 9_200, which also decides
    # its rank under the cap (8 at 9_500 and 9 at 9_300 are more recent).
    candidates = [Candidate(7, 9_800), Candidate(8, 9_500), Candidate(9, 9_300), Candidate(7, 9_200)]
    assert build(conversion(click_id=8, click_time=9_500), candidates).pairs() == [
        (7, 9_200), (9, 9_300), (8, 9_500),
    ]
    capped = build(conversion(click_id=8, click_time=9_500), candidates, max_touches=2)
    assert capped.pairs() == [(9, 9_300), (8, 9_500)]


def test_a_duplicate_row_outside_the_window_or_of_another_visitor_is_not_a_candidate():
    candidates = [Candidate(7, 9_800, 500), Candidate(7, 8_000, 500), Candidate(7, 9_100, 600)]
    journey = build(conversion(click_id=7, click_time=9_800), candidates, match="visitor", visitor_ip_id=500)
    assert journey.pairs() == [(7, 9_800)]
    assert build(conversion(click_id=7, click_time=9_800), candidates).pairs() == [(7, 9_100)]


def collect(conversions, clicks, max_touches, slice_bounds):
    """Feed a collector `clicks` newest first, cut into slices at `slice_bounds` (descending)."""
    collector = CandidateCollector(
        [(c.conv_id, c.conv_time) for c in conversions], lookback_seconds=LOOKBACK, max_touches=max_touches,
    )
    ordered = sorted(clicks, key=lambda c: (c.click_time, c.click_id), reverse=True)
    for low in [*slice_bounds, 0]:
        collector.feed([c for c in ordered if c.click_time >= low], low)
        ordered = [c for c in ordered if c.click_time < low]
    return collector


@pytest.mark.parametrize("max_touches", [1, 3, 25])
@pytest.mark.parametrize("seed", range(8))
def test_collector_keeps_what_every_journey_needs_and_names_the_conversions_it_cannot_be_sure_of(
    seed, max_touches
):
    """Fed in random slices, the collector's rows give each conversion the journey all rows give,
    unless the conversion was resolved by the cap and a kept click has rows the collector never
    saw (an older duplicate): then `capped()` lets the caller see it."""
    rng = random.Random(seed)
    clicks = [Candidate(rng.randint(1, 150), rng.randint(7_000, 12_000)) for _ in range(400)]
    rows_of = Counter(click.click_id for click in clicks)
    conversions = [
        conversion(conv_id=n, click_id=rng.randint(1, 150), click_time=rng.randint(8_000, 12_000),
                   conv_time=rng.randint(8_500, 12_000))
        for n in range(1, 40)
    ]
    bounds = sorted(rng.sample(range(7_000, 12_000), 6), reverse=True)
    collector = collect(conversions, clicks, max_touches, bounds)

    kept, capped = collector.candidates(), collector.capped()
    assert not collector.wants_more
    for conv in conversions:
        assert len({row.click_id for row in kept[conv.conv_id]}) <= max_touches
        unsure = any(rows_of[click_id] > seen for click_id, seen in capped.get(conv.conv_id, {}).items())
        if not unsure:
            assert build(conv, kept[conv.conv_id], max_touches) == build(conv, clicks, max_touches)


def test_collector_flags_a_capped_conversion_whose_kept_click_has_an_unread_older_row():
    # Cap 2: clicks 7 and 8 fill the journey before the read reaches 7's older row at 9_100.
    collector = collect([conversion()], [Candidate(7, 9_800), Candidate(8, 9_700), Candidate(7, 9_100)], 2,
                        slice_bounds=[9_500])
    assert [row.click_id for row in collector.candidates()[1]] == [7, 8]
    assert collector.capped() == {1: {7: 1, 8: 1}}


def test_collector_resolves_a_conversion_once_the_read_passes_its_window_start():
    collector = CandidateCollector([(1, 10_000), (2, 9_500)], lookback_seconds=LOOKBACK, max_touches=5)
    assert collector.feed([Candidate(9, 9_900), Candidate(8, 9_400)], 9_001) is True
    assert collector.feed([], 9_000) is True  # conversion 1's window starts at 9_000: complete
    assert [row.click_id for row in collector.candidates()[1]] == [9, 8]
    assert collector.feed([Candidate(7, 8_600)], 8_500) is False
    assert [row.click_id for row in collector.candidates()[2]] == [8, 7]
    assert collector.capped() == {}


def row(scope_type, scope_id, enabled, updated_at=100, setting_id=1):
    return SettingRow(scope_type, scope_id, enabled, updated_at, setting_id)


def test_precedence_campaign_over_advertiser_over_global():
    rows = [row("global", None, 0, setting_id=1), row("advertiser", 7, 1, setting_id=2),
            row("campaign", 3, 0, setting_id=3)]
    policy = MultiTouchPolicy(rows)
    assert policy.enabled(campaign_id=3, advertiser_id=7) is False  # campaign row decides
    assert policy.enabled(campaign_id=4, advertiser_id=7) is True  # advertiser row decides
    assert policy.enabled(campaign_id=4, advertiser_id=8) is False  # global row decides
    assert policy.enabled(campaign_id=4, advertiser_id=None) is False  # campaign row missing


def test_no_settings_rows_means_enabled():
    assert MultiTouchPolicy([]).enabled(campaign_id=1, advertiser_id=2) is True


def test_advertiser_disabled_beats_global_enabled():
    policy = MultiTouchPolicy([row("global", None, 1), row("advertiser", 7, 0, setting_id=2)])
    assert policy.enabled(campaign_id=1, advertiser_id=7) is False


def test_duplicate_global_rows_latest_updated_at_then_highest_setting_id_decides():
    later = MultiTouchPolicy([row("global", None, 1, updated_at=200, setting_id=1),
                              row("global", None, 0, updated_at=100, setting_id=2)])
    assert later.enabled(campaign_id=1, advertiser_id=2) is True
    tie = MultiTouchPolicy([row("global", None, 0, updated_at=100, setting_id=9),
                            row("global", None, 1, updated_at=100, setting_id=4)])
    assert tie.enabled(campaign_id=1, advertiser_id=2) is False
    assert tie.deciding_row(1, 2).setting_id == 9


def check(stored, conv=None, fresh=None):
    conv = conv or conversion(click_id=3, click_time=9_300)
    return check_stored_journey(conv, stored, fresh)


def test_check_accepts_a_correct_journey():
    conv = conversion(click_id=3, click_time=9_300)
    fresh = build(conv, [Candidate(1, 9_100), Candidate(3, 9_300)])
    assert check([(1, 9_100, 0), (3, 9_300, 1)], conv, fresh) == []


@pytest.mark.parametrize("stored, expected", [
    ([(1, 9_100, 0), (3, 9_300, 2)], "positions are [0, 2]"),
    ([(1, 9_100, 0), (2, 9_200, 1)], "converting click 3 appears 0 time(s)"),
    ([(1, 9_100, 0), (3, 9_300, 1), (3, 9_300, 2)], "converting click 3 appears 2 time(s)"),
    ([(3, 9_300, 0), (1, 9_100, 1)], "touches out of order at position 1"),
    ([(1, 9_100, 0), (3, 10_500, 1)], "later than the conversion"),
])
def test_check_reports_each_error_kind(stored, expected):
    errors = check(stored)
    assert any(expected in error for error in errors), errors


def test_check_reports_stale_journeys():
    conv = conversion(click_id=3, click_time=9_300)
    fresh = build(conv, [Candidate(1, 9_100), Candidate(2, 9_200), Candidate(3, 9_300)])
    assert check([(1, 9_100, 0), (3, 9_300, 1)], conv, fresh) == [
        "stale: stored journey has 2 touch(es), a fresh build has 3"
    ]
