"""The hourly attribution rebuild (SPEC §6): whole-hour windows, per-user locks, chunked atomic
replacement of every model's snapshots and per-touch credits.

How one account is rebuilt, under its lock:
1. Index the window: a keyset pass over the account's conversions records, per conversion hour,
   the count and the conv_id range. When the account has an algorithmic model, the same pass
   reads the journeys and fits the Markov chain once per channel kind (SPEC §5.2) — before any
   chunk is written, from transition counts only (paths are counted, never kept).
2. Cut [H0, H1 + 3600) into chunks of at most CHUNK_MAX_HOURS hours and about
   CHUNK_MAX_CONVERSIONS conversions, so memory and transaction size stay bounded.
3. Per chunk: read its conversions in keyset batches (bounded by the indexed conv_id range, so
   conversions that arrive mid-run wait for the next run, consistently with the fit), compute
   every model's credits and per-hour scope totals in memory, then in ONE transaction delete the
   chunk's old snapshots and credits of those models and insert the new ones. A reader sees an
   hour either old or new; a killed run leaves only whole chunks behind, and rerunning the same
   window writes the same rows.
4. The `snapshot_rebuild` audit rows (one per model) go into the LAST chunk's transaction: an
   audit row exists exactly when its model's whole window committed, and its totals are final.

Money (SPEC §5.1): revenue = conversion payout × credit and cost = converting click's cpc ×
credit, summed from unrounded credits. Each scope row is rounded to the column's 4 decimals by
largest remainder against the hour's rounded global total, so every scope type sums to the
global row exactly (not just within rounding).
"""
import logging
import math
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal

from django.db import reset_queries, transaction

from attribution import store
from attribution.credit import InvalidModelConfig, credits_for, validate_config
from attribution.credit.markov import (
    DEFAULT_CHANNEL_KIND,
    channel_of,
    fit_removal_effects,
)
from attribution.snapshot_cache import invalidate_snapshots_on_commit
from journeys.rules import Touch, journey_from_stored
from tracker import audit

logger = logging.getLogger("attribution.rebuild")

HOUR_SECONDS = 3600
DEFAULT_WINDOW_SECONDS = 86_400
CHUNK_MAX_HOURS = 24
CHUNK_MAX_CONVERSIONS = 20_000
MONEY_PLACES = 4
CREDIT_PLACES = 5
SCOPE_TYPES = ("global", "campaign", "advertiser", "landing_page", "account")

EXIT_OK, EXIT_FAILED, EXIT_BAD_ARGUMENTS, EXIT_LOCKED = 0, 1, 2, 3


class RebuildArgumentError(ValueError):
    """A bad rebuild argument; the message names the argument, the value and what is allowed."""


@dataclass(frozen=True)
class RebuildWindow:
    """The widened window: hours start_hour (H0) .. end_hour (H1), conversions in
    [H0, H1 + 3600)."""

    start_hour: int
    end_hour: int

    @property
    def end_exclusive(self):
        return self.end_hour + HOUR_SECONDS

    @property
    def lookback_end(self):
        return self.end_hour + HOUR_SECONDS - 1

    @property
    def iso_start(self):
        return _iso(self.start_hour)

    @property
    def iso_end(self):
        return _iso(self.lookback_end)


def _iso(epoch):
    """ISO 8601 in UTC with an explicit offset, e.g. 2026-11-24T10:00:00+00:00."""
    return datetime.fromtimestamp(epoch, tz=timezone.utc).isoformat()


