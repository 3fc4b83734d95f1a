"""Export jobs: scheduling and its refusals, the atomic claim, the worker pass, cron log id 3, and
one bad job never stopping a pass."""
import json
import threading
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.db import connection

from attribution.exports import jobs
from attribution.models import CronjobLog, Export
from tests.attribution.exports.conftest import Receiver, schedule
from tests.attribution.reporting_fixtures import BASE_HOUR, make_model, snapshot, staff_user
from tracker.models import AuditEntry

pytestmark = pytest.mark.django_db

WEBHOOK = {"webhook_url": "https://example.com/x", "webhook_secret": "s"}


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
        ({**WEBHOOK, "webhook_headers": {"X-Prosper202-Signature": "forged"}}, "webhook_headers"),
        ({**WEBHOOK, "webhook_headers": {"X-Token": "line\nbreak"}}, "webhook_headers"),
        ({**WEBHOOK, "webhook_headers": "[1, 2]"}, "webhook_headers"),
        # SPEC §9: what could not be sent is refused here, not found out by the worker.
        ({**WEBHOOK, "webhook_url": "http://a..b/hook"}, "webhook_url"),
        ({**WEBHOOK, "webhook_url": "http://[::1/"}, "webhook_url"),
        ({**WEBHOOK, "webhook_url": "http://example.com/a b"}, "webhook_url"),
        ({**WEBHOOK, "webhook_url": "http://example.com/caf\u00e9"}, "webhook_url"),
        ({**WEBHOOK, "webhook_headers": {"X-A": "a\u2028b"}}, "webhook_headers"),
        ({**WEBHOOK, "webhook_headers": {"X-A": "bell\x07"}}, "webhook_headers"),
        ({**WEBHOOK, "webhook_headers": "[" * 3000}, "webhook_headers"),
    ],
)
def test_invalid_schedule_names_the_field_and_writes_nothing(model_with_rows, overrides, field):
    with pytest.raises(jobs.ExportRequestError) as raised:
        schedule(model_with_rows, **overrides)
    assert field in raised.value.fields
    assert not Export.objects.exists() and not AuditEntry.objects.filter(action="export_scheduled").exists()


def test_latin1_header_values_and_idn_hosts_are_accepted(model_with_rows):
    export = schedule(model_with_rows, webhook_url="https://b\u00fccher.example/hook", webhook_secret="s",
                      webhook_headers={"X-Name": "Jos\u00e9"})
    assert json.loads(export.webhook_headers) == {"X-Name": "Jos\u00e9"}


def test_schedule_refuses_another_tenants_model(model_with_rows, tracker):
    outsider = staff_user("outsider", [tracker.account("outsider")])
    with pytest.raises(PermissionDenied):
        schedule(model_with_rows, viewer=outsider)
    assert not Export.objects.exists()


def test_a_claimed_job_is_not_claimed_twice(model_with_rows):
    export = schedule(model_with_rows)
    assert jobs.claim_export(export.export_id) is True
    assert jobs.claim_export(export.export_id) is False
    assert jobs.process_pending_exports().completed == 0  # already processing elsewhere
    assert Export.objects.get(pk=export.pk).status == "processing"


def test_a_job_abandoned_in_processing_is_requeued_and_completed(model_with_rows):
    export = schedule(model_with_rows)
    Export.objects.filter(pk=export.pk).update(status="processing", started_at=1)
    result = jobs.process_pending_exports()
    assert (result.requeued_stale, result.completed) == (1, 1)
    assert Export.objects.get(pk=export.pk).status == "completed"


def test_each_pass_stamps_cron_log_3(model_with_rows):
    assert not CronjobLog.objects.filter(id=CronjobLog.EXPORT).exists()
    jobs.process_pending_exports()
    first = CronjobLog.objects.get(id=CronjobLog.EXPORT).last_execution_time
    CronjobLog.objects.filter(id=CronjobLog.EXPORT).update(last_execution_time=1)
    jobs.process_pending_exports()
    assert CronjobLog.objects.get(id=CronjobLog.EXPORT).last_execution_time >= first > 1


