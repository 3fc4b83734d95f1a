"""The SQL of journeys (SPEC §4): keyset-paged conversion reads, batched candidate reads and
atomic batched journey writes. Nothing else in the journeys app builds SQL.

202 table names start with a digit, so every statement quotes them with the backend's
`quote_name`; values are always query parameters.
"""
from collections import defaultdict
from decimal import Decimal
from typing import NamedTuple

from django.conf import settings
from django.db import connections, transaction

from journeys.building import MATCH_VISITOR, Candidate, CandidateCollector
from journeys.rules import FLAG_BEYOND_CAP, FLAG_OUTSIDE_WINDOW, FLAG_VISITOR_UNKNOWN, SettingRow
from tracker.sql import IN_LIST_SIZE, chunks, placeholders, rows_for_ids

CONVERSIONS = "202_conversion_logs"
CLICKS = "202_clicks"
CLICKS_ADVANCE = "202_clicks_advance"
TOUCHPOINTS = "202_conversion_touchpoints"
USERS = "202_users"
CAMPAIGNS = "202_aff_campaigns"
SETTINGS = "202_attribution_settings"

# Rows per candidate read: a campaign with millions of clicks in its window is read in slices
# that start small (most groups need little more than the cap) and double up to this size.
CANDIDATE_CHUNK_ROWS = 10_000
# Rows per multi-row INSERT statement.
ROWS_PER_INSERT = 2000


FIVE_PLACES = Decimal("0.00001")


def decimal5(value):
    """A DECIMAL(·,5) column value as an exact Decimal (SQLite returns floats; None is 0)."""
    return Decimal(value or 0).quantize(FIVE_PLACES)


class ConversionRow(NamedTuple):
    """A conversion with its account's and campaign's state: the one conversion shape of both apps."""

    conv_id: int
    user_id: int
    campaign_id: int
    click_id: int
    click_time: int
    conv_time: int
    deleted: int
    user_deleted: int | None  # None: the 202_users row is missing
    advertiser_id: int | None  # None: the 202_aff_campaigns row is missing
    revenue: Decimal  # the conversion's click_payout


class ClickFacts(NamedTuple):
    """A click's columns as every report uses them: duplicate rows resolved to each column's
    smallest value (SPEC §4.1 step 2)."""

    campaign_id: int
    landing_page_id: int
    ppc_account_id: int
    cpc: Decimal


def _q(connection, table):
    return connection.ops.quote_name(table)


def conversion_batches(*, batch_size, after_conv_id=0, **filters):
    """Every conversion matching `filters` (see conversion_batch), in keyset batches on conv_id."""
    while True:
        batch = conversion_batch(after_conv_id=after_conv_id, limit=batch_size, **filters)
        if not batch:
            return
        yield batch
        after_conv_id = batch[-1].conv_id


