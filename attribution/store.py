"""The rebuild's SQL (SPEC §6): keyset readers of conversions, journeys and click facts, the
per-user lock, the scheduled-run marker, and the only writer of snapshots and per-touch credits.

Everything here takes and returns plain values; `attribution.rebuild` decides what to write.
202 table names start with a digit, so every statement quotes them with `quote_name`. All reads
and writes go to the default database: a rebuild must see the conversions it is about to
replace, so a lagging replica is never used here.
"""
import fcntl
import hashlib
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, connection, transaction

CONVERSION_BATCH_SIZE = 1000
# Rows per multi-row INSERT on backends without a parameter limit (MySQL/MariaDB).
INSERT_ROWS_PER_STATEMENT = 1000
# Ids per IN (...) list on backends without a parameter limit.
IN_LIST_SIZE = 5000
SCHEDULED_CRONJOB_TYPE = "attr"
REBUILD_CRONJOB_LOG_ID = 2
LOCK_POLL_SECONDS = 0.1

SNAPSHOT_COLUMNS = (
    "model_id", "user_id", "scope_type", "scope_id", "date_hour", "lookback_start",
    "lookback_end", "attributed_clicks", "attributed_conversions", "attributed_revenue",
    "attributed_cost", "created_at",
)
TOUCH_CREDIT_COLUMNS = (
    "snapshot_id", "conv_id", "click_id", "position", "credit", "weight", "created_at",
)


def _table(name):
    return connection.ops.quote_name(name)


def _placeholders(count):
    return ", ".join(["%s"] * count)


def _id_slices(ids):
    """Split ids into IN lists that fit the backend's parameter limit."""
    ids = list(ids)
    size = min(IN_LIST_SIZE, connection.features.max_query_params or IN_LIST_SIZE)
    for offset in range(0, len(ids), size):
        yield ids[offset:offset + size]


