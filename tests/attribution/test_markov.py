"""The algorithmic model of SPEC §5.2 (attribution/credit/markov.py) on hand-computed chains."""
import random
from fractions import Fraction

import pytest

from attribution.credit import credits_for
from attribution.credit.markov import RemovalEffects, fit_removal_effects
from journeys.rules import Journey, Touch

MARKOV = {"method": "markov", "channel": "account"}  # as validate_config returns it


def journey_through(*accounts):
    """A journey whose touches come from the given traffic-source accounts, in order."""
    touches = tuple(
        Touch(click_id=i + 1, click_time=100 * i, ppc_account_id=account)
        for i, account in enumerate(accounts)
    )
    return Journey(conv_id=1, conv_time=10_000, converting_click_id=len(touches), touches=touches)


def test_two_channel_example():
    """Converting paths [A, B] and [A]; non-converting [B]. Transition counts and probabilities:

        START → A 2/3, START → B 1/3
        A → B 1/2,     A → CONVERSION 1/2
        B → CONVERSION 1/2, B → NULL 1/2

    x_B = 1/2, x_A = 1/2 + 1/2·x_B = 3/4, P(CONVERSION) = 2/3·3/4 + 1/3·1/2 = 2/3.
    Remove A (START → A goes to NULL): P = 1/3·1/2 = 1/6 → effect(A) = 1 − (1/6)/(2/3) = 3/4.
    Remove B (A → B and START → B go to NULL): x_A = 1/2, P = 2/3·1/2 = 1/3
        → effect(B) = 1 − (1/3)/(2/3) = 1/2.
    Journey [A, B]: A 3/4 / (3/4 + 1/2) = 3/5, B 2/5.
    Journey [A, A, B]: A's 3/5 split over its two touches, 3/10 each; B 2/5.
    Journey [A]: 1.
    """
    a, b = 11, 22
    effects = fit_removal_effects([[a, b], [a]], [b])
    assert effects.p_conversion == pytest.approx(2 / 3, abs=1e-12)
    assert dict(effects) == pytest.approx({a: 3 / 4, b: 1 / 2}, abs=1e-12)
    assert credits_for("algorithmic", MARKOV, journey_through(a, b), effects) == pytest.approx(
        (3 / 5, 2 / 5), abs=1e-12
    )
    assert credits_for("algorithmic", MARKOV, journey_through(a, a, b), effects) == pytest.approx(
        (3 / 10, 3 / 10, 2 / 5), abs=1e-12
    )
    assert credits_for("algorithmic", MARKOV, journey_through(a), effects) == (1.0,)


def test_self_transitions_are_kept():
    """Converting path [A, A, B]; non-converting [B]. The repeat of A is a self-transition:

        START → A 1/2, START → B 1/2
        A → A 1/2, A → B 1/2
        B → CONVERSION 1/2, B → NULL 1/2

    x_B = 1/2; x_A = 1/2·x_A + 1/2·x_B → x_A = 1/2; P(CONVERSION) = 1/2·1/2 + 1/2·1/2 = 1/2.
    Remove A: P = 1/2·x_B = 1/4 → effect(A) = 1/2. Remove B: nothing converts → effect(B) = 1.
    Journey [A, A, B]: A gets (1/2)/(3/2) = 1/3, split 1/6 per touch; B 2/3.

    A self-loop only delays leaving A, so the effects equal those of the collapsed path [A, B];
    what this exercises is the solver with expected visits G_AA = 2, which the reach probability
    h_A = (σᵀG)_A / G_AA = 1 / 2 must divide out.
    """
    a, b = 1, 2
    effects = fit_removal_effects([[a, a, b]], [b])
    assert effects.p_conversion == pytest.approx(1 / 2, abs=1e-12)
    assert dict(effects) == pytest.approx({a: 1 / 2, b: 1.0}, abs=1e-12)
    assert dict(effects) == pytest.approx(dict(fit_removal_effects([[a, b]], [b])), abs=1e-12)
    assert credits_for("algorithmic", MARKOV, journey_through(a, a, b), effects) == pytest.approx(
        (1 / 6, 1 / 6, 2 / 3), abs=1e-12
    )


def test_channel_zero_is_a_channel_of_its_own():
    """Converting [0, 5], non-converting [0] and [0] (0 = no traffic-source account):
    START → 0 1, 0 → 5 1/3, 0 → NULL 2/3, 5 → CONVERSION 1. x_5 = 1, x_0 = 1/3, P = 1/3.
    Removing either channel stops every conversion: effects 1 and 1, so the journey [0, 5]
    is split 1/2, 1/2."""
    effects = fit_removal_effects([[0, 5]], [0, 0])
    assert effects.p_conversion == pytest.approx(1 / 3, abs=1e-12)
    assert dict(effects) == pytest.approx({0: 1.0, 5: 1.0}, abs=1e-12)
    assert credits_for("algorithmic", MARKOV, journey_through(0, 5), effects) == pytest.approx(
        (0.5, 0.5), abs=1e-12
    )


