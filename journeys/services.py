"""Journey capture, backfill, rebuild, verification, purge and scope hydration (SPEC §4).

Every run walks `202_conversion_logs` by keyset on conv_id in bounded batches. A batch is one
transaction: its journeys are replaced atomically and their cache entries evicted after commit,
so a failure later in a run never loses the batches already written. Inside a batch a
conversion that cannot be built, or whose rows the database refuses, is reported and the rest of
the batch is still written (a refused write is retried in halves under savepoints).

Runs that span many transactions (backfill, hydration) record one `journey_backfill` audit row
per account at the end with the committed totals; purges and targeted rebuilds record theirs in
the transaction that deletes or writes.
"""
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Min

from journeys import cache, store, summary_store
from journeys.building import MATCH_VISITOR, build_journey
from journeys.cache import evict_journeys_on_commit
from journeys.models import CapturePass, CaptureWatermark
from journeys.rules import (
    FLAG_BEYOND_CAP,
    REVIEW_FLAGS,
    MultiTouchPolicy,
    check_stored_journey,
    review_message,
)
from tracker import accounts, arguments, audit
from tracker.arguments import InvalidArgument
from tracker.queue import QueuedTask, queue_group
from tracker.read_ahead import read_ahead
from tracker.sql import chunks

CAPTURE_WATERMARK_NAME = "conversion_journeys"
# Passes are stamped just before their commit, and a run reads a moment after it starts: this
# margin keeps a conversion that commits right at the end of the grace period in the re-scan.
CAPTURE_RESCAN_MARGIN_SECONDS = 60
DEFAULT_BATCH_SIZE = 5000
MAX_BATCH_SIZE = 50_000
PURGE_BATCH_SIZE = 1000
VERIFY_BATCH_SIZE = 500
# Purge audit rows list the conversions when there are at most this many.
AUDIT_CONV_ID_LIMIT = 100
SETTING_SCOPE_TYPES = ("global", "advertiser", "campaign")


@dataclass(frozen=True)
class JourneyRules:
    lookback_seconds: int
    max_touches: int
    match: str

    @classmethod
    def from_settings(cls):
        return cls(
            settings.ATTRIBUTION_LOOKBACK_SECONDS,
            settings.ATTRIBUTION_MAX_TOUCHES,
            settings.ATTRIBUTION_JOURNEY_MATCH,
        )


def needs_review(**selection):
    """{conv_id: {review flag, ...}} by THE review query (`store.review_flags`) with this
    install's lookback, cap and match mode; `selection`: conv_ids, min_conv_id, account_ids."""
    rules = JourneyRules.from_settings()
    return store.review_flags(
        lookback_seconds=rules.lookback_seconds, max_touches=rules.max_touches, visitor_match=rules.match,
        **selection,
    )


@dataclass
class JourneyWriteResult:
    written: int = 0
    skipped_disabled: int = 0
    failed: dict[int, str] = field(default_factory=dict)
    touch_rows: int = 0

    def as_dict(self):
        return {"written": self.written, "skipped_disabled": self.skipped_disabled,
                "touch_rows": self.touch_rows, "failed": {str(k): v for k, v in self.failed.items()}}


@dataclass
class BackfillResult:
    start: int
    end: int
    dry_run: bool = False
    conversions: int = 0
    written: int = 0
    touch_rows: int = 0
    capped: int = 0  # journeys beyond the touch cap (the converting click added to a full journey)
    skipped_disabled: int = 0
    skipped_deleted: int = 0
    failed: dict[int, str] = field(default_factory=dict)
    batches: int = 0
    elapsed_seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    # Keyset position, for progress bars: first and last conv_id processed, highest at start.
    first_conv_id: int = 0
    last_conv_id: int = 0
    highest_conv_id: int = 0
    per_account: dict[int, Counter] = field(default_factory=lambda: defaultdict(Counter), repr=False)

    @property
    def rate(self):
        """Conversions processed per second."""
        return self.conversions / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0

    def as_dict(self):
        return {
            "start": self.start, "end": self.end, "dry_run": self.dry_run,
            "conversions": self.conversions, "written": self.written, "touch_rows": self.touch_rows,
            "capped": self.capped, "skipped_disabled": self.skipped_disabled,
            "skipped_deleted": self.skipped_deleted,
            "failed": {str(k): v for k, v in self.failed.items()}, "batches": self.batches,
            "elapsed_seconds": round(self.elapsed_seconds, 3), "warnings": self.warnings,
        }


