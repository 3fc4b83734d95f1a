"""django-q2 entry points of the attribution app: plain functions with JSON-able arguments.

Thin on purpose: each calls an engine and turns its outcome into the task's result. A queued
rebuild that could not do its work raises, so django-q2 records a failure, retries it within
the bounded attempts and System Checks counts it (SPEC §6 step 10).
"""
import json

from django.conf import settings

from attribution import model_rows, multi_touch
from attribution.exports.jobs import process_pending_exports
from attribution.rebuild import run_rebuild
from tracker.audit import Actor
from tracker.queue import QueuedWorkFailed


def _done(result):
    """The summary dict of an outcome, or QueuedWorkFailed carrying it when work was not done."""
    summary = result.as_dict()
    if not result.succeeded:
        raise QueuedWorkFailed(json.dumps(summary, sort_keys=True))
    return summary


def rebuild_task(start=None, end=None, user_ids=None, model_ids=None, username="task"):
    """Run the rebuild (no arguments: a scheduled run, as the hourly schedule does); returns the
    outcome as a dict, or raises QueuedWorkFailed when a user failed or its lock stayed busy
    for ATTRIBUTION_QUEUED_LOCK_WAIT_SECONDS (the task timeout minus a margin)."""
    return _done(run_rebuild(
        start=start, end=end, user_ids=user_ids or (), model_ids=model_ids or (),
        lock_timeout=settings.ATTRIBUTION_QUEUED_LOCK_WAIT_SECONDS, actor=Actor.task(username),
    ))


def multi_touch_rebuild_task(account_id, scope_type, scope_id, since=None, username="task"):
    """The last step of a scope's multi-touch chain (SPEC §5.3): rebuild the hours the purge or
    hydration changed; fails as rebuild_task does."""
    window = multi_touch.rebuild_window(
        account_id=account_id, scope_type=scope_type, scope_id=scope_id, since=since,
    )
    if window is None:
        return {"succeeded": True, "message": "no rebuilt hour holds a conversion of the scope: nothing to rebuild"}
    return rebuild_task(start=window[0], end=window[1], user_ids=[account_id], username=username)


def delete_model_rows_task(model_id, account_id, username="task"):
    """Delete a deleted model's snapshots and credit rows (queued by its deletion, SPEC §5.3)."""
    return _done(model_rows.delete_rows(
        model_id=model_id, account_id=account_id, actor=Actor.task(username),
        lock_timeout=settings.ATTRIBUTION_QUEUED_LOCK_WAIT_SECONDS,
    ))


def process_exports_task():
    """The every-minute export worker pass: claim pending exports one at a time (SPEC §7)."""
    return process_pending_exports().as_dict()
