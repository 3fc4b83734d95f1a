"""attribution.crediting without a database: exact money, half-even rounding once, largest
remainder per scope type, credit units as DECIMAL(10,5) stores them, position buckets."""
from decimal import Decimal

from attribution.crediting import (
    CreditPass,
    PositionShares,
    RunnableModel,
    _round_half_even_tenth,
    apportion,
    credit_units,
    decimal5_units,
)
from journeys.rules import Journey, Touch
from journeys.source import JourneyRecord
from journeys.store import ConversionRow

HOUR = 1_700_000_000 - 1_700_000_000 % 3600
LINEAR = RunnableModel(1, "Linear", "linear", {})
LAST = RunnableModel(2, "Last", "last_touch", {})


def record(conv_id, payout, cpc, touches, *, campaign_id=5, advertiser_id=9, conv_time=HOUR + 600):
    conversion = ConversionRow(conv_id, 1, campaign_id, touches[-1].click_id, touches[-1].click_time, conv_time,
                               0, 0, advertiser_id, Decimal(payout))
    journey = Journey(conv_id, conv_time, touches[-1].click_id, tuple(touches))
    return JourneyRecord(conversion, journey, len(touches), False, Decimal(cpc), frozenset())


def test_half_even_once_from_hundred_thousandths_to_ten_thousandths():
    assert [_round_half_even_tenth(units) for units in (24, 25, 26, 35, 45, -25)] == [2, 2, 3, 4, 4, -2]
    assert decimal5_units("12.34565") == 1_234_565 and decimal5_units(None) == 0
    assert credit_units(1 / 3) == 33_333 and credit_units(2 / 3) == 66_667 and credit_units(1e-7) == 0


def test_largest_remainder_sums_exactly_to_the_rounded_total_and_ties_go_to_the_earlier_value():
    # 1.23455 + 1.00005 = 2.23460 → 2.2346: both remainders are half a unit, the earlier value
    # takes the one unit left.
    assert apportion([123_455, 100_005], 22_346) == [12_346, 10_000]
    assert apportion([12_345, 10_005], 2_235) == [1_235, 1_000]
    # Float shares of a touch scope: 2/3 and 1/3 of 10.00000.
    assert apportion([1_000_000 * 2 / 3, 1_000_000 / 3], 100_000) == [66_667, 33_333]


def test_linear_credits_split_money_by_scope_and_every_scope_type_sums_to_the_global_row():
    touches = [Touch(11, HOUR - 300, landing_page_id=7, ppc_account_id=3),
               Touch(12, HOUR - 200, landing_page_id=7, ppc_account_id=4),
               Touch(13, HOUR + 500, landing_page_id=8, ppc_account_id=4)]
    credit_pass = CreditPass([LINEAR, LAST])
    credit_pass.add([record(100, "10.00000", "0.30000", touches)])

    rows = {(row.model_id, row.scope_type, row.scope_id): row for row in credit_pass.snapshot_rows()}
    assert (rows[(1, "global", None)].revenue, rows[(1, "global", None)].cost) == (Decimal("10.0000"), Decimal("0.3000"))
    assert (rows[(1, "landing_page", 7)].revenue, rows[(1, "landing_page", 8)].revenue) == (
        Decimal("6.6667"), Decimal("3.3333"))
    assert (rows[(1, "account", 3)].cost, rows[(1, "account", 4)].cost) == (Decimal("0.1000"), Decimal("0.2000"))
    assert (rows[(1, "landing_page", 7)].clicks, rows[(1, "landing_page", 7)].conversions) == (2, 1)
    assert (rows[(1, "campaign", 5)].revenue, rows[(1, "advertiser", 9)].revenue) == (Decimal("10.0000"),) * 2
    # Last touch: one credited touch, so only the converting click's page and account have rows.
    assert (2, "landing_page", 7) not in rows and rows[(2, "landing_page", 8)].revenue == Decimal("10.0000")
    assert [(row.model_id, row.position, row.units) for row in credit_pass.credit_rows] == [
        (1, 0, 33_333), (1, 1, 33_333), (1, 2, 33_333), (2, 2, 100_000),
    ]
    assert credit_pass.totals[1].revenue == Decimal("10.0000") and credit_pass.totals[1].clicks == 3


def test_an_hours_global_money_is_the_exact_sum_rounded_once():
    """0.00005 three times is 0.00015 → 0.0002 (half-even of 1.5 ten-thousandths), never 3 × 0.0000."""
    credit_pass = CreditPass([LINEAR])
    credit_pass.add([record(n, "0.00005", "0", [Touch(n, HOUR)]) for n in (1, 2, 3)])
    (global_row,) = [row for row in credit_pass.snapshot_rows() if row.scope_type == "global"]
    assert (global_row.revenue, global_row.conversions) == (Decimal("0.0002"), 3)


def test_position_shares_come_from_stored_credit_units():
    touches = [Touch(1, HOUR - 20), Touch(2, HOUR - 10), Touch(3, HOUR)]
    shares = PositionShares("global", None)
    three = record(1, "1", "0", touches)
    for position in range(3):
        shares.add(three, position, 33_333)
    shares.add(record(2, "1", "0", [Touch(9, HOUR)]), 0, 100_000)
    assert shares.shares() == {"first": 0.666668, "middle": 0.166666, "last": 0.166666}
