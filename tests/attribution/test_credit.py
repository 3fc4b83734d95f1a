"""Credit maths of SPEC §5.1 against hand-computed values (attribution/credit, no database)."""
import math
import random

import pytest

from attribution.credit import MODEL_TYPES, credits_for, validate_config
from attribution.credit.markov import fit_removal_effects
from journeys.rules import Journey, Touch, channel_of, journey_from_stored

HOUR = 3600
CONV_TIME = 1_700_000_000
EIGHTY_TWENTY = {"first_touch_weight": 0.4, "last_touch_weight": 0.4}


def journey_of(*ages_hours, converting_index=-1, conv_time=CONV_TIME):
    """A journey whose touches were clicked the given hours before the conversion (oldest first)."""
    touches = tuple(
        Touch(click_id=100 + i, click_time=conv_time - round(age * HOUR))
        for i, age in enumerate(ages_hours)
    )
    return Journey(
        conv_id=1, conv_time=conv_time,
        converting_click_id=touches[converting_index].click_id, touches=touches,
    )


def credits(model_type, journey, config=None, removal_effects=None):
    return credits_for(model_type, validate_config(model_type, config), journey, removal_effects)


def test_journey_from_stored_dedupes_adds_converting_click_and_sorts():
    stored = [
        Touch(30, 500, landing_page_id=3), Touch(10, 100), Touch(30, 999), Touch(20, 500),
    ]
    journey = journey_from_stored(
        conv_id=7, conv_time=1000, converting_touch=Touch(40, 900, landing_page_id=8, ppc_account_id=9),
        stored_touches=stored,
    )
    assert journey.conv_id == 7 and journey.conv_time == 1000 and journey.converting_click_id == 40
    # Duplicate click 30 keeps its first row; the 500 tie is broken by click id (20 before 30).
    assert journey.touches == (
        Touch(10, 100), Touch(20, 500), Touch(30, 500, landing_page_id=3),
        Touch(40, 900, landing_page_id=8, ppc_account_id=9),
    )


def test_journey_from_stored_keeps_stored_converting_click():
    stored = [Touch(2, 50, ppc_account_id=5), Touch(1, 60)]
    journey = journey_from_stored(
        conv_id=1, conv_time=100, converting_touch=Touch(2, 50), stored_touches=iter(stored),
    )
    assert journey.touches == (Touch(2, 50, ppc_account_id=5), Touch(1, 60))


def test_no_stored_journey_is_the_one_touch_journey_of_the_converting_click():
    journey = journey_from_stored(
        conv_id=3, conv_time=100, converting_touch=Touch(9, 90), stored_touches=[],
    )
    assert journey.touches == (Touch(9, 90),)
    for model_type in MODEL_TYPES:
        assert credits(model_type, journey, _sample_config(model_type)) == (1.0,)


# --- rule types --------------------------------------------------------------------------------


def test_last_touch_credits_the_converting_click_even_when_it_is_not_the_latest():
    """Touches at 3 h, 2 h, 1 h before; the converting click is the middle one (a later click of
    the same campaign exists), so the middle touch gets 1.0 and the latest gets nothing."""
    journey = journey_of(3, 2, 1, converting_index=1)
    assert credits("last_touch", journey) == (0.0, 1.0, 0.0)


def test_last_touch_on_equal_click_times_follows_the_click_id_not_the_position():
    touches = (Touch(5, 100), Touch(6, 100))
    journey = Journey(conv_id=1, conv_time=100, converting_click_id=5, touches=touches)
    assert credits("last_touch", journey) == (1.0, 0.0)


def test_last_touch_refuses_a_journey_without_its_converting_click():
    """Journeys come from journey_from_stored; a hand-built one that breaks the invariant is a
    bug to surface, not a conversion to credit silently to some other click."""
    journey = Journey(conv_id=4, conv_time=100, converting_click_id=9, touches=(Touch(1, 50),))
    with pytest.raises(ValueError, match="journey of conversion 4 lacks its converting click 9"):
        credits("last_touch", journey)


def test_first_touch_credits_position_zero():
    assert credits("first_touch", journey_of(5, 4, 0)) == (1.0, 0.0, 0.0)


def test_linear_gives_one_nth_each():
    assert credits("linear", journey_of(4, 3, 2, 1)) == (0.25, 0.25, 0.25, 0.25)


