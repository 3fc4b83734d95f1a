"""Export files (SPEC §7, §9): snapshot rows read by keyset, written as CSV or XLSX, downloaded.

Rows are streamed in keyset batches to a temporary file that is renamed into place, so memory is
constant and a crash never leaves a half-written file behind a "completed" row. Text that a
spreadsheet would run as a formula is written as text.
"""
import csv
import os
import secrets
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.db.models import Q
from django.http import FileResponse
from django.urls import reverse
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from attribution.exports import COMPLETED
from attribution.models import AttributionModel
from attribution.reporting import roi_percent, snapshot_rows
from tracker.utc import ISO_PATTERN, utc_text

EXPORT_FORMATS = ("csv", "xlsx")
FORMAT_ALIASES = {"xls": "xlsx"}
EXPORT_COLUMNS = (
    "date_hour", "date_hour_epoch", "model_id", "model_name", "scope_type", "scope_id",
    "attributed_clicks", "attributed_conversions", "attributed_revenue", "attributed_cost",
    "profit", "roi_percent",
)
EXPORT_BATCH_ROWS = 1000
# Spreadsheets start a formula (or DDE call) at these; such text is written as text (SPEC §9).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


class ExportFileError(Exception):
    """A job whose own values cannot be exported; the message is safe to show its owner."""


def normalise_format(requested_format):
    """'csv' or 'xlsx' ('xls' is accepted as 'xlsx'); None for anything else."""
    value = str(requested_format or "").strip().lower()
    value = FORMAT_ALIASES.get(value, value)
    return value if value in EXPORT_FORMATS else None


def starts_a_formula(value):
    """True for text a spreadsheet would evaluate; numbers are never formulas."""
    return isinstance(value, str) and value.startswith(FORMULA_PREFIXES)


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
        raise ExportFileError(f"requested_format {export.requested_format!r} is not one of csv, xlsx")
    directory = Path(settings.ATTRIBUTION_EXPORT_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    # The random part keeps file names unguessable even if the directory were ever exposed.
    path = directory / f"attribution-export-{export.export_id}-{secrets.token_hex(8)}.{export_format}"
    partial = path.with_name(path.name + ".part")
    write = _write_csv if export_format == "csv" else _write_xlsx
    try:
        count = write(partial, export_rows(export))
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path, count


def _csv_value(value):
    """Empty for None; a leading ' keeps a formula-like text from being evaluated."""
    if value is None:
        return ""
    return "'" + value if starts_a_formula(value) else value


def _write_csv(path, rows):
    count = 0
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(EXPORT_COLUMNS)
        for row in rows:
            writer.writerow([_csv_value(value) for value in row])
            count += 1
    return count


def _xlsx_value(sheet, value):
    """The value itself, or an explicit string cell for formula-like text (openpyxl would
    otherwise store a text starting with '=' as a live formula)."""
    if not starts_a_formula(value):
        return value
    cell = WriteOnlyCell(sheet, value=value)
    cell.data_type = "s"
    return cell


def _write_xlsx(path, rows):
    workbook = Workbook(write_only=True)  # rows go straight to disk: constant memory
    sheet = workbook.create_sheet("snapshots")
    sheet.append(EXPORT_COLUMNS)
    count = 0
    for row in rows:
        sheet.append([_xlsx_value(sheet, value) for value in row])
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


def download_response(export):
    """The completed export's file as an attachment named by id, or None when there is none."""
    path = export_file(export)
    if path is None:
        return None
    return FileResponse(
        open(path, "rb"), as_attachment=True,
        filename=f"attribution-export-{export.export_id}.{normalise_format(export.requested_format)}",
    )


def download_url(export):
    """The admin's authenticated download link (absolute when ATTRIBUTION_BASE_URL is set)."""
    path = reverse("attribution_export_download", args=[export.export_id])
    return settings.ATTRIBUTION_BASE_URL.rstrip("/") + path
