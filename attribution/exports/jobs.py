"""Export jobs (SPEC §7, §9): schedule, claim atomically, run, and the worker pass.

A job is claimed with a conditional UPDATE … WHERE status = 'pending' and only the worker whose
UPDATE changed the row processes it, so several django-q2 workers never export one job twice.
The webhook runs after the file is final: its failure is recorded but never loses the file. One
job's failure is recorded on that job and the pass goes on; every pass stamps cron log id 3.
"""
import json
import logging
import time
from dataclasses import asdict, dataclass

from django.conf import settings
from django.db import IntegrityError, transaction

from attribution.exports import COMPLETED, FAILED, PENDING, PROCESSING
from attribution.exports.files import ExportFileError, normalise_format, write_export_file
from attribution.exports.webhooks import (
    WEBHOOK_SECRET_MAX_LENGTH,
    deliver_webhook,
    parse_webhook_headers,
    webhook_url_problem,
)
from attribution.models import AttributionModel, CronjobLog, Export
from attribution.reporting import ReportRequestError, check_scope, normalise_window
from tracker import audit
from tracker.tenancy import require_account

logger = logging.getLogger("attribution.exports")

# A job still "processing" this long after its claim lost its worker (killed); it is re-queued.
STALE_PROCESSING_SECONDS = settings.Q_TASK_TIMEOUT_SECONDS


class ExportRequestError(ValueError):
    """Invalid export parameters: `fields` maps each bad field to what is allowed."""

    def __init__(self, fields):
        self.fields = fields
        self.message = "; ".join(f"{name}: {problem}" for name, problem in fields.items())
        super().__init__(self.message)


@dataclass
class ExportPassResult:
    """What one worker pass did."""

    completed: int = 0
    failed: int = 0
    claimed_elsewhere: int = 0
    requeued_stale: int = 0

    def as_dict(self):
        return asdict(self)


def _now():
    return int(time.time())


def _checked_webhook(webhook_url, webhook_secret, webhook_headers):
    """(field → problem, extra headers) for the webhook fields: nothing that cannot be sent is
    ever queued."""
    errors, extra_headers = {}, {}
    if webhook_url:
        problem = webhook_url_problem(webhook_url)
        if problem:
            errors["webhook_url"] = problem
        if not webhook_secret:
            errors["webhook_secret"] = "is required with a webhook URL (it signs the payload)"
        elif len(webhook_secret) > WEBHOOK_SECRET_MAX_LENGTH:
            errors["webhook_secret"] = f"must be at most {WEBHOOK_SECRET_MAX_LENGTH} characters"
    elif webhook_secret:
        errors["webhook_secret"] = "is only used with a webhook URL; give one or leave the secret empty"
    try:
        extra_headers = parse_webhook_headers(webhook_headers)
    except ValueError as error:
        errors["webhook_headers"] = str(error)
    else:
        if extra_headers and not webhook_url:
            errors["webhook_headers"] = "are only sent with a webhook URL; give one or leave them empty"
    return errors, extra_headers


