"""Snapshot exports (SPEC §7, §12.10): schedule, claim atomically, stream to a file, signed webhook.

A job is claimed with a conditional UPDATE … WHERE status = 'pending' and only the worker whose
UPDATE changed the row processes it, so several django-q2 workers never export one job twice.
Rows are streamed in keyset batches to a temporary file that is renamed into place, so memory is
constant and a crash never leaves a half-written file behind a "completed" row. The webhook runs
after the file is final: its failure is recorded but never loses the file.
"""
import csv
import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import os
import re
import secrets
import socket
import time
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from openpyxl import Workbook

from attribution.models import AttributionModel, CronjobLog, Export
from attribution.reporting import (
    ReportRequestError,
    check_scope,
    normalise_window,
    roi_percent,
    snapshot_rows,
)
from tracker import audit
from tracker.tenancy import require_account
from tracker.utc import ISO_PATTERN, utc_text

logger = logging.getLogger("attribution.exports")

EXPORT_FORMATS = ("csv", "xlsx")
FORMAT_ALIASES = {"xls": "xlsx"}
EXPORT_COLUMNS = (
    "date_hour", "date_hour_epoch", "model_id", "model_name", "scope_type", "scope_id",
    "attributed_clicks", "attributed_conversions", "attributed_revenue", "attributed_cost",
    "profit", "roi_percent",
)
PENDING, PROCESSING, COMPLETED, FAILED = "pending", "processing", "completed", "failed"
EXPORT_BATCH_ROWS = 1000
# A job still "processing" this long after its claim lost its worker (killed); it is re-queued.
STALE_PROCESSING_SECONDS = settings.Q_TASK_TIMEOUT_SECONDS
WEBHOOK_URL_MAX_LENGTH = 500
WEBHOOK_TIMEOUT_SECONDS = 15
WEBHOOK_MAX_ATTEMPTS = 3
# Sleep before retry n (1-based) is WEBHOOK_BACKOFF_BASE_SECONDS * 2**(n-1); tests shrink it.
WEBHOOK_BACKOFF_BASE_SECONDS = 2.0
WEBHOOK_BODY_MAX_CHARS = 4000
SIGNATURE_HEADER = "X-Prosper202-Signature"
WEBHOOK_MAX_EXTRA_HEADERS = 20
WEBHOOK_HEADER_VALUE_MAX_LENGTH = 1000
_HEADER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")
# Headers the webhook sets itself; `webhook_headers` may not replace them.
_RESERVED_HEADERS = {
    "content-type", "content-length", "host", "connection", "transfer-encoding", "user-agent",
    SIGNATURE_HEADER.lower(),
}


class ExportRequestError(ValueError):
    """Invalid export parameters: `fields` maps each bad field to what is allowed."""

    def __init__(self, fields):
        self.fields = fields
        self.message = "; ".join(f"{name}: {problem}" for name, problem in fields.items())
        super().__init__(self.message)


class WebhookRefused(Exception):
    """The webhook target is not an allowed public http(s) address."""


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


def normalise_format(requested_format):
    """'csv' or 'xlsx' ('xls' is accepted as 'xlsx'); None for anything else."""
    value = str(requested_format or "").strip().lower()
    value = FORMAT_ALIASES.get(value, value)
    return value if value in EXPORT_FORMATS else None


def _check_webhook_url(url):
    """Static checks at scheduling time; the address itself is checked when sending."""
    if len(url) > WEBHOOK_URL_MAX_LENGTH:
        return f"must be at most {WEBHOOK_URL_MAX_LENGTH} characters"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{url!r} is not an http(s) URL with a host"
    try:
        parts.port
    except ValueError:
        return f"{url!r} has an invalid port"
    return None


