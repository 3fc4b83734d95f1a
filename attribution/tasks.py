"""django-q2 entry points of the attribution app: plain functions with JSON-able arguments."""
import time
import uuid

from django_q.tasks import async_task

from attribution.exports.jobs import process_pending_exports
from attribution.rebuild import plan_rebuild, run_rebuild
from tracker.audit import Actor

REBUILD_TASK = "attribution.tasks.rebuild_task"


class _Lines:
    """A minimal text sink collecting what the rebuild reports."""

    def __init__(self):
        self.lines = []

    def write(self, text):
        self.lines.extend(line for line in text.splitlines() if line)


def rebuild_task(start=None, end=None, user_ids=None, model_ids=None, username="task", lock_timeout=0):
    """Run the rebuild (no arguments: a scheduled run, as the hourly schedule does); returns the
    outcome as a dict with exit_code, per-user results, per-model totals and the output lines."""
    out, err = _Lines(), _Lines()
    outcome = run_rebuild(
        start=start, end=end, user_ids=user_ids or (), model_ids=model_ids or (),
        lock_timeout=lock_timeout, actor=Actor.task(username), out=out, err=err,
    )
    return {**outcome.as_dict(), "output": out.lines, "errors": err.lines}


def enqueue_account_rebuilds(*, start=None, end=None, user_ids=(), model_ids=(), lock_timeout=0,
                             username="task"):
    """Validate like the command, then enqueue one rebuild_task per account as one django-q2
    group over the same whole-hour window; returns (group id, task ids)."""
    plan = plan_rebuild(
        start=start, end=end, user_ids=user_ids, model_ids=model_ids, lock_timeout=lock_timeout,
        now=int(time.time()),
    )
    group = f"attribution-rebuild-{uuid.uuid4().hex[:12]}"
    task_ids = []
    for account_id, rows in plan.accounts.items():
        if rows == []:  # named by --user, but none of the --model ids is its
            continue
        task_ids.append(async_task(
            REBUILD_TASK,
            start=plan.window.start_hour,
            end=plan.window.end_hour,
            user_ids=[account_id],
            model_ids=None if rows is None else [row.model_id for row in rows],
            username=username,
            lock_timeout=lock_timeout,
            group=group,
            task_name=f"attribution rebuild user {account_id}",
        ))
    return group, task_ids


def process_exports_task():
    """The every-minute export worker pass: claim pending exports one at a time (SPEC §7)."""
    return process_pending_exports().as_dict()