def test_a_broken_job_fails_with_its_error_and_the_pass_goes_on(model_with_rows):
    broken = schedule(model_with_rows)
    Export.objects.filter(pk=broken.pk).update(requested_format="pdf")
    good = schedule(model_with_rows)
    result = jobs.process_pending_exports()
    assert (result.completed, result.failed) == (1, 1)
    broken.refresh_from_db()
    assert broken.status == "failed" and "pdf" in broken.last_error and broken.failed_at
    assert Export.objects.get(pk=good.pk).status == "completed"


def test_a_file_error_is_recorded_without_the_server_path(model_with_rows, settings, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the export directory should be")
    settings.ATTRIBUTION_EXPORT_DIR = blocker / "exports"
    export = schedule(model_with_rows)
    assert jobs.process_pending_exports().failed == 1
    export.refresh_from_db()
    assert export.status == "failed" and "server log" in export.last_error
    assert str(tmp_path) not in export.last_error and "not-a-directory" not in export.last_error


def test_rows_written_elsewhere_that_cannot_be_sent_fail_alone(tracker, settings, no_backoff):
    """Issue 13 item 1: a host IDNA cannot encode and a header that is not Latin-1, in rows the
    scheduler never saw, are recorded on their jobs; another tenant's job completes with its
    webhook; cron log id 3 is stamped."""
    settings.ATTRIBUTION_WEBHOOK_ALLOW_PRIVATE = True
    mine, theirs = make_model(tracker.account("mine")), make_model(tracker.account("theirs"))
    for model in (mine, theirs):
        snapshot(model, BASE_HOUR, revenue="3", cost="1")
    with Receiver() as receiver:
        bad_host = schedule(mine, **WEBHOOK)
        bad_header = schedule(mine, webhook_url=receiver.url, webhook_secret="s")
        Export.objects.filter(pk=bad_host.pk).update(webhook_url="http://a..b/hook")
        Export.objects.filter(pk=bad_header.pk).update(webhook_headers='{"X-A": "a\\u2028b"}')
        other_tenant = schedule(theirs, webhook_url=receiver.url, webhook_secret="s")
        result = jobs.process_pending_exports()
    assert (result.completed, result.failed) == (3, 0)
    assert len(receiver.requests) == 1  # only the other tenant's webhook was sent
    for export, problem in ((bad_host, "is not a valid host name"), (bad_header, "Latin-1")):
        export.refresh_from_db()
        assert export.status == "completed" and Path(export.file_path).is_file()
        assert "Webhook refused, no request sent" in export.last_error and problem in export.last_error
    other_tenant.refresh_from_db()
    assert other_tenant.status == "completed" and other_tenant.webhook_status_code == 200
    assert CronjobLog.objects.filter(id=CronjobLog.EXPORT).exists()


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
    queued = [schedule(model_with_rows).export_id for _ in range(10)]
    barrier = threading.Barrier(2)
    wins = {0: [], 1: []}

    def worker(index):
        from django.db import connections

        try:
            for export_id in queued:
                barrier.wait()
                if jobs.claim_export(export_id):
                    wins[index].append(export_id)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(wins[0] + wins[1]) == queued


@pytest.mark.skipif(connection.vendor != "mysql", reason="concurrent writers need MariaDB/MySQL")
@pytest.mark.django_db(transaction=True)
def test_two_worker_passes_export_each_job_once(model_with_rows, export_dir):
    queued = [schedule(model_with_rows).export_id for _ in range(6)]
    results = []

    def worker():
        from django.db import connections

        try:
            results.append(jobs.process_pending_exports())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r.completed for r in results) == len(queued)
    files = sorted(p.name.split("-")[2] for p in Path(export_dir).iterdir())
    assert files == sorted(str(j) for j in queued)  # one file per job, none written twice
