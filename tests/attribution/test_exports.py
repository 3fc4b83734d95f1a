"""Exports: scheduling, atomic claim, CSV/XLSX contents, cron log, signed webhooks and the SSRF guard."""
import csv
import hashlib
import hmac
import json
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import openpyxl
import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.db import connection

from attribution import exports
from attribution.models import CronjobLog, Export
from tests.attribution.reporting_fixtures import (
    BASE_HOUR,
    make_model,
    snapshot,
    staff_user,
)
from tracker.audit import Actor
from tracker.models import AuditEntry

pytestmark = pytest.mark.django_db

ACTOR = Actor.cli("pytest")
HEADER = list(exports.EXPORT_COLUMNS)


@pytest.fixture(autouse=True)
def export_dir(settings, tmp_path):
    settings.ATTRIBUTION_EXPORT_DIR = tmp_path / "exports"
    return settings.ATTRIBUTION_EXPORT_DIR


@pytest.fixture
def model_with_rows(tracker):
    """Two global hours (one with zero cost) and two campaign rows sharing an hour."""
    account = tracker.account()
    model = make_model(account, "Linear Model")
    snapshot(model, BASE_HOUR, clicks=3, conversions=2, revenue="20.5", cost="4")
    snapshot(model, BASE_HOUR + 3600, clicks=1, conversions=1, revenue="5", cost="0")
    snapshot(model, BASE_HOUR, "campaign", 9, clicks=2, conversions=1, revenue="12.25", cost="3")
    snapshot(model, BASE_HOUR, "campaign", 4, clicks=1, conversions=1, revenue="8.25", cost="1")
    snapshot(model, BASE_HOUR + 7200, revenue="77", cost="1")  # after the window
    snapshot(make_model(account, "Other"), BASE_HOUR, revenue="66", cost="1")  # another model
    return model


def schedule(model, **overrides):
    arguments = dict(model=model, scope_type="global", scope_id=None, start_hour=BASE_HOUR,
                     end_hour=BASE_HOUR + 3600, requested_format="csv", actor=ACTOR)
    return exports.schedule_export(**{**arguments, **overrides})


def test_schedule_stores_a_pending_row_and_audits_it(model_with_rows):
    export = schedule(model_with_rows, requested_format="XLS", start_hour=BASE_HOUR + 59,
                      webhook_url="https://hooks.example.com/p202", webhook_secret="s3cret")
    export.refresh_from_db()
    assert (export.status, export.requested_format, export.start_hour) == ("pending", "xlsx", BASE_HOUR)
    assert export.user_id == model_with_rows.user_id and export.queued_at > 0
    audit = AuditEntry.objects.get(action="export_scheduled", model_id=model_with_rows.model_id)
    metadata = json.loads(audit.metadata)
    assert metadata["export_id"] == export.export_id and metadata["format"] == "xlsx"
    assert "s3cret" not in audit.metadata


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"requested_format": "pdf"}, "requested_format"),
        ({"webhook_url": "ftp://example.com/x", "webhook_secret": "s"}, "webhook_url"),
        ({"webhook_url": "https://example.com/x"}, "webhook_secret"),
        ({"start_hour": BASE_HOUR + 7200}, "start_hour"),
        ({"scope_type": "galaxy"}, "scope_type"),
        ({"scope_id": 5}, "scope_id"),
        ({"webhook_headers": {"X-Token": "t"}}, "webhook_headers"),
        ({"webhook_url": "https://example.com/x", "webhook_secret": "s",
          "webhook_headers": {"X-Prosper202-Signature": "forged"}}, "webhook_headers"),
        ({"webhook_url": "https://example.com/x", "webhook_secret": "s",
          "webhook_headers": {"X-Token": "line\nbreak"}}, "webhook_headers"),
        ({"webhook_url": "https://example.com/x", "webhook_secret": "s",
          "webhook_headers": "[1, 2]"}, "webhook_headers"),
    ],
)
def test_invalid_schedule_names_the_field_and_writes_nothing(model_with_rows, overrides, field):
    with pytest.raises(exports.ExportRequestError) as raised:
        schedule(model_with_rows, **overrides)
    assert field in raised.value.fields
    assert not Export.objects.exists() and not AuditEntry.objects.filter(action="export_scheduled").exists()


def test_schedule_refuses_another_tenants_model(model_with_rows, tracker):
    outsider = staff_user("outsider", [tracker.account("outsider")])
    with pytest.raises(PermissionDenied):
        schedule(model_with_rows, viewer=outsider)
    assert not Export.objects.exists()


EXPECTED_ROWS = [
    ["2024-03-01T00:00:00Z", str(BASE_HOUR), "20.5000", "4.0000", "16.5000", "412.50"],
    ["2024-03-01T01:00:00Z", str(BASE_HOUR + 3600), "5.0000", "0.0000", "5.0000", ""],
]