@dataclass
class CaptureResult:
    first_run: bool = False
    watermark_before: int = 0
    watermark_after: int = 0
    rescan_floor: int = 0  # conv_ids in (rescan_floor, watermark_before] were re-scanned
    late_written: int = 0  # journeys of conversions that committed after a higher conv_id was captured
    conversions: int = 0
    written: int = 0
    touch_rows: int = 0
    capped: int = 0
    skipped_disabled: int = 0
    skipped_deleted: int = 0
    failed: dict[int, str] = field(default_factory=dict)

    def as_dict(self):
        return {
            "first_run": self.first_run, "capped": self.capped, "watermark_before": self.watermark_before,
            "watermark_after": self.watermark_after, "rescan_floor": self.rescan_floor,
            "late_written": self.late_written, "conversions": self.conversions,
            "written": self.written, "touch_rows": self.touch_rows,
            "skipped_disabled": self.skipped_disabled, "skipped_deleted": self.skipped_deleted,
            "failed": {str(k): v for k, v in self.failed.items()},
        }


@dataclass
class JourneyProblems:
    conv_id: int
    errors: list[str]
    warnings: list[str]


@dataclass
class VerifyReport:
    checked: int = 0
    with_journey: int = 0
    results: dict[int, JourneyProblems] = field(default_factory=dict)
    # The analysis reports' journey summaries that no longer match the journeys (§7.1): refreshed
    # by a rebuild of their hours, so reported apart from the journeys' errors and warnings.
    summary_problems: list = field(default_factory=list)

    @property
    def failing_conv_ids(self):
        return sorted(conv_id for conv_id, problems in self.results.items() if problems.errors)

    @property
    def review_conv_ids(self):
        return sorted(conv_id for conv_id, problems in self.results.items() if problems.warnings)

    @property
    def ok(self):
        return not self.failing_conv_ids

    def add(self, conv_id, errors=(), warnings=()):
        problems = self.results.setdefault(conv_id, JourneyProblems(conv_id, [], []))
        problems.errors.extend(errors)
        problems.warnings.extend(warnings)

    def as_dict(self):
        return {
            "checked": self.checked, "with_journey": self.with_journey,
            "failing_conv_ids": self.failing_conv_ids, "review_conv_ids": self.review_conv_ids,
            "results": {str(k): {"errors": p.errors, "warnings": p.warnings} for k, p in self.results.items()},
            "summary_problems": [problem._asdict() for problem in self.summary_problems],
        }


@dataclass
class PurgeResult:
    rows_deleted: int = 0
    conversions: int = 0
    dry_run: bool = False

    def as_dict(self):
        return {"rows_deleted": self.rows_deleted, "conversions": self.conversions, "dry_run": self.dry_run}


# ---------------------------------------------------------------------------------------------
# One batch: decide, build, write.


@dataclass
class _BatchBuild:
    journeys: list = field(default_factory=list)
    skipped_disabled: list = field(default_factory=list)
    skipped_deleted: list = field(default_factory=list)
    failed: dict = field(default_factory=dict)


def _classify(conversions):
    """(eligible, skipped as deleted, skipped as multi-touch disabled) by SPEC §4.1: deleted
    conversions and accounts are skipped, and the effective multi-touch flag decides."""
    eligible, deleted, disabled = [], [], []
    live = []
    for conversion in conversions:
        if conversion.deleted or conversion.user_deleted is None or conversion.user_deleted:
            deleted.append(conversion)
        else:
            live.append(conversion)
    policies = multi_touch_policies({c.user_id for c in live})
    for conversion in live:
        if policies[conversion.user_id].enabled(conversion.campaign_id, conversion.advertiser_id):
            eligible.append(conversion)
        else:
            disabled.append(conversion)
    return eligible, deleted, disabled


def multi_touch_policies(account_ids):
    """{account_id: MultiTouchPolicy}: THE way the settings rows that decide multi-touch are read."""
    rows = store.setting_rows(account_ids)
    return {account_id: MultiTouchPolicy(rows.get(account_id, [])) for account_id in account_ids}


def _build_batch(conversions, rules):
    """Fresh journeys for the batch's eligible conversions (SPEC §4.1), without writing."""
    outcome = _BatchBuild()
    eligible, outcome.skipped_deleted, outcome.skipped_disabled = _classify(conversions)
    if not eligible:
        return outcome
    visitors = None
    try:
        if rules.match == MATCH_VISITOR:
            ips_by_click = store.visitors_of_clicks([c.click_id for c in eligible])
            visitors = {c.conv_id: ips_by_click.get(c.click_id) for c in eligible}
        candidates = store.collect_candidates(
            eligible, lookback_seconds=rules.lookback_seconds, max_touches=rules.max_touches,
            visitors=visitors,
        )
    except DatabaseError as error:
        outcome.failed.update({c.conv_id: f"reading candidate clicks failed: {error}" for c in eligible})
        return outcome
    for conversion in eligible:
        try:
            outcome.journeys.append(build_journey(
                conversion, candidates[conversion.conv_id],
                lookback_seconds=rules.lookback_seconds, max_touches=rules.max_touches,
                match=rules.match,
                visitor_ip_id=None if visitors is None else visitors[conversion.conv_id],
            ))
        except (TypeError, ValueError, KeyError) as error:
            outcome.failed[conversion.conv_id] = f"building the journey failed: {type(error).__name__}: {error}"
    return outcome