def conversion_batch(*, after_conv_id, limit, start=None, end=None, user_ids=None,
                     campaign_ids=None, conv_ids=None, max_conv_id=None, live_only=False,
                     without_journey=False, using="default"):
    """The next `limit` conversions with conv_id > after_conv_id (keyset on the primary key),
    conv_time in [start, end] (both inclusive, either optional).

    Soft-deleted conversions and those of deleted accounts are returned too unless `live_only`
    (deleted = 0), so that callers can count them and move their keyset past them.
    `without_journey` keeps only conversions with no touchpoint row (probed on its conv_id key).
    """
    connection = connections[using]
    where, params = ["c.conv_id > %s"], [after_conv_id]
    if max_conv_id is not None:
        where.append("c.conv_id <= %s")
        params.append(max_conv_id)
    if live_only:
        where.append("c.deleted = 0")
    if without_journey:
        where.append(f"NOT EXISTS (SELECT 1 FROM {_q(connection, TOUCHPOINTS)} t WHERE t.conv_id = c.conv_id)")
    if start is not None:
        where.append("c.conv_time >= %s")
        params.append(start)
    if end is not None:
        where.append("c.conv_time <= %s")
        params.append(end)
    for column, values in (("c.user_id", user_ids), ("c.campaign_id", campaign_ids), ("c.conv_id", conv_ids)):
        if values is not None:
            values = sorted(set(values))
            if not values:
                return []
            where.append(f"{column} IN ({placeholders(len(values))})")
            params.extend(values)
    params.append(limit)
    sql = (
        "SELECT c.conv_id, c.user_id, c.campaign_id, c.click_id, c.click_time, c.conv_time, c.deleted,"
        " u.user_deleted, a.aff_network_id, c.click_payout"
        f" FROM {_q(connection, CONVERSIONS)} c"
        f" LEFT JOIN {_q(connection, USERS)} u ON u.user_id = c.user_id"
        f" LEFT JOIN {_q(connection, CAMPAIGNS)} a ON a.aff_campaign_id = c.campaign_id"
        f" WHERE {' AND '.join(where)} ORDER BY c.conv_id LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [ConversionRow(*row[:9], decimal5(row[9])) for row in cursor.fetchall()]


def conversion_time_batches(account_id, start, end_exclusive, *, batch_size=5000, using="default"):
    """(conv_id, conv_time) of the account's live conversions in [start, end), keyset on
    conv_id: cheap enough to index a whole 30-day window by hour first."""
    connection = connections[using]
    sql = (
        f"SELECT conv_id, conv_time FROM {_q(connection, CONVERSIONS)}"
        " WHERE user_id = %s AND deleted = 0 AND conv_time >= %s AND conv_time < %s"
        " AND conv_id > %s ORDER BY conv_id LIMIT %s"
    )
    last_conv_id = 0
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


def conversion_counts_by_slice(*, start, end, slice_seconds, account_ids=None, using="default"):
    """{(user_id, slice index): conversions} of conversions with conv_time in [start, end], slice k
    covering [start + k·slice_seconds, start + (k+1)·slice_seconds); one grouped query."""
    connection = connections[using]
    where, params = ["conv_time >= %s", "conv_time <= %s"], [start, end]
    if account_ids is not None:
        account_ids = sorted(set(account_ids))
        if not account_ids:
            return {}
        where.append(f"user_id IN ({placeholders(len(account_ids))})")
        params.extend(account_ids)
    sql = (
        f"SELECT user_id, (conv_time - %s) / %s AS slice_index, COUNT(*) FROM {_q(connection, CONVERSIONS)}"
        f" WHERE {' AND '.join(where)} GROUP BY user_id, slice_index"
    )
    if connection.vendor == "mysql":  # integer division: MySQL's / is decimal
        sql = sql.replace("(conv_time - %s) / %s", "(conv_time - %s) DIV %s")
    with connection.cursor() as cursor:
        cursor.execute(sql, [start, slice_seconds, *params])
        return {(user_id, int(index)): count for user_id, index, count in cursor.fetchall()}


def highest_conv_id(using="default"):
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT MAX(conv_id) FROM {_q(connection, CONVERSIONS)}")
        return cursor.fetchone()[0] or 0


def campaign_ids_of_advertiser(account_id, advertiser_id, using="default"):
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT aff_campaign_id FROM {_q(connection, CAMPAIGNS)} WHERE user_id = %s AND aff_network_id = %s",
            [account_id, advertiser_id],
        )
        return [row[0] for row in cursor.fetchall()]


def setting_rows(user_ids, using="default"):
    """user_id -> [SettingRow] for these accounts, in one query."""
    user_ids = sorted(set(user_ids))
    rows = defaultdict(list)
    if not user_ids:
        return rows
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT user_id, scope_type, scope_id, multi_touch_enabled, updated_at, setting_id"
            f" FROM {_q(connection, SETTINGS)} WHERE user_id IN ({placeholders(len(user_ids))})",
            user_ids,
        )
        for user_id, *columns in cursor.fetchall():
            rows[user_id].append(SettingRow(*columns))
    return rows


def accounts_with_disabled_settings(user_ids=None, using="default"):
    """Accounts having at least one multi-touch-disabled settings row (purge candidates)."""
    connection = connections[using]
    sql = f"SELECT DISTINCT user_id FROM {_q(connection, SETTINGS)} WHERE multi_touch_enabled = 0"
    params = []
    if user_ids is not None:
        user_ids = sorted(set(user_ids))
        if not user_ids:
            return []
        sql += f" AND user_id IN ({placeholders(len(user_ids))})"
        params = user_ids
    with connection.cursor() as cursor:
        cursor.execute(sql + " ORDER BY user_id", params)
        return [row[0] for row in cursor.fetchall()]


def visitors_of_clicks(click_ids, using=None):
    """click_id -> ip_id from 202_clicks_advance (missing click ids: visitor unknown)."""
    connection = connections[using or settings.HEAVY_READ_DATABASE]
    sql = f"SELECT click_id, ip_id FROM {_q(connection, CLICKS_ADVANCE)} WHERE click_id IN ({{ids}})"
    return dict(rows_for_ids(connection, sql, click_ids))


