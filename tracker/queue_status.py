"""Where queued work stands (SPEC §4.2, §8 `tasks/<id>`): a group queued through
tracker.queue, or one task of it, as queued / running / succeeded / failed.

The registry is the audit rows `queue_group` writes (`rebuild_queued`, `backfill_queued`: the
group, its task ids, their accounts), so work queued from the admin, the API or `--async` is
found, with the accounts that decide who may see it. A task's state comes from django-q2: its
stored result (django_q_task) once it ran, else the broker: taken by a worker (running) or
waiting in the queue (queued). A task moves only queue → taken → stored, and django-q2 prunes
old successful results (`save_limit`), so a task found in none of them ran and succeeded.
"""
import json
import re
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone
from django_q.brokers import get_broker
from django_q.brokers.orm import ORM
from django_q.conf import Conf
from django_q.models import OrmQ, Task

from tracker.models import AuditEntry
from tracker.redis_broker import AcknowledgedRedis, package_task_id

QUEUE_ACTIONS = ("backfill_queued", "rebuild_queued")
QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
STATES = (QUEUED, RUNNING, SUCCEEDED, FAILED)
# tracker.queue names groups `<kind>-<12 hex>`; django-q2's task ids are uuid4 hex.
GROUP_ID = re.compile(r"^[a-z]+-[0-9a-f]{12}$")
TASK_ID = re.compile(r"^[0-9a-f]{32}$")
_TRACEBACK = " : Traceback (most recent call last)"
_REGISTRY_KEYS = ("group_id", "task_ids", "actor")


@dataclass(frozen=True)
class TaskStatus:
    task_id: str
    account_id: int
    state: str
    attempts: int = 0
    retrying: bool = False  # failed with attempts left: the broker hands it out again
    name: str = ""
    worker: str = ""  # tracker.worker_identity's label of the qcluster that ran it
    started: datetime | None = None
    stopped: datetime | None = None
    arguments: dict = field(default_factory=dict)
    result: dict | None = None  # the task's summary (a failed task's too, when it raised one)
    error: str = ""  # why it failed, without the traceback
    result_pruned: bool = False  # succeeded, but django-q2 no longer keeps its result

    @property
    def finished(self):
        return self.state == SUCCEEDED or (self.state == FAILED and not self.retrying)


@dataclass(frozen=True)
class GroupStatus:
    group_id: str
    kind: str  # backfill, rebuild
    account_ids: tuple
    queued_at: int
    queued_by: dict  # the audit actor: {"type", "username"}
    parameters: dict  # what was queued (window, batch size, …), from the audit row
    tasks: tuple

    @property
    def counts(self):
        """Tasks per state, plus `retrying` (failed, to be run again)."""
        counts = dict.fromkeys(STATES, 0) | {"retrying": 0}
        for task in self.tasks:
            counts["retrying" if task.retrying else task.state] += 1
        return counts

    @property
    def state(self):
        """running while a task runs, queued while one waits (or waits for a retry), failed
        when every task finished and one failed, succeeded when all succeeded."""
        counts = self.counts
        for state in (RUNNING, QUEUED, "retrying", FAILED):
            if counts[state]:
                return QUEUED if state == "retrying" else state
        return SUCCEEDED

    def task(self, task_id):
        return next(task for task in self.tasks if task.task_id == task_id)


def find_group(reference):
    """The group queued under this group id or task id, with every task's state; None when no
    such work was queued through tracker.queue."""
    reference = str(reference)
    if not (GROUP_ID.match(reference) or TASK_ID.match(reference)):
        return None
    found = [
        metadata for metadata in _registry_rows(f'"{reference}"')
        if reference == metadata.get("group_id") or reference in metadata.get("task_ids", ())
    ]
    if not found:
        return None
    group_id = found[0]["group_id"]
    rows = [metadata for metadata in _registry_rows(f'"group_id": "{group_id}"')
            if metadata.get("group_id") == group_id]
    accounts = {task_id: metadata["account_id"] for metadata in rows for task_id in metadata["task_ids"]}
    first = min(rows, key=lambda metadata: metadata["audit_id"])
    return GroupStatus(
        group_id=group_id, kind=group_id.split("-", 1)[0],
        account_ids=tuple(sorted({metadata["account_id"] for metadata in rows})),
        queued_at=first["created_at"], queued_by=first.get("actor") or {},
        parameters={key: value for key, value in first.items()
                    if key not in (*_REGISTRY_KEYS, "account_id", "audit_id", "created_at")},
        tasks=tuple(task_states(accounts)),
    )