def _write_isolated(journeys, created_at):
    """Write journeys under a savepoint; if the database refuses, retry in halves so that only
    the conversions it really refuses fail. Returns (written journeys, rows, failures)."""
    try:
        with transaction.atomic():
            rows = store.replace_journeys(journeys, created_at=created_at)
        return journeys, rows, {}
    except DatabaseError as error:
        if len(journeys) == 1:
            return [], 0, {journeys[0].conv_id: f"writing the journey failed: {error}"}
    middle = len(journeys) // 2
    first = _write_isolated(journeys[:middle], created_at)
    second = _write_isolated(journeys[middle:], created_at)
    return first[0] + second[0], first[1] + second[1], {**first[2], **second[2]}


@dataclass
class _BatchResult:
    build: _BatchBuild
    written: list
    touch_rows: int
    failed: dict


def _write_batch(build, *, dry_run):
    """Write (unless dry_run) one batch's built journeys; call inside the batch's transaction."""
    failed = dict(build.failed)
    if dry_run:
        return _BatchResult(build, build.journeys, sum(len(j.touches) for j in build.journeys), failed)
    written, rows, write_failures = ([], 0, {})
    if build.journeys:
        written, rows, write_failures = _write_isolated(build.journeys, int(time.time()))
        evict_journeys_on_commit([journey.conv_id for journey in written])
    failed.update(write_failures)
    return _BatchResult(build, written, rows, failed)


def _tally(result, batch, outcome):
    """Add one batch's outcome to a Backfill/CaptureResult (and its per-account counters)."""
    accounts = {c.conv_id: c.user_id for c in batch}
    result.conversions += len(batch)
    result.written += len(outcome.written)
    result.touch_rows += outcome.touch_rows
    result.capped += sum(1 for journey in outcome.written if FLAG_BEYOND_CAP in journey.flags)
    result.skipped_disabled += len(outcome.build.skipped_disabled)
    result.skipped_deleted += len(outcome.build.skipped_deleted)
    result.failed.update(outcome.failed)
    per_account = getattr(result, "per_account", None)
    if per_account is not None:
        for journey in outcome.written:
            per_account[accounts[journey.conv_id]]["written"] += 1
            per_account[accounts[journey.conv_id]]["touch_rows"] += len(journey.touches)
        for conversion in outcome.build.skipped_disabled:
            per_account[conversion.user_id]["skipped_disabled"] += 1
        for conv_id in outcome.failed:
            per_account[accounts[conv_id]]["failed"] += 1


# ---------------------------------------------------------------------------------------------
# Argument checks shared by commands, tasks, the admin and the API (tracker.arguments).


def check_batch_size(batch_size):
    return arguments.whole_number("--batch-size", batch_size, minimum=1, maximum=MAX_BATCH_SIZE)


def check_existing_accounts(user_ids):
    """--user ids that all exist in 202_users (deleted ones included)."""
    selection = accounts.select_accounts(user_ids)
    return selection.usable + selection.deleted


def resolve_window(start=None, end=None, lookback_seconds=None):
    """(start, end) as ints with SPEC defaults: end = now, start = end - lookback."""
    lookback = settings.ATTRIBUTION_LOOKBACK_SECONDS if lookback_seconds is None else lookback_seconds
    return arguments.window(start, end, now=int(time.time()), default_seconds=lookback)


# ---------------------------------------------------------------------------------------------
# Backfill, hydration, targeted rebuild, capture.


