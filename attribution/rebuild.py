"""The hourly attribution rebuild (SPEC §6): whole-hour windows, per-user locks, chunked atomic
replacement of every model's snapshots and per-touch credits. An engine: it returns a
`RebuildOutcome` and never prints; the command and the tasks render it.

How one account is rebuilt, under its lock:
1. Index the window: a keyset pass over the account's conversions records, per conversion hour,
   the count and the conv_id range. When the account has an algorithmic model, the same pass
   reads the journeys (through `journeys.source`) and feeds the one Markov fit
   (`crediting.MarkovFit`, SPEC §5.2) before any chunk is written.
2. Cut [H0, H1 + 3600) into chunks of at most CHUNK_MAX_HOURS hours and about
   CHUNK_MAX_CONVERSIONS conversions, so memory and transaction size stay bounded.
3. Per chunk: read its journeys in keyset batches (bounded by the indexed conv_id range, so
   conversions that arrive mid-run wait for the next run, consistently with the fit), run the
   crediting pass (`crediting.CreditPass`: every model's credits and per-hour scope sums) and
   collect the account's journey summaries (the analysis reports' table), then in ONE
   transaction delete the chunk's old snapshots, credits and summaries and insert the new ones. A reader sees an hour either old or new; a killed run leaves only whole chunks
   behind, and rerunning the same window writes the same rows.
4. The `snapshot_rebuild` audit rows (one per model) go into the LAST chunk's transaction: an
   audit row exists exactly when its model's whole window committed, and its totals are final.
"""
import logging
import time
from dataclasses import asdict, dataclass, field

from django.db import reset_queries, transaction

from attribution import store
from attribution.crediting import CreditPass, MarkovFit, ModelTotals, credit_decimal, runnable_models
from attribution.snapshot_cache import invalidate_snapshots_on_commit
from journeys import source
from journeys import store as journey_store
from journeys.summary_store import ChunkSummaries
from tracker import accounts, arguments, audit
from tracker.arguments import InvalidArgument
from tracker.read_ahead import read_ahead
from tracker.utc import iso

logger = logging.getLogger("attribution.rebuild")

HOUR_SECONDS = 3600
DEFAULT_WINDOW_SECONDS = 86_400
CHUNK_MAX_HOURS = 24
CHUNK_MAX_CONVERSIONS = 20_000
LOCK_TIMEOUT_MAX_SECONDS = 86_400


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
        return iso(self.start_hour)

    @property
    def iso_end(self):
        return iso(self.lookback_end)


def rebuild_window(start=None, end=None, *, now):
    """The whole-hour window for optional epoch bounds (defaults: end = now, start = end − 24 h);
    raises InvalidArgument naming the bad bound."""
    start, end = arguments.window(start, end, now=now, default_seconds=DEFAULT_WINDOW_SECONDS)
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
    def conversions(self):
        return sum(entry[0] for entry in self.hours.values())

    @property
    def max_conv_id(self):
        return max((entry[2] for entry in self.hours.values()), default=0)

    def conv_id_range(self, chunk_start, chunk_end):
        entries = [entry for hour, entry in self.hours.items() if chunk_start <= hour < chunk_end]
        if not entries:
            return None
        return min(entry[1] for entry in entries), max(entry[2] for entry in entries)


def index_window(account_id, window):
    """The window's conversions by hour, read cheaply (conv_id and conv_time only)."""
    index = WindowIndex()
    for batch in journey_store.conversion_time_batches(account_id, window.start_hour, window.end_exclusive):
        index.batches += 1
        for conv_id, conv_time in batch:
            index.add(conv_id, conv_time)
    return index


# --- outcomes -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSummary:
    """What one model's rebuild wrote (the command's line, the audit row's totals)."""

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


DONE, FAILED, LOCKED, DELETED, PLANNED = "done", "failed", "locked", "deleted", "planned"


