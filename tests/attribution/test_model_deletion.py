"""Deleting a model (SPEC §5.3): its snapshots and credit rows go in the background, chunked and
audited, and no report shows them meanwhile; leftovers are listed and removable by command."""
import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django_q.models import OrmQ
from django_q.signing import SignedPackage

from attribution import model_rows, reporting, services
from attribution.exports import files, jobs
from attribution.models import Snapshot, TouchCredit
from attribution.system_checks import OK, WARNING, check_deleted_model_rows
from attribution.tasks import delete_model_rows_task
from tests.attribution.account_lock import holding_account_lock
from tests.attribution.reporting_fixtures import BASE_HOUR, snapshot, touch_credit
from tracker.audit import Actor
from tracker.models import AuditEntry
from tracker.queue import QueuedWorkFailed

pytestmark = pytest.mark.django_db

ADMIN = Actor("admin", "ops")
HOURS = 5


@pytest.fixture
def doomed(tracker):
    """An account's default model and a second model with five hours of rows, credits included."""
    account = tracker.account("acme")
    services.create_model(account_id=account.user_id, model_name="Main", model_type="last_touch",
                          is_default=True, actor=ADMIN)
    model = services.create_model(account_id=account.user_id, model_name="Doomed", model_type="linear", actor=ADMIN)
    for hour in range(HOURS):
        row = snapshot(model, BASE_HOUR + hour * 3600, clicks=2, conversions=1, revenue="10", cost="1")
        snapshot(model, BASE_HOUR + hour * 3600, "campaign", 7, clicks=2, conversions=1, revenue="10", cost="1")
        touch_credit(row, 100 + hour, 5000 + hour, 0, "0.5")
        touch_credit(row, 100 + hour, 6000 + hour, 1, "0.5")
    return account, model


def _queued():
    return [SignedPackage.loads(row.payload) for row in OrmQ.objects.order_by("id")]


def _window():
    return {"start_hour": BASE_HOUR, "end_hour": BASE_HOUR + HOURS * 3600}


def test_deleting_queues_the_rows_deletion_and_reports_hide_the_rows_at_once(doomed):
    account, model = doomed
    export = jobs.schedule_export(
        model=model, scope_type="global", scope_id=None, requested_format="csv", actor=ADMIN, **_window(),
    )
    assert len(list(files.export_rows(export))) == HOURS

    services.delete_model(model, actor=ADMIN)

    [task] = [package for package in _queued() if package["func"] == model_rows.DELETION_TASK]
    assert task["kwargs"] == {"model_id": model.model_id, "account_id": account.user_id, "username": "ops"}
    [entry] = AuditEntry.objects.filter(action="model_delete")
    assert entry.metadata_dict["rows_deletion_task_id"] == task["id"]
    assert Snapshot.objects.filter(model_id=model.model_id).count() == 2 * HOURS  # not deleted yet
    assert not reporting.snapshot_rows(model_id=model.model_id, scope_type="global", scope_id=None, **_window()).exists()
    assert list(files.export_rows(export)) == []
    with pytest.raises(reporting.UnknownModelError):
        reporting.totals(account_ids=None, model_id=model.model_id, scope_type="global", scope_id=None, **_window())


def test_the_task_deletes_in_chunks_audits_once_and_is_idempotent(doomed, monkeypatch):
    account, model = doomed
    monkeypatch.setattr(model_rows, "CHUNK_SNAPSHOTS", 3)
    services.delete_model(model, actor=ADMIN)

    result = delete_model_rows_task(model.model_id, account.user_id, username="worker")

    assert (result["snapshots"], result["credits"], result["chunks"]) == (2 * HOURS, 2 * HOURS, 4)
    assert not Snapshot.objects.filter(model_id=model.model_id).exists()
    assert not TouchCredit.objects.filter(conv_id__in=range(100, 100 + HOURS)).exists()
    [entry] = AuditEntry.objects.filter(action="model_rows_deleted")
    assert (entry.user_id, entry.model_id) == (account.user_id, model.model_id)
    assert entry.metadata_dict | {"actor": None} == {
        "snapshots": 2 * HOURS, "credits": 2 * HOURS, "chunks": 4, "actor": None,
    }
    again = delete_model_rows_task(model.model_id, account.user_id)
    assert (again["snapshots"], again["succeeded"]) == (0, True)
    assert AuditEntry.objects.filter(action="model_rows_deleted").count() == 1


def test_the_task_deletes_nothing_of_a_model_that_still_exists(doomed):
    account, model = doomed
    with pytest.raises(QueuedWorkFailed) as failure:
        delete_model_rows_task(model.model_id, account.user_id)
    assert json.loads(str(failure.value))["model_exists"] is True
    assert Snapshot.objects.filter(model_id=model.model_id).count() == 2 * HOURS


@pytest.mark.django_db(transaction=True)
def test_the_task_fails_while_a_rebuild_holds_the_account_lock(doomed, settings):
    account, model = doomed
    settings.ATTRIBUTION_QUEUED_LOCK_WAIT_SECONDS = 0
    services.delete_model(model, actor=ADMIN)
    with holding_account_lock(account.user_id):
        with pytest.raises(QueuedWorkFailed) as failure:
            delete_model_rows_task(model.model_id, account.user_id)
    assert json.loads(str(failure.value))["locked"] is True
    assert Snapshot.objects.filter(model_id=model.model_id).count() == 2 * HOURS
    assert delete_model_rows_task(model.model_id, account.user_id)["snapshots"] == 2 * HOURS


def test_system_check_lists_leftovers_per_tenant_and_the_command_removes_them(doomed, tracker):
    account, model = doomed
    services.delete_model(model, actor=ADMIN)
    other = tracker.account("globex")

    result = check_deleted_model_rows()
    assert result.status == WARNING
    assert f"model {model.model_id} (user {account.user_id}): {2 * HOURS}" in result.detail
    assert "manage.py delete_model_rows" in result.hint
    assert check_deleted_model_rows(account_ids={other.user_id}).status == OK

    out = io.StringIO()
    call_command("delete_model_rows", stdout=out)
    assert f"Model {model.model_id} (user {account.user_id}): deleted {2 * HOURS} snapshot row(s)" in out.getvalue()
    assert check_deleted_model_rows().status == OK
    assert AuditEntry.objects.get(action="model_rows_deleted").metadata_dict["actor"]["type"] == "cli"


def test_the_command_refuses_a_model_that_exists_and_writes_nothing(doomed):
    account, model = doomed
    for bad in (str(model.model_id), "0", "x"):
        with pytest.raises(CommandError) as refused:
            call_command("delete_model_rows", "--model", bad)
        assert refused.value.returncode == 2 and "--model" in str(refused.value)
    assert Snapshot.objects.filter(model_id=model.model_id).count() == 2 * HOURS
    assert not AuditEntry.objects.filter(action="model_rows_deleted").exists()


def test_api_hides_a_deleted_model(doomed, client):
    from django.contrib.auth.models import User

    account, model = doomed
    services.delete_model(model, actor=ADMIN)
    client.force_login(User.objects.create_superuser("root", "root@example.com", None))
    base = "/api/v2/attribution"
    assert client.get(f"{base}/models/{model.model_id}/snapshots").status_code == 404
    assert client.get(f"{base}/metrics", {"model_id": model.model_id}).status_code == 404
    assert model.model_id not in [row["model_id"] for row in client.get(f"{base}/models").json()["data"]]
