"""The SQL of journeys (SPEC §4): keyset-paged conversion reads, batched candidate reads and
atomic batched journey writes. Nothing else in the journeys app builds SQL.

202 table names start with a digit, so every statement quotes them with the backend's
`quote_name`; values are query parameters, except integer IN lists and numeric rows, which
`tracker.sql` formats itself (no escaping needed, no parameter limit).
"""
from collections import defaultdict
from decimal import Decimal
from itertools import groupby
from operator import itemgetter
from typing import NamedTuple

from django.conf import settings
from django.db import connections, transaction

from journeys.building import MATCH_VISITOR, Candidate, CandidateCollector
from journeys.rules import (
    FLAG_BEYOND_CAP,
    FLAG_OUTSIDE_WINDOW,
    FLAG_VISITOR_UNKNOWN,
    SettingRow,
    window_start,
)
from tracker import schema
from tracker.schema_check import key_columns, key_named
from tracker.sql import IN_LIST_SIZE, chunks, insert_numeric_rows, integer_list, placeholders, rows_for_ids

CONVERSIONS = "202_conversion_logs"
CLICKS = "202_clicks"
CLICKS_ADVANCE = "202_clicks_advance"
TOUCHPOINTS = "202_conversion_touchpoints"
USERS = "202_users"
CAMPAIGNS = "202_aff_campaigns"
SETTINGS = "202_attribution_settings"

# Prosper202's keys of 202_clicks that candidate reads name (the optional one is
# tracker.schema.CAMPAIGN_TIME_KEY).
USER_TIME_KEY = "user_click_time"
CAMPAIGN_KEY = "aff_campaign_id"
# Click rows one candidate read brings into memory at once: a slice of the walk, or a group of
# campaigns read whole.
CANDIDATE_SLICE_ROWS = 50_000
# Campaigns whose clicks number more than this in all are never read whole (see _ClickRead).
WHOLE_CAMPAIGNS_MAX_ROWS = 10 * CANDIDATE_SLICE_ROWS
# Click ids per duplicate-row check (an index-only GROUP BY).
DUPLICATE_CHECK_IDS = 5000
# MariaDB's multi-range read buffer for candidate reads (rows fetched in table order per fill).
MULTI_RANGE_READ_BUFFER = 4 * 1024 * 1024
TOUCHPOINT_COLUMNS = ("conv_id", "click_id", "click_time", "position", "created_at")


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


def conversion_time_span(account_id, *, campaign_ids=None, start=None, using="default"):
    """(first, last) conv_time of the account's live conversions (optionally of these campaigns,
    from `start` on), or None when there are none; read on the user_id key."""
    connection = connections[using]
    where, params = ["user_id = %s", "deleted = 0"], [account_id]
    if campaign_ids is not None:
        if not campaign_ids:
            return None
        where.append(f"campaign_id IN ({placeholders(len(campaign_ids))})")
        params.extend(sorted(set(campaign_ids)))
    if start is not None:
        where.append("conv_time >= %s")
        params.append(start)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT MIN(conv_time), MAX(conv_time) FROM {_q(connection, CONVERSIONS)} WHERE {' AND '.join(where)}",
            params,
        )
        first, last = cursor.fetchone()
    return None if first is None else (first, last)


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
    """conv_id -> candidate clicks of a batch of conversions (SPEC §4.1 steps 1-2), read on the
    heavy-read database; `build_journey` makes the journeys from them.

    Conversions are grouped by account and campaign (and visitor, in visitor mode). One read of
    `202_clicks` for the whole batch (`_ClickRead`) gives every group its clicks newest first,
    and each group keeps only what its conversions can use (`CandidateCollector`): memory is
    bounded by the batch, the cap and one slice of the read, never by the window. A conversion
    resolved by the cap whose kept clicks have rows the read never reached (older duplicate rows,
    rare) is then recomputed exactly in SQL. With `visitors` (conv_id -> ip_id) only clicks of
    the conversion's visitor count; conversions missing from it get no candidates.
    """
    alias = using or settings.HEAVY_READ_DATABASE
    candidates = {conversion.conv_id: [] for conversion in conversions}
    groups = defaultdict(list)
    for conversion in conversions:
        ip_id = None if visitors is None else visitors.get(conversion.conv_id)
        if visitors is None or ip_id is not None:
            groups[(conversion.user_id, conversion.campaign_id, ip_id)].append(conversion)
    if not groups:
        return candidates
    collectors = {
        key: CandidateCollector(
            [(c.conv_id, c.conv_time) for c in members], lookback_seconds=lookback_seconds,
            max_touches=max_touches,
        )
        for key, members in groups.items()
    }
    members = [c for group in groups.values() for c in group]
    _ClickRead(alias, collectors, by_visitor=visitors is not None).run(
        low=min(window_start(c.conv_time, lookback_seconds) for c in members),
        oldest=min(c.conv_time for c in members),
        newest=max(c.conv_time for c in members),
    )
    for collector in collectors.values():
        candidates.update(collector.candidates())
    group_of = {c.conv_id: key for key, group in groups.items() for c in group}
    conversion_of = {c.conv_id: c for c in members}
    for conv_id in _not_exact(connections[alias], collectors):
        candidates[conv_id] = _exact_candidates(
            connections[alias], conversion_of[conv_id], group_of[conv_id][2],
            lookback_seconds=lookback_seconds, max_touches=max_touches,
        )
    return candidates