def backfill_journeys(*, start=None, end=None, user_ids=None, batch_size=DEFAULT_BATCH_SIZE,
                      dry_run=False, actor, progress=None, campaign_ids=None, source="backfill"):
    """Rebuild journeys of conversions with conv_time in [start, end] (SPEC §4.2).

    Raises InvalidArgument before writing anything when an argument is bad. `progress`
    is called with the running BackfillResult after every batch.
    """
    rules = JourneyRules.from_settings()
    start, end = resolve_window(start, end, rules.lookback_seconds)
    batch_size = check_batch_size(batch_size)
    selection = None if user_ids is None else accounts.select_accounts(user_ids)
    account_ids = None if selection is None else selection.usable
    result = BackfillResult(start=start, end=end, dry_run=dry_run,
                            warnings=[] if selection is None else selection.warnings,
                            highest_conv_id=store.highest_conv_id())
    began = time.monotonic()
    batches = () if account_ids == [] else store.conversion_batches(
        batch_size=batch_size, start=start, end=end, user_ids=account_ids, campaign_ids=campaign_ids,
    )
    # The next batch is read and built on a second connection while this one is written.
    built = ((batch, _build_batch(batch, rules)) for batch in batches)
    for batch, build in read_ahead(built, name="backfill-read"):
        with transaction.atomic():
            outcome = _write_batch(build, dry_run=dry_run)
        _tally(result, batch, outcome)
        result.batches += 1
        result.elapsed_seconds = time.monotonic() - began
        result.last_conv_id = batch[-1].conv_id
        result.first_conv_id = result.first_conv_id or batch[0].conv_id
        if progress is not None:
            progress(result)
    result.elapsed_seconds = time.monotonic() - began
    if not dry_run and result.per_account:
        with transaction.atomic():
            for account_id, counts in sorted(result.per_account.items()):
                audit.record(
                    account_id, "journey_backfill", actor, source=source, start=start, end=end,
                    batch_size=batch_size, campaign_ids=campaign_ids, written=counts["written"],
                    touch_rows=counts["touch_rows"], skipped_disabled=counts["skipped_disabled"],
                    failed=counts["failed"],
                )
    return result


def hydrate_scope(*, account_id, scope_type, scope_id, actor):
    """Backfill the last lookback window of a scope whose multi-touch flag was just enabled."""
    if scope_type not in SETTING_SCOPE_TYPES:
        raise InvalidArgument("scope_type", scope_type, f"expected one of {', '.join(SETTING_SCOPE_TYPES)}")
    if scope_type == "global":
        campaign_ids = None
    elif scope_type == "campaign":
        campaign_ids = [int(scope_id)]
    else:
        campaign_ids = store.campaign_ids_of_advertiser(account_id, int(scope_id))
        if not campaign_ids:
            return BackfillResult(*resolve_window())
    return backfill_journeys(
        user_ids=[account_id], campaign_ids=campaign_ids, actor=actor, source=f"hydrate {scope_type}",
    )


BACKFILL_SLICE_TASK = "journeys.tasks.backfill_slice_task"
DEFAULT_SLICE_HOURS = 24
MAX_SLICE_HOURS = 24 * 366


@dataclass(frozen=True)
class BackfillSlice:
    account_id: int
    start: int
    end: int  # inclusive
    conversions: int


def plan_backfill(*, start=None, end=None, user_ids=None, slice_hours=DEFAULT_SLICE_HOURS):
    """Per-account time slices of a backfill window that hold conversions (so several workers
    share the work); raises InvalidArgument. Returns (slices, warnings, (start, end))."""
    start, end = resolve_window(start, end)
    slice_hours = arguments.whole_number("--slice-hours", slice_hours, minimum=1, maximum=MAX_SLICE_HOURS)
    if user_ids:
        selection = accounts.select_accounts(user_ids)
        account_ids, warnings = selection.usable, selection.warnings
    else:
        account_ids, warnings = accounts.live_account_ids(), []
    slice_seconds = slice_hours * 3600
    counts = store.conversion_counts_by_slice(
        start=start, end=end, slice_seconds=slice_seconds, account_ids=account_ids,
    )
    slices = [
        BackfillSlice(
            account_id, start + index * slice_seconds,
            min(end, start + (index + 1) * slice_seconds - 1), conversions,
        )
        for (account_id, index), conversions in sorted(counts.items())
    ]
    return slices, warnings, (start, end)


def enqueue_backfill(*, start=None, end=None, user_ids=None, batch_size=DEFAULT_BATCH_SIZE,
                     slice_hours=DEFAULT_SLICE_HOURS, actor):
    """THE way a backfill is queued (admin, API, `--async`, scope hydration): one django-q2 task
    per account and time slice, as one group, audited `backfill_queued`. Slices are idempotent
    (a slice that runs twice writes the same rows). Returns (QueuedWork, slices, warnings)."""
    batch_size = check_batch_size(batch_size)
    slices, warnings, (start, end) = plan_backfill(start=start, end=end, user_ids=user_ids, slice_hours=slice_hours)
    tasks = [
        QueuedTask(
            BACKFILL_SLICE_TASK, piece.account_id, f"backfill user {piece.account_id} {piece.start}..{piece.end}",
            {"start": piece.start, "end": piece.end, "user_ids": [piece.account_id],
             "batch_size": batch_size, "username": actor.username},
        )
        for piece in slices
    ]
    work = queue_group(
        "backfill", tasks, actor=actor, audit_action="backfill_queued", start=start, end=end,
        slice_hours=slice_hours, batch_size=batch_size,
    )
    return work, slices, warnings