def test_csv_export_contains_exactly_the_snapshot_rows(model_with_rows):
    export = schedule(model_with_rows)
    result = exports.process_pending_exports()
    assert (result.completed, result.failed) == (1, 0)
    export.refresh_from_db()
    assert export.status == "completed" and export.rows_exported == 2 and export.completed_at
    with open(export.file_path, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == HEADER
    model = model_with_rows
    assert rows[1] == ["2024-03-01T00:00:00Z", str(BASE_HOUR), str(model.model_id), "Linear Model", "global", "",
                       "3", "2", "20.5000", "4.0000", "16.5000", "412.50"]
    assert [[r[0], r[1], r[8], r[9], r[10], r[11]] for r in rows[1:]] == EXPECTED_ROWS


def test_xlsx_export_reads_back_with_openpyxl(model_with_rows):
    export = schedule(model_with_rows, requested_format="xlsx", scope_type="campaign")
    exports.process_pending_exports()
    export.refresh_from_db()
    assert export.file_path.endswith(".xlsx") and export.rows_exported == 2
    sheet = openpyxl.load_workbook(export.file_path, read_only=True).active
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert rows[0] == HEADER
    # Same hour: keyset order is (date_hour, snapshot_id), so campaign 9 (inserted first) leads.
    assert [(r[4], r[5], r[6], Decimal(str(r[8])), Decimal(str(r[9])), Decimal(str(r[11]))) for r in rows[1:]] == [
        ("campaign", 9, 2, Decimal("12.25"), Decimal("3"), Decimal("308.33")),
        ("campaign", 4, 1, Decimal("8.25"), Decimal("1"), Decimal("725")),
    ]


def test_rows_are_paged_by_keyset_across_batches(model_with_rows, monkeypatch):
    monkeypatch.setattr(exports, "EXPORT_BATCH_ROWS", 1)
    export = schedule(model_with_rows, scope_type="campaign")
    exports.process_pending_exports()
    export.refresh_from_db()
    with open(export.file_path, newline="") as handle:
        assert [row[5] for row in csv.reader(handle)][1:] == ["9", "4"]


def test_a_claimed_job_is_not_claimed_twice(model_with_rows):
    export = schedule(model_with_rows)
    assert exports.claim_export(export.export_id) is True
    assert exports.claim_export(export.export_id) is False
    assert exports.process_pending_exports().completed == 0  # already processing elsewhere
    assert Export.objects.get(pk=export.pk).status == "processing"


def test_a_job_abandoned_in_processing_is_requeued_and_completed(model_with_rows):
    export = schedule(model_with_rows)
    Export.objects.filter(pk=export.pk).update(status="processing", started_at=1)
    result = exports.process_pending_exports()
    assert (result.requeued_stale, result.completed) == (1, 1)
    assert Export.objects.get(pk=export.pk).status == "completed"


def test_each_pass_stamps_cron_log_3(model_with_rows):
    assert not CronjobLog.objects.filter(id=CronjobLog.EXPORT).exists()
    exports.process_pending_exports()
    first = CronjobLog.objects.get(id=CronjobLog.EXPORT).last_execution_time
    CronjobLog.objects.filter(id=CronjobLog.EXPORT).update(last_execution_time=1)
    exports.process_pending_exports()
    assert CronjobLog.objects.get(id=CronjobLog.EXPORT).last_execution_time >= first > 1


def test_a_broken_job_fails_with_its_error_and_the_pass_goes_on(model_with_rows):
    broken = schedule(model_with_rows)
    Export.objects.filter(pk=broken.pk).update(requested_format="pdf")
    good = schedule(model_with_rows)
    result = exports.process_pending_exports()
    assert (result.completed, result.failed) == (1, 1)
    broken.refresh_from_db()
    assert broken.status == "failed" and "pdf" in broken.last_error and broken.failed_at
    assert Export.objects.get(pk=good.pk).status == "completed"


def test_process_exports_command(model_with_rows, capsys):
    schedule(model_with_rows)
    call_command("process_exports")
    assert "1 completed, 0 failed" in capsys.readouterr().out
    assert CronjobLog.objects.filter(id=CronjobLog.EXPORT).exists()


def test_process_exports_task_returns_a_summary(model_with_rows):
    from attribution.tasks import process_exports_task

    schedule(model_with_rows)
    assert process_exports_task()["completed"] == 1


@pytest.mark.skipif(connection.vendor != "mysql", reason="row locks across connections need MariaDB/MySQL")
@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_claim_each_job_once(model_with_rows):
    """Two threads (two connections) claim the same jobs at the same moment: one wins each."""
    jobs = [schedule(model_with_rows).export_id for _ in range(10)]
    barrier = threading.Barrier(2)
    wins = {0: [], 1: []}

    def worker(index):
        from django.db import connections

        try:
            for export_id in jobs:
                barrier.wait()
                if exports.claim_export(export_id):
                    wins[index].append(export_id)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(wins[0] + wins[1]) == jobs


@pytest.mark.skipif(connection.vendor != "mysql", reason="concurrent writers need MariaDB/MySQL")
@pytest.mark.django_db(transaction=True)
def test_two_worker_passes_export_each_job_once(model_with_rows, export_dir):
    jobs = [schedule(model_with_rows).export_id for _ in range(6)]
    results = []

    def worker():
        from django.db import connections

        try:
            results.append(exports.process_pending_exports())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r.completed for r in results) == len(jobs)
    files = sorted(p.name.split("-")[2] for p in Path(export_dir).iterdir())
    assert files == sorted(str(j) for j in jobs)  # one file per job, none written twice