def collect_candidates(conversions, *, lookback_seconds, max_touches, visitors=None, using=None):
    """conv_id -> candidate clicks for a batch of conversions, read on the heavy-read database.

    One read per account of the batch, for the batch's campaigns of that account, covering
    [earliest window start, latest conv_time]: the only time index Prosper202 guarantees on
    202_clicks is (user_id, click_time), so a read per campaign would walk the account's same
    index range once per campaign. The read goes newest first in slices (growing up to
    CANDIDATE_CHUNK_ROWS); a campaign leaves the read as soon as every conversion of it holds
    its capped journey (see CandidateCollector). With `visitors` (conv_id -> ip_id, visitor
    mode) only clicks of those visitors are read; conversions missing from it get no candidates.
    """
    connection = connections[using or settings.HEAVY_READ_DATABASE]
    accounts = defaultdict(lambda: defaultdict(list))
    for conversion in conversions:
        if visitors is None or visitors.get(conversion.conv_id) is not None:
            accounts[conversion.user_id][conversion.campaign_id].append(conversion)
    candidates = {conversion.conv_id: [] for conversion in conversions}
    with connection.cursor() as cursor:
        for user_id, campaigns in accounts.items():
            members = [c for campaign in campaigns.values() for c in campaign]
            collectors = {
                campaign_id: CandidateCollector(
                    [(c.conv_id, c.conv_time) for c in campaign],
                    lookback_seconds=lookback_seconds,
                    max_touches=max_touches,
                    visitors=None if visitors is None else {c.conv_id: visitors[c.conv_id] for c in campaign},
                )
                for campaign_id, campaign in campaigns.items()
            }
            window = (
                min(max(0, c.conv_time - lookback_seconds) for c in members),
                max(c.conv_time for c in members),
            )
            ips = None if visitors is None else sorted({visitors[c.conv_id] for c in members})
            first_slice = 2 * max_touches * len(collectors) + 4 * len(members)
            _walk_clicks_newest_first(cursor, connection, user_id, collectors, window, ips, first_slice)
            for collector in collectors.values():
                candidates.update(collector.candidates())
    return candidates


def _walk_clicks_newest_first(cursor, connection, user_id, collectors, window, ips, slice_rows):
    """Feed each campaign's collector its clicks in the window, newest first, slice by slice.

    Slices are ordered by click_time only, so the (user_id, click_time) index serves them
    without a sort; the last second of a full slice is re-read whole by the next slice so ties
    are ordered by click_id in Python.
    """
    low, upper = window
    slice_rows = max(2, min(slice_rows, CANDIDATE_CHUNK_ROWS))
    wanted = sorted(collectors)
    while wanted and upper >= low:
        if ips is None:
            base = (
                f"SELECT c.click_id, c.click_time, c.aff_campaign_id FROM {_q(connection, CLICKS)} c"
                f" WHERE c.user_id = %s AND c.aff_campaign_id IN ({placeholders(len(wanted))})"
            )
            base_params = [user_id, *wanted]
        else:
            base = (
                f"SELECT c.click_id, c.click_time, c.aff_campaign_id, a.ip_id FROM {_q(connection, CLICKS)} c"
                f" JOIN {_q(connection, CLICKS_ADVANCE)} a ON a.click_id = c.click_id"
                f" WHERE c.user_id = %s AND c.aff_campaign_id IN ({placeholders(len(wanted))})"
                f" AND a.ip_id IN ({placeholders(len(ips))})"
            )
            base_params = [user_id, *wanted, *ips]
        cursor.execute(
            base + " AND c.click_time >= %s AND c.click_time <= %s ORDER BY c.click_time DESC LIMIT %s",
            [*base_params, low, upper, slice_rows],
        )
        rows = cursor.fetchall()
        last_slice = len(rows) < slice_rows
        if not last_slice:
            oldest = rows[-1][1]
            if rows[0][1] == oldest:
                # A whole slice within one second: read that second completely.
                cursor.execute(base + " AND c.click_time = %s", [*base_params, oldest])
                rows = cursor.fetchall()
                upper = oldest - 1
            else:
                rows = [row for row in rows if row[1] > oldest]
                upper = oldest
        by_campaign = defaultdict(list)
        for row in rows:
            by_campaign[row[2]].append(Candidate(row[0], row[1], row[3] if ips is not None else None))
        for campaign_id, campaign_rows in by_campaign.items():
            collectors[campaign_id].feed(_newest_first(campaign_rows))
        if last_slice:
            return
        wanted = [campaign_id for campaign_id in wanted if collectors[campaign_id].wants_more]
        slice_rows = min(2 * slice_rows, CANDIDATE_CHUNK_ROWS)


