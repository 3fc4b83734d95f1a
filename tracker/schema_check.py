"""Compare a live database with the Prosper202 tables of `tracker.schema` (SPEC §3.2).

Structure comes from INFORMATION_SCHEMA on MySQL/MariaDB and from PRAGMAs on SQLite; the rules:
a missing table, column or key is an error; on a table the project writes, a column that is
narrower than Prosper202's, or signed where Prosper202's is unsigned, is an error (it can lose
data we write); every other type, nullability or default difference is a warning. Extra columns
and keys are fine: a real Prosper202 database has many.

This module is introspection: it reads catalogue tables, never the 202 rows themselves.
"""
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.db import connections

from tracker import schema

ERROR = "error"
WARNING = "warning"
# Rows past which a table is "large": 202_clicks outgrows MariaDB's default 128 MiB buffer pool
# around here, which is when its recommended key pays (docs/performance.md).
LARGE_TABLE_ROWS = 1_000_000

_INTEGER_RANK = {"tinyint": 1, "smallint": 2, "mediumint": 3, "int": 4, "integer": 4, "bigint": 5}
# Capacity of string types in characters (text types by their byte limit: close enough to rank).
_TEXT_CAPACITY = {"tinytext": 255, "text": 65_535, "mediumtext": 16_777_215, "longtext": 4_294_967_295}


@dataclass(frozen=True)
class Problem:
    severity: str  # ERROR or WARNING
    table: str
    message: str
    about_data: bool = False  # a data problem names accounts' rows, not just the schema

    def __str__(self):
        return f"{self.severity.upper()}: {self.table}: {self.message}"


@dataclass
class SchemaReport:
    vendor: str
    problems: list[Problem] = field(default_factory=list)
    present_tables: set[str] = field(default_factory=set)
    # Optional improvements for this database (neither warnings nor errors), e.g. a key.
    recommendations: list[str] = field(default_factory=list)

    @property
    def errors(self):
        return [p for p in self.problems if p.severity == ERROR]

    @property
    def warnings(self):
        return [p for p in self.problems if p.severity == WARNING]

    @property
    def ok(self):
        return not self.errors


@dataclass(frozen=True)
class LiveColumn:
    name: str
    column_type: str  # lower case, e.g. "int(10) unsigned" or SQLite's declared type
    nullable: bool
    default: str | None  # normalised literal without quotes, None when there is no default
    auto_increment: bool


@dataclass(frozen=True)
class LiveTable:
    columns: dict[str, LiveColumn]
    primary_key: tuple[str, ...]
    keys: dict[str, tuple[tuple[str, ...], bool]]  # name -> (columns, unique)


@dataclass(frozen=True)
class ColumnType:
    base: str
    args: tuple[int, ...]
    unsigned: bool

    @classmethod
    def parse(cls, text):
        text = text.strip().lower()
        match = re.match(r"([a-z]+)\s*(?:\(([\d,\s]+)\))?", text)
        base = match.group(1) if match else text
        args = tuple(int(a) for a in match.group(2).split(",")) if match and match.group(2) else ()
        return cls(base, args, "unsigned" in text)


def check_structure(using="default"):
    """Every structural problem of the 202 tables on database `using`, and recommendations;
    data problems are the attribution app's (`attribution.data_checks.check_schema` adds them)."""
    connection = connections[using]
    report = SchemaReport(vendor=connection.vendor)
    live_tables = {}
    for expected in schema.TABLES:
        live = _introspect(connection, expected.name)
        if live is None:
            report.problems.append(Problem(ERROR, expected.name, "table is missing (run manage.py install_schema)"))
            continue
        live_tables[expected.name] = live
        report.problems.extend(_compare_table(expected, live, connection.vendor))
    report.present_tables = set(live_tables)
    report.recommendations = _recommendations(connection, live_tables)
    return report


def _recommendations(connection, live_tables):
    """The optional keys of `schema.RECOMMENDED_KEYS` missing from a table past LARGE_TABLE_ROWS."""
    recommendations = []
    for table_name, key in schema.RECOMMENDED_KEYS:
        live = live_tables.get(table_name)
        if live is None or key_named(live.keys, key.columns) or _estimated_rows(connection, table_name) <= LARGE_TABLE_ROWS:
            continue
        recommendations.append(
            f"{table_name} holds over {LARGE_TABLE_ROWS:,} rows: `manage.py install_schema --recommended-indexes` "
            f"adds KEY {key.name} ({', '.join(key.columns)}) online, so journey backfills read each campaign's "
            "clicks as one index range once the table outgrows memory (docs/performance.md)"
        )
    return recommendations


def key_named(keys, columns):
    """The name of a key on exactly these columns among `keys` (name -> (columns, unique)), or None."""
    return next((name for name, (key_columns, _) in sorted(keys.items()) if key_columns == tuple(columns)), None)