@dataclass(frozen=True)
class UserOutcome:
    """One account's result: done (with per-model summaries), failed (error), locked (its lock
    stayed busy for lock_timeout s), deleted (skipped), or planned (a dry run)."""

    account_id: int
    status: str
    models: tuple = ()
    skipped_models: tuple = ()  # crediting.SkippedModel: invalid rows, skipped with a reason
    error: str | None = None
    lock_timeout: int = 0
    planned_models: tuple = ()  # (model_id, model_name, model_type) of a dry run
    conversions: int = 0  # a dry run's count
    hours_with_conversions: int = 0


@dataclass(frozen=True)
class RebuildOutcome:
    window: RebuildWindow
    scheduled: bool
    dry_run: bool = False
    already_ran: bool = False  # a scheduled run whose hour was recorded: nothing done
    users: tuple = ()

    def _with_status(self, status):
        return [user for user in self.users if user.status == status]

    @property
    def failed(self):
        return self._with_status(FAILED)

    @property
    def locked(self):
        return self._with_status(LOCKED)

    @property
    def done(self):
        return self._with_status(DONE)

    @property
    def planned(self):
        return self._with_status(PLANNED)

    @property
    def succeeded(self):
        """Every user that had to run ran (deleted users are skipped by design)."""
        return not self.failed and not self.locked

    @property
    def summary(self):
        return (
            f"Attribution rebuild complete for {len(self.done)} user(s) covering "
            f"{self.window.iso_start} to {self.window.iso_end}."
        )

    def as_dict(self):
        """A JSON-able summary (django-q2 task results, the API's task status)."""
        return {
            "window_start": self.window.start_hour,
            "window_end": self.window.lookback_end,
            "scheduled": self.scheduled,
            "dry_run": self.dry_run,
            "already_ran": self.already_ran,
            "succeeded": self.succeeded,
            "users_done": [user.account_id for user in self.done],
            "users_failed": {str(user.account_id): user.error for user in self.failed},
            "users_locked": [user.account_id for user in self.locked],
            "users_deleted": [user.account_id for user in self._with_status(DELETED)],
            "models": [asdict(summary) for user in self.users for summary in user.models],
            "skipped_models": [
                {"account_id": user.account_id, "model_id": skipped.model_id, "reason": skipped.reason}
                for user in self.users for skipped in user.skipped_models
            ],
            "message": self.summary,
        }


# --- planning -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RebuildPlan:
    window: RebuildWindow
    # account_id -> model rows to rebuild (None: the account's active models, read under its lock)
    accounts: dict
    deleted_accounts: tuple
    scheduled: bool
    lock_timeout: int


def plan_rebuild(*, start=None, end=None, user_ids=(), model_ids=(), lock_timeout=0, now):
    """Validate the arguments and resolve accounts and models; raises InvalidArgument naming the
    argument, before anything is written."""
    window = rebuild_window(start, end, now=now)
    lock_timeout = arguments.whole_number(
        "--lock-timeout", lock_timeout, minimum=0, maximum=LOCK_TIMEOUT_MAX_SECONDS,
        allowed=f"expected whole seconds from 0 to {LOCK_TIMEOUT_MAX_SECONDS}",
    )
    selection = accounts.select_accounts(user_ids) if user_ids else None
    model_ids = arguments.object_ids("--model", model_ids)
    deleted = tuple(selection.deleted) if selection else ()
    if model_ids:
        rows = store.model_rows(model_ids=model_ids)
        found = {row.model_id: row for row in rows}
        for model_id in model_ids:
            if model_id not in found:
                raise InvalidArgument("--model", model_id, "no attribution model has this id")
        named_users = set(selection.usable) | set(deleted) if selection else None
        for row in rows:
            if named_users is not None and row.user_id not in named_users:
                raise InvalidArgument(
                    "--model", row.model_id,
                    f"it belongs to user {row.user_id}, outside --user {', '.join(map(str, sorted(named_users)))}",
                )
        if selection is None:
            flags = accounts.deleted_flags({row.user_id for row in rows})
            deleted = tuple(sorted(user_id for user_id, is_deleted in flags.items() if is_deleted))
        plan_accounts = {}
        for row in rows:
            plan_accounts.setdefault(row.user_id, []).append(row)
        for user_id in selection.usable if selection else ():
            plan_accounts.setdefault(user_id, [])
    else:
        plan_accounts = dict.fromkeys(selection.usable if selection else accounts.live_account_ids())
    plan_accounts = {
        user_id: rows for user_id, rows in sorted(plan_accounts.items()) if user_id not in deleted
    }
    scheduled = start is None and end is None and not user_ids and not model_ids
    return RebuildPlan(window, plan_accounts, deleted, scheduled, lock_timeout)


