"""The journey cache (SPEC §4.5): read-through by conversion, evicted after each write or purge.

Key `attribution_journey_<conv_id>` (under the project's key prefix, as Prosper202 named it);
value the ordered list of (click_id, click_time). A dead memcached only costs a logged warning
(tracker.cache): journeys are then read from the database.

The keys live under a namespace version (Django's cache key version) kept in the cache itself,
so evicting every journey is one increment, whatever the number of keys.

An eviction that cannot reach the cache is not lost: it is recorded in PendingJourneyEviction
(the database has just committed the write, so it is reachable) and retried by
`retry_pending_evictions`. Readers retry before they serve a cached journey, at once after their
own cache failure and otherwise at most every RETRY_INTERVAL_SECONDS, so a stale entry outlives
memcached's return by at most that interval; the capture schedule and System Checks see the rest.
"""
import logging
import time
from dataclasses import dataclass, field

from django.db import DatabaseError, transaction
from django.db.models import Count, Max, Min

from journeys import store
from journeys.models import PendingJourneyEviction
from tracker import accounts, arguments
from tracker.cache import cache_delete_many, cache_get, cache_get_or_set, cache_incr, cache_set
from tracker.sql import chunks

logger = logging.getLogger("attribution.cache")

JOURNEY_CACHE_SECONDS = 24 * 3600
VERSION_KEY = "attribution_journey_version"
# Past this many pending rows a failed eviction is recorded as "every journey" (one row, and one
# version bump when retried): a backfill during an outage must not fill the table.
PENDING_ROWS_MAX = 10_000
RETRY_INTERVAL_SECONDS = 10
EVICT_BATCH_SIZE = 1000

# Monotonic time of this process's next retry; 0 after a cache failure (retry on the next success).
_next_retry_at = 0.0


def journey_cache_key(conv_id):
    return f"attribution_journey_{int(conv_id)}"


def _new_namespace():
    """A version never used before (the clock in nanoseconds): a lost version key (memcached
    restarted, LRU eviction) must not bring back entries of an earlier namespace."""
    return time.time_ns()


def journey_cache_version():
    """The current namespace version of the journey keys; None when the cache is unreachable."""
    return cache_get_or_set(VERSION_KEY, _new_namespace)


def _readable_version():
    """The namespace version for a read, after retrying pending evictions when they are due,
    so that a journey whose eviction failed is not served from the cache."""
    global _next_retry_at
    version = journey_cache_version()
    if version is None:
        _next_retry_at = 0.0
        return None
    if time.monotonic() >= _next_retry_at:
        retry_pending_evictions()
        _next_retry_at = time.monotonic() + RETRY_INTERVAL_SECONDS
    return version


def get_journey(conv_id):
    """The stored journey of one conversion as [(click_id, click_time)], cached."""
    key = journey_cache_key(conv_id)
    version = _readable_version()
    if version is not None:
        cached = cache_get(key, version=version)
        if cached is not None:
            return [tuple(touch) for touch in cached]
    journey = store.stored_journeys([int(conv_id)]).get(int(conv_id), [])
    if version is not None:
        cache_set(key, journey, JOURNEY_CACHE_SECONDS, version=version)
    return journey


def evict_journeys_on_commit(conv_ids, using="default"):
    """Drop these conversions' cached journeys once the current transaction commits."""
    conv_ids = sorted({int(conv_id) for conv_id in conv_ids})
    if conv_ids:
        transaction.on_commit(lambda: evict_journeys(conv_ids), using=using)


def evict_journeys(conv_ids):
    """Evict now; True when done, False when the cache was unreachable and the eviction was
    queued for retry."""
    if _evict_now(conv_ids):
        return True
    _queue_evictions(conv_ids)
    return False


def evict_all_journeys():
    """Retire every journey key at once by bumping the namespace; True when done, False when
    queued for retry. The bump also settles every eviction queued before it."""
    settled = _queued_so_far()
    if not _evict_now(None):
        _queue_evictions(None)
        return False
    settled.delete()
    return True


def retry_pending_evictions():
    """Evict what earlier attempts could not; returns how many queued rows were settled. Runs
    before cached reads (see `_readable_version`) and with the capture schedule; stops at the
    first batch the cache refuses, leaving it queued."""
    settled_rows = 0
    while batch := list(PendingJourneyEviction.objects.order_by("id").values_list("id", "conv_id")[:EVICT_BATCH_SIZE]):
        if any(conv_id is None for _, conv_id in batch):
            conv_ids, settled = None, _queued_so_far()
        else:
            conv_ids = [conv_id for _, conv_id in batch]
            settled = PendingJourneyEviction.objects.filter(id__in=[row_id for row_id, _ in batch])
        if not _evict_now(conv_ids):
            break
        settled_rows += settled.delete()[0]
    if settled_rows:
        logger.info("retried %d pending journey cache eviction(s)", settled_rows)
    return settled_rows