def _estimated_rows(connection, table_name):
    """The catalogue's row estimate (MySQL/MariaDB), or the highest rowid (SQLite): no row is read."""
    with connection.cursor() as cursor:
        if connection.vendor == "mysql":
            cursor.execute(
                "SELECT TABLE_ROWS FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s",
                [table_name],
            )
        else:
            cursor.execute(f"SELECT MAX(rowid) FROM {connection.ops.quote_name(table_name)}")
        row = cursor.fetchone()
    return (row and row[0]) or 0


# --- introspection -------------------------------------------------------------------------

def _introspect(connection, table_name):
    if connection.vendor == "mysql":
        return _introspect_mysql(connection, table_name)
    if connection.vendor == "sqlite":
        return _introspect_sqlite(connection, table_name)
    raise ValueError(f"check_schema supports MySQL/MariaDB and SQLite, not {connection.vendor}")


def _normalise_default(raw):
    """MariaDB quotes string defaults and spells a NULL default 'NULL'; MySQL and SQLite differ."""
    if raw is None:
        return None
    text = str(raw).strip()
    if text.upper() == "NULL":
        return None
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        text = text[1:-1].replace("''", "'")
    return text


def _introspect_mysql(connection, table_name):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA"
            " FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s"
            " ORDER BY ORDINAL_POSITION",
            [table_name],
        )
        rows = cursor.fetchall()
        if not rows:
            return None
        columns = {
            name: LiveColumn(
                name=name,
                column_type=column_type.lower(),
                nullable=is_nullable == "YES",
                default=_normalise_default(default),
                auto_increment="auto_increment" in (extra or "").lower(),
            )
            for name, column_type, is_nullable, default, extra in rows
        }
        cursor.execute(
            "SELECT INDEX_NAME, NON_UNIQUE, COLUMN_NAME FROM INFORMATION_SCHEMA.STATISTICS"
            " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s ORDER BY INDEX_NAME, SEQ_IN_INDEX",
            [table_name],
        )
        index_columns, index_unique = {}, {}
        for index_name, non_unique, column_name in cursor.fetchall():
            index_columns.setdefault(index_name, []).append(column_name)
            index_unique[index_name] = not int(non_unique)
    primary_key = tuple(index_columns.pop("PRIMARY", ()))
    keys = {name: (tuple(cols), index_unique[name]) for name, cols in index_columns.items()}
    return LiveTable(columns, primary_key, keys)


def _introspect_sqlite(connection, table_name):
    quoted = connection.ops.quote_name(table_name)
    with connection.cursor() as cursor:
        cursor.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = %s", [table_name])
        row = cursor.fetchone()
        if row is None:
            return None
        autoincrement = "AUTOINCREMENT" in (row[0] or "").upper()
        cursor.execute(f"PRAGMA table_info({quoted})")
        info = cursor.fetchall()
        primary = sorted((pk, name) for _, name, _, _, _, pk in info if pk)
        primary_key = tuple(name for _, name in primary)
        columns = {
            name: LiveColumn(
                name=name,
                column_type=(declared or "").lower(),
                # SQLite reports INTEGER PRIMARY KEY columns as nullable; they never hold NULL.
                nullable=not notnull and name not in primary_key,
                default=_normalise_default(default),
                auto_increment=autoincrement and primary_key == (name,),
            )
            for _, name, declared, notnull, default, _ in info
        }
        cursor.execute(f"PRAGMA index_list({quoted})")
        index_rows = cursor.fetchall()
        keys = {}
        for index_row in index_rows:
            index_name, unique, origin = index_row[1], bool(index_row[2]), index_row[3]
            if origin == "pk":
                continue
            cursor.execute(f"PRAGMA index_info({connection.ops.quote_name(index_name)})")
            index_cols = tuple(name for _, _, name in sorted(cursor.fetchall()))
            # install_schema prefixes SQLite index names (they are global there) with the table.
            keys[index_name.removeprefix(f"{table_name}__")] = (index_cols, unique)
    return LiveTable(columns, primary_key, keys)


# --- comparison ----------------------------------------------------------------------------

def _compare_table(expected, live, vendor):
    problems = []
    for column in expected.columns:
        actual = live.columns.get(column.name)
        if actual is None:
            problems.append(Problem(ERROR, expected.name, f"column {column.name} is missing"))
            continue
        problems.extend(_compare_column(expected, column, actual, vendor))
    if tuple(expected.primary_key) != live.primary_key:
        severity = ERROR if expected.primary_key and not live.primary_key else WARNING
        problems.append(Problem(
            severity, expected.name,
            f"primary key is ({', '.join(live.primary_key) or 'none'}), "
            f"expected ({', '.join(expected.primary_key) or 'none'})",
        ))
    for key in expected.keys:
        problems.extend(_compare_key(expected.name, key, live))
    return problems


