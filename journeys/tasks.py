"""django-q2 entry points for journeys: plain functions with JSON-able arguments and results.

Thin on purpose: each calls a service with a task actor and returns its summary; work that did
not (all) get done raises, so django-q2 records a failure and retries it within the bounded
attempts (SPEC §4.3, §6 step 10).
"""
import json

from journeys import services
from tracker.audit import Actor
from tracker.queue import QueuedWorkFailed


def _done(result):
    summary = result.as_dict()
    if summary.get("failed"):
        raise QueuedWorkFailed(json.dumps(summary, sort_keys=True))
    return summary


def capture_journeys_task(username="task"):
    """The every-minute capture schedule (replaces Prosper202's pixel hook)."""
    return _done(services.capture_new_conversions(actor=Actor.task(username)))


def backfill_slice_task(start, end, user_ids=None, batch_size=services.DEFAULT_BATCH_SIZE, username="task"):
    """One slice of a queued backfill (or a whole window); fails when any conversion failed."""
    return _done(services.backfill_journeys(
        start=start, end=end, user_ids=user_ids, batch_size=batch_size, actor=Actor.task(username),
    ))


def purge_task(username="task", **purge_kwargs):
    """Purge journeys; keyword arguments are those of services.purge_journeys (minus actor)."""
    return services.purge_journeys(actor=Actor.task(username), **purge_kwargs).as_dict()


def hydrate_scope_task(account_id, scope_type, scope_id, username="task"):
    """Backfill a scope's lookback window after its multi-touch flag was enabled."""
    return _done(services.hydrate_scope(
        account_id=account_id, scope_type=scope_type, scope_id=scope_id, actor=Actor.task(username)
    ))


def purge_disabled_scopes_task(user_ids=None, username="task"):
    """Purge journeys whose effective multi-touch flag is disabled (after a scope was disabled)."""
    return services.purge_journeys(
        disabled_scopes=True, user_ids=user_ids, actor=Actor.task(username)
    ).as_dict()
