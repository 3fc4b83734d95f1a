"""The chain a scope's multi-touch flag change queues (SPEC §5.3): purge the journeys whose
effective flag became disabled, or hydrate the scope's lookback window, then rebuild the hours
that changed, as one django-q2 chain; and where a queued chain stands, for its progress page.

The audit row of the change (`multi_touch_enable` / `multi_touch_disable`) names the chain's group
and steps: it is how a chain is found again and whose account decides who may see it.
"""
import re
import time
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Max, Min
from django_q.conf import Conf
from django_q.models import Task
from django_q.tasks import async_chain

from attribution import rebuild
from attribution.models import Snapshot
from journeys import store as journey_store
from tracker import audit
from tracker.models import AuditEntry

PURGE_DISABLED_TASK = "journeys.tasks.purge_disabled_scopes_task"
HYDRATE_SCOPE_TASK = "journeys.tasks.hydrate_scope_task"
REBUILD_TASK = "attribution.tasks.multi_touch_rebuild_task"
CHAIN_KIND = "multitouch"


def queue_chain(account_id, scope_type, scope_id, enabled, actor, *, setting_id, model_id):
    """Audit the flip and queue its chain: purge the journeys now disabled, or hydrate the
    scope's lookback window, then rebuild the hours that changed. Call inside the changing
    transaction, as its last step (with Redis the enqueue is immediate; see tracker.queue).

    One django-q2 chain under one group: django-q2 queues the rebuild when the first step has
    finished, and after a failed first step too (the rebuild then credits what it did, and the
    step's retry queues the rebuild again), so the journeys and snapshots end up consistent.
    The rebuild step fails when the rebuild fails. Returns the chain's group id.
    """
    group_id = f"{CHAIN_KIND}-{uuid.uuid4().hex[:12]}"
    scope_label = scope_type if scope_id is None else f"{scope_type} {scope_id}"
    if enabled:
        first = (HYDRATE_SCOPE_TASK, (), {
            "account_id": account_id, "scope_type": scope_type, "scope_id": scope_id,
            "username": actor.username, "task_name": f"hydrate user {account_id} {scope_label}",
        })
        since = int(time.time()) - settings.ATTRIBUTION_LOOKBACK_SECONDS
    else:
        first = (PURGE_DISABLED_TASK, (), {
            "user_ids": [account_id], "username": actor.username,
            "task_name": f"purge disabled scopes of user {account_id}",
        })
        since = None
    rebuild_step = (REBUILD_TASK, (), {
        "account_id": account_id, "scope_type": scope_type, "scope_id": scope_id, "since": since,
        "username": actor.username, "task_name": f"rebuild user {account_id} after {scope_label} multi-touch change",
    })
    steps = [first, rebuild_step]
    audit.record(
        account_id, "multi_touch_enable" if enabled else "multi_touch_disable", actor, model_id=model_id,
        setting_id=setting_id, scope_type=scope_type, scope_id=scope_id, chain_group_id=group_id,
        chain_steps=[func for func, _args, _kwargs in steps],
    )
    async_chain(steps, group=group_id)
    return group_id


ACTIONS = ("multi_touch_enable", "multi_touch_disable")
_CHAIN_GROUP_ID = re.compile(rf"^{CHAIN_KIND}-[0-9a-f]{{12}}$")
# States of a chain step: its task's stored result, or where the task must be meanwhile.
STEP_SUCCEEDED, STEP_FAILED, STEP_RETRYING = "succeeded", "failed", "failed, will be retried"
STEP_PENDING, STEP_WAITING = "queued or running", "waiting for the previous step"


@dataclass(frozen=True)
class ChainStep:
    func: str
    state: str
    attempts: int = 0
    result: object = None  # the task's result; for a failure, its error without the traceback


@dataclass(frozen=True)
class MultiTouchChain:
    group_id: str
    account_id: int
    enabled: bool
    scope_type: str
    scope_id: int | None
    queued_at: int
    queued_by: dict
    steps: tuple

    @property
    def finished(self):
        return all(step.state in (STEP_SUCCEEDED, STEP_FAILED) for step in self.steps)


def find_chain(group_id):
    """The chain queued under `group_id` by a multi-touch flag change, with each step's state
    (from django-q2's stored results), or None when no such chain was queued."""
    if not _CHAIN_GROUP_ID.match(str(group_id)):
        return None
    entry = (
        AuditEntry.objects.filter(action__in=ACTIONS, metadata__contains=f'"chain_group_id": "{group_id}"')
        .order_by("audit_id").first()
    )
    if entry is None:
        return None
    metadata = entry.metadata_dict
    tasks = {task.func: task for task in Task.objects.filter(group=group_id).order_by("started")}
    steps, previous_stored = [], True
    for func in metadata.get("chain_steps", ()):
        task = tasks.get(func)
        if task is None:
            steps.append(ChainStep(func, STEP_PENDING if previous_stored else STEP_WAITING))
        elif task.success:
            steps.append(ChainStep(func, STEP_SUCCEEDED, task.attempt_count, task.result))
        else:
            retrying = Conf.MAX_ATTEMPTS == 0 or task.attempt_count < Conf.MAX_ATTEMPTS
            error = str(task.result).split(" : Traceback", 1)[0]
            steps.append(ChainStep(func, STEP_RETRYING if retrying else STEP_FAILED, task.attempt_count, error))
        previous_stored = task is not None
    return MultiTouchChain(
        group_id=group_id, account_id=entry.user_id, enabled=entry.action == "multi_touch_enable",
        scope_type=metadata.get("scope_type"), scope_id=metadata.get("scope_id"),
        queued_at=entry.created_at, queued_by=metadata.get("actor") or {}, steps=tuple(steps),
    )


def rebuild_window(*, account_id, scope_type, scope_id, since=None):
    """(start, end) epochs to rebuild after a scope's multi-touch flag flipped, or None.

    The span of the scope's live conversions (from `since`: a hydration changes only its
    lookback window) within the span of hours the account has snapshots for: only hours
    already rebuilt can credit stale journeys. Computed when the step runs, so a retried chain
    rebuilds the same hours whatever the first step managed before it failed.
    """
    if scope_type == "global":
        campaign_ids = None
    elif scope_type == "campaign":
        campaign_ids = [scope_id]
    else:
        campaign_ids = journey_store.campaign_ids_of_advertiser(account_id, scope_id)
    conversions = journey_store.conversion_time_span(account_id, campaign_ids=campaign_ids, start=since)
    hours = Snapshot.objects.filter(user_id=account_id).aggregate(first=Min("date_hour"), last=Max("date_hour"))
    if conversions is None or hours["first"] is None:
        return None
    start = max(conversions[0], hours["first"])
    end = min(conversions[1], hours["last"] + rebuild.HOUR_SECONDS - 1)
    return (start, end) if start <= end else None
