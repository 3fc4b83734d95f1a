"""Queued work as the console and the API show it (SPEC §4.2, §8): a group (backfill or
rebuild) or one task of it, within the caller's tenancy, with what its tasks' results add up
to and the errors they report. States come from tracker.queue_status.
"""
from tracker import queue_status, tenancy
from tracker.utc import ISO_PATTERN, utc_text

ERRORS_SHOWN = 100
# What the results of each kind's tasks add up to (task result key → total).
_TOTALS = {
    "backfill": ("conversions", "written", "touch_rows", "skipped_disabled", "skipped_deleted"),
    "rebuild": ("models", "conversions", "clicks", "hours_processed"),
}


class WorkNotFound(LookupError):
    """No such group or task, or it belongs to accounts the caller cannot see (never say which)."""


def visible_work(user, reference):
    """(GroupStatus, TaskStatus or None) for a group id or task id the user may see: a task by
    its account, a group when every account of it is visible."""
    group = queue_status.find_group(reference)
    if group is None:
        raise WorkNotFound(reference)
    task = None if reference == group.group_id else group.task(reference)
    accounts = {task.account_id} if task else set(group.account_ids)
    visible = tenancy.visible_account_ids(user)
    if visible is not None and not accounts <= visible:
        raise WorkNotFound(reference)
    return group, task


def _result_totals(kind, result):
    if kind == "rebuild":
        models = result.get("models") or []
        return {"models": len(models), **{key: sum(model.get(key, 0) for model in models)
                                          for key in ("conversions", "clicks", "hours_processed")}}
    return {key: result.get(key, 0) for key in _TOTALS.get(kind, ())}


def _result_errors(result):
    """Per-item failures a task reports in its summary (the command's wording)."""
    errors = [f"Conversion {conv_id} failed: {reason}" for conv_id, reason in (result.get("failed") or {}).items()]
    errors += [f"User {account_id}: {reason}" for account_id, reason in (result.get("users_failed") or {}).items()]
    errors += [f"User {account_id}: skipped, another rebuild held its lock" for account_id in result.get("users_locked") or ()]
    return errors


def task_errors(task):
    """What went wrong in one task: the failures its summary lists, else its error message."""
    errors = _result_errors(task.result) if task.result else []
    return errors or ([task.error] if task.error else [])


def summary(group):
    """Totals over the tasks that reported a result, and their errors (first ERRORS_SHOWN)."""
    totals = dict.fromkeys(_TOTALS.get(group.kind, ()), 0)
    errors = []
    for task in group.tasks:
        if task.result:
            for key, value in _result_totals(group.kind, task.result).items():
                totals[key] = totals.get(key, 0) + value
        errors += [f"Task {task.task_id}: {error}" for error in task_errors(task)]
    return {"totals": totals, "error_count": len(errors), "errors": errors[:ERRORS_SHOWN]}


def _time(moment):
    return None if moment is None else utc_text(int(moment.timestamp()), ISO_PATTERN)


def task_data(task, *, details=True):
    """A task as the API returns it (`details`: with its result and error)."""
    data = {"task_id": task.task_id, "account_id": task.account_id, "state": task.state,
            "attempts": task.attempts, "retrying": task.retrying}
    if details:
        data.update(
            worker=task.worker or None, started=_time(task.started), stopped=_time(task.stopped),
            arguments=task.arguments, result=task.result, errors=task_errors(task),
            result_pruned=task.result_pruned,
        )
    return data


def group_data(group):
    return {
        "group_id": group.group_id, "kind": group.kind, "state": group.state,
        "queued_at": group.queued_at, "queued_by": group.queued_by, "parameters": group.parameters,
        "account_ids": list(group.account_ids), "counts": group.counts, **summary(group),
        "tasks": [task_data(task, details=False) for task in group.tasks],
    }


def work_data(group, task):
    """The API's answer for `tasks/<id>`: the task (with its group's id and kind) or the group."""
    if task is None:
        return {"id": group.group_id, "type": "group", **group_data(group)}
    return {"id": task.task_id, "type": "task", "group_id": group.group_id, "kind": group.kind,
            **task_data(task)}