def rebuild_journeys(conv_ids, *, actor):
    """Rebuild the journeys of these conversions now, audited in the writing transaction."""
    conv_ids = arguments.object_ids("conv_ids", conv_ids)
    rules = JourneyRules.from_settings()
    result = JourneyWriteResult()
    for chunk in chunks(sorted(set(conv_ids)), DEFAULT_BATCH_SIZE):
        batch = store.conversion_batch(after_conv_id=0, limit=len(chunk), conv_ids=chunk)
        found = {c.conv_id for c in batch}
        result.failed.update({conv_id: "no such conversion" for conv_id in chunk if conv_id not in found})
        with transaction.atomic():
            outcome = _write_batch(_build_batch(batch, rules), dry_run=False)
            accounts = {c.conv_id: c.user_id for c in batch}
            written_by_account = defaultdict(list)
            for journey in outcome.written:
                written_by_account[accounts[journey.conv_id]].append(journey.conv_id)
            for account_id, written_ids in sorted(written_by_account.items()):
                audit.record(account_id, "journey_backfill", actor, source="rebuild", conv_ids=written_ids,
                             written=len(written_ids))
        for conversion in outcome.build.skipped_deleted:
            result.failed[conversion.conv_id] = (
                "conversion is soft-deleted" if conversion.deleted else "its account is deleted or missing"
            )
        result.written += len(outcome.written)
        result.touch_rows += outcome.touch_rows
        result.skipped_disabled += len(outcome.build.skipped_disabled)
        result.failed.update(outcome.failed)
    return result


def capture_rescan_horizon(watermark):
    """Passes at or before this epoch are too old to re-scan: the latest run started before
    `watermark.run_started_at`, so a conversion visible within the grace period after its pass
    became visible after that start, or that run would have captured it (SPEC §4.2)."""
    started = watermark.run_started_at or int(time.time())
    return started - settings.ATTRIBUTION_CAPTURE_GRACE_SECONDS - CAPTURE_RESCAN_MARGIN_SECONDS


def capture_rescan_floor(watermark):
    """The conv_id above which the next capture run re-scans for conversions without a journey:
    the start of the oldest recent pass, or the watermark when nothing was passed recently."""
    oldest = (
        CapturePass.objects.filter(passed_at__gt=capture_rescan_horizon(watermark))
        .aggregate(oldest=Min("passed_from"))["oldest"]
    )
    return watermark.last_conv_id if oldest is None else min(oldest, watermark.last_conv_id)


def capture_new_conversions(*, actor, batch_size=DEFAULT_BATCH_SIZE):
    """Capture journeys of conversions above the watermark, in conv_id order (SPEC §4.2).

    The first run only sets the watermark to the current highest conv_id (history is the
    backfill's job, including conversions still uncommitted at that moment). Each batch's
    journeys and the watermark commit together; when a conversion fails the watermark stops
    just before it and the run ends, so the next run retries it.

    Late commits: conv_ids are allocated before commit, so a lower conv_id can become visible
    after the watermark passed it. Each run first re-scans the conv_ids passed within the grace
    period (`ATTRIBUTION_CAPTURE_GRACE_SECONDS`, from `CapturePass` rows) for conversions that
    have no journey, and captures those. A re-scan rather than a list of gaps: gaps are mostly
    ids that never commit (rolled-back inserts, INSERT IGNORE duplicates, auto_increment_increment
    on clusters), so a gap list would grow with traffic and need the same expiry, while the
    re-scan is one anti-join on a primary-key range. It writes a journey only where none exists,
    so a conversion is captured exactly once. Every batch runs under the watermark row's lock,
    so two runs never write one conversion twice.
    """
    # The every-minute schedule (and cron) also drains cache evictions memcached refused (§4.5).
    cache.retry_pending_evictions()
    rules = JourneyRules.from_settings()
    batch_size = check_batch_size(batch_size)
    result = CaptureResult()
    started_at = int(time.time())
    with transaction.atomic():
        watermark = CaptureWatermark.objects.select_for_update().filter(name=CAPTURE_WATERMARK_NAME).first()
        if watermark is None:
            top = store.highest_conv_id()
            watermark, created = CaptureWatermark.objects.get_or_create(
                name=CAPTURE_WATERMARK_NAME, defaults={"last_conv_id": top, "run_started_at": started_at}
            )
            if created:
                result.first_run = True
                result.watermark_before = result.watermark_after = result.rescan_floor = top
                return result
        result.rescan_floor = capture_rescan_floor(watermark)
        CapturePass.objects.filter(passed_at__lte=capture_rescan_horizon(watermark)).delete()
        watermark.run_started_at = started_at
        watermark.save(update_fields=["run_started_at", "updated_at"])
    result.watermark_before = result.watermark_after = watermark.last_conv_id
    _capture_late_commits(result, rules, batch_size)
    while True:
        with transaction.atomic():
            watermark = CaptureWatermark.objects.select_for_update().get(name=CAPTURE_WATERMARK_NAME)
            batch = store.conversion_batch(after_conv_id=watermark.last_conv_id, limit=batch_size)
            if not batch:
                break
            outcome = _write_batch(_build_batch(batch, rules), dry_run=False)
            passed_from = watermark.last_conv_id
            if outcome.failed:
                first_failure = min(outcome.failed)
                watermark.last_conv_id = max(
                    (c.conv_id for c in batch if c.conv_id < first_failure), default=watermark.last_conv_id
                )
            else:
                watermark.last_conv_id = batch[-1].conv_id
            watermark.save(update_fields=["last_conv_id", "updated_at"])
            if watermark.last_conv_id > passed_from:
                CapturePass.objects.create(passed_from=passed_from, passed_at=int(time.time()))
        _tally(result, batch, outcome)
        result.watermark_after = watermark.last_conv_id
        if outcome.failed:
            break
    return result


