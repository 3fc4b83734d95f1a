"""A deleted model's snapshots and credit rows (SPEC §5.3): deleting the model row queues
`attribution.tasks.delete_model_rows_task`, which removes them in chunks under the account's
rebuild lock; until then reports hide them (`reporting.snapshot_rows`), System Checks lists
leftovers and `manage.py delete_model_rows` removes what a task left.
"""
from dataclasses import asdict, dataclass
from typing import NamedTuple

from django.db import transaction

from attribution import rebuild, store
from attribution.models import AttributionModel, Snapshot, TouchCredit
from attribution.snapshot_cache import invalidate_snapshots_on_commit
from tracker import arguments, audit

DELETION_TASK = "attribution.tasks.delete_model_rows_task"
# Snapshots deleted per transaction, with their credit rows (an hour's global snapshot can hold
# thousands of credits).
CHUNK_SNAPSHOTS = 200


@dataclass
class ModelRowsDeletion:
    """What deleting a deleted model's rows did: rows removed, or why nothing was."""

    model_id: int
    account_id: int
    snapshots: int = 0
    credits: int = 0
    chunks: int = 0
    locked: bool = False  # another rebuild of the account held its lock
    model_exists: bool = False  # the model row is still there: nothing is deleted

    @property
    def succeeded(self):
        return not self.locked and not self.model_exists

    def as_dict(self):
        return {**asdict(self), "succeeded": self.succeeded}


def delete_rows(*, model_id, account_id, actor, lock_timeout=0):
    """Delete the snapshots and credit rows of a deleted model, CHUNK_SNAPSHOTS
    snapshots per transaction, under the account's rebuild lock (no rebuild writes its hours
    meanwhile). Idempotent; one `model_rows_deleted` audit row in the last chunk's transaction."""
    result = ModelRowsDeletion(model_id, account_id)
    if AttributionModel.objects.filter(model_id=model_id).exists():
        result.model_exists = True
        return result
    with store.account_lock(account_id, lock_timeout) as acquired:
        if not acquired:
            result.locked = True
            return result
        finished = False
        while not finished:
            with transaction.atomic():
                snapshot_ids = list(
                    Snapshot.objects.filter(model_id=model_id).order_by("snapshot_id")
                    .values_list("snapshot_id", flat=True)[:CHUNK_SNAPSHOTS]
                )
                if snapshot_ids:
                    result.credits += TouchCredit.objects.filter(snapshot_id__in=snapshot_ids).delete()[0]
                    result.snapshots += Snapshot.objects.filter(snapshot_id__in=snapshot_ids).delete()[0]
                    result.chunks += 1
                finished = len(snapshot_ids) < CHUNK_SNAPSHOTS
                if finished and result.snapshots:
                    audit.record(
                        account_id, "model_rows_deleted", actor, model_id=model_id,
                        snapshots=result.snapshots, credits=result.credits, chunks=result.chunks,
                    )
                    invalidate_snapshots_on_commit(account_id)
    return result


class Leftover(NamedTuple):
    model_id: int
    account_id: int
    snapshots: int


def leftovers(account_ids=None):
    """Snapshot rows whose model no longer exists, per model (System Checks, delete_model_rows).

    The distinct model ids come from the leading column of the model_hour_scope key; each
    leftover model is then counted on the same key.
    """
    referenced = list(Snapshot.objects.order_by().values_list("model_id", flat=True).distinct())
    existing = set(AttributionModel.objects.filter(model_id__in=referenced).values_list("model_id", flat=True))
    found = []
    for model_id in sorted(set(referenced) - existing):
        rows = Snapshot.objects.filter(model_id=model_id)
        account_id = rows.values_list("user_id", flat=True).first()
        if account_ids is None or account_id in account_ids:
            found.append(Leftover(model_id, account_id, rows.count()))
    return found


def delete_leftover_rows(*, model_ids=None, actor, lock_timeout=0):
    """Delete the rows of deleted models (`model_ids`, default every leftover); a named model that
    still exists is a bad argument (InvalidArgument, nothing deleted). [ModelRowsDeletion]."""
    model_ids = None if not model_ids else arguments.object_ids("--model", model_ids)
    lock_timeout = arguments.whole_number(
        "--lock-timeout", lock_timeout, minimum=0, maximum=rebuild.LOCK_TIMEOUT_MAX_SECONDS,
    )
    if model_ids is not None:
        existing = AttributionModel.objects.filter(model_id__in=model_ids).order_by("model_id").first()
        if existing is not None:
            raise arguments.InvalidArgument(
                "--model", existing.model_id, "that model still exists: delete it in the admin or the API first",
            )
    return [
        delete_rows(model_id=row.model_id, account_id=row.account_id, actor=actor, lock_timeout=lock_timeout)
        for row in leftovers() if model_ids is None or row.model_id in model_ids
    ]