def rebuild_window(start=None, end=None, *, now):
    """The whole-hour window for optional epoch bounds (defaults: end = now, start = end − 24 h)."""
    for name, value in (("--start", start), ("--end", end)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise RebuildArgumentError(f"{name}: {value!r} is not allowed; give epoch seconds ≥ 0")
    end = now if end is None else end
    start = end - DEFAULT_WINDOW_SECONDS if start is None else start
    if start > end:
        raise RebuildArgumentError(f"--start: {start} is after --end {end}; the start must not be later")
    start = max(0, start)
    return RebuildWindow(start - start % HOUR_SECONDS, end - end % HOUR_SECONDS)


def plan_chunks(window, hour_counts, *, max_hours=CHUNK_MAX_HOURS, max_conversions=CHUNK_MAX_CONVERSIONS):
    """Consecutive [start, end) hour ranges covering the window, each at most `max_hours` long
    and, unless one hour alone is bigger, at most `max_conversions` conversions."""
    chunks, chunk_start, conversions = [], window.start_hour, 0
    for hour in range(window.start_hour, window.end_exclusive, HOUR_SECONDS):
        count = hour_counts.get(hour, 0)
        full = hour - chunk_start >= max_hours * HOUR_SECONDS or conversions + count > max_conversions
        if hour > chunk_start and full:
            chunks.append((chunk_start, hour))
            chunk_start, conversions = hour, 0
        conversions += count
    chunks.append((chunk_start, window.end_exclusive))
    return chunks


def apportion(values, target_units=None, places=MONEY_PLACES):
    """Round `values` to `places` decimals so that they sum exactly to `target_units` (in units
    of 10^-places; default: their own rounded total) by largest remainder. Returns Decimals."""
    scale = 10 ** places
    scaled = [value * scale for value in values]
    target = round(sum(scaled)) if target_units is None else target_units
    units = [math.floor(value) for value in scaled]
    shortfall = target - sum(units)
    order = sorted(range(len(values)), key=lambda i: (units[i] - scaled[i], i))
    if shortfall < 0:
        order.reverse()
    step = 1 if shortfall > 0 else -1
    for i in order[:abs(shortfall)]:
        units[i] += step
    return [Decimal(unit).scaleb(-places) for unit in units]


# Pure per-chunk arithmetic -----------------------------------------------------------------------


@dataclass
class ModelTotals:
    """What one model's rebuild wrote, for its output line and audit row."""

    conversions: int = 0
    clicks: int = 0
    revenue: float = 0.0
    cost: float = 0.0
    hours: set = field(default_factory=set)


class ChunkAccumulator:
    """Per-hour scope totals and per-touch credit rows of one chunk, for every model (pure).

    Sums live per (model, hour) in one dict per scope type keyed by scope id, so crediting a
    touch costs a few int-keyed dict updates, not a tuple key per scope; float additions happen
    in the same order as touch by touch, so the totals do not depend on this layout.
    """

    def __init__(self):
        # (model_id, hour) -> {scope_type: {scope_id: [clicks, conversions, revenue, cost]}}
        self.groups = {}
        self.credit_rows = []

    def add(self, model_id, hour, journey, credits, revenue, cpc, campaign_id, advertiser_id):
        """Credit one conversion under one model; returns (credited touches, revenue, cost)."""
        group = self.groups.get((model_id, hour))
        if group is None:
            group = self.groups[(model_id, hour)] = {scope_type: {} for scope_type in SCOPE_TYPES}
        clicks = 0
        conv_revenue = conv_cost = 0.0
        landing_pages, accounts = {}, {}
        conv_id, touches, append = journey.conv_id, journey.touches, self.credit_rows.append
        for position, credit in enumerate(credits):
            if credit <= 0.0:
                continue
            touch = touches[position]
            clicks += 1
            touch_revenue, touch_cost = revenue * credit, cpc * credit
            conv_revenue += touch_revenue
            conv_cost += touch_cost
            append((model_id, hour, conv_id, touch.click_id, position, round(credit, CREDIT_PLACES)))
            entry = landing_pages.get(touch.landing_page_id)
            if entry is None:
                landing_pages[touch.landing_page_id] = [1, touch_revenue, touch_cost]
            else:
                entry[0] += 1
                entry[1] += touch_revenue
                entry[2] += touch_cost
            entry = accounts.get(touch.ppc_account_id)
            if entry is None:
                accounts[touch.ppc_account_id] = [1, touch_revenue, touch_cost]
            else:
                entry[0] += 1
                entry[1] += touch_revenue
                entry[2] += touch_cost
        for scope_type, scope_id in (("global", None), ("campaign", campaign_id), ("advertiser", advertiser_id)):
            scope_sums = group[scope_type]
            entry = scope_sums.get(scope_id)
            if entry is None:
                scope_sums[scope_id] = [clicks, 1, conv_revenue, conv_cost]
            else:
                entry[0] += clicks
                entry[1] += 1
                entry[2] += conv_revenue
                entry[3] += conv_cost
        for scope_sums, per_scope in ((group["landing_page"], landing_pages), (group["account"], accounts)):
            for scope_id, (scope_clicks, scope_revenue, scope_cost) in per_scope.items():
                entry = scope_sums.get(scope_id)
                if entry is None:
                    scope_sums[scope_id] = [scope_clicks, 1, scope_revenue, scope_cost]
                else:
                    entry[0] += scope_clicks
                    entry[1] += 1
                    entry[2] += scope_revenue
                    entry[3] += scope_cost
        return clicks, conv_revenue, conv_cost

    def snapshot_rows(self, account_id, window):
        """Snapshot rows (store.replace_snapshots order), money rounded consistently per scope type."""
        rows = []
        scale = 10 ** MONEY_PLACES
        for (model_id, hour), by_scope in sorted(self.groups.items()):
            global_sums = by_scope["global"][None]
            # Every scope type shares out the global row's rounded money, so each sums to it.
            revenue_units = round(global_sums[2] * scale)
            cost_units = round(global_sums[3] * scale)
            for scope_type in SCOPE_TYPES:
                entries = sorted(by_scope[scope_type].items(), key=lambda item: item[0] or 0)
                revenues = apportion([sums[2] for _, sums in entries], revenue_units)
                costs = apportion([sums[3] for _, sums in entries], cost_units)
                for (scope_id, sums), revenue, cost in zip(entries, revenues, costs):
                    rows.append((
                        model_id, account_id, scope_type, scope_id, hour, window.start_hour,
                        window.lookback_end, sums[0], sums[1], revenue, cost,
                    ))
        return rows


# Models ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunnableModel:
    model_id: int
    model_name: str
    model_type: str
    config: dict

    @property
    def channel_kind(self):
        return self.config.get("channel", DEFAULT_CHANNEL_KIND) if self.model_type == "algorithmic" else None


def _runnable_models(account_id, rows, err):
    """The account's model rows whose config validates; invalid ones are reported and skipped."""
    models = []
    for row in rows:
        try:
            config = validate_config(row.model_type, row.weighting_config)
        except InvalidModelConfig as error:
            err.write(f"User {account_id}: model {row.model_id} skipped: {error.field}: {error.message}\n")
            continue
        models.append(RunnableModel(row.model_id, row.model_name, row.model_type, config))
    return models


# Reading the window ------------------------------------------------------------------------------


@dataclass
class WindowIndex:
    """Per conversion hour: [count, min conv_id, max conv_id]; plus keyset batches read."""

    hours: dict = field(default_factory=dict)
    batches: int = 0

    def add(self, conv_id, conv_time):
        hour = conv_time - conv_time % HOUR_SECONDS
        entry = self.hours.get(hour)
        if entry is None:
            self.hours[hour] = [1, conv_id, conv_id]
        else:
            entry[0] += 1
            entry[1] = min(entry[1], conv_id)
            entry[2] = max(entry[2], conv_id)

    @property
    def max_conv_id(self):
        return max((entry[2] for entry in self.hours.values()), default=0)

    def conv_id_range(self, chunk_start, chunk_end):
        entries = [entry for hour, entry in self.hours.items() if chunk_start <= hour < chunk_end]
        if not entries:
            return None
        return min(entry[1] for entry in entries), max(entry[2] for entry in entries)


class JourneyReader:
    """Turns conversion batches into (conversion, journey, cpc, advertiser) with the batch's
    stored touches and click facts read in a few IN queries; caches campaign → advertiser."""

    def __init__(self):
        self.advertisers = {}

    def journeys(self, batch):
        stored = store.stored_journeys([conversion.conv_id for conversion in batch])
        click_ids = {conversion.click_id for conversion in batch}
        for touches in stored.values():
            click_ids.update(click_id for click_id, _ in touches)
        facts = store.click_facts(click_ids)
        new_campaigns = {c.campaign_id for c in batch} - self.advertisers.keys()
        if new_campaigns:
            found = store.campaign_advertisers(new_campaigns)
            self.advertisers.update({campaign: found.get(campaign, 0) for campaign in new_campaigns})
        for conversion in batch:
            converting = facts.get(conversion.click_id)
            journey = journey_from_stored(
                conv_id=conversion.conv_id,
                conv_time=conversion.conv_time,
                converting_touch=Touch(
                    conversion.click_id, conversion.click_time,
                    converting.landing_page_id if converting else 0,
                    converting.ppc_account_id if converting else 0,
                ),
                stored_touches=[
                    _touch(click_id, click_time, facts.get(click_id))
                    for click_id, click_time in stored.get(conversion.conv_id, ())
                ],
            )
            cpc = converting.cpc if converting else 0.0
            yield conversion, journey, cpc, self.advertisers[conversion.campaign_id]


def _touch(click_id, click_time, facts):
    if facts is None:
        return Touch(click_id, click_time)
    return Touch(click_id, click_time, facts.landing_page_id, facts.ppc_account_id)


def _index_and_fit(account_id, window, channel_kinds, reader):
    """Index the window's conversions by hour; fit the Markov chain per channel kind when asked.

    The fit counts converting channel paths (not conversions) and streams them into
    `fit_removal_effects`, so memory grows with distinct paths, not with the window.
    """
    index = WindowIndex()
    if not channel_kinds:
        for batch in store.conversion_time_batches(account_id, window.start_hour, window.end_exclusive):
            index.batches += 1
            for conv_id, conv_time in batch:
                index.add(conv_id, conv_time)
        return index, {}
    paths = {kind: Counter() for kind in channel_kinds}
    for batch in store.conversion_batches(account_id, window.start_hour, window.end_exclusive):
        index.batches += 1
        for conversion, journey, _, _ in reader.journeys(batch):
            index.add(conversion.conv_id, conversion.conv_time)
            for kind, counter in paths.items():
                counter[tuple(channel_of(touch, kind) for touch in journey.touches)] += 1
    effects = {}
    for kind, counter in paths.items():
        unused = store.non_converting_channel_counts(
            account_id, window.start_hour, window.end_exclusive, index.max_conv_id, kind
        )
        effects[kind] = fit_removal_effects(_expand(counter), _expand(unused))
    return index, effects


def _expand(counts):
    """Each key repeated by its count, lazily."""
    for value, count in counts.items():
        for _ in range(count):
            yield value


# One account -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSummary:
    account_id: int
    model_id: int
    model_name: str
    model_type: str
    conversions: int
    clicks: int
    hours_processed: int
    revenue: float
    cost: float
    batches: int
    duration_ms: int

    def line(self):
        return (
            f"User {self.account_id}: model {self.model_id} {self.model_name!r} ({self.model_type}): "
            f"{self.conversions} conversion(s), {self.clicks} credited click(s), "
            f"{self.hours_processed} hour(s) with conversions, revenue {self.revenue:.4f}, "
            f"cost {self.cost:.4f}, {self.duration_ms} ms"
        )


def rebuild_account(account_id, model_rows, window, *, lock_timeout, actor, err):
    """Rebuild one account's models for the window under its lock.

    Returns the per-model summaries, or None when the lock stayed busy for `lock_timeout` s.
    """
    with store.account_lock(account_id, lock_timeout) as acquired:
        if not acquired:
            return None
        models = _runnable_models(account_id, model_rows, err)
        if not models:
            return []
        return _rebuild_models(account_id, models, window, actor)


def _rebuild_models(account_id, models, window, actor):
    started = time.monotonic()
    reader = JourneyReader()
    channel_kinds = sorted({m.channel_kind for m in models if m.channel_kind})
    index, effects = _index_and_fit(account_id, window, channel_kinds, reader)
    batches = index.batches
    totals = {model.model_id: ModelTotals() for model in models}
    model_ids = [model.model_id for model in models]
    chunks = plan_chunks(window, {hour: entry[0] for hour, entry in index.hours.items()})
    summaries = []
    for number, (chunk_start, chunk_end) in enumerate(chunks, start=1):
        accumulator = ChunkAccumulator()
        conv_ids = index.conv_id_range(chunk_start, chunk_end)
        if conv_ids is not None:
            for batch in store.conversion_batches(
                account_id, chunk_start, chunk_end, min_conv_id=conv_ids[0], max_conv_id=conv_ids[1]
            ):
                batches += 1
                _credit_batch(accumulator, reader, batch, models, effects, totals)
        snapshot_rows = accumulator.snapshot_rows(account_id, window)
        with transaction.atomic():
            store.replace_snapshots(
                model_ids=model_ids, hour_start=chunk_start, hour_end=chunk_end,
                snapshot_rows=snapshot_rows, credit_rows=accumulator.credit_rows,
                created_at=int(time.time()),
            )
            if number == len(chunks):
                summaries = _summaries(account_id, models, totals, batches, started)
                for summary in summaries:
                    _audit(summary, window, actor)
            invalidate_snapshots_on_commit(account_id)
        # With DEBUG on, Django keeps the last 9,000 statements; multi-row INSERTs make that
        # hundreds of MB over a 30-day window.
        reset_queries()
    return summaries


def _credit_batch(accumulator, reader, batch, models, effects, totals):
    """Credit every conversion of the batch under every model: each journey is read and built
    once, then all models run over it (never one pass per model)."""
    plan = [
        (model.model_id, model.model_type, model.config, effects.get(model.channel_kind), totals[model.model_id])
        for model in models
    ]
    add = accumulator.add
    for conversion, journey, cpc, advertiser_id in reader.journeys(batch):
        hour = conversion.conv_time - conversion.conv_time % HOUR_SECONDS
        revenue, campaign_id = conversion.revenue, conversion.campaign_id
        for model_id, model_type, config, model_effects, model_totals in plan:
            credits = credits_for(model_type, config, journey, model_effects)
            clicks, conv_revenue, conv_cost = add(
                model_id, hour, journey, credits, revenue, cpc, campaign_id, advertiser_id
            )
            model_totals.conversions += 1
            model_totals.clicks += clicks
            model_totals.revenue += conv_revenue
            model_totals.cost += conv_cost
            model_totals.hours.add(hour)


def _summaries(account_id, models, totals, batches, started):
    duration_ms = int((time.monotonic() - started) * 1000)
    return [
        ModelSummary(
            account_id=account_id, model_id=model.model_id, model_name=model.model_name,
            model_type=model.model_type, conversions=totals[model.model_id].conversions,
            clicks=totals[model.model_id].clicks, hours_processed=len(totals[model.model_id].hours),
            revenue=round(totals[model.model_id].revenue, MONEY_PLACES),
            cost=round(totals[model.model_id].cost, MONEY_PLACES), batches=batches,
            duration_ms=duration_ms,
        )
        for model in models
    ]


def _audit(summary, window, actor):
    audit.record(
        summary.account_id, "snapshot_rebuild", actor, model_id=summary.model_id,
        lookback_start=window.start_hour, lookback_end=window.lookback_end,
        batches=summary.batches, hours_processed=summary.hours_processed, clicks=summary.clicks,
        conversions=summary.conversions, revenue=summary.revenue, cost=summary.cost,
        duration_ms=summary.duration_ms,
    )


# The run -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RebuildOutcome:
    """exit_code 0 ok, 1 a user failed, 2 bad arguments, 3 a user skipped on its lock (a failure
    outranks a skip). users_done / users_skipped are account ids; users_failed maps id → reason."""

    exit_code: int
    users_done: tuple = ()
    users_failed: dict = field(default_factory=dict)
    users_skipped: tuple = ()
    window_start: int | None = None
    window_end: int | None = None
    summaries: tuple = ()
    message: str = ""

    def as_dict(self):
        """A JSON-able summary (django-q2 task results, API)."""
        return {
            "exit_code": self.exit_code,
            "users_done": list(self.users_done),
            "users_failed": {str(k): v for k, v in self.users_failed.items()},
            "users_skipped": list(self.users_skipped),
            "window_start": self.window_start,
            "window_end": self.window_end,
            "models": [summary.__dict__ for summary in self.summaries],
            "message": self.message,
        }


@dataclass(frozen=True)
class RebuildPlan:
    window: RebuildWindow
    # account_id -> model rows to rebuild (None: the account's active models, read under its lock)
    accounts: dict
    deleted_accounts: tuple
    scheduled: bool


def plan_rebuild(*, start=None, end=None, user_ids=(), model_ids=(), lock_timeout=0, now):
    """Validate the arguments and resolve accounts and models; raises RebuildArgumentError."""
    window = rebuild_window(start, end, now=now)
    if isinstance(lock_timeout, bool) or not isinstance(lock_timeout, int) or lock_timeout < 0:
        raise RebuildArgumentError(f"--lock-timeout: {lock_timeout!r} is not allowed; give whole seconds ≥ 0")
    user_ids = _distinct_ids("--user", user_ids)
    model_ids = _distinct_ids("--model", model_ids)
    deleted = ()
    if user_ids:
        flags = store.account_deleted_flags(user_ids)
        unknown = [user_id for user_id in user_ids if user_id not in flags]
        if unknown:
            raise RebuildArgumentError(f"--user: {unknown[0]} is not a Prosper202 user (no 202_users row)")
        deleted = tuple(user_id for user_id in user_ids if flags[user_id])
    if model_ids:
        rows = store.model_rows(model_ids=model_ids)
        found = {row.model_id: row for row in rows}
        unknown = [model_id for model_id in model_ids if model_id not in found]
        if unknown:
            raise RebuildArgumentError(f"--model: {unknown[0]} is not an attribution model id")
        if user_ids:
            outside = [row for row in rows if row.user_id not in user_ids]
            if outside:
                raise RebuildArgumentError(
                    f"--model: {outside[0].model_id} belongs to user {outside[0].user_id}, "
                    f"outside --user {', '.join(map(str, user_ids))}"
                )
        if not user_ids:
            flags = store.account_deleted_flags({row.user_id for row in rows})
            deleted = tuple(sorted(user_id for user_id, is_deleted in flags.items() if is_deleted))
        accounts = {}
        for row in rows:
            accounts.setdefault(row.user_id, []).append(row)
        for user_id in user_ids:
            accounts.setdefault(user_id, [])
    else:
        accounts = {user_id: None for user_id in (user_ids or store.live_account_ids())}
    accounts = {user_id: models for user_id, models in sorted(accounts.items()) if user_id not in deleted}
    scheduled = start is None and end is None and not user_ids and not model_ids
    return RebuildPlan(window, accounts, deleted, scheduled)


def _distinct_ids(argument, values):
    ids = []
    for value in values or ():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise RebuildArgumentError(f"{argument}: {value!r} is not allowed; give a positive id")
        if value not in ids:
            ids.append(value)
    return ids


def run_rebuild(*, start=None, end=None, user_ids=(), model_ids=(), force=False, lock_timeout=0,
                actor, out=None, err=None):
    """Run the rebuild of SPEC §6 and report on `out`/`err`; returns a RebuildOutcome."""
    out = out or sys.stdout
    err = err or sys.stderr
    now = int(time.time())
    try:
        plan = plan_rebuild(
            start=start, end=end, user_ids=user_ids, model_ids=model_ids,
            lock_timeout=lock_timeout, now=now,
        )
    except RebuildArgumentError as error:
        err.write(f"{error}\n")
        return RebuildOutcome(EXIT_BAD_ARGUMENTS, message=str(error))
    window = plan.window
    if plan.scheduled and not force and store.scheduled_hour_recorded(window.end_hour):
        message = (
            f"Scheduled rebuild for the hour {_iso(window.end_hour)} already ran; "
            "nothing to do (use --force to run it again)."
        )
        out.write(message + "\n")
        return RebuildOutcome(EXIT_OK, window_start=window.start_hour, window_end=window.lookback_end,
                              message=message)
    for user_id in plan.deleted_accounts:
        err.write(f"User {user_id}: skipped, the Prosper202 user is deleted\n")

    done, failed, skipped, summaries = [], {}, [], []
    for account_id, rows in plan.accounts.items():
        try:
            if rows is None:
                rows = store.model_rows(account_ids=[account_id], active_only=True)
            account_summaries = rebuild_account(
                account_id, rows, window, lock_timeout=lock_timeout, actor=actor, err=err
            )
        except Exception as error:  # one account's failure must not stop the others
            logger.exception("rebuild of user %s failed", account_id)
            failed[account_id] = f"{type(error).__name__}: {error}"
            err.write(f"User {account_id}: {failed[account_id]}\n")
            continue
        if account_summaries is None:
            skipped.append(account_id)
            err.write(
                f"User {account_id}: skipped, another rebuild holds its lock "
                f"(waited {lock_timeout} s; see --lock-timeout)\n"
            )
            continue
        done.append(account_id)
        summaries.extend(account_summaries)
        if not account_summaries:
            out.write(f"User {account_id}: no valid models to rebuild\n")
        for summary in account_summaries:
            out.write(summary.line() + "\n")

    exit_code = EXIT_FAILED if failed else EXIT_LOCKED if skipped else EXIT_OK
    if exit_code == EXIT_OK:
        store.mark_rebuild_succeeded(int(time.time()))
        if plan.scheduled:
            store.record_scheduled_hour(window.end_hour)
    message = (
        f"Attribution rebuild complete for {len(done)} user(s) covering "
        f"{window.iso_start} to {window.iso_end}."
    )
    out.write(message + "\n")
    return RebuildOutcome(
        exit_code, tuple(done), failed, tuple(skipped), window.start_hour, window.lookback_end,
        tuple(summaries), message,
    )

