"""django-q2 entry points of the attribution app: plain functions with JSON-able arguments.

Thin on purpose: each calls an engine and turns its outcome into the task's result. A queued
rebuild that could not do its work raises, so django-q2 records a failure, retries it within
the bounded attempts and System Checks counts it (SPEC §6 step 10).
"""
import json

from django.conf import settings

from attribution.exports.jobs import process_pending_exports
from attribution.rebuild import run_rebuild
from tracker.audit import Actor
from tracker.queue import QueuedWorkFailed

# A queued rebuild waits this long for its account's lock, leaving the rest of the task
# timeout for the rebuild itself.
LOCK_WAIT_MARGIN_SECONDS = 600
QUEUED_LOCK_WAIT_SECONDS = max(0, settings.Q_TASK_TIMEOUT_SECONDS - LOCK_WAIT_MARGIN_SECONDS)


def rebuild_task(start=None, end=None, user_ids=None, model_ids=None, username="task"):
    """Run the rebuild (no arguments: a scheduled run, as the hourly schedule does); returns the
    outcome as a dict, or raises QueuedWorkFailed when a user failed or its lock stayed busy."""
    outcome = run_rebuild(
        start=start, end=end, user_ids=user_ids or (), model_ids=model_ids or (),
        lock_timeout=QUEUED_LOCK_WAIT_SECONDS, actor=Actor.task(username),
    )
    result = outcome.as_dict()
    if not outcome.succeeded:
        raise QueuedWorkFailed(json.dumps(result, sort_keys=True))
    return result


def process_exports_task():
    """The every-minute export worker pass: claim pending exports one at a time (SPEC §7)."""
    return process_pending_exports().as_dict()
