"""The SQL of journey summaries (SPEC §7.1, `journeys.summaries`): the rebuild's replacement of
an account's hours, the analysis reports' keyset read, and the check verification runs.

Reads walk the `(user_id, conv_time)` index one account at a time, keyset on (conv_time,
conv_id), so a report holds one batch of rows at a time and never sorts the window.
"""
import time
from decimal import Decimal
from typing import NamedTuple

from django.conf import settings
from django.db import connections, transaction

from journeys import source, store
from journeys.models import JourneySummary
from journeys.summaries import CHANNEL_KINDS, ChannelPath, parse_path_text, path_text, summary_of
from tracker import sql

TABLE = JourneySummary._meta.db_table
COLUMNS = (
    "conv_id", "user_id", "campaign_id", "conv_time", "revenue", "first_touch_time",
    *(f"{channel}_path" for channel in CHANNEL_KINDS), "built_at",
)
DEFAULT_BATCH_SIZE = 5000
REVENUE_QUANTUM = Decimal("0.00001")  # the scale of the revenue column, DECIMAL(11,5)


def stored_values(summary, built_at):
    """A Summary as a row of COLUMNS."""
    return (
        summary.conv_id, summary.user_id, summary.campaign_id, summary.conv_time, summary.revenue,
        summary.first_touch_time, *(path_text(summary.path(channel)) for channel in CHANNEL_KINDS), built_at,
    )


def replace_summaries(summaries, *, account_id, start, end, built_at, using="default"):
    """Make `summaries` the account's summaries of conv_time in [start, end] (inclusive): the
    old rows of that range go, these are inserted. `summaries` are the account's live conversions
    of the range; run it in the transaction that replaces the same hours' snapshots. Returns the
    number of rows written."""
    table = sql.quote(TABLE, using)
    with transaction.atomic(using=using, savepoint=False), connections[using].cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {table} WHERE user_id = %s AND conv_time >= %s AND conv_time <= %s",
            [account_id, start, end],
        )
        return sql.insert_rows(
            cursor, TABLE, COLUMNS, [stored_values(summary, built_at) for summary in summaries], using=using
        )


class ChunkSummaries:
    """The summaries of one account's rebuild chunk (conv_time in [start, end], inclusive),
    collected from the JourneyRecords the rebuild reads anyway (`add` per batch, beside its
    credit pass), then written by `replace` inside the transaction that replaces the chunk's
    snapshots, so the reports and the snapshots always cover the same rebuilt hours."""

    def __init__(self, account_id, start, end):
        self.account_id, self.start, self.end = account_id, start, end
        self.summaries = []

    def add(self, records):
        self.summaries.extend(summary_of(record) for record in records)

    def replace(self, built_at=None, using="default"):
        """Replace the chunk's stored summaries by the collected ones; returns rows written."""
        return replace_summaries(
            self.summaries, account_id=self.account_id, start=self.start, end=self.end,
            built_at=int(time.time()) if built_at is None else built_at, using=using,
        )