def parse_webhook_headers(raw):
    """Extra webhook request headers (e.g. the receiver's own Authorization) as a dict.

    `raw` is a dict, its JSON text (the `webhook_headers` column) or empty; raises ValueError
    naming the offending header.
    """
    if raw in (None, "", {}):
        return {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as error:
            raise ValueError(f"must be a JSON object of header names to values ({error})")
    if not isinstance(raw, dict):
        raise ValueError(f"must be an object of header names to string values, got {type(raw).__name__}")
    if len(raw) > WEBHOOK_MAX_EXTRA_HEADERS:
        raise ValueError(f"at most {WEBHOOK_MAX_EXTRA_HEADERS} headers, got {len(raw)}")
    for name, value in raw.items():
        if not isinstance(name, str) or not _HEADER_NAME.match(name):
            raise ValueError(f"{name!r} is not a valid HTTP header name (letters, digits and '-')")
        if name.lower() in _RESERVED_HEADERS:
            raise ValueError(f"{name!r} is set by the webhook itself and cannot be replaced")
        if not isinstance(value, str) or len(value) > WEBHOOK_HEADER_VALUE_MAX_LENGTH or any(
            character in value for character in "\r\n\0"
        ):
            raise ValueError(
                f"header {name!r} needs a one-line string value of at most "
                f"{WEBHOOK_HEADER_VALUE_MAX_LENGTH} characters"
            )
    return dict(raw)


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
    if webhook_url:
        problem = _check_webhook_url(webhook_url)
        if problem:
            errors["webhook_url"] = problem
        if not webhook_secret:
            errors["webhook_secret"] = "is required with a webhook URL (it signs the payload)"
        elif len(webhook_secret) > 255:
            errors["webhook_secret"] = "must be at most 255 characters"
    elif webhook_secret:
        errors["webhook_secret"] = "is only used with a webhook URL; give one or leave the secret empty"
    try:
        extra_headers = parse_webhook_headers(webhook_headers)
    except ValueError as error:
        errors["webhook_headers"] = str(error)
    else:
        if extra_headers and not webhook_url:
            errors["webhook_headers"] = "are only sent with a webhook URL; give one or leave them empty"
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


def run_claimed_export(export_id):
    """Write the file of a job this worker claimed, mark it, then send its webhook."""
    export = Export.objects.get(export_id=export_id)
    try:
        path, rows_exported = write_export_file(export)
    except Exception as error:  # any failure of one job fails that job; the pass goes on
        logger.exception("export %s failed", export_id)
        now = _now()
        Export.objects.filter(export_id=export_id).update(
            status=FAILED, failed_at=now, updated_at=now, last_error=f"{type(error).__name__}: {error}"
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


def export_rows(export):
    """The export's rows as tuples in EXPORT_COLUMNS order, by keyset on (date_hour, snapshot_id)."""
    model_name = (
        AttributionModel.objects.filter(model_id=export.model_id).values_list("model_name", flat=True).first()
        or ""
    )
    rows = snapshot_rows(
        model_id=export.model_id, scope_type=export.scope_type, scope_id=export.scope_id,
        start_hour=export.start_hour, end_hour=export.end_hour, account_ids=[export.user_id],
    ).order_by("date_hour", "snapshot_id")
    after = None
    while True:
        page = rows
        if after is not None:
            page = rows.filter(
                Q(date_hour__gt=after[0]) | Q(date_hour=after[0], snapshot_id__gt=after[1])
            )
        batch = list(page.values(
            "snapshot_id", "date_hour", "scope_type", "scope_id", "attributed_clicks",
            "attributed_conversions", "attributed_revenue", "attributed_cost",
        )[:EXPORT_BATCH_ROWS])
        if not batch:
            return
        after = (batch[-1]["date_hour"], batch[-1]["snapshot_id"])
        for row in batch:
            revenue, cost = Decimal(row["attributed_revenue"]), Decimal(row["attributed_cost"])
            yield (
                utc_text(row["date_hour"], ISO_PATTERN),
                row["date_hour"], export.model_id, model_name, row["scope_type"], row["scope_id"],
                row["attributed_clicks"], row["attributed_conversions"], revenue, cost,
                revenue - cost, roi_percent(revenue, cost),
            )


def write_export_file(export):
    """Stream the rows into ATTRIBUTION_EXPORT_DIR; returns (path, rows written)."""
    export_format = normalise_format(export.requested_format)
    if export_format is None:
        raise ValueError(f"requested_format {export.requested_format!r} is not one of csv, xlsx")
    directory = Path(settings.ATTRIBUTION_EXPORT_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    # The random part keeps file names unguessable even if the directory were ever exposed.
    path = directory / f"attribution-export-{export.export_id}-{secrets.token_hex(8)}.{export_format}"
    partial = path.with_name(path.name + ".part")
    try:
        if export_format == "csv":
            count = _write_csv(partial, export_rows(export))
        else:
            count = _write_xlsx(partial, export_rows(export))
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path, count


def _write_csv(path, rows):
    count = 0
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(EXPORT_COLUMNS)
        for row in rows:
            writer.writerow(["" if value is None else value for value in row])
            count += 1
    return count


def _write_xlsx(path, rows):
    workbook = Workbook(write_only=True)  # rows go straight to disk: constant memory
    sheet = workbook.create_sheet("snapshots")
    sheet.append(EXPORT_COLUMNS)
    count = 0
    for row in rows:
        sheet.append(row)
        count += 1
    workbook.save(path)
    return count


def export_file(export):
    """The export's file when it is complete and inside ATTRIBUTION_EXPORT_DIR, else None."""
    if export.status != COMPLETED or not export.file_path:
        return None
    directory = Path(settings.ATTRIBUTION_EXPORT_DIR).resolve()
    path = Path(export.file_path).resolve()
    if not path.is_relative_to(directory) or not path.is_file():
        return None
    return path


def download_url(export):
    """The authenticated download link (absolute when ATTRIBUTION_BASE_URL is set)."""
    path = reverse("attribution_export_download", args=[export.export_id])
    return getattr(settings, "ATTRIBUTION_BASE_URL", "").rstrip("/") + path


def webhook_payload(export):
    """The JSON body POSTed to the webhook, as bytes (the signature covers exactly these)."""
    body = {
        "export_id": export.export_id,
        "model_id": export.model_id,
        "status": export.status,
        "format": normalise_format(export.requested_format) or export.requested_format,
        "rows_exported": export.rows_exported,
        "download_url": download_url(export) if export.status == COMPLETED else None,
        "completed_at": export.completed_at,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def sign(body, secret):
    """Hex HMAC-SHA256 of the body with the export's secret (the X-Prosper202-Signature value)."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _address_allowed(address):
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def resolve_webhook_target(url):
    """(scheme, host, port, address) of an allowed target; raises WebhookRefused saying why.

    Every address the host resolves to must be public unless ATTRIBUTION_WEBHOOK_ALLOW_PRIVATE,
    and the request then connects to the checked address (no second lookup to rebind).
    """
    problem = _check_webhook_url(url)
    if problem:
        raise WebhookRefused(problem)
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except OSError as error:
        raise WebhookRefused(f"host {parts.hostname!r} does not resolve: {error}")
    addresses = [info[4][0] for info in infos]
    if not settings.ATTRIBUTION_WEBHOOK_ALLOW_PRIVATE:
        refused = [address for address in addresses if not _address_allowed(address)]
        if refused:
            raise WebhookRefused(
                f"host {parts.hostname!r} resolves to non-public address {refused[0]} "
                "(private, loopback, link-local, reserved or multicast targets are refused; "
                "see ATTRIBUTION_WEBHOOK_ALLOW_PRIVATE)"
            )
    return parts, port, addresses[0]


def _post(parts, port, address, body, headers):
    """One POST to the pinned address; redirects are not followed. Returns (status, body text)."""
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(parts.hostname, port, timeout=WEBHOOK_TIMEOUT_SECONDS)
    connection._create_connection = lambda _address, timeout, source: socket.create_connection(
        (address, port), timeout, source
    )
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        text = response.read(WEBHOOK_BODY_MAX_CHARS * 4).decode("utf-8", errors="replace")
        return response.status, text
    finally:
        connection.close()


def _stored_webhook_headers(export):
    """The row's extra headers; a row that breaks the rules (written elsewhere) sends nothing."""
    try:
        return parse_webhook_headers(export.webhook_headers)
    except ValueError as problem:
        raise WebhookRefused(f"webhook_headers {problem}")


def deliver_webhook(export):
    """POST the signed payload with retries and record the outcome on the export row."""
    body = webhook_payload(export)
    status_code, response_text, error_text = None, "", None
    attempts = 0
    try:
        headers = {
            **_stored_webhook_headers(export),
            "Content-Type": "application/json",
            "User-Agent": "Prosper202-Attribution-Ops/1",
            SIGNATURE_HEADER: sign(body, export.webhook_secret or ""),
        }
        parts, port, address = resolve_webhook_target(export.webhook_url)
    except WebhookRefused as refusal:
        error_text = f"Webhook refused, no request sent: {refusal}"
    else:
        while attempts < WEBHOOK_MAX_ATTEMPTS:
            if attempts:
                time.sleep(WEBHOOK_BACKOFF_BASE_SECONDS * 2 ** (attempts - 1))
            attempts += 1
            try:
                status_code, response_text = _post(parts, port, address, body, headers)
            except (OSError, http.client.HTTPException) as error:
                status_code, response_text = None, f"{type(error).__name__}: {error}"
            if status_code is not None and 200 <= status_code < 300:
                break
        else:
            outcome = f"HTTP {status_code}" if status_code is not None else response_text
            error_text = f"Webhook failed after {attempts} attempt(s): {outcome}"
    if error_text:
        logger.warning("export %s: %s", export.export_id, error_text)
    changes = {
        "webhook_attempted_at": _now(),
        "webhook_status_code": status_code,
        "webhook_response_body": response_text[:WEBHOOK_BODY_MAX_CHARS],
        "updated_at": _now(),
    }
    if error_text:
        # The file stays: status is untouched, only the webhook error is added.
        changes["last_error"] = "\n".join(filter(None, [export.last_error, error_text]))
    Export.objects.filter(export_id=export.export_id).update(**changes)
    return status_code