@dataclass
class EvictionOutcome:
    """What `evict_selection` did: conversions whose keys were evicted, and evictions queued for
    retry because the cache was unreachable (conversions, or the one namespace bump of
    `everything`)."""

    evicted: int = 0
    queued: int = 0
    everything: bool = False
    warnings: list = field(default_factory=list)


def evict_selection(*, conv_ids=None, user_ids=None, start=None, end=None, everything=False):
    """Evict by hand (runbook §3.3, after a hand-made SQL change): these conversions, the
    conversions of these accounts with conv_time in [start, end] (either optional), or every
    journey. Exactly one selection; a bad one raises InvalidArgument before anything is evicted.
    Conversion ids need not exist: their rows may be what the SQL deleted."""
    given = [name for name, value in (("--conv-id", conv_ids), ("--user", user_ids), ("--all", everything)) if value]
    if len(given) != 1:
        raise arguments.InvalidArgument(
            "--conv-id/--user/--all", " ".join(given) or "none", "give exactly one of them")
    if not user_ids and (start is not None or end is not None):
        field_name, value = ("--start", start) if start is not None else ("--end", end)
        raise arguments.InvalidArgument(field_name, value, "only allowed with --user")
    if everything:
        evicted = evict_all_journeys()
        return EvictionOutcome(everything=True, queued=0 if evicted else 1)
    if conv_ids:
        batches = chunks(arguments.object_ids("--conv-id", conv_ids), EVICT_BATCH_SIZE)
        outcome = EvictionOutcome()
    else:
        selection = accounts.select_accounts(user_ids)
        start, end = arguments.optional_window(start, end)
        batches = (
            [row.conv_id for row in batch]
            for batch in store.conversion_batches(
                batch_size=EVICT_BATCH_SIZE, user_ids=selection.usable, start=start, end=end)
        )
        outcome = EvictionOutcome(warnings=selection.warnings)
    for batch in batches:
        if evict_journeys(batch):
            outcome.evicted += len(batch)
        else:
            outcome.queued += len(batch)
    return outcome


def pending_evictions():
    """(rows queued, oldest queued_at or None, whether one of them is "every journey")."""
    pending = PendingJourneyEviction.objects.all()
    summary = pending.aggregate(rows=Count("id"), oldest=Min("queued_at"))
    return summary["rows"], summary["oldest"], pending.filter(conv_id=None).exists()


def _evict_now(conv_ids):
    """Delete these conversions' keys, or bump the namespace when conv_ids is None; False when
    the cache could not be reached."""
    if conv_ids is None:
        return cache_incr(VERSION_KEY, initial=_new_namespace()) is not None
    version = journey_cache_version()
    keys = [journey_cache_key(conv_id) for conv_id in conv_ids]
    return version is not None and cache_delete_many(keys, version=version)


def _queued_so_far():
    """The rows queued until now, fixed before a namespace bump (which settles them all)."""
    last_id = PendingJourneyEviction.objects.aggregate(last=Max("id"))["last"] or 0
    return PendingJourneyEviction.objects.filter(id__lte=last_id)


def _queue_evictions(conv_ids):
    """Record evictions that could not reach the cache (conv_ids None: every journey)."""
    global _next_retry_at
    _next_retry_at = 0.0
    pending = PendingJourneyEviction.objects
    what = "every journey key" if conv_ids is None else f"{len(conv_ids)} journey key(s)"
    try:
        with transaction.atomic():
            if pending.filter(conv_id=None).exists():
                pass  # a queued "every journey" eviction covers these too
            elif conv_ids is None or pending.count() + len(conv_ids) > PENDING_ROWS_MAX:
                pending.create(conv_id=None)
            else:
                pending.bulk_create(PendingJourneyEviction(conv_id=conv_id) for conv_id in conv_ids)
    except DatabaseError as error:
        logger.error("could not evict %s from the cache nor queue the retry; they may be served "
                     "stale for up to %d s: %s", what, JOURNEY_CACHE_SECONDS, error)
        return
    logger.warning("could not evict %s from the cache: queued for retry", what)