def _compare_key(table_name, key, live):
    wanted = ", ".join(key.columns)
    kind = "unique key" if key.unique else "key"
    actual = live.keys.get(key.name)
    if actual is None:
        same_columns = [name for name, (cols, _) in live.keys.items() if cols == key.columns]
        if same_columns:
            return [Problem(WARNING, table_name, f"{kind} {key.name} ({wanted}) exists here as {same_columns[0]}")]
        return [Problem(ERROR, table_name, f"{kind} {key.name} ({wanted}) is missing")]
    columns, unique = actual
    if columns != key.columns:
        return [Problem(ERROR, table_name, f"{kind} {key.name} is on ({', '.join(columns)}), expected ({wanted})")]
    if unique != key.unique:
        found = "unique" if unique else "not unique"
        return [Problem(WARNING, table_name, f"key {key.name} ({wanted}) is {found}, expected {kind}")]
    return []


def _compare_column(table, column, actual, vendor):
    problems = []
    where = f"column {column.name}"
    if vendor == "mysql":
        loses_data, differs = _mysql_type_difference(ColumnType.parse(column.mysql_type), ColumnType.parse(actual.column_type))
    else:
        # SQLite does not enforce declared types, so no declared type can lose data there.
        loses_data, differs = False, actual.column_type != schema.sqlite_type(column.mysql_type).lower()
    if differs:
        severity = ERROR if loses_data and table.written_by_project else WARNING
        problems.append(Problem(severity, table.name, f"{where} is {actual.column_type}, expected {column.mysql_type}"
                                + (" (can lose data this project writes)" if severity == ERROR else "")))
    if actual.nullable != column.nullable:
        state = "NULL" if actual.nullable else "NOT NULL"
        problems.append(Problem(WARNING, table.name, f"{where} is {state}, expected {'NULL' if column.nullable else 'NOT NULL'}"))
    if not _same_default(column.default, actual.default):
        problems.append(Problem(
            WARNING, table.name,
            f"{where} default is {_show(actual.default)}, expected {_show(_normalise_default(column.default))}",
        ))
    if column.auto_increment and not actual.auto_increment:
        problems.append(Problem(WARNING, table.name, f"{where} is not AUTO_INCREMENT"))
    return problems


def _show(default):
    return "none" if default is None else repr(default)


def _same_default(expected_literal, actual):
    expected = _normalise_default(expected_literal)
    if expected == actual:
        return True
    if expected is None or actual is None:
        return False
    try:
        return Decimal(expected) == Decimal(actual)
    except InvalidOperation:
        return False


def _string_capacity(column_type):
    if column_type.base in ("varchar", "char") and column_type.args:
        return column_type.args[0]
    return _TEXT_CAPACITY.get(column_type.base)


def _mysql_type_difference(expected, actual):
    """(can_lose_data, differs) for two MySQL column types; integer display widths are ignored."""
    if expected.base in _INTEGER_RANK and actual.base in _INTEGER_RANK:
        narrower = _INTEGER_RANK[actual.base] < _INTEGER_RANK[expected.base]
        signed_instead = expected.unsigned and not actual.unsigned
        differs = (
            _INTEGER_RANK[actual.base] != _INTEGER_RANK[expected.base]
            or expected.unsigned != actual.unsigned
            # tinyint(1) is MySQL's boolean spelling; other integer display widths mean nothing.
            or (expected.base == "tinyint" and expected.args == (1,) and actual.args not in ((1,), ()))
        )
        return narrower or signed_instead, differs
    if expected.base == "decimal" and actual.base == "decimal":
        precision, scale = (expected.args + (10, 0))[:2]
        actual_precision, actual_scale = (actual.args + (10, 0))[:2]
        narrower = actual_scale < scale or actual_precision - actual_scale < precision - scale
        signed_instead = expected.unsigned and not actual.unsigned
        return narrower or signed_instead, expected != actual
    expected_capacity, actual_capacity = _string_capacity(expected), _string_capacity(actual)
    if expected_capacity is not None and actual_capacity is not None:
        return actual_capacity < expected_capacity, expected != actual
    # A different family (say varchar where an integer belongs) cannot be trusted with our values.
    return expected != actual, expected != actual


def key_columns(table_name, using="default"):
    """{key name: (columns, unique)} of a live table, primary key excluded (SQLite's names without
    install_schema's table prefix); empty when the table is missing. Readers use it to find an
    optional key such as `schema.CAMPAIGN_TIME_KEY` once an operator has added it."""
    live = _introspect(connections[using], table_name)
    return {} if live is None else dict(live.keys)