def _capture_late_commits(result, rules, batch_size):
    """Journeys of live conversions in (rescan_floor, watermark] that have none (late commits).

    Only what is written or fails is counted: conversions skipped here (disabled scopes, deleted
    accounts) were counted when the watermark passed them, or are counted by no run at all.
    """
    after = result.rescan_floor
    while after < result.watermark_before:
        with transaction.atomic():
            CaptureWatermark.objects.select_for_update().get(name=CAPTURE_WATERMARK_NAME)
            batch = store.conversion_batch(
                after_conv_id=after, max_conv_id=result.watermark_before, limit=batch_size,
                live_only=True, without_journey=True,
            )
            if not batch:
                return
            outcome = _write_batch(_build_batch(batch, rules), dry_run=False)
        after = batch[-1].conv_id
        result.late_written += len(outcome.written)
        result.written += len(outcome.written)
        result.touch_rows += outcome.touch_rows
        result.capped += sum(1 for journey in outcome.written if FLAG_BEYOND_CAP in journey.flags)
        result.failed.update(outcome.failed)


@dataclass(frozen=True)
class CaptureBacklog:
    """Live conversions in a multi-touch-enabled scope that have no journey (SPEC §10), split by
    whether capture will still write them: `pending` are above the re-scan floor (or capture
    never ran), `missing` below it, where only a backfill writes them."""

    pending: int
    oldest_pending_conv_time: int | None
    missing: int
    missing_conv_ids: tuple  # the lowest MISSING_LISTED_MAX of them
    lowest_conv_id_read: int  # conversions above this conv_id were looked at


MISSING_LISTED_MAX = 20


def capture_backlog(*, since, account_ids=None, recent_conversions=100_000):
    """The CaptureBacklog of conversions with conv_time >= since among the `recent_conversions`
    highest conv_ids (a primary-key range: conv_time has no index), for `account_ids` (None: all).
    Eligibility is capture's own rule (`_classify`); the floor is the one the next run uses."""
    watermark = CaptureWatermark.objects.filter(name=CAPTURE_WATERMARK_NAME).first()
    floor = None if watermark is None else capture_rescan_floor(watermark)
    lowest = max(0, store.highest_conv_id() - recent_conversions)
    pending, oldest, missing = 0, None, []
    batches = () if account_ids is not None and not account_ids else store.conversion_batches(
        batch_size=DEFAULT_BATCH_SIZE, after_conv_id=lowest, start=since, user_ids=account_ids,
        live_only=True, without_journey=True,
    )
    for batch in batches:
        eligible, _deleted, _disabled = _classify(batch)
        for conversion in eligible:
            if floor is not None and conversion.conv_id <= floor:
                missing.append(conversion.conv_id)
            else:
                pending += 1
                oldest = conversion.conv_time if oldest is None else min(oldest, conversion.conv_time)
    return CaptureBacklog(pending, oldest, len(missing), tuple(missing[:MISSING_LISTED_MAX]), lowest)


# ---------------------------------------------------------------------------------------------
# Verification.