def test_assisted_three_touches():
    """n = 3: the first two get 1/(n−1) = 1/2 each, the chronologically last gets nothing."""
    assert credits("assisted", journey_of(2, 1, 0)) == (0.5, 0.5, 0.0)


def test_assisted_two_touches_gives_everything_to_the_assist():
    assert credits("assisted", journey_of(1, 0)) == (1.0, 0.0)


# --- time decay --------------------------------------------------------------------------------


def test_time_decay_half_life_one_hour():
    """H = 1 h, ages 2 h, 1 h, 0 h: raw = 0.25, 0.5, 1 → Σ = 1.75 → 1/7, 2/7, 4/7."""
    result = credits("time_decay", journey_of(2, 1, 0), {"half_life_hours": 1})
    assert result == pytest.approx((1 / 7, 2 / 7, 4 / 7), abs=1e-12)


def test_time_decay_half_life_is_in_hours():
    """H = 24 h, ages 48 h and 0 h: raw = 0.25, 1 → 1/5, 4/5."""
    result = credits("time_decay", journey_of(48, 0), {"half_life_hours": 24})
    assert result == pytest.approx((0.2, 0.8), abs=1e-12)


def test_time_decay_clamps_ages_of_clicks_after_the_conversion_to_zero():
    """A click 1 h *after* the conversion has age 0, like the one at conversion time:
    ages 1 h, 0, 0 with H = 1 → raw 0.5, 1, 1 → 1/5, 2/5, 2/5."""
    journey = journey_of(1, 0, -1)
    result = credits("time_decay", journey, {"half_life_hours": 1})
    assert result == pytest.approx((0.2, 0.4, 0.4), abs=1e-12)


def test_time_decay_underflow_falls_back_to_equal_shares():
    """Ages 2000 h and 2001 h with H = 1: 0.5**2000 underflows to 0.0, so Σraw = 0 → 1/n each."""
    journey = journey_of(2001, 2000, conv_time=10 * CONV_TIME)
    assert 0.5 ** 2000 == 0.0
    assert credits("time_decay", journey, {"half_life_hours": 1}) == (0.5, 0.5)


def test_time_decay_partial_underflow_leaves_the_old_touch_without_credit():
    """Ages 2000 h and 0 h with H = 1: raw 0.0 and 1.0 → 0 (no row) and 1."""
    journey = journey_of(2000, 0, conv_time=10 * CONV_TIME)
    assert credits("time_decay", journey, {"half_life_hours": 1}) == (0.0, 1.0)


# --- position based ----------------------------------------------------------------------------


def test_position_based_three_touches():
    """f = l = 0.4: first 0.4, the one middle (1 − 0.8)/1 = 0.2, last 0.4."""
    assert credits("position_based", journey_of(2, 1, 0), EIGHTY_TWENTY) == pytest.approx(
        (0.4, 0.2, 0.4), abs=1e-12
    )


def test_position_based_five_touches_split_the_middle():
    """f = 0.3, l = 0.5: middle share 0.2 over 3 touches = 1/15 each."""
    config = {"first_touch_weight": 0.3, "last_touch_weight": 0.5}
    assert credits("position_based", journey_of(4, 3, 2, 1, 0), config) == pytest.approx(
        (0.3, 1 / 15, 1 / 15, 1 / 15, 0.5), abs=1e-12
    )


def test_position_based_two_touches_renormalise_the_ends():
    """n = 2: 0.4/0.4 → 0.4/0.8, 0.4/0.8 = 0.5/0.5; 0.3/0.5 → 0.3/0.8 = 0.375, 0.5/0.8 = 0.625."""
    assert credits("position_based", journey_of(1, 0), EIGHTY_TWENTY) == (0.5, 0.5)
    config = {"first_touch_weight": 0.3, "last_touch_weight": 0.5}
    assert credits("position_based", journey_of(1, 0), config) == pytest.approx(
        (0.375, 0.625), abs=1e-12
    )


def test_position_based_two_touches_with_zero_weights_split_evenly():
    config = {"first_touch_weight": 0, "last_touch_weight": 0}
    assert credits("position_based", journey_of(1, 0), config) == (0.5, 0.5)


def test_position_based_one_touch_gets_everything():
    assert credits("position_based", journey_of(0), EIGHTY_TWENTY) == (1.0,)