class _ClickRead:
    """One batch's read of `202_clicks`, newest first, feeding each group's collector.

    It walks time slices from the batch's newest conversion down to its earliest window start,
    one query per slice for every account, campaign (and visitor) still wanting clicks; groups
    leave as soon as their conversions are resolved. With the optional
    `schema.CAMPAIGN_TIME_KEY` a slice is one index range per campaign. Without it a slice is a
    range of Prosper202's `(user_id, click_time)` key, which also holds the other campaigns'
    clicks: after the batch's own span, when the remaining campaigns have fewer clicks in all
    (`aff_campaign_id` key) than the accounts have in the rest of the window, those campaigns
    are read whole instead (sparse campaigns whose journeys reach back to the window start).
    Both decisions use the server's row estimates (EXPLAIN: a few index dives, no rows read;
    on SQLite, small by nature, bounded counts). On MariaDB each read fetches rows in table
    order (multi-range read), so a page of 202_clicks is read once per slice, not once per row.
    """

    def __init__(self, alias, collectors, *, by_visitor):
        self.connection = connections[alias]
        self.collectors = collectors
        self.by_visitor = by_visitor
        keys = key_columns(CLICKS, alias)
        self.keys = set(keys)
        self.campaign_time_key = key_named(keys, schema.CAMPAIGN_TIME_KEY.columns)

    def run(self, *, low, oldest, newest):
        """Read [low, newest]: the batch's own span [oldest, newest] first, then back to low."""
        campaign_time = self.campaign_time_key is not None
        index = self.campaign_time_key if campaign_time else USER_TIME_KEY
        high, width = newest, newest - max(low, oldest) + 1
        span_rows = self._estimate(index, self._wanted(), (max(low, oldest), newest))
        if span_rows > CANDIDATE_SLICE_ROWS:
            width = max(1, width * CANDIDATE_SLICE_ROWS // span_rows)
        may_read_whole_campaigns = not campaign_time
        while high >= low and (wanted := self._wanted()):
            if may_read_whole_campaigns and high < oldest:
                may_read_whole_campaigns = False  # decided once, right after the batch's own span
                history = self._campaigns_are_cheaper(wanted, low, high)
                if history is not None:
                    self._read_whole_campaigns(wanted, low, high, history)
                    return
            slice_low = max(low, high - width + 1)
            rows = self._rows(index, wanted, slice_low, high)
            self._feed(wanted, rows, slice_low)
            high = slice_low - 1
            width = max(1, min(4 * width, width * CANDIDATE_SLICE_ROWS // max(1, len(rows))))

    def _wanted(self):
        return [key for key, collector in self.collectors.items() if collector.wants_more]

    def _campaigns_are_cheaper(self, wanted, low, high):
        """Whether the wanted campaigns have fewer clicks in all (each one a row to fetch when
        read whole) than their accounts have in [low, high] (each one a row to fetch when
        walking on); returns the campaigns' estimate when they are, else None."""
        history = self._estimate(CAMPAIGN_KEY, wanted, None)
        if history < WHOLE_CAMPAIGNS_MAX_ROWS and history < self._estimate(USER_TIME_KEY, wanted, (low, high)):
            return history
        return None

    def _read_whole_campaigns(self, wanted, low, high, history):
        """Read the wanted campaigns' clicks in [low, high], in parts of about
        CANDIDATE_SLICE_ROWS clicks by the estimate `history` of all their clicks."""
        by_campaign = defaultdict(list)
        for key in wanted:
            by_campaign[key[1]].append(key)
        campaign_ids = sorted(by_campaign)
        parts = -(-history // CANDIDATE_SLICE_ROWS) or 1
        for part in range(parts):
            keys = [key for campaign_id in campaign_ids[part::parts] for key in by_campaign[campaign_id]]
            if keys:
                self._feed(keys, self._rows(CAMPAIGN_KEY, keys, low, high), low)

    def _hint(self, index):
        """MySQL/MariaDB: name the key (the optimizer would pick `aff_campaign_id` for a long
        campaign list and read every click those campaigns ever had); SQLite chooses itself."""
        if self.connection.vendor != "mysql" or index not in self.keys:
            return ""
        return f" FORCE INDEX (`{index}`)"

    def _filters(self, index, keys, low, high):
        """WHERE clause (and JOIN in visitor mode) selecting the groups' clicks in [low, high]."""
        join = ""
        where = [
            f"c.user_id IN ({integer_list(key[0] for key in keys)})",
            f"c.aff_campaign_id IN ({integer_list(key[1] for key in keys)})",
            "c.click_time >= %s AND c.click_time <= %s",
        ]
        if self.by_visitor:
            join = f" JOIN {_q(self.connection, CLICKS_ADVANCE)} a ON a.click_id = c.click_id"
            where.append(f"a.ip_id IN ({integer_list(key[2] for key in keys)})")
        return f"{_q(self.connection, CLICKS)} c{self._hint(index)}{join} WHERE {' AND '.join(where)}", [low, high]

    def _estimate(self, index, keys, times):
        """About how many clicks of the groups' accounts (on `user_click_time`) or campaigns
        (other keys) there are, in `times` = (low, high) unless None. MySQL/MariaDB: the
        optimizer's estimate (EXPLAIN: index dives or statistics, no rows read); SQLite: a
        count, stopped at WHOLE_CAMPAIGNS_MAX_ROWS."""
        column, values = ("c.user_id", {key[0] for key in keys})
        if index != USER_TIME_KEY:
            column, values = ("c.aff_campaign_id", {key[1] for key in keys})
        where, params = f"{column} IN ({integer_list(values)})", []
        if times is not None:
            where += " AND c.click_time >= %s AND c.click_time <= %s"
            params = list(times)
        select = f"SELECT 1 FROM {_q(self.connection, CLICKS)} c{self._hint(index)} WHERE {where}"
        with self.connection.cursor() as cursor:
            if self.connection.vendor != "mysql":
                cursor.execute(f"SELECT COUNT(*) FROM ({select} LIMIT %s) counted", [*params, WHOLE_CAMPAIGNS_MAX_ROWS])
                return cursor.fetchone()[0]
            cursor.execute(_range_options(self.connection) + "EXPLAIN " + select, params)
            names = [column[0].lower() for column in cursor.description]
            return sum(int(row[names.index("rows")] or 0) for row in cursor.fetchall())

    def _rows(self, index, keys, low, high):
        """The groups' clicks in [low, high] as (click_id, click_time, ip_id, user_id,
        campaign_id), group by group, each newest first ((click_time, click_id) descending).
        The server sorts what it fetched (in table order, on MariaDB): cheaper than Python."""
        source, params = self._filters(index, keys, low, high)
        ip_column = "a.ip_id" if self.by_visitor else "NULL"
        group_order = "c.user_id, c.aff_campaign_id" + (", a.ip_id" if self.by_visitor else "")
        with self.connection.cursor() as cursor:
            cursor.execute(
                _multi_range_read(self.connection)
                + f"SELECT c.click_id, c.click_time, {ip_column}, c.user_id, c.aff_campaign_id FROM {source}"
                + f" ORDER BY {group_order}, c.click_time DESC, c.click_id DESC",
                params,
            )
            return cursor.fetchall()

    def _feed(self, keys, rows, read_down_to):
        """Give each group its rows (newest first), and every group of `keys` the read position
        (which alone resolves conversions whose window start it has passed)."""
        by_group = {key: list(group) for key, group in groupby(rows, key=_GROUP)}
        for key in keys:
            self.collectors[key].feed(by_group.get(key, ()), read_down_to)


# Click rows are (click_id, click_time, ip_id, user_id, campaign_id); a group is (user_id,
# campaign_id, ip_id), ip_id None in campaign mode.
_GROUP = itemgetter(3, 4, 2)


def _multi_range_read(connection):
    """MariaDB: fetch a range's rows in table order (multi-range read) and keep long IN lists as
    ranges, for this statement only. Other backends read as they choose."""
    if connection.vendor == "mysql" and connection.mysql_is_mariadb:
        return (
            "SET STATEMENT optimizer_switch='mrr=on,mrr_sort_keys=on,mrr_cost_based=off',"
            f" mrr_buffer_size={MULTI_RANGE_READ_BUFFER}, in_predicate_conversion_threshold=0 FOR "
        )
    return ""


def _range_options(connection):
    """MariaDB: keep a long IN list a range (not a semi-join), so EXPLAIN estimates its rows."""
    if connection.vendor == "mysql" and connection.mysql_is_mariadb:
        return "SET STATEMENT in_predicate_conversion_threshold=0 FOR "
    return ""


def _not_exact(connection, collectors):
    """Conversions resolved by the cap that kept a click with more rows in `202_clicks` than the
    read gave them: an older duplicate row may lower that click's time (SPEC §4.1 step 2)."""
    seen = {}
    for collector in collectors.values():
        seen.update(collector.capped())
    rows_of = _duplicated_clicks(connection, {click_id for counts in seen.values() for click_id in counts})
    if not rows_of:
        return []
    return [
        conv_id for conv_id, counts in seen.items()
        if any(rows_of.get(click_id, 1) > count for click_id, count in counts.items())
    ]


def _duplicated_clicks(connection, click_ids):
    """click_id -> rows, for the given clicks having more than one `202_clicks` row (index-only)."""
    found = {}
    with connection.cursor() as cursor:
        for chunk in chunks(sorted(click_ids), DUPLICATE_CHECK_IDS):
            cursor.execute(
                f"SELECT click_id, COUNT(*) FROM {_q(connection, CLICKS)} WHERE click_id IN ({integer_list(chunk)})"
                " GROUP BY click_id HAVING COUNT(*) > 1"
            )
            found.update(cursor.fetchall())
    return found


def _exact_candidates(connection, conversion, ip_id, *, lookback_seconds, max_touches):
    """SPEC §4.1 steps 1-2 for one conversion in one GROUP BY: its `max_touches` most recent
    clicks, each at its smallest click_time among its candidate rows."""
    visitor_join, params = "", []
    if ip_id is not None:
        visitor_join = f" JOIN {_q(connection, CLICKS_ADVANCE)} a ON a.click_id = c.click_id AND a.ip_id = %s"
        params.append(ip_id)
    params += [conversion.user_id, conversion.campaign_id, window_start(conversion.conv_time, lookback_seconds),
               conversion.conv_time, max_touches]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT c.click_id, MIN(c.click_time) AS first_time FROM {_q(connection, CLICKS)} c{visitor_join}"
            " WHERE c.user_id = %s AND c.aff_campaign_id = %s AND c.click_time >= %s AND c.click_time <= %s"
            " GROUP BY c.click_id ORDER BY first_time DESC, c.click_id DESC LIMIT %s",
            params,
        )
        return [Candidate(click_id, click_time, ip_id) for click_id, click_time in cursor.fetchall()]


def replace_journeys(journeys, *, created_at, using="default"):
    """Delete these conversions' touchpoints and insert their new journeys; returns rows written.

    Old rows are deleted only for the conversions that have some (a first backfill deletes
    nothing), then multi-row INSERTs of pre-formatted numbers (`insert_numeric_rows`). Runs
    inside the caller's transaction or one of its own, so a conversion never has a partial
    journey (SPEC §4.1 step 5).
    """
    connection = connections[using]
    table = _q(connection, TOUCHPOINTS)
    rows = [(journey.conv_id, *touch, created_at) for journey in journeys for touch in journey.touches]
    with transaction.atomic(using=using, savepoint=False), connection.cursor() as cursor:
        for chunk in chunks([journey.conv_id for journey in journeys], IN_LIST_SIZE):
            cursor.execute(f"SELECT DISTINCT conv_id FROM {table} WHERE conv_id IN ({integer_list(chunk)})")
            stale = [row[0] for row in cursor.fetchall()]
            if stale:
                cursor.execute(f"DELETE FROM {table} WHERE conv_id IN ({integer_list(stale)})")
        insert_numeric_rows(cursor, TOUCHPOINTS, TOUCHPOINT_COLUMNS, rows, using=using)
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