class Receiver:
    """A local webhook receiver recording each request; answers with `status`."""

    def __init__(self, status=200):
        self.requests = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"received" if status < 300 else b"receiver exploded")

            def log_message(self, *args):
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/export?token=t"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def no_backoff(monkeypatch):
    monkeypatch.setattr(exports, "WEBHOOK_BACKOFF_BASE_SECONDS", 0)


def test_webhook_is_signed_and_carries_the_payload(model_with_rows, settings, no_backoff):
    settings.ATTRIBUTION_WEBHOOK_ALLOW_PRIVATE = True
    settings.ATTRIBUTION_BASE_URL = "https://ops.example.com"
    with Receiver() as receiver:
        export = schedule(model_with_rows, webhook_url=receiver.url, webhook_secret="top-secret")
        exports.process_pending_exports()
    (request,) = receiver.requests
    assert request["path"] == "/hooks/export?token=t"
    expected = hmac.new(b"top-secret", request["body"], hashlib.sha256).hexdigest()
    assert request["headers"]["X-Prosper202-Signature"] == expected
    payload = json.loads(request["body"])
    export.refresh_from_db()
    assert payload == {
        "export_id": export.export_id, "model_id": model_with_rows.model_id, "status": "completed",
        "format": "csv", "rows_exported": 2,
        "download_url": f"https://ops.example.com/admin/attribution/exports/{export.export_id}/download/",
        "completed_at": export.completed_at,
    }
    assert export.webhook_status_code == 200 and export.webhook_response_body == "received"
    assert export.webhook_attempted_at and export.last_error is None


def test_webhook_sends_the_extra_headers_but_keeps_its_own(model_with_rows, settings, no_backoff):
    settings.ATTRIBUTION_WEBHOOK_ALLOW_PRIVATE = True
    with Receiver() as receiver:
        export = schedule(
            model_with_rows, webhook_url=receiver.url, webhook_secret="s",
            webhook_headers='{"Authorization": "Bearer receiver-token", "X-Tenant": "acme"}',
        )
        exports.process_pending_exports()
    (request,) = receiver.requests
    assert request["headers"]["Authorization"] == "Bearer receiver-token"
    assert request["headers"]["X-Tenant"] == "acme"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["X-Prosper202-Signature"] == hmac.new(
        b"s", request["body"], hashlib.sha256
    ).hexdigest()
    export.refresh_from_db()
    assert json.loads(export.webhook_headers) == {"Authorization": "Bearer receiver-token", "X-Tenant": "acme"}


def test_a_row_with_broken_headers_sends_nothing_and_keeps_the_file(model_with_rows, settings):
    settings.ATTRIBUTION_WEBHOOK_ALLOW_PRIVATE = True
    with Receiver() as receiver:
        export = schedule(model_with_rows, webhook_url=receiver.url, webhook_secret="s")
        Export.objects.filter(pk=export.pk).update(webhook_headers="not json")
        exports.process_pending_exports()
    assert receiver.requests == []
    export.refresh_from_db()
    assert export.status == "completed" and Path(export.file_path).is_file()
    assert "webhook_headers must be a JSON object" in export.last_error


def test_failing_receiver_gets_three_attempts_and_the_file_is_kept(model_with_rows, settings, no_backoff):
    settings.ATTRIBUTION_WEBHOOK_ALLOW_PRIVATE = True
    with Receiver(status=500) as receiver:
        export = schedule(model_with_rows, webhook_url=receiver.url, webhook_secret="s")
        exports.process_pending_exports()
    assert len(receiver.requests) == 3
    export.refresh_from_db()
    assert export.status == "completed" and Path(export.file_path).is_file()
    assert export.webhook_status_code == 500 and export.webhook_response_body == "receiver exploded"
    assert "failed after 3 attempt(s): HTTP 500" in export.last_error


def test_private_target_is_refused_without_a_request(model_with_rows, settings):
    settings.ATTRIBUTION_WEBHOOK_ALLOW_PRIVATE = False
    with Receiver() as receiver:
        export = schedule(model_with_rows, webhook_url=receiver.url, webhook_secret="s")
        exports.process_pending_exports()
    assert receiver.requests == []
    export.refresh_from_db()
    assert export.status == "completed" and Path(export.file_path).is_file()
    assert export.webhook_attempted_at and export.webhook_status_code is None
    assert "refused" in export.last_error and "127.0.0.1" in export.last_error


@pytest.mark.parametrize("address", ["10.1.2.3", "192.168.0.1", "169.254.169.254", "::1", "fe80::1",
                                     "224.0.0.1", "0.0.0.0", "100.64.0.1", "::ffff:127.0.0.1"])
def test_non_public_addresses_are_not_allowed(address):
    assert exports._address_allowed(address) is False


def test_public_address_is_allowed():
    assert exports._address_allowed("93.184.216.34") is True