def schedule_export(*, model, scope_type, scope_id, start_hour, end_hour, requested_format,
                    webhook_url=None, webhook_secret=None, webhook_headers=None, actor, viewer=None):
    """Validate and queue one export of `model`'s snapshots; audited as export_scheduled.

    `viewer` (a Django user) limits the model to that user's accounts; raises ExportRequestError
    for invalid fields and PermissionDenied for another tenant's model.
    """
    if not isinstance(model, AttributionModel):
        found = AttributionModel.objects.filter(model_id=model).first() if isinstance(model, int) else None
        if found is None:
            raise ExportRequestError({"model_id": f"no attribution model has id {model!r}"})
        model = found
    if viewer is not None:
        require_account(viewer, model.user_id)
    errors = {}
    if scope_type == "global" and scope_id is not None:
        errors["scope_id"] = f"must be empty for the global scope, got {scope_id!r}"
    try:
        scope_id = check_scope(scope_type, scope_id)
    except ReportRequestError as error:
        errors[error.field] = error.message
    try:
        start_hour, end_hour = normalise_window(start_hour, end_hour)
    except ReportRequestError as error:
        errors[error.field] = error.message
    export_format = normalise_format(requested_format)
    if export_format is None:
        errors["requested_format"] = f"{requested_format!r} is not one of csv, xlsx (xls is accepted as xlsx)"
    webhook_url = (webhook_url or "").strip() or None
    webhook_secret = webhook_secret or None
    webhook_errors, extra_headers = _checked_webhook(webhook_url, webhook_secret, webhook_headers)
    errors.update(webhook_errors)
    if errors:
        raise ExportRequestError(errors)
    now = _now()
    with transaction.atomic():
        export = Export.objects.create(
            user_id=model.user_id, model_id=model.model_id, scope_type=scope_type, scope_id=scope_id,
            start_hour=start_hour, end_hour=end_hour, requested_format=export_format, status=PENDING,
            webhook_url=webhook_url, webhook_secret=webhook_secret,
            webhook_headers=json.dumps(extra_headers, sort_keys=True) if extra_headers else None,
            queued_at=now,
            created_at=now, updated_at=now,
        )
        audit.record(
            model.user_id, "export_scheduled", actor, model_id=model.model_id,
            export_id=export.export_id, scope_type=scope_type, scope_id=scope_id,
            start_hour=start_hour, end_hour=end_hour, format=export_format,
            webhook=bool(webhook_url),
        )
    return export


def claim_export(export_id):
    """Take one pending job for this worker; False when another worker already took it."""
    now = _now()
    return Export.objects.filter(export_id=export_id, status=PENDING).update(
        status=PROCESSING, started_at=now, updated_at=now
    ) == 1


def process_pending_exports(*, max_jobs=None):
    """One worker pass: claim and run pending jobs one at a time, then stamp cron log id 3."""
    result = ExportPassResult()
    try:
        now = _now()
        result.requeued_stale = Export.objects.filter(
            status=PROCESSING, started_at__lt=now - STALE_PROCESSING_SECONDS
        ).update(status=PENDING, updated_at=now)
        last_seen = 0
        while max_jobs is None or result.completed + result.failed < max_jobs:
            export_id = (
                Export.objects.filter(status=PENDING, export_id__gt=last_seen)
                .order_by("export_id").values_list("export_id", flat=True).first()
            )
            if export_id is None:
                break
            last_seen = export_id
            if not claim_export(export_id):
                result.claimed_elsewhere += 1
                continue
            if run_claimed_export(export_id) == COMPLETED:
                result.completed += 1
            else:
                result.failed += 1
    finally:
        record_worker_pass()
    return result


def record_worker_pass():
    """Set `202_cronjob_logs` id 3 (export worker) to now, creating the row when missing."""
    now = _now()
    if CronjobLog.objects.filter(id=CronjobLog.EXPORT).update(last_execution_time=now):
        return
    try:
        with transaction.atomic():
            CronjobLog.objects.create(id=CronjobLog.EXPORT, last_execution_time=now)
    except IntegrityError:  # a concurrent pass created it first
        CronjobLog.objects.filter(id=CronjobLog.EXPORT).update(last_execution_time=now)


def _public_failure(error):
    """What the job's owner is shown: our own message, or the error type (details are logged)."""
    if isinstance(error, ExportFileError):
        return str(error)
    return f"Writing the export file failed ({type(error).__name__}); details are in the server log"


def run_claimed_export(export_id):
    """Write the file of a job this worker claimed, mark it, then send its webhook.

    Never raises for a job's own problem: the failure is recorded on the job (SPEC §9).
    """
    export = Export.objects.get(export_id=export_id)
    try:
        path, rows_exported = write_export_file(export)
    except Exception as error:  # any failure of one job fails that job; the pass goes on
        logger.exception("export %s failed", export_id)
        now = _now()
        Export.objects.filter(export_id=export_id).update(
            status=FAILED, failed_at=now, updated_at=now, last_error=_public_failure(error)
        )
    else:
        now = _now()
        Export.objects.filter(export_id=export_id).update(
            status=COMPLETED, completed_at=now, updated_at=now, file_path=str(path),
            rows_exported=rows_exported, last_error=None,
        )
    export.refresh_from_db()
    if export.webhook_url:
        deliver_webhook(export)
    return export.status