def verify_journeys(*, start=None, end=None, user_ids=None, conv_ids=None, progress=None):
    """Check stored journeys against SPEC §4.3; returns problems per conversion.

    Errors: broken positions, converting click, order or timing, stale journeys, orphans, and a
    live conversion in an enabled scope with no stored journey ("missing journey"). Warnings:
    the review flags of `store.review_flags`. `progress(report)` is called after every batch.
    """
    rules = JourneyRules.from_settings()
    start, end = arguments.optional_window(start, end)
    account_ids = None if user_ids is None else check_existing_accounts(user_ids)
    wanted = None if conv_ids is None else set(arguments.object_ids("--conv-id", conv_ids))
    missing = set()
    if wanted is not None:
        missing = wanted - _existing_conv_ids(wanted)
        orphaned = set(store.touchpoint_counts(missing))
        unknown = sorted(missing - orphaned)
        if unknown:
            raise InvalidArgument(
                "--conv-id", unknown[0], "no such conv_id in 202_conversion_logs or 202_conversion_touchpoints"
            )
    report = VerifyReport()
    for batch in store.conversion_batches(
        batch_size=VERIFY_BATCH_SIZE, start=start, end=end, user_ids=account_ids, conv_ids=wanted,
    ):
        _verify_batch(batch, rules, report)
        if progress is not None:
            progress(report)
    for conv_id in sorted(missing):
        report.add(conv_id, errors=["orphan: touchpoints of a missing conversion"])
    if wanted is None:
        live = [user_id for user_id, deleted in accounts.deleted_flags(account_ids).items() if not deleted] \
            if account_ids is not None else accounts.live_account_ids()
        report.summary_problems = summary_store.check_summaries(
            start=0 if start is None else start, end=arguments.EPOCH_MAX if end is None else end,
            account_ids=live,
        )
    if wanted is None and account_ids is None:
        cursor = 0
        while cursor is not None:
            orphans, cursor = store.orphan_batch(after_conv_id=cursor, limit=VERIFY_BATCH_SIZE)
            for orphan in orphans:
                if orphan.user_id is None:
                    report.add(orphan.conv_id, errors=[f"orphan: {orphan.reason}"])
    return report


def _existing_conv_ids(conv_ids):
    found = set()
    for chunk in chunks(sorted(conv_ids)):
        found.update(c.conv_id for c in store.conversion_batch(after_conv_id=0, limit=len(chunk), conv_ids=chunk))
    return found


def _verify_batch(batch, rules, report):
    stored = store.stored_touches([c.conv_id for c in batch])
    report.checked += len(batch)
    report.with_journey += sum(1 for c in batch if c.conv_id in stored)
    eligible, _deleted, _disabled = _classify(batch)
    eligible_ids = {c.conv_id for c in eligible}
    build = _build_batch([c for c in batch if c.conv_id in stored], rules)
    fresh = {journey.conv_id: journey for journey in build.journeys}
    flags = needs_review(conv_ids=[c.conv_id for c in batch])
    for conversion in batch:
        if conversion.conv_id not in stored:
            if conversion.conv_id in eligible_ids:
                report.add(conversion.conv_id, errors=[
                    "missing journey: a live conversion in a multi-touch scope has no stored journey "
                    "(capture or backfill never wrote it; run backfill_conversion_journeys)"
                ])
            continue
        if conversion.deleted:
            report.add(conversion.conv_id, errors=["orphan: touchpoints of a soft-deleted conversion"])
            continue
        errors = check_stored_journey(conversion, stored[conversion.conv_id], fresh.get(conversion.conv_id))
        warnings = [
            review_message(flag, lookback_seconds=rules.lookback_seconds, max_touches=rules.max_touches)
            for flag in REVIEW_FLAGS if flag in flags.get(conversion.conv_id, ())
        ]
        if errors or warnings:
            report.add(conversion.conv_id, errors=errors, warnings=warnings)


# ---------------------------------------------------------------------------------------------
# Purge.


def check_purge_selection(*, conv_ids=None, user_ids=None, start=None, end=None, campaign_id=None,
                          disabled_scopes=False, orphans=False):
    """Validate a purge selection (raises InvalidArgument); returns it normalised."""
    selections = [conv_ids is not None, disabled_scopes, orphans]
    if user_ids is not None and not (disabled_scopes or orphans):
        selections.append(True)
    if sum(selections) != 1:
        raise InvalidArgument(
            "selection", "none" if not any(selections) else "several",
            "give exactly one of --conv-id, --user, --disabled-scopes, --orphans",
        )
    if (start is not None or end is not None or campaign_id is not None) and (
        user_ids is None or disabled_scopes or orphans
    ):
        raise InvalidArgument("--start/--end/--campaign", "given", "they only narrow a --user purge")
    start, end = arguments.optional_window(start, end)
    campaign_id = None if campaign_id is None else arguments.object_ids("--campaign", [campaign_id])[0]
    if user_ids is not None:
        user_ids = check_existing_accounts(user_ids)
    if conv_ids is not None:
        conv_ids = arguments.object_ids("--conv-id", conv_ids)
    return {"conv_ids": conv_ids, "user_ids": user_ids, "start": start, "end": end,
            "campaign_id": campaign_id, "disabled_scopes": disabled_scopes, "orphans": orphans}


