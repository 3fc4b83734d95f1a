"""SQL helpers every data-access layer uses: quoted 202 table names, bounded IN lists and the
writer of numeric rows.

202 table names start with a digit, so every statement quotes them; values are always query
parameters, except where a value needs no escaping at all: `insert_numeric_rows` and
`integer_list` format numbers (and plain words) themselves and refuse anything else.
"""
import math
import re
import tempfile
from decimal import Decimal
from itertools import chain, repeat

from django.db import DatabaseError, DataError, connections

# Ids per IN (...) list: small enough for SQLite's parameter limit and MySQL's packet size.
IN_LIST_SIZE = 1000
# Rows per multi-row INSERT statement.
INSERT_ROWS_PER_STATEMENT = 2000
# From this many rows, insert_numeric_rows sends them as one LOAD DATA LOCAL INFILE where the
# server and the connection allow it: faster than multi-row INSERTs from a few thousand rows on
# (docs/performance.md, "Write methods").
LOAD_DATA_MIN_ROWS = 5000
# Error codes of a LOAD DATA LOCAL refused by the server or the client library (local_infile off).
LOCAL_INFILE_REFUSED = frozenset({1148, 2068, 3948, 4166})
# Database aliases that refused LOAD DATA LOCAL once: not asked again by this process.
_load_data_refused = set()


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


# A text value made only of these characters is written as '<word>' without escaping.
_PLAIN_WORD = re.compile(r"[A-Za-z0-9_]*")


def _literal(value):
    """The SQL literal of a value that needs no escaping; anything else is refused.

    Floats get mysqlclient's spelling (repr, with "e0" when it has no exponent), so the server
    converts them exactly as it converts query parameters: results stay identical to the digit.
    """
    kind = type(value)
    if kind is int:
        return str(value)
    if kind is float and math.isfinite(value):
        text = repr(value)
        return text if "e" in text else text + "e0"
    if kind is Decimal and value.is_finite():
        return format(value, "f")
    if value is None:
        return "NULL"
    if kind is bool:
        return "1" if value else "0"
    if kind is str and _PLAIN_WORD.fullmatch(value):
        return f"'{value}'"
    raise TypeError(f"insert_numeric_rows writes numbers and plain words only, got {value!r}")


def _row_texts(rows, *, opening, separator, closing, null, quote_words):
    """Each row as text needing no escaping: `opening`, its values joined by `separator`,
    `closing`. Rows of ints only (journeys) are formatted in C, row by row; other rows column by
    column (`_column_text`). None becomes `null`; words are quoted for SQL or not."""
    slots = len(rows[0]) if rows else 0
    if set(map(type, chain.from_iterable(rows))) == {int}:
        return map((opening + separator.join(["%d"] * slots) + closing).__mod__, rows)
    columns = [_column_text(column, null=null, quote_words=quote_words) for column in zip(*rows)]
    return map((opening + separator.join(["{}"] * slots) + closing).format, *columns)


def _column_text(column, *, null, quote_words):
    """A column's values as text: a column of ints only or of finite Decimals only is formatted
    in C (credits and money are Decimals), anything else value by value through `_literal`."""
    kinds = set(map(type, column))
    if kinds == {int}:
        return list(map(str, column))
    if kinds == {Decimal} and all(map(Decimal.is_finite, column)):
        return list(map(format, column, repeat("f")))
    if quote_words:
        return [null if value is None else _literal(value) for value in column]
    return [null if value is None else _literal(value).strip("'") for value in column]


def insert_numeric_rows(cursor, table, columns, rows, *, using="default"):
    """Write `rows` (tuples in `columns` order) whose values are numbers (int, float, Decimal),
    None, or plain words such as a scope type; returns the number of rows. Call it inside a
    transaction: a failure part-way leaves rows the caller's rollback removes.

    No value needs escaping, so none is escaped one by one by the driver (about 2 µs a value):
    from LOAD_DATA_MIN_ROWS rows on MySQL/MariaDB they go as one LOAD DATA LOCAL INFILE of a
    temporary tab-separated file when the server and the connection allow it, otherwise as
    multi-row INSERTs of values formatted into the statement (whole int columns in C). The three
    ways are measured against each other in docs/performance.md.
    """
    rows = rows if isinstance(rows, list) else list(rows)
    if rows and set(map(len, rows)) != {len(columns)}:
        raise ValueError(f"insert_numeric_rows: every row needs {len(columns)} values")
    if len(rows) >= LOAD_DATA_MIN_ROWS and load_data_rows(cursor, table, columns, rows, using=using):
        return len(rows)
    return insert_formatted_rows(cursor, table, columns, rows, using=using)


def insert_formatted_rows(cursor, table, columns, rows, *, using="default"):
    """Multi-row INSERTs of checked `rows`, their values formatted into the statements."""
    head = f"INSERT INTO {quote(table, using)} ({', '.join(columns)}) VALUES "
    for batch in chunks(rows, INSERT_ROWS_PER_STATEMENT):
        cursor.execute(head + ",".join(
            _row_texts(batch, opening="(", separator=",", closing=")", null="NULL", quote_words=True)
        ))
    return len(rows)


def load_data_rows(cursor, table, columns, rows, *, using="default"):
    """Write checked `rows` with one LOAD DATA LOCAL INFILE; False, having written nothing, when
    the backend is not MySQL/MariaDB or its server or connection refuses LOCAL (`local_infile`).

    With LOCAL the server cannot stop the upload, so it turns data errors (a value out of range,
    say) into warnings and goes on; any warning is therefore raised here as a DataError, and the
    caller's transaction rolls back what the statement wrote.
    """
    connection = connections[using]
    if connection.vendor != "mysql" or using in _load_data_refused:
        return False
    lines = _row_texts(rows, opening="", separator="\t", closing="", null="\\N", quote_words=False)
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".tsv") as handle:
        handle.write("\n".join(lines) + "\n")
        handle.flush()
        try:
            cursor.execute(
                f"LOAD DATA LOCAL INFILE %s INTO TABLE {quote(table, using)} CHARACTER SET utf8mb4"
                f" ({', '.join(columns)})",
                [handle.name],
            )
        except DatabaseError as error:
            if error.args and error.args[0] in LOCAL_INFILE_REFUSED:
                _load_data_refused.add(using)
                return False
            raise
    if cursor.connection.warning_count():
        cursor.execute("SHOW WARNINGS LIMIT 3")
        raise DataError(f"LOAD DATA into {table} gave warnings: {cursor.fetchall()}")
    return True


def integer_list(values):
    """'1,2,3' for an IN (...) list of ints (refused otherwise): no parameter limit, no escaping."""
    values = sorted(set(values))
    if not values or set(map(type, values)) != {int}:
        raise TypeError(f"integer_list needs at least one int and ints only, got {values[:5]!r}")
    return ",".join(map(str, values))


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
