"""tracker.sql: the numeric row writer and integer IN lists, against the real database."""
import random
from decimal import Decimal

import pytest
from django.db import DataError, connection, transaction

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


def touch_rows(rng, count):
    """Journey touchpoint rows: integers only, click ids up to 2^63 - 1."""
    return [(rng.randrange(1, 2**32), rng.randrange(1, 2**63), rng.randrange(0, 2**32), n % 26, 1_790_000_000)
            for n in range(count)]


def snapshot_rows(rng, count):
    """Snapshot rows: scope types (words), NULL scope ids, DECIMAL(12,4) money."""
    return [
        (n % 7 + 1, 3, rng.choice(["global", "campaign", "landing_page"]), rng.choice([None, 0, n]),
         1_790_000_000 + n * 3600, 1_790_000_000, 1_790_086_399, n % 50, n % 9,
         Decimal(rng.randrange(0, 10**12)).scaleb(-4), Decimal(rng.randrange(0, 10**6)).scaleb(-4), 1_790_000_000)
        for n in range(count)
    ]


def written_back(table, columns, rows, write):
    """`rows` written once with query parameters and once by `write`: both as stored."""
    key = "snapshot_id" if table == "202_attribution_snapshots" else "touchpoint_id"
    with transaction.atomic(), connection.cursor() as cursor:
        sql.insert_rows(cursor, table, columns, rows)
        assert write(cursor, table, columns, rows) in (True, len(rows))
        cursor.execute(f"SELECT {', '.join(columns)} FROM {sql.quote(table)} ORDER BY {key}")
        stored = cursor.fetchall()
    assert len(stored) == 2 * len(rows)
    return stored[:len(rows)], stored[len(rows):]


TABLES = [
    ("202_conversion_touchpoints", ("conv_id", "click_id", "click_time", "position", "created_at"), touch_rows),
    ("202_attribution_touchpoints", CREDIT_COLUMNS, credit_rows),
    ("202_attribution_snapshots", SNAPSHOT_COLUMNS, snapshot_rows),
]


@pytest.mark.django_db
@pytest.mark.parametrize("table, columns, make_rows", TABLES)
def test_formatted_rows_store_exactly_what_query_parameters_store(table, columns, make_rows):
    """More rows than one statement holds, written once with parameters and once formatted:
    every stored value is the same, to the last digit of DECIMAL(10,5) and DECIMAL(12,4)."""
    rows = make_rows(random.Random(5), sql.INSERT_ROWS_PER_STATEMENT + 501)
    with_parameters, formatted = written_back(table, columns, rows, sql.insert_formatted_rows)
    assert formatted == with_parameters


@pytest.mark.django_db
@pytest.mark.parametrize("table, columns, make_rows", TABLES)
def test_rows_loaded_with_load_data_store_exactly_what_query_parameters_store(table, columns, make_rows):
    if connection.vendor != "mysql":
        pytest.skip("LOAD DATA LOCAL INFILE is MySQL/MariaDB's")
    rows = make_rows(random.Random(6), 3000)
    with_parameters, loaded = written_back(table, columns, rows, sql.load_data_rows)
    assert loaded == with_parameters


def load_data_statements(cursor):
    cursor.execute("SHOW SESSION STATUS LIKE 'Com_load'")
    return int(cursor.fetchone()[1])


@pytest.mark.django_db
def test_large_writes_go_as_one_load_data_small_ones_as_inserts():
    if connection.vendor != "mysql":
        pytest.skip("LOAD DATA LOCAL INFILE is MySQL/MariaDB's")
    columns = ("cronjob_type", "cronjob_time")
    with transaction.atomic(), connection.cursor() as cursor:
        before = load_data_statements(cursor)
        sql.insert_numeric_rows(cursor, "202_cronjobs", columns, [("attr", n) for n in range(sql.LOAD_DATA_MIN_ROWS - 1)])
        assert load_data_statements(cursor) == before
        sql.insert_numeric_rows(cursor, "202_cronjobs", columns, [("attr", n) for n in range(sql.LOAD_DATA_MIN_ROWS)])
        assert load_data_statements(cursor) == before + 1
        cursor.execute("SELECT COUNT(*) FROM `202_cronjobs`")
        assert cursor.fetchone()[0] == 2 * sql.LOAD_DATA_MIN_ROWS - 1


@pytest.mark.django_db
def test_a_value_load_data_would_only_warn_about_is_an_error():
    if connection.vendor != "mysql":
        pytest.skip("LOAD DATA LOCAL INFILE is MySQL/MariaDB's")
    row = (1, 1, 1, 0, Decimal("123456.5"), Decimal("0.5"), 1)  # credit beyond DECIMAL(10,5)
    with pytest.raises(DataError, match="gave warnings"), transaction.atomic(), connection.cursor() as cursor:
        sql.load_data_rows(cursor, "202_attribution_touchpoints", CREDIT_COLUMNS, [row])
    with pytest.raises(DataError), transaction.atomic(), connection.cursor() as cursor:
        sql.insert_formatted_rows(cursor, "202_attribution_touchpoints", CREDIT_COLUMNS, [row])


@pytest.mark.django_db(transaction=True)
def test_a_connection_without_local_infile_falls_back_to_formatted_inserts(monkeypatch):
    if connection.vendor != "mysql":
        pytest.skip("LOAD DATA LOCAL INFILE is MySQL/MariaDB's")
    monkeypatch.setattr(sql, "_load_data_refused", set())
    monkeypatch.setitem(connection.settings_dict["OPTIONS"], "local_infile", False)
    connection.close()
    try:
        rows = credit_rows(random.Random(7), 10)
        with transaction.atomic(), connection.cursor() as cursor:
            assert sql.load_data_rows(cursor, "202_attribution_touchpoints", CREDIT_COLUMNS, rows) is False
            monkeypatch.setattr(sql, "LOAD_DATA_MIN_ROWS", 1)
            assert sql.insert_numeric_rows(cursor, "202_attribution_touchpoints", CREDIT_COLUMNS, rows) == 10
            cursor.execute("SELECT COUNT(*) FROM `202_attribution_touchpoints`")
            assert cursor.fetchone()[0] == 10
        assert sql._load_data_refused == {"default"}
    finally:
        connection.close()  # the next test connects with local_infile again


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