# --- the run --------------------------------------------------------------------------------------


def run_rebuild(*, start=None, end=None, user_ids=(), model_ids=(), force=False, lock_timeout=0,
                dry_run=False, actor, progress=None):
    """Run the rebuild of SPEC §6; returns a RebuildOutcome. Raises InvalidArgument (nothing
    written) for bad arguments. `progress(account_id, chunk number, chunks)` is called after
    each committed chunk."""
    plan = plan_rebuild(
        start=start, end=end, user_ids=user_ids, model_ids=model_ids, lock_timeout=lock_timeout,
        now=int(time.time()),
    )
    window = plan.window
    deleted = tuple(UserOutcome(user_id, DELETED) for user_id in plan.deleted_accounts)
    if dry_run:
        users = tuple(_plan_account(account_id, rows, window) for account_id, rows in plan.accounts.items())
        return RebuildOutcome(window, plan.scheduled, dry_run=True, users=deleted + users)
    if plan.scheduled and not force and store.scheduled_hour_recorded(window.end_hour):
        return RebuildOutcome(window, plan.scheduled, already_ran=True)
    users = []
    for account_id, rows in plan.accounts.items():
        try:
            users.append(rebuild_account(
                account_id, rows, window, lock_timeout=plan.lock_timeout, actor=actor, progress=progress,
            ))
        except Exception as error:  # one account's failure must not stop the others
            logger.exception("rebuild of user %s failed", account_id)
            users.append(UserOutcome(account_id, FAILED, error=f"{type(error).__name__}: {error}"))
    outcome = RebuildOutcome(window, plan.scheduled, users=deleted + tuple(users))
    if outcome.succeeded:
        store.mark_rebuild_succeeded(int(time.time()))
        if plan.scheduled:
            store.record_scheduled_hour(window.end_hour)
    return outcome


def _plan_account(account_id, rows, window):
    """What a run would do for one account (a dry run): its models and conversions."""
    if rows is None:
        rows = store.model_rows(account_ids=[account_id], active_only=True)
    models, skipped = runnable_models(rows)
    index = index_window(account_id, window)
    return UserOutcome(
        account_id, PLANNED, skipped_models=tuple(skipped),
        planned_models=tuple((m.model_id, m.model_name, m.model_type) for m in models),
        conversions=index.conversions, hours_with_conversions=len(index.hours),
    )


def rebuild_account(account_id, model_rows, window, *, lock_timeout, actor, progress=None):
    """Rebuild one account's models (`model_rows` None: its active ones) under its lock."""
    with store.account_lock(account_id, lock_timeout) as acquired:
        if not acquired:
            return UserOutcome(account_id, LOCKED, lock_timeout=lock_timeout)
        if model_rows is None:
            model_rows = store.model_rows(account_ids=[account_id], active_only=True)
        elif model_rows:  # named by --model: read again under the lock (one may be gone by now)
            model_rows = store.model_rows(model_ids=[row.model_id for row in model_rows])
        models, skipped = runnable_models(model_rows)
        # Without a model to credit, the hours' journey summaries (analysis reports) still refresh.
        summaries = _rebuild_models(account_id, models, window, actor, progress)
        return UserOutcome(account_id, DONE, models=tuple(summaries), skipped_models=tuple(skipped))


