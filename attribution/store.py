"""The rebuild's SQL (SPEC §6): model rows, the Markov fit's non-converting clicks, the per-user
lock, the scheduled-run marker, and the only writer of snapshots and per-touch credits.
Conversions and journeys are read through `journeys.source`.

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

from tracker.sql import chunks, insert_numeric_rows, placeholders

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


# Models ---------------------------------------------------------------------------------------


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
        conditions.append(f"model_id IN ({placeholders(len(model_ids))})")
        params.extend(model_ids)
    if account_ids is not None:
        conditions.append(f"user_id IN ({placeholders(len(account_ids))})")
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


# Markov non-converting paths ------------------------------------------------------------------


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
    Both are written by `insert_numeric_rows` (numbers and the scope type, no escaping).
    Returns the number of rows written.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("replace_snapshots must run inside the chunk's transaction")
    if not model_ids:
        return 0
    snapshots, credits = _table("202_attribution_snapshots"), _table("202_attribution_touchpoints")
    model_list = placeholders(len(model_ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT snapshot_id FROM {snapshots} WHERE model_id IN ({model_list}) "
            "AND date_hour >= %s AND date_hour < %s",
            [*model_ids, hour_start, hour_end],
        )
        old_ids = [row[0] for row in cursor.fetchall()]
        for ids in chunks(old_ids):
            cursor.execute(f"DELETE FROM {credits} WHERE snapshot_id IN ({placeholders(len(ids))})", ids)
            cursor.execute(f"DELETE FROM {snapshots} WHERE snapshot_id IN ({placeholders(len(ids))})", ids)
        insert_numeric_rows(
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
        insert_numeric_rows(
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
