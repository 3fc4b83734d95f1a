"""Export admin, schedule form, download view (permission matrix) and the snapshot admin."""
import pytest
from django.urls import reverse

from attribution.exports import jobs
from attribution.models import Export
from tests.attribution.reporting_fixtures import (
    BASE_HOUR,
    make_model,
    snapshot,
    staff_user,
)
from tracker.audit import Actor
from tracker.models import AuditEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def completed_export(tracker, settings):
    settings.ATTRIBUTION_WEBHOOK_ALLOW_PRIVATE = False
    account = tracker.account("owner")
    model = make_model(account)
    snapshot(model, BASE_HOUR, clicks=1, conversions=1, revenue="7.5", cost="2.5")
    export = jobs.schedule_export(
        model=model, scope_type="global", scope_id=None, start_hour=BASE_HOUR, end_hour=BASE_HOUR,
        requested_format="csv", webhook_url="http://10.255.255.1/x?token=abc123", webhook_secret="hush-hush",
        actor=Actor.cli("pytest"),
    )
    jobs.claim_export(export.export_id)
    jobs.run_claimed_export(export.export_id)  # private webhook target: refused and recorded
    export.refresh_from_db()
    assert export.status == "completed"
    return account, export


def download_url(export):
    return reverse("attribution_export_download", args=[export.export_id])


def test_download_permission_matrix(client, completed_export, tracker):
    account, export = completed_export
    anonymous = client.get(download_url(export))
    assert anonymous.status_code == 302 and "/admin/login/" in anonymous["Location"]

    client.force_login(staff_user("other", [tracker.account("other")]))
    assert client.get(download_url(export)).status_code == 404

    client.force_login(staff_user("no-perm", [account], view=False))
    assert client.get(download_url(export)).status_code == 403

    client.force_login(staff_user("owner", [account]))
    response = client.get(download_url(export))
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="attribution-export-{export.export_id}.csv"'
    body = b"".join(response.streaming_content).decode()
    assert body.splitlines()[1].endswith(",7.5000,2.5000,5.0000,200.00")


def test_download_of_unfinished_or_tampered_export_is_404(client, completed_export, tmp_path):
    account, export = completed_export
    client.force_login(staff_user("owner", [account]))
    outside = tmp_path / "secret.txt"
    outside.write_text("not an export")
    Export.objects.filter(pk=export.pk).update(file_path=str(outside))
    assert client.get(download_url(export)).status_code == 404
    Export.objects.filter(pk=export.pk).update(status="pending")
    assert client.get(download_url(export)).status_code == 404


def test_export_changelist_shows_status_and_link_but_no_secret_or_path(client, completed_export, tracker):
    account, export = completed_export
    client.force_login(staff_user("owner", [account]))
    page = client.get(reverse("admin:attribution_export_changelist")).content.decode()
    assert download_url(export) in page and "completed" in page
    assert "hush-hush" not in page and str(export.file_path) not in page
    detail = client.get(reverse("admin:attribution_export_change", args=[export.export_id])).content.decode()
    assert "set (hidden)" in detail and "hush-hush" not in detail and str(export.file_path) not in detail
    assert "http://10.255.255.1/x?…" in detail and "abc123" not in detail
    assert "refused" in detail  # the webhook outcome is shown
    client.force_login(staff_user("other", [tracker.account("other")]))
    assert download_url(export) not in client.get(reverse("admin:attribution_export_changelist")).content.decode()
    assert client.get(reverse("admin:attribution_export_change", args=[export.export_id])).status_code in (302, 403, 404)


def test_schedule_form_queues_an_export(client, tracker):
    account = tracker.account()
    model = make_model(account)
    client.force_login(staff_user("manager", [account], manage=True))
    assert client.get(reverse("admin:attribution_export_add"))["Location"] == reverse("attribution_export_schedule")
    response = client.post(reverse("attribution_export_schedule"), {
        "model": model.model_id, "scope_type": "campaign", "scope_id": "12", "start": "2024-03-01 00:00",
        "end": "2024-03-01 05:30", "requested_format": "xlsx", "webhook_url": "", "webhook_secret": "",
    })
    assert response.status_code == 302
    export = Export.objects.get()
    assert (export.scope_type, export.scope_id, export.start_hour, export.end_hour, export.requested_format) == (
        "campaign", 12, BASE_HOUR, BASE_HOUR + 5 * 3600, "xlsx")
    assert AuditEntry.objects.get(action="export_scheduled").metadata.count('"username": "manager"') == 1


def test_schedule_form_shows_service_errors_on_fields(client, tracker):
    account = tracker.account()
    model = make_model(account)
    client.force_login(staff_user("manager", [account], manage=True))
    response = client.post(reverse("attribution_export_schedule"), {
        "model": model.model_id, "scope_type": "global", "start": "2024-03-02 00:00", "end": "2024-03-01 00:00",
        "requested_format": "csv", "webhook_url": "gopher://x", "webhook_secret": "s",
        "webhook_headers": '{"Host": "evil.example"}',
    })
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "is after end_hour" in str(errors["start"]) and "http(s)" in str(errors["webhook_url"])
    assert errors["webhook_headers"] == ["'Host' is set by the webhook itself and cannot be replaced"]
    assert not Export.objects.exists()


@pytest.mark.parametrize("field, value, problem", [
    ("webhook_url", "http://[::1/", "is not a valid URL"),
    ("webhook_url", "http://a..b/hook", "is not a valid host name"),
    ("webhook_headers", "[" * 3000, "must be a JSON object"),
    ("webhook_headers", '{"X-A": "a\u2028b"}', "Latin-1"),
])
def test_schedule_form_shows_hostile_webhook_input_as_a_field_error(client, tracker, field, value, problem):
    account = tracker.account()
    model = make_model(account)
    client.force_login(staff_user("manager", [account], manage=True))
    response = client.post(reverse("attribution_export_schedule"), {
        "model": model.model_id, "scope_type": "global", "start": "2024-03-01 00:00", "end": "2024-03-01 00:00",
        "requested_format": "csv", "webhook_url": "https://hooks.example.com/x", "webhook_secret": "s",
        field: value,
    })
    assert response.status_code == 200
    assert problem in str(response.context["form"].errors[field])
    assert not Export.objects.exists()


def test_schedule_needs_manage_permission(client, tracker):
    account = tracker.account()
    client.force_login(staff_user("viewer", [account]))
    assert client.get(reverse("attribution_export_schedule")).status_code == 403


def test_snapshot_admin_lists_only_visible_rows(client, tracker):
    mine, theirs = tracker.account("mine"), tracker.account("theirs")
    snapshot(make_model(mine, "Mine"), BASE_HOUR, revenue="12.3456")
    snapshot(make_model(theirs, "Theirs"), BASE_HOUR, revenue="65.4321")
    client.force_login(staff_user("viewer", [mine]))
    page = client.get(reverse("admin:attribution_snapshot_changelist")).content.decode()
    assert "12.3456" in page and "65.4321" not in page
    assert "2024-03-01 00:00 UTC" in page and f"epoch {BASE_HOUR}" in page
