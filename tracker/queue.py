"""Queued work for django-q2 workers: the one way rebuilds and backfills are enqueued, as a group
of tasks (one per account or per account and time slice, so several workers share them), with
one audit row per account written in the same transaction as the enqueue.

With the ORM broker the queued rows commit with the audit rows; with Redis the enqueue is
immediate, so it is the transaction's last step: a failure before it queues nothing.
"""
import uuid
from dataclasses import dataclass, field

from django.db import transaction
from django_q.tasks import async_task

from tracker import audit


class QueuedWorkFailed(Exception):
    """Raised by a task whose work was not (all) done, so django-q2 records a failure and
    retries it; the message is the outcome as JSON."""


@dataclass(frozen=True)
class QueuedTask:
    func: str  # dotted path of the task function
    account_id: int
    name: str
    kwargs: dict = field(default_factory=dict)


@dataclass(frozen=True)
class QueuedWork:
    group_id: str
    task_ids: tuple
    account_ids: tuple

    @property
    def reference(self):
        """What to show and poll: the task when there is one, else the group."""
        return self.task_ids[0] if len(self.task_ids) == 1 else self.group_id


def queue_group(kind, tasks, *, actor, audit_action, **metadata):
    """Enqueue `tasks` as one django-q2 group named `<kind>-<random>`; records `audit_action`
    per account with the group, its task ids and `metadata`. Returns QueuedWork."""
    group_id = f"{kind}-{uuid.uuid4().hex[:12]}"
    task_ids, by_account = [], {}
    with transaction.atomic():
        for task in tasks:
            task_id = async_task(task.func, **task.kwargs, group=group_id, task_name=task.name)
            task_ids.append(task_id)
            by_account.setdefault(task.account_id, []).append(task_id)
        for account_id, ids in by_account.items():
            audit.record(account_id, audit_action, actor, group_id=group_id, task_ids=ids, **metadata)
    return QueuedWork(group_id, tuple(task_ids), tuple(by_account))