def _newest_first(rows):
    return sorted(rows, key=lambda row: (row[1], row[0]), reverse=True)


def replace_journeys(journeys, *, created_at, using="default"):
    """Delete these conversions' touchpoints and insert their new journeys; returns rows written.

    Old rows are deleted only for the conversions that have some (a first backfill deletes
    nothing), then multi-row INSERTs: executemany on a plain INSERT ... VALUES (%s, ...) is
    rewritten by mysqlclient into INSERT ... VALUES (...), (...) statements. Runs inside the
    caller's transaction or one of its own.
    """
    connection = connections[using]
    table = _q(connection, TOUCHPOINTS)
    rows = [
        (journey.conv_id, touch.click_id, touch.click_time, touch.position, created_at)
        for journey in journeys
        for touch in journey.touches
    ]
    with transaction.atomic(using=using, savepoint=False), connection.cursor() as cursor:
        for chunk in chunks([journey.conv_id for journey in journeys], IN_LIST_SIZE):
            cursor.execute(
                f"SELECT DISTINCT conv_id FROM {table} WHERE conv_id IN ({placeholders(len(chunk))})", chunk
            )
            stale = [row[0] for row in cursor.fetchall()]
            if stale:
                cursor.execute(f"DELETE FROM {table} WHERE conv_id IN ({placeholders(len(stale))})", stale)
        for chunk in chunks(rows, ROWS_PER_INSERT):
            cursor.executemany(
                f"INSERT INTO {table} (conv_id, click_id, click_time, position, created_at)"
                " VALUES (%s, %s, %s, %s, %s)",
                chunk,
            )
    return len(rows)


def touchpoint_counts(conv_ids, using="default"):
    """conv_id -> number of touchpoint rows, for the conversions that have any."""
    connection = connections[using]
    sql = f"SELECT conv_id, COUNT(*) FROM {_q(connection, TOUCHPOINTS)} WHERE conv_id IN ({{ids}}) GROUP BY conv_id"
    return dict(rows_for_ids(connection, sql, conv_ids))


def delete_touchpoints(conv_ids, using="default"):
    """Delete every touchpoint row of these conversions; returns rows deleted."""
    connection = connections[using]
    deleted = 0
    with connection.cursor() as cursor:
        for chunk in chunks(sorted(set(conv_ids)), IN_LIST_SIZE):
            cursor.execute(
                f"DELETE FROM {_q(connection, TOUCHPOINTS)} WHERE conv_id IN ({placeholders(len(chunk))})", chunk
            )
            deleted += cursor.rowcount
    return deleted


def stored_touches(conv_ids, using="default"):
    """conv_id -> [(click_id, click_time, position)] in stored order, for conversions with rows."""
    connection = connections[using]
    sql = (
        f"SELECT conv_id, click_id, click_time, position FROM {_q(connection, TOUCHPOINTS)}"
        " WHERE conv_id IN ({ids}) ORDER BY conv_id, position, touchpoint_id"
    )
    touches = defaultdict(list)
    for conv_id, *touch in rows_for_ids(connection, sql, conv_ids):
        touches[conv_id].append(tuple(touch))
    return touches


def stored_journeys(conv_ids, using="default"):
    """conv_id -> [(click_id, click_time)] in stored order, for the conversions that have rows."""
    return {
        conv_id: [(click_id, click_time) for click_id, click_time, _ in touches]
        for conv_id, touches in stored_touches(conv_ids, using).items()
    }


def click_facts(click_ids, using="default"):
    """{click_id: ClickFacts} for the clicks that exist in `202_clicks`.

    Duplicate rows of one click resolve to each column's smallest value (SQL MIN semantics:
    NULLs ignored), so every report sees the same click. Duplicates are rare, so they are
    collapsed here rather than by a GROUP BY, which made the server sort every batch.
    """
    connection = connections[using]
    sql = (
        "SELECT click_id, aff_campaign_id, landing_page_id, ppc_account_id, click_cpc"
        f" FROM {_q(connection, CLICKS)} WHERE click_id IN ({{ids}})"
    )
    found = {}
    for row in rows_for_ids(connection, sql, click_ids):
        seen = found.get(row[0])
        found[row[0]] = row if seen is None else tuple(map(_smallest, seen, row))
    return {
        click_id: ClickFacts(campaign_id or 0, landing_page_id or 0, ppc_account_id or 0, decimal5(cpc))
        for click_id, campaign_id, landing_page_id, ppc_account_id, cpc in found.values()
    }