def test_position_based_full_end_weights_leave_the_middle_without_rows():
    """Weights summing to 1 leave the middles 0 (no row), not float noise like 1 − 0.7 − 0.3."""
    for first, last in [(0.7, 0.3), (0.35, 0.65), (0.1, 0.9), (1, 0)]:
        config = {"first_touch_weight": first, "last_touch_weight": last}
        result = credits("position_based", journey_of(3, 2, 1, 0), config)
        assert result == (first, 0.0, 0.0, last)


# --- algorithmic through credits_for -----------------------------------------------------------


def test_algorithmic_without_fitted_effects_is_linear():
    assert credits("algorithmic", journey_of(2, 1, 0), {"method": "markov"}) == (1 / 3,) * 3


def test_algorithmic_uses_the_configured_channel():
    """Effects: landing page 1 → 0.75, landing page 2 → 0.5; account 9 (every touch) unknown.
    By landing page the two-touch journey gets 0.75/1.25 = 3/5 and 2/5; by account, linear."""
    effects = fit_removal_effects([[1, 2], [1]], [2])
    touches = (Touch(1, 10, landing_page_id=1, ppc_account_id=9), Touch(2, 20, landing_page_id=2,
                                                                      ppc_account_id=9))
    journey = Journey(conv_id=1, conv_time=30, converting_click_id=2, touches=touches)
    by_page = credits(
        "algorithmic", journey, {"method": "markov", "channel": "landing_page"}, effects
    )
    assert by_page == pytest.approx((0.6, 0.4), abs=1e-12)
    by_account = credits("algorithmic", journey, {"method": "markov"}, effects)
    assert by_account == (0.5, 0.5)
    assert channel_of(touches[0], "account") == 9 and channel_of(touches[0], "landing_page") == 1


# --- properties over many random journeys ------------------------------------------------------


def _sample_config(model_type, rng=None):
    rng = rng or random.Random(0)
    if model_type == "time_decay":
        return {"half_life_hours": rng.choice([1, 2, 24, 168, 8760])}
    if model_type == "position_based":
        first = rng.choice([0, 0.1, 0.25, 0.4, 0.5, 0.7, 1])
        last = rng.choice([0, min(0.3, 1 - first), 1 - first])
        return {"first_touch_weight": first, "last_touch_weight": last}
    if model_type == "algorithmic":
        return {"method": "markov", "channel": rng.choice(["account", "landing_page"])}
    return None


def _random_journeys(rng, count):
    for conv_id in range(count):
        conv_time = rng.randrange(10**6, 2 * 10**9)
        size = rng.randint(0, 26)
        stored = [
            Touch(
                rng.randrange(1, 60),
                conv_time - rng.choice([0, rng.randrange(0, 30 * 86400), rng.randrange(0, 10**6)]),
                landing_page_id=rng.randrange(0, 4),
                ppc_account_id=rng.randrange(0, 4),
            )
            for _ in range(size)
        ]
        converting = rng.choice(stored) if stored and rng.random() < 0.8 else None
        yield journey_from_stored(
            conv_id=conv_id, conv_time=conv_time,
            converting_touch=converting or Touch(999, conv_time),
            stored_touches=stored,
        )


def test_every_type_sums_to_one_on_random_journeys():
    """2,000 seeded random journeys (0..26 stored touches, duplicates, ties, converting click
    stored or added) × 7 types: one non-negative credit per touch, summing to 1 within 1e-9."""
    rng = random.Random(20240601)
    journeys = list(_random_journeys(rng, 2000))
    channel_paths = [[channel_of(t, "account") for t in j.touches] for j in journeys[:1000]]
    effects = fit_removal_effects(channel_paths, [rng.randrange(0, 5) for _ in range(500)])
    assert effects.p_conversion > 0
    for journey in journeys:
        click_ids = [t.click_id for t in journey.touches]
        assert len(set(click_ids)) == len(click_ids)
        assert journey.converting_click_id in click_ids
        for model_type in MODEL_TYPES:
            result = credits(model_type, journey, _sample_config(model_type, rng), effects)
            assert len(result) == len(journey.touches), model_type
            assert all(credit >= 0 and math.isfinite(credit) for credit in result), model_type
            assert math.fsum(result) == pytest.approx(1.0, abs=1e-9), (model_type, result)