def summary_batches(*, account_ids, start, end, channel, campaign_ids=None,
                    batch_size=DEFAULT_BATCH_SIZE, using=None):
    """Lists of ChannelPath of these accounts' conversions with conv_time in [start, end]
    (inclusive), optionally of these campaigns only, in conv_id order. With `channel` None the
    paths are not read (channels are empty): for reports that need only times and revenue.

    The `(user_id, conv_time)` index gives the conv_id range of the window; the rows are then
    read by keyset on the primary key within that range (conv_id grows with conv_time in
    Prosper202, so the range holds little else): sequential reads, no sort, one batch in memory.
    """
    if channel is not None and channel not in CHANNEL_KINDS:
        raise ValueError(f"channel {channel!r} is not one of {', '.join(CHANNEL_KINDS)}")
    path_column = "''" if channel is None else f"{channel}_path"
    account_ids = sorted(set(account_ids))
    campaign_ids = None if campaign_ids is None else sorted(set(campaign_ids))
    if not account_ids or campaign_ids == []:
        return
    connection = connections[using or settings.HEAVY_READ_DATABASE]
    table = connection.ops.quote_name(TABLE)
    where = f"user_id IN ({sql.placeholders(len(account_ids))}) AND conv_time >= %s AND conv_time <= %s"
    params = [*account_ids, start, end]
    if campaign_ids is not None:
        where += f" AND campaign_id IN ({sql.placeholders(len(campaign_ids))})"
        params += campaign_ids
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT MIN(conv_id), MAX(conv_id) FROM {table} WHERE {where}", params)
        after_conv_id, last_conv_id = cursor.fetchone()
        if after_conv_id is None:
            return
        after_conv_id -= 1
        statement = (
            f"SELECT conv_id, conv_time, first_touch_time, revenue, {path_column} FROM {table}"
            f" WHERE conv_id > %s AND conv_id <= %s AND {where} ORDER BY conv_id LIMIT %s"
        )
        while True:
            cursor.execute(statement, [after_conv_id, last_conv_id, *params, batch_size])
            rows = cursor.fetchall()
            if not rows:
                return
            yield [ChannelPath(conv_id, conv_time, first, _decimal(revenue), parse_path_text(path))
                   for conv_id, conv_time, first, revenue, path in rows]
            after_conv_id = rows[-1][0]


def _decimal(value):
    """DECIMAL(11,5) as Decimal of that scale (MySQL returns one; SQLite a number)."""
    return value if type(value) is Decimal else Decimal(str(value)).quantize(REVENUE_QUANTUM)


class SummaryProblem(NamedTuple):
    conv_id: int
    user_id: int | None
    problem: str


def check_summaries(*, start, end, account_ids, batch_size=source.DEFAULT_BATCH_SIZE, using=None):
    """Problems of the stored summaries of these accounts' conversions with conv_time in
    [start, end]: a live conversion without a summary or with one that differs from its journey
    read now (both: rebuild the hours), and summaries of conversions no longer live."""
    using = using or settings.HEAVY_READ_DATABASE
    problems = []
    for batch in source.journey_batches(start=start, end=end, account_ids=account_ids,
                                        batch_size=batch_size, using=using):
        stored = _stored_rows([record.conversion.conv_id for record in batch], using)
        for record in batch:
            conversion = record.conversion
            fresh = stored_values(summary_of(record), None)[:-1]
            found = stored.get(conversion.conv_id)
            if found is None:
                problems.append(SummaryProblem(conversion.conv_id, conversion.user_id, "no journey summary"))
            elif found != fresh:
                problems.append(SummaryProblem(
                    conversion.conv_id, conversion.user_id,
                    "journey summary differs from the journey (stale: rebuild its hour)",
                ))
    problems.extend(_orphans(start, end, account_ids, using))
    return problems


def _stored_rows(conv_ids, using):
    """conv_id -> the stored row (without built_at), revenue as Decimal."""
    connection = connections[using]
    statement = (
        f"SELECT {', '.join(COLUMNS[:-1])} FROM {connection.ops.quote_name(TABLE)} WHERE conv_id IN ({{ids}})"
    )
    return {
        row[0]: (*row[:4], _decimal(row[4]), *row[5:])
        for row in sql.rows_for_ids(connection, statement, conv_ids)
    }


def _orphans(start, end, account_ids, using):
    """Summaries in the range whose conversion is missing or soft-deleted."""
    orphans = []
    for batch in summary_batches(account_ids=account_ids, start=start, end=end, channel=CHANNEL_KINDS[0],
                                 using=using):
        for conv_ids in sql.chunks([row.conv_id for row in batch]):
            live = {
                conversion.conv_id
                for conversion in store.conversion_batch(after_conv_id=0, limit=len(conv_ids), conv_ids=conv_ids,
                                                         live_only=True, using=using)
            }
            orphans.extend(
                SummaryProblem(conv_id, None, "journey summary of a missing or soft-deleted conversion")
                for conv_id in conv_ids if conv_id not in live
            )
    return orphans