def _rebuild_models(account_id, models, window, actor, progress):
    started = time.monotonic()
    channel_kinds = sorted({model.channel_kind for model in models if model.channel_kind})
    if channel_kinds:
        index, fit = WindowIndex(), MarkovFit(channel_kinds)
        for records in source.journey_batches(
            start=window.start_hour, end=window.lookback_end, account_ids=[account_id]
        ):
            index.batches += 1
            for record in records:
                index.add(record.conversion.conv_id, record.conversion.conv_time)
            fit.add(records)
        effects = fit.effects(account_id, window.start_hour, window.end_exclusive, index.max_conv_id)
    else:
        index, effects = index_window(account_id, window), {}
    batches = index.batches
    totals = {model.model_id: ModelTotals() for model in models}
    model_ids = [model.model_id for model in models]
    chunks = plan_chunks(window, {hour: entry[0] for hour, entry in index.hours.items()})
    credited = _credited_chunks(account_id, models, window, chunks, index, effects, totals)
    model_summaries = []
    # The next chunk is read and credited on a second connection while this one is written.
    for number, chunk in enumerate(read_ahead(credited, name="rebuild-read"), start=1):
        batches += chunk.batches
        with transaction.atomic():
            # The journey analysis reports (SPEC §7.1) read these summaries: rebuilt with the
            # snapshots, so both cover the same hours.
            chunk.journey_summaries.replace()
            store.replace_snapshots(
                model_ids=model_ids, hour_start=chunk.start, hour_end=chunk.end,
                snapshot_rows=chunk.snapshot_rows, credit_rows=chunk.credit_rows, created_at=int(time.time()),
            )
            if number == len(chunks):
                model_summaries = _summaries(account_id, models, totals, batches, started)
                for summary in model_summaries:
                    _audit(summary, window, actor)
            invalidate_snapshots_on_commit(account_id)
        # With DEBUG on, Django keeps the last 9,000 statements; multi-row INSERTs make that
        # hundreds of MB over a 30-day window.
        reset_queries()
        if progress is not None:
            progress(account_id, number, len(chunks))
    return model_summaries


@dataclass
class _CreditedChunk:
    """One chunk's rows, ready to write: snapshots, per-touch credits and journey summaries."""

    start: int
    end: int
    batches: int  # journey batches read for it
    snapshot_rows: list
    credit_rows: list
    journey_summaries: ChunkSummaries


def _credited_chunks(account_id, models, window, chunks, index, effects, totals):
    """Each chunk's journeys read and credited (step 3 before the write), adding to `totals`."""
    for chunk_start, chunk_end in chunks:
        credit_pass = CreditPass(models, effects, totals=totals)
        journey_summaries = ChunkSummaries(account_id, chunk_start, chunk_end - 1)
        batches = 0
        conv_ids = index.conv_id_range(chunk_start, chunk_end)
        if conv_ids is not None:
            for records in source.journey_batches(
                start=chunk_start, end=chunk_end - 1, account_ids=[account_id],
                min_conv_id=conv_ids[0], max_conv_id=conv_ids[1],
            ):
                batches += 1
                credit_pass.add(records)
                journey_summaries.add(records)
        yield _CreditedChunk(
            start=chunk_start, end=chunk_end, batches=batches,
            snapshot_rows=[
                (row.model_id, account_id, row.scope_type, row.scope_id, row.hour, window.start_hour,
                 window.lookback_end, row.clicks, row.conversions, row.revenue, row.cost)
                for row in credit_pass.snapshot_rows()
            ],
            credit_rows=[
                (row.model_id, row.hour, row.conv_id, row.click_id, row.position, credit_decimal(row.units))
                for row in credit_pass.credit_rows
            ],
            journey_summaries=journey_summaries,
        )


def _summaries(account_id, models, totals, batches, started):
    duration_ms = int((time.monotonic() - started) * 1000)
    return [
        ModelSummary(
            account_id=account_id, model_id=model.model_id, model_name=model.model_name,
            model_type=model.model_type, conversions=totals[model.model_id].conversions,
            clicks=totals[model.model_id].clicks, hours_processed=len(totals[model.model_id].hours),
            revenue=float(totals[model.model_id].revenue), cost=float(totals[model.model_id].cost),
            batches=batches, duration_ms=duration_ms,
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
