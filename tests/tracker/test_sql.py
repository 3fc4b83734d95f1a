"""tracker.sql: the numeric row writer and integer IN lists, against the real database."""
import random
from decimal import Decimal

import pytest
from django.db import connection, transaction

from tracker import sql

CREDIT_COLUMNS = ("snapshot_id", "conv_id", "click_id", "position", "credit", "weight", "created_at")
SNAPSHOT_COLUMNS = (
    "model_id", "user_id", "scope_type", "scope_id", "date_hour", "lookback_start", "lookback_end",
    "attributed_clicks", "attributed_conversions", "attributed_revenue", "attributed_cost", "created_at",
)


def credit_rows(rng, count):
    """Credit rows as the rebuild writes them: floats rounded to 5 places and Decimals."""
    return [
        (n + 1, rng.randrange(1, 2**32), rng.randrange(1, 2**63), n % 30,
         rng.choice([round(rng.random(), 5), 1.0, 1e-05, round(rng.uniform(0, 99_999), 5)]),
         Decimal(rng.randrange(0, 100_001)).scaleb(-5), 1_790_000_000)
        for n in range(count)
    ]


def snapshot_rows(rng, count):
    """Snapshot rows: scope types (words), NULL scope ids, DECIMAL(12,4) money."""
    return [
        (n % 7 + 1, 3, rng.choice(["global", "campaign", "landing_page"]), rng.choice([None, 0, n]),
         1_790_000_000 + n * 3600, 1_790_000_000, 1_790_086_399, n % 50, n % 9,
         Decimal(rng.randrange(0, 10**12)).scaleb(-4), Decimal(rng.randrange(0, 10**6)).scaleb(-4), 1_790_000_000)
        for n in range(count)
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("table, columns, make_rows", [
    ("202_attribution_touchpoints", CREDIT_COLUMNS, credit_rows),
    ("202_attribution_snapshots", SNAPSHOT_COLUMNS, snapshot_rows),
])
def test_formatted_rows_store_exactly_what_query_parameters_store(table, columns, make_rows):
    """More rows than one statement holds, written once with parameters and once formatted:
    every stored value is the same, to the last digit of DECIMAL(10,5) and DECIMAL(12,4)."""
    rows = make_rows(random.Random(5), sql.INSERT_ROWS_PER_STATEMENT + 501)
    key = "touchpoint_id" if table == "202_attribution_touchpoints" else "snapshot_id"
    with transaction.atomic(), connection.cursor() as cursor:
        sql.insert_rows(cursor, table, columns, rows)
        written = sql.insert_numeric_rows(cursor, table, columns, rows)
        cursor.execute(f"SELECT {', '.join(columns)} FROM {sql.quote(table)} ORDER BY {key}")
        stored = cursor.fetchall()
    assert written == len(rows)
    assert stored[len(rows):] == stored[:len(rows)]
    assert len(stored) == 2 * len(rows)


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["it's", "a b", "x;--", "é", float("nan"), float("inf"),
                                   Decimal("NaN"), b"1", object()])
def test_values_that_would_need_escaping_are_refused_before_anything_is_written(value):
    with connection.cursor() as cursor, pytest.raises(TypeError):
        sql.insert_numeric_rows(cursor, "202_cronjobs", ("cronjob_type", "cronjob_time"), [("attr", 1), (value, 2)])
        assert False, "not reached"
    with connection.cursor() as cursor:
        cursor.execute('SELECT COUNT(*) FROM "202_cronjobs"' if connection.vendor == "sqlite"
                       else "SELECT COUNT(*) FROM `202_cronjobs`")
        assert cursor.fetchone()[0] == 0


@pytest.mark.django_db
def test_rows_of_the_wrong_width_are_refused():
    with connection.cursor() as cursor, pytest.raises(ValueError, match="every row needs 2 values"):
        sql.insert_numeric_rows(cursor, "202_cronjobs", ("cronjob_type", "cronjob_time"), [("attr", 1), ("attr",)])


def test_integer_lists_are_distinct_sorted_ints_only():
    assert sql.integer_list([3, 1, 3, 2**63 - 1]) == f"1,3,{2**63 - 1}"
    for values in ([], ["1"], [True], [2, 1.5]):
        with pytest.raises(TypeError):
            sql.integer_list(values)