def test_nothing_converts_falls_back_to_linear():
    effects = fit_removal_effects([], [1, 2, 2])
    assert effects.p_conversion == 0.0
    assert dict(effects) == {1: 0.0, 2: 0.0}
    assert credits_for("algorithmic", MARKOV, journey_through(1, 2, 2), effects) == (1 / 3,) * 3


def test_journey_of_unseen_channels_falls_back_to_linear():
    """The fit knows channels 1 and 2; a journey through 7 and 8 only has effect 0 everywhere."""
    effects = fit_removal_effects([[1, 2]], [])
    assert credits_for("algorithmic", MARKOV, journey_through(7, 8), effects) == (0.5, 0.5)


def test_journey_with_a_zero_effect_channel_gives_it_nothing():
    """Converting [A], non-converting [B]: B never leads to a conversion → effect(B) = 0,
    effect(A) = 1 (P(CONVERSION) = 1/2 from START → A 1/2, A → CONVERSION 1).
    Journey [B, A]: B 0 (no row), A 1."""
    effects = fit_removal_effects([[1]], [2])
    assert dict(effects) == pytest.approx({1: 1.0, 2: 0.0}, abs=1e-12)
    assert credits_for("algorithmic", MARKOV, journey_through(2, 1), effects) == (0.0, 1.0)


def test_empty_paths_are_ignored():
    assert dict(fit_removal_effects([[], [3]], [])) == {3: 1.0}


def test_removal_effects_is_a_read_only_mapping():
    effects = RemovalEffects({1: 0.5}, 0.25)
    assert effects[1] == 0.5 and len(effects) == 1 and list(effects) == [1]
    assert effects.get(2, 0.0) == 0.0
    with pytest.raises(TypeError):
        effects[1] = 1.0


def test_closed_form_matches_removing_each_channel_and_resolving():
    """The module computes every effect from one inverse (effect = h_c·x_c / P). Check it against
    the definition — redirect transitions into c to NULL and re-solve the chain — done here in
    exact fractions with an independent elimination, on 60 seeded random path sets."""
    rng = random.Random(7)
    for _ in range(60):
        channels = list(range(rng.randint(1, 7)))
        converting = [
            [rng.choice(channels) for _ in range(rng.randint(1, 6))]
            for _ in range(rng.randint(0, 12))
        ]
        non_converting = [rng.choice(channels) for _ in range(rng.randint(0, 12))]
        effects = fit_removal_effects(converting, non_converting)
        expected_p, expected = _reference_effects(converting, non_converting)
        assert effects.p_conversion == pytest.approx(float(expected_p), abs=1e-12)
        assert dict(effects) == pytest.approx({c: float(e) for c, e in expected.items()}, abs=1e-9)


def _reference_effects(converting, non_converting):
    """P(CONVERSION) and the removal effects by the §5.2 definition, in exact fractions."""
    counts = {}

    def count(here, there):
        counts.setdefault(here, {}).setdefault(there, 0)
        counts[here][there] += 1

    for path in converting:
        for here, there in zip(["START"] + path, path + ["CONVERSION"]):
            count(here, there)
    for channel in non_converting:
        count("START", channel)
        count(channel, "NULL")
    channels = sorted(key for key in counts if key != "START")

    def p_conversion(removed):
        live = [c for c in channels if c != removed]
        # Unknowns: x_c for each live channel; x_c = Σ_t P(c→t)·x_t + P(c→CONVERSION).
        rows = []
        for c in live:
            total = sum(counts[c].values())
            row = [Fraction(0)] * (len(live) + 1)
            row[live.index(c)] += 1
            for there, n in counts[c].items():
                if there in live:
                    row[live.index(there)] -= Fraction(n, total)
                elif there == "CONVERSION":
                    row[-1] += Fraction(n, total)
            rows.append(row)
        x = _solve_exact(rows)
        starts = counts.get("START", {})
        total = sum(starts.values())
        return sum(
            (Fraction(n, total) * x[live.index(c)] for c, n in starts.items() if c in live),
            Fraction(0),
        )

    base = p_conversion(None) if converting else Fraction(0)
    if base == 0:
        return base, {c: Fraction(0) for c in channels}
    return base, {c: 1 - p_conversion(c) / base for c in channels}


def _solve_exact(rows):
    size = len(rows)
    for col in range(size):
        pivot = next(r for r in range(col, size) if rows[r][col] != 0)
        rows[col], rows[pivot] = rows[pivot], rows[col]
        for r in range(size):
            if r != col and rows[r][col] != 0:
                factor = rows[r][col] / rows[col][col]
                rows[r] = [a - factor * b for a, b in zip(rows[r], rows[col])]
    return [rows[i][-1] / rows[i][i] for i in range(size)]