def _registry_rows(fragment):
    """Audit metadata of queued work whose JSON contains `fragment`, with the row's account."""
    rows = AuditEntry.objects.filter(action__in=QUEUE_ACTIONS, metadata__contains=fragment).order_by("audit_id")
    return [
        {**row.metadata_dict, "account_id": row.user_id, "audit_id": row.audit_id, "created_at": row.created_at}
        for row in rows
    ]


def task_states(accounts):
    """TaskStatus of each task id in `accounts` ({task id: account id}), in that order.

    Read in the order tasks move (taken, stored, then queue and taken again for the rest), so a
    task moving while we read is never mistaken for a finished one.
    """
    broker = get_broker()
    taken = _taken(broker)
    stored = {task.id: task for task in Task.objects.filter(id__in=list(accounts))}
    unseen = set(accounts) - set(stored) - set(taken)
    queued = set()
    if unseen:
        queued = _queued(broker) & unseen
        taken.update(_taken(broker))
        unseen -= queued | set(taken)
        stored.update({task.id: task for task in Task.objects.filter(id__in=list(unseen))})
    return [_task_status(task_id, account_id, stored.get(task_id), taken.get(task_id), task_id in queued)
            for task_id, account_id in accounts.items()]


def _task_status(task_id, account_id, row, taken_at, queued):
    if row is None:
        if taken_at is not None:
            return TaskStatus(task_id, account_id, RUNNING)
        if queued:
            return TaskStatus(task_id, account_id, QUEUED)
        return TaskStatus(task_id, account_id, SUCCEEDED, result_pruned=True)
    result, error = (row.result, "") if row.success else _failure(row.result)
    state = SUCCEEDED if row.success else FAILED
    retrying = False
    if not row.success:
        # Taken again after the failure was stored: the retry is running.
        if taken_at is not None and row.stopped is not None and taken_at > row.stopped.timestamp():
            state = RUNNING
        retrying = state == FAILED and _will_retry(row)
    return TaskStatus(
        task_id, account_id, state, attempts=row.attempt_count, retrying=retrying, name=row.name or "",
        worker=row.cluster or "", started=row.started, stopped=row.stopped, arguments=row.kwargs or {},
        result=result if isinstance(result, dict) else None, error=error,
    )


def _will_retry(row):
    """django-q2 leaves a failed task unacknowledged, so its broker hands it out again, until
    `max_attempts` (0: no limit) unless failures are acknowledged."""
    return not Conf.ACK_FAILURES and (Conf.MAX_ATTEMPTS == 0 or row.attempt_count < Conf.MAX_ATTEMPTS)


def _failure(text):
    """(summary dict or None, message) of a failed task's stored result `<error> : <traceback>`;
    tracker.queue.QueuedWorkFailed's message is the summary as JSON."""
    message = str(text or "").split(_TRACEBACK, 1)[0].strip()
    try:
        summary, _end = json.JSONDecoder().raw_decode(message)
    except ValueError:
        return None, message
    return (summary, message) if isinstance(summary, dict) else (None, message)


def _taken(broker):
    """{task id: epoch when a worker took it} of the tasks held by workers."""
    if isinstance(broker, AcknowledgedRedis):
        return {task_id: deadline - Conf.RETRY for task_id, deadline in broker.leases().items()}
    if isinstance(broker, ORM):
        rows = OrmQ.objects.using(Conf.ORM).filter(key=broker.list_key, lock__gt=timezone.now())
        return {task_id: row.lock.timestamp() - Conf.RETRY
                for row in rows if (task_id := package_task_id(row.payload))}
    return {}


def _queued(broker):
    """Ids of the tasks waiting in the queue."""
    if isinstance(broker, AcknowledgedRedis):
        return broker.queued_task_ids()
    if isinstance(broker, ORM):
        rows = OrmQ.objects.using(Conf.ORM).filter(key=broker.list_key, lock__lte=timezone.now())
        return {task_id for row in rows if (task_id := package_task_id(row.payload))}
    return set()