def _smallest(a, b):
    """MIN() of two column values, ignoring NULLs as SQL does."""
    if a is None:
        return b
    return a if b is None else min(a, b)


def review_flags(*, lookback_seconds, max_touches, visitor_match, conv_ids=None, min_conv_id=None,
                 account_ids=None, using="default"):
    """THE "needs manual review" query (SPEC §4.3), for the admin (filter and rows), verify and
    System Checks: {conv_id: {flag, ...}} of the selected conversions' journeys with a touch
    before the lookback window (FLAG_OUTSIDE_WINDOW), more stored touches than the cap
    (FLAG_BEYOND_CAP), or, in visitor mode, a live conversion whose converting click has no
    202_clicks_advance row (FLAG_VISITOR_UNKNOWN).

    Select by `conv_ids` or by `min_conv_id` (conversions above it: a bounded recent range),
    optionally narrowed to `account_ids`.
    """
    connection = connections[using]
    touchpoints, conversions = _q(connection, TOUCHPOINTS), _q(connection, CONVERSIONS)
    where, params = [], []
    if conv_ids is not None:
        conv_ids = sorted(set(conv_ids))
        if not conv_ids:
            return {}
        where.append(f"c.conv_id IN ({placeholders(len(conv_ids))})")
        params.extend(conv_ids)
    if min_conv_id is not None:
        where.append("c.conv_id > %s")
        params.append(min_conv_id)
    if account_ids is not None:
        account_ids = sorted(set(account_ids))
        if not account_ids:
            return {}
        where.append(f"c.user_id IN ({placeholders(len(account_ids))})")
        params.extend(account_ids)
    selected = " AND ".join(where) or "1 = 1"
    queries = [
        (FLAG_OUTSIDE_WINDOW,
         f"SELECT DISTINCT t.conv_id FROM {touchpoints} t JOIN {conversions} c ON c.conv_id = t.conv_id"
         f" WHERE {selected} AND t.click_time < c.conv_time - %s", [*params, lookback_seconds]),
        (FLAG_BEYOND_CAP,
         f"SELECT t.conv_id FROM {touchpoints} t JOIN {conversions} c ON c.conv_id = t.conv_id"
         f" WHERE {selected} GROUP BY t.conv_id HAVING COUNT(*) > %s", [*params, max_touches]),
    ]
    if visitor_match == MATCH_VISITOR:
        queries.append((
            FLAG_VISITOR_UNKNOWN,
            f"SELECT c.conv_id FROM {conversions} c WHERE {selected} AND c.deleted = 0"
            f" AND NOT EXISTS (SELECT 1 FROM {_q(connection, CLICKS_ADVANCE)} a WHERE a.click_id = c.click_id)",
            params,
        ))
    flags = defaultdict(set)
    with connection.cursor() as cursor:
        for flag, sql, query_params in queries:
            cursor.execute(sql, query_params)
            for (conv_id,) in cursor.fetchall():
                flags[conv_id].add(flag)
    return dict(flags)


class OrphanRow(NamedTuple):
    conv_id: int
    user_id: int | None  # None: the conversion row is missing
    reason: str


def orphan_batch(*, after_conv_id, limit, user_ids=None, using="default"):
    """Next conversions (by conv_id) that have touchpoints but are soft-deleted or missing.

    Walks the distinct conv_ids of the touchpoints table by keyset, `limit` at a time; returns
    (orphans, last conv_id scanned or None at the end).
    """
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT conv_id FROM {_q(connection, TOUCHPOINTS)}"
            " WHERE conv_id > %s ORDER BY conv_id LIMIT %s",
            [after_conv_id, limit],
        )
        scanned = [row[0] for row in cursor.fetchall()]
        if not scanned:
            return [], None
        cursor.execute(
            f"SELECT conv_id, user_id, deleted FROM {_q(connection, CONVERSIONS)}"
            f" WHERE conv_id IN ({placeholders(len(scanned))})",
            scanned,
        )
        conversions = {conv_id: (user_id, deleted) for conv_id, user_id, deleted in cursor.fetchall()}
    orphans = []
    for conv_id in scanned:
        if conv_id not in conversions:
            if user_ids is None:
                orphans.append(OrphanRow(conv_id, None, "touchpoints of a missing conversion"))
        else:
            user_id, deleted = conversions[conv_id]
            if deleted and (user_ids is None or user_id in user_ids):
                orphans.append(OrphanRow(conv_id, user_id, "touchpoints of a soft-deleted conversion"))
    return orphans, scanned[-1]