def insert_rows(cursor, table, columns, rows):
    """Multi-row INSERTs of `rows` (tuples in `columns` order), as few statements as allowed."""
    limit = connection.features.max_query_params
    per_statement = INSERT_ROWS_PER_STATEMENT if limit is None else max(1, limit // len(columns))
    row_sql = "(" + _placeholders(len(columns)) + ")"
    head = f"INSERT INTO {_table(table)} ({', '.join(columns)}) VALUES "
    for offset in range(0, len(rows), per_statement):
        batch = rows[offset:offset + per_statement]
        cursor.execute(
            head + ", ".join([row_sql] * len(batch)),
            [value for row in batch for value in row],
        )


# Accounts and models ---------------------------------------------------------------------------


def account_deleted_flags(account_ids):
    """{user_id: deleted?} for the given Prosper202 users that exist."""
    flags = {}
    with connection.cursor() as cursor:
        for ids in _id_slices(account_ids):
            cursor.execute(
                f"SELECT user_id, user_deleted FROM {_table('202_users')} "
                f"WHERE user_id IN ({_placeholders(len(ids))})",
                ids,
            )
            flags.update({user_id: bool(deleted) for user_id, deleted in cursor.fetchall()})
    return flags


def live_account_ids():
    """Every Prosper202 user that is not deleted, in id order."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT user_id FROM {_table('202_users')} WHERE user_deleted = 0 ORDER BY user_id"
        )
        return [row[0] for row in cursor.fetchall()]


@dataclass(frozen=True)
class ModelRow:
    """A `202_attribution_models` row as stored (its config not yet validated)."""

    model_id: int
    user_id: int
    model_name: str
    model_type: str
    weighting_config: str | None
    is_active: bool


def model_rows(*, model_ids=None, account_ids=None, active_only=False):
    """Model rows selected by id and/or account, in model id order."""
    conditions, params = [], []
    if model_ids is not None:
        conditions.append(f"model_id IN ({_placeholders(len(model_ids))})")
        params.extend(model_ids)
    if account_ids is not None:
        conditions.append(f"user_id IN ({_placeholders(len(account_ids))})")
        params.extend(account_ids)
    if active_only:
        conditions.append("is_active = 1")
    where = " AND ".join(conditions) or "1 = 1"
    if (model_ids is not None and not model_ids) or (account_ids is not None and not account_ids):
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT model_id, user_id, model_name, model_type, weighting_config, is_active "
            f"FROM {_table('202_attribution_models')} WHERE {where} ORDER BY model_id",
            params,
        )
        return [
            ModelRow(model_id, user_id, name, model_type, config, bool(active))
            for model_id, user_id, name, model_type, config, active in cursor.fetchall()
        ]


# Conversions, journeys, click facts ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConversionRow:
    conv_id: int
    click_id: int
    click_time: int
    campaign_id: int
    revenue: float  # the conversion's click_payout
    conv_time: int


@dataclass(frozen=True, slots=True)
class ClickFacts:
    landing_page_id: int
    ppc_account_id: int
    cpc: float


def conversion_time_batches(account_id, start, end_exclusive, *, batch_size=CONVERSION_BATCH_SIZE):
    """(conv_id, conv_time) of the account's live conversions in [start, end), keyset on conv_id.

    Yields one list per batch; cheap enough to index a whole 30-day window by hour first.
    """
    last_conv_id = 0
    sql = (
        f"SELECT conv_id, conv_time FROM {_table('202_conversion_logs')} "
        "WHERE user_id = %s AND deleted = 0 AND conv_time >= %s AND conv_time < %s "
        "AND conv_id > %s ORDER BY conv_id LIMIT %s"
    )
    while True:
        with connection.cursor() as cursor:
            cursor.execute(sql, [account_id, start, end_exclusive, last_conv_id, batch_size])
            rows = cursor.fetchall()
        if not rows:
            return
        yield rows
        if len(rows) < batch_size:
            return
        last_conv_id = rows[-1][0]


def conversion_batches(account_id, start, end_exclusive, *, min_conv_id=1, max_conv_id=None,
                       batch_size=CONVERSION_BATCH_SIZE):
    """The account's live conversions in [start, end) with min_conv_id ≤ conv_id ≤ max_conv_id,
    as lists of ConversionRow, keyset on conv_id (never OFFSET)."""
    upper = "" if max_conv_id is None else " AND conv_id <= %s"
    sql = (
        "SELECT conv_id, click_id, click_time, campaign_id, click_payout, conv_time "
        f"FROM {_table('202_conversion_logs')} "
        "WHERE user_id = %s AND deleted = 0 AND conv_time >= %s AND conv_time < %s "
        f"AND conv_id > %s{upper} ORDER BY conv_id LIMIT %s"
    )
    last_conv_id = min_conv_id - 1
    while True:
        params = [account_id, start, end_exclusive, last_conv_id]
        if max_conv_id is not None:
            params.append(max_conv_id)
        params.append(batch_size)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        if not rows:
            return
        yield [
            ConversionRow(conv_id, click_id, click_time, campaign_id, float(payout), conv_time)
            for conv_id, click_id, click_time, campaign_id, payout, conv_time in rows
        ]
        if len(rows) < batch_size:
            return
        last_conv_id = rows[-1][0]


def stored_journeys(conv_ids):
    """{conv_id: [(click_id, click_time), ...]} from `202_conversion_touchpoints`, by position."""
    journeys = {}
    with connection.cursor() as cursor:
        for ids in _id_slices(conv_ids):
            cursor.execute(
                f"SELECT conv_id, click_id, click_time FROM {_table('202_conversion_touchpoints')} "
                f"WHERE conv_id IN ({_placeholders(len(ids))}) ORDER BY conv_id, position, touchpoint_id",
                ids,
            )
            for conv_id, click_id, click_time in cursor.fetchall():
                journeys.setdefault(conv_id, []).append((click_id, click_time))
    return journeys


def click_facts(click_ids):
    """{click_id: ClickFacts} for the clicks that exist; duplicate click rows collapse to one
    (the smallest value of each column, so the choice is deterministic).

    Duplicates are rare, so they are collapsed here rather than by a GROUP BY, which made the
    server sort every batch's rows.
    """
    found = {}
    with connection.cursor() as cursor:
        for ids in _id_slices(set(click_ids)):
            cursor.execute(
                "SELECT click_id, landing_page_id, ppc_account_id, click_cpc "
                f"FROM {_table('202_clicks')} WHERE click_id IN ({_placeholders(len(ids))})",
                ids,
            )
            for row in cursor.fetchall():
                seen = found.get(row[0])
                found[row[0]] = row if seen is None else tuple(map(_smallest, seen, row))
    return {
        click_id: ClickFacts(landing_page_id or 0, ppc_account_id or 0, float(cpc or 0))
        for click_id, landing_page_id, ppc_account_id, cpc in found.values()
    }


def _smallest(a, b):
    """MIN() of two column values, ignoring NULLs as SQL does."""
    if a is None:
        return b
    return a if b is None else min(a, b)


def campaign_advertisers(campaign_ids):
    """{aff_campaign_id: aff_network_id} for the campaigns that exist."""
    advertisers = {}
    with connection.cursor() as cursor:
        for ids in _id_slices(set(campaign_ids)):
            cursor.execute(
                f"SELECT aff_campaign_id, aff_network_id FROM {_table('202_aff_campaigns')} "
                f"WHERE aff_campaign_id IN ({_placeholders(len(ids))})",
                ids,
            )
            advertisers.update(dict(cursor.fetchall()))
    return advertisers


def non_converting_channel_counts(account_id, start, end_exclusive, max_conv_id, channel_kind):
    """{channel: clicks} of the account's clicks in [start, end) that no journey of the run used,
    on campaigns with at least one conversion in the run (SPEC §5.2 non-converting paths).

    The run's conversions are the live ones in the window up to `max_conv_id`; a click belongs
    to their journeys when it is a stored touch or a converting click. Counted in SQL so the
    rebuild never holds the window's clicks in memory; duplicate click rows count once.
    """
    column = {"account": "ppc_account_id", "landing_page": "landing_page_id"}[channel_kind]
    clicks, conversions = _table("202_clicks"), _table("202_conversion_logs")
    touchpoints = _table("202_conversion_touchpoints")
    run_conversion = (
        "{alias}.user_id = %s AND {alias}.deleted = 0 AND {alias}.conv_time >= %s "
        "AND {alias}.conv_time < %s AND {alias}.conv_id <= %s"
    )
    run_params = [account_id, start, end_exclusive, max_conv_id]
    # Non-correlated IN / NOT IN sets: both SQLite and MariaDB materialise them once instead of
    # probing per click (correlated NOT EXISTS picked the user_id index on SQLite: minutes).
    sql = (
        f"SELECT channel, COUNT(*) FROM ("
        f"  SELECT k.click_id, MIN(k.{column}) AS channel FROM {clicks} k"
        f"  WHERE k.user_id = %s AND k.click_time >= %s AND k.click_time < %s"
        f"  AND k.aff_campaign_id IN (SELECT r.campaign_id FROM {conversions} r"
        f"    WHERE {run_conversion.format(alias='r')})"
        f"  AND k.click_id NOT IN ("
        f"    SELECT c.click_id FROM {conversions} c WHERE {run_conversion.format(alias='c')}"
        f"    UNION SELECT t.click_id FROM {touchpoints} t JOIN {conversions} tc"
        f"    ON tc.conv_id = t.conv_id WHERE {run_conversion.format(alias='tc')})"
        f"  GROUP BY k.click_id"
        f") unused GROUP BY channel"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [account_id, start, end_exclusive, *run_params, *run_params, *run_params])
        return {(channel or 0): count for channel, count in cursor.fetchall()}


# Snapshot replacement ----------------------------------------------------------------------------


def replace_snapshots(*, model_ids, hour_start, hour_end, snapshot_rows, credit_rows, created_at):
    """Replace every snapshot (all scopes) and per-touch credit of `model_ids` for hours in
    [hour_start, hour_end) with the given rows. Call inside transaction.atomic().

    snapshot_rows: (model_id, user_id, scope_type, scope_id, date_hour, lookback_start,
    lookback_end, clicks, conversions, revenue, cost). credit_rows: (model_id, date_hour,
    conv_id, click_id, position, credit); each hangs under its model's global snapshot of that
    hour, whose id is read back after the insert (the per-user lock makes it the only one).
    Returns the number of rows written.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("replace_snapshots must run inside the chunk's transaction")
    snapshots, credits = _table("202_attribution_snapshots"), _table("202_attribution_touchpoints")
    model_list = _placeholders(len(model_ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT snapshot_id FROM {snapshots} WHERE model_id IN ({model_list}) "
            "AND date_hour >= %s AND date_hour < %s",
            [*model_ids, hour_start, hour_end],
        )
        old_ids = [row[0] for row in cursor.fetchall()]
        for ids in _id_slices(old_ids):
            cursor.execute(f"DELETE FROM {credits} WHERE snapshot_id IN ({_placeholders(len(ids))})", ids)
            cursor.execute(f"DELETE FROM {snapshots} WHERE snapshot_id IN ({_placeholders(len(ids))})", ids)
        insert_rows(
            cursor, "202_attribution_snapshots", SNAPSHOT_COLUMNS,
            [(*row, created_at) for row in snapshot_rows],
        )
        if not credit_rows:
            return len(snapshot_rows)
        cursor.execute(
            f"SELECT model_id, date_hour, snapshot_id FROM {snapshots} WHERE model_id IN ({model_list}) "
            "AND date_hour >= %s AND date_hour < %s AND scope_type = 'global'",
            [*model_ids, hour_start, hour_end],
        )
        global_ids = {(model_id, hour): snapshot_id for model_id, hour, snapshot_id in cursor.fetchall()}
        insert_rows(
            cursor, "202_attribution_touchpoints", TOUCH_CREDIT_COLUMNS,
            [
                (global_ids[(model_id, hour)], conv_id, click_id, position, credit, credit, created_at)
                for model_id, hour, conv_id, click_id, position, credit in credit_rows
            ],
        )
    return len(snapshot_rows) + len(credit_rows)


# Per-user lock -----------------------------------------------------------------------------------


def _lock_name(account_id):
    """A server-wide lock name unique to this database and account (MySQL limit: 64 chars)."""
    database = hashlib.sha1(str(connection.settings_dict["NAME"]).encode()).hexdigest()[:16]
    return f"p202_attr_rebuild_{database}_{account_id}"


def lock_file_path(database_name, account_id):
    """Where the file lock of one account lives on backends without GET_LOCK (SQLite)."""
    digest = hashlib.sha1(str(database_name).encode()).hexdigest()[:16]
    return Path(settings.VAR_DIR) / "locks" / f"rebuild-{digest}-{account_id}.lock"


@contextmanager
def account_lock(account_id, timeout_seconds):
    """Hold the account's rebuild lock for the block; yields False when it stayed busy for
    `timeout_seconds`.

    MySQL/MariaDB: GET_LOCK on the rebuild's own connection, released in `finally` and by the
    server when the connection dies (SIGKILL, lost network). SQLite (one host by nature): an
    exclusive flock on a file under var/locks, which the kernel releases when the process dies.
    """
    if connection.vendor == "mysql":
        name = _lock_name(account_id)
        with connection.cursor() as cursor:
            cursor.execute("SELECT GET_LOCK(%s, %s)", [name, timeout_seconds])
            acquired = cursor.fetchone()[0] == 1
        try:
            yield acquired
        finally:
            if acquired:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT RELEASE_LOCK(%s)", [name])
        return
    path = lock_file_path(connection.settings_dict["NAME"], account_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        acquired = _flock(handle, timeout_seconds)
        try:
            yield acquired
        finally:
            if acquired:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _flock(handle, timeout_seconds):
    deadline = time.monotonic() + timeout_seconds
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(LOCK_POLL_SECONDS)


# Scheduled-run marker and cron log ---------------------------------------------------------------


def scheduled_hour_recorded(hour):
    """Whether a scheduled rebuild already recorded this end hour in `202_cronjobs`."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {_table('202_cronjobs')} WHERE cronjob_type = %s AND cronjob_time = %s",
            [SCHEDULED_CRONJOB_TYPE, hour],
        )
        return cursor.fetchone() is not None


def record_scheduled_hour(hour):
    """Record a scheduled run's end hour once (a forced rerun does not add a second row)."""
    cronjobs = _table("202_cronjobs")
    # MySQL needs FROM DUAL for a table-less SELECT with WHERE; SQLite has no DUAL.
    from_no_table = " FROM DUAL" if connection.vendor == "mysql" else ""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {cronjobs} (cronjob_type, cronjob_time) SELECT %s, %s{from_no_table} "
            f"WHERE NOT EXISTS (SELECT 1 FROM {cronjobs} WHERE cronjob_type = %s AND cronjob_time = %s)",
            [SCHEDULED_CRONJOB_TYPE, hour, SCHEDULED_CRONJOB_TYPE, hour],
        )


def mark_rebuild_succeeded(now):
    """Set `202_cronjob_logs` id 2 (last successful rebuild) to `now`, creating the row."""
    logs = _table("202_cronjob_logs")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {logs} SET last_execution_time = %s WHERE id = %s", [now, REBUILD_CRONJOB_LOG_ID]
        )
        if cursor.rowcount:
            return
        try:
            with transaction.atomic():
                cursor.execute(
                    f"INSERT INTO {logs} (id, last_execution_time) VALUES (%s, %s)",
                    [REBUILD_CRONJOB_LOG_ID, now],
                )
        except IntegrityError:  # another run created it first: ours is the later time
            cursor.execute(
                f"UPDATE {logs} SET last_execution_time = %s WHERE id = %s",
                [now, REBUILD_CRONJOB_LOG_ID],
            )