def purge_journeys(*, conv_ids=None, user_ids=None, start=None, end=None, campaign_id=None,
                   disabled_scopes=False, orphans=False, dry_run=False, actor, progress=None):
    """Delete the touchpoints of the selected conversions (SPEC §4.4); reports rows deleted.

    Exactly one selection: conv_ids, user_ids (optionally narrowed by start/end/campaign_id),
    disabled_scopes (effective flag disabled by §4.1 precedence; user_ids narrows it) or
    orphans (soft-deleted or missing conversions; user_ids narrows it to soft-deleted ones).
    `progress(result)` is called after every batch.
    """
    selection = check_purge_selection(
        conv_ids=conv_ids, user_ids=user_ids, start=start, end=end, campaign_id=campaign_id,
        disabled_scopes=disabled_scopes, orphans=orphans,
    )
    conv_ids, user_ids, start, end, campaign_id = (
        selection[key] for key in ("conv_ids", "user_ids", "start", "end", "campaign_id")
    )
    campaign_ids = None if campaign_id is None else [campaign_id]
    if conv_ids is not None:
        targets = _conv_id_targets(conv_ids)
        criteria = {"selection": "conv_ids"}
    elif disabled_scopes:
        targets = _disabled_scope_targets(user_ids)
        criteria = {"selection": "disabled_scopes", "user_ids": user_ids}
    elif orphans:
        targets = _orphan_targets(user_ids)
        criteria = {"selection": "orphans", "user_ids": user_ids}
    else:
        targets = _account_targets(user_ids, start, end, campaign_ids)
        criteria = {"selection": "user_ids", "user_ids": user_ids, "start": start, "end": end,
                    "campaign_id": campaign_id}
    result = PurgeResult(dry_run=dry_run)
    for batch in targets:
        with transaction.atomic():
            counts = store.touchpoint_counts([conv_id for conv_id, _ in batch])
            if not counts:
                continue
            if dry_run:
                rows = sum(counts.values())
            else:
                rows = store.delete_touchpoints(list(counts))
                evict_journeys_on_commit(list(counts))
                by_account = defaultdict(list)
                for conv_id, account_id in batch:
                    if conv_id in counts:
                        # 0: the conversion row is missing, so its account is unknown.
                        by_account[account_id or 0].append(conv_id)
                for account_id, purged in sorted(by_account.items()):
                    audit.record(
                        account_id, "journey_purge", actor, **criteria,
                        rows_deleted=sum(counts[conv_id] for conv_id in purged),
                        conversions=len(purged),
                        conv_ids=purged if len(purged) <= AUDIT_CONV_ID_LIMIT else None,
                    )
        result.rows_deleted += rows
        result.conversions += len(counts)
        if progress is not None:
            progress(result)
    return result


def _conv_id_targets(conv_ids):
    for chunk in chunks(sorted(set(conv_ids)), PURGE_BATCH_SIZE):
        accounts = {c.conv_id: c.user_id for c in store.conversion_batch(after_conv_id=0, limit=len(chunk), conv_ids=chunk)}
        yield [(conv_id, accounts.get(conv_id)) for conv_id in chunk]


def _account_targets(user_ids, start, end, campaign_ids):
    for batch in store.conversion_batches(
        batch_size=PURGE_BATCH_SIZE, start=start, end=end, user_ids=user_ids, campaign_ids=campaign_ids,
    ):
        yield [(c.conv_id, c.user_id) for c in batch]


def _disabled_scope_targets(user_ids):
    """Conversions whose effective multi-touch flag is disabled, account by account."""
    for account_id in store.accounts_with_disabled_settings(user_ids):
        policy = multi_touch_policies([account_id])[account_id]
        for batch in store.conversion_batches(batch_size=PURGE_BATCH_SIZE, user_ids=[account_id]):
            yield [
                (c.conv_id, c.user_id) for c in batch
                if not policy.enabled(c.campaign_id, c.advertiser_id)
            ]


def _orphan_targets(user_ids):
    after = 0
    while after is not None:
        orphans, after = store.orphan_batch(after_conv_id=after, limit=PURGE_BATCH_SIZE, user_ids=user_ids)
        if orphans:
            yield [(orphan.conv_id, orphan.user_id) for orphan in orphans]
