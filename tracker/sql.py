"""SQL helpers every data-access layer uses: quoted 202 table names, bounded IN lists and the
writer of numeric rows.

202 table names start with a digit, so every statement quotes them; values are always query
parameters, except in `insert_numeric_rows`, which formats numbers itself (see there).
"""
import math
from decimal import Decimal

from django.db import connections

# Ids per IN (...) list: small enough for SQLite's parameter limit and MySQL's packet size.
IN_LIST_SIZE = 1000
# Rows per multi-row INSERT statement.
INSERT_ROWS_PER_STATEMENT = 2000


def quote(table, using="default"):
    return connections[using].ops.quote_name(table)


def placeholders(count):
    return ", ".join(["%s"] * count)


def chunks(values, size=IN_LIST_SIZE):
    """Consecutive lists of at most `size` values."""
    values = list(values)
    for index in range(0, len(values), size):
        yield values[index:index + size]


def rows_for_ids(connection, sql, ids):
    """Rows of `sql`, whose `{ids}` is an IN list, over the distinct `ids` one bounded list at a
    time (a list, so the cursor is closed when it returns)."""
    rows = []
    with connection.cursor() as cursor:
        for chunk in chunks(sorted(set(ids))):
            cursor.execute(sql.format(ids=placeholders(len(chunk))), chunk)
            rows.extend(cursor.fetchall())
    return rows


def _number_literal(value):
    """A SQL literal of a number (or NULL); anything else is refused, so no escaping is needed."""
    if value is None:
        return "NULL"
    kind = type(value)
    if kind is int:
        return str(value)
    if kind is float and math.isfinite(value):
        return repr(value)
    if kind is Decimal and value.is_finite():
        return format(value, "f")
    raise TypeError(f"insert_numeric_rows writes numbers only, got {value!r}")


def insert_numeric_rows(cursor, table, columns, rows, *, using="default"):
    """Multi-row INSERTs of `rows` (tuples of int, float, Decimal or None in `columns` order).

    Every value is a number, so each is formatted straight into the statement instead of being
    escaped one by one by the driver (about 2 µs a value). Returns the number of rows written.
    """
    head = f"INSERT INTO {quote(table, using)} ({', '.join(columns)}) VALUES "
    written = 0
    for batch in chunks(rows, INSERT_ROWS_PER_STATEMENT):
        cursor.execute(
            head + ",".join("(" + ",".join(map(_number_literal, row)) + ")" for row in batch)
        )
        written += len(batch)
    return written


def insert_rows(cursor, table, columns, rows, *, using="default"):
    """Multi-row INSERTs of `rows` with parameters (for rows holding text), within the
    backend's parameter limit. Returns the number of rows written."""
    connection = connections[using]
    limit = connection.features.max_query_params
    per_statement = INSERT_ROWS_PER_STATEMENT if limit is None else max(1, limit // len(columns))
    row_sql = "(" + placeholders(len(columns)) + ")"
    head = f"INSERT INTO {quote(table, using)} ({', '.join(columns)}) VALUES "
    for batch in chunks(rows, per_statement):
        cursor.execute(head + ", ".join([row_sql] * len(batch)), [value for row in batch for value in row])
    return len(rows)
