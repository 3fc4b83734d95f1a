"""models/<id>/exports and exports/<id>/download: schedule, list, download; secrets never leak."""
import csv
import io
import json

import pytest

from attribution.exports import jobs
from attribution.models import Export
from tests.attribution.api.conftest import error_of
from tests.attribution.api.test_snapshots_api import H0, HOUR, _snapshot
from tracker.models import AuditEntry

pytestmark = pytest.mark.django_db

WEBHOOK = {"webhook_url": "https://hooks.example.com/p202", "webhook_secret": "s3cret-signing-key"}


@pytest.fixture(autouse=True)
def export_dir(settings, tmp_path):
    settings.ATTRIBUTION_EXPORT_DIR = tmp_path
    return tmp_path


def _schedule(client, model, **body):
    return client.post(f"/models/{model.model_id}/exports", {"start_hour": H0, "end_hour": H0 + HOUR, **body})


def test_schedule_returns_201_without_the_secret(api, models):
    model = models["acme_default"]

    response = _schedule(api("manager"), model, format="xls", **WEBHOOK)

    assert response.status_code == 201
    data = response.json()["data"]
    assert (data["status"], data["format"], data["download_url"]) == ("pending", "xlsx", None)
    assert data["webhook_url"] == WEBHOOK["webhook_url"]
    assert "webhook_secret" not in data and "file_path" not in data
    assert WEBHOOK["webhook_secret"] not in response.content.decode()
    stored = Export.objects.get(export_id=data["export_id"])
    assert (stored.webhook_secret, stored.user_id) == (WEBHOOK["webhook_secret"], model.user_id)
    audit = AuditEntry.objects.get(action="export_scheduled", model_id=model.model_id)
    assert json.loads(audit.metadata)["actor"] == {"type": "api", "username": "manager"}


def test_webhook_headers_are_stored_but_never_returned(api, models):
    response = _schedule(api("manager"), models["acme_default"], **WEBHOOK,
                         webhook_headers={"Authorization": "Bearer receiver-token"})

    assert response.status_code == 201
    assert "receiver-token" not in response.content.decode()
    stored = Export.objects.get(export_id=response.json()["data"]["export_id"])
    assert json.loads(stored.webhook_headers) == {"Authorization": "Bearer receiver-token"}


@pytest.mark.parametrize(
    "body, field",
    [
        ({"format": "pdf"}, "format"),
        ({"webhook_url": "https://hooks.example.com/x"}, "webhook_secret"),
        ({"webhook_url": "ftp://example.com/x", "webhook_secret": "k"}, "webhook_url"),
        ({"scope": "global", "scope_id": 3}, "scope_id"),
        ({"scope": "planet"}, "scope"),
        ({"start_hour": H0 + 2 * HOUR}, "start_hour"),
        ({"start_hour": "today"}, "start_hour"),
        ({"bogus": 1}, "bogus"),
        ({**WEBHOOK, "webhook_headers": ["X-Token: t"]}, "webhook_headers"),
        ({**WEBHOOK, "webhook_headers": {"Content-Type": "text/plain"}}, "webhook_headers"),
    ],
)
def test_invalid_export_requests_are_422_naming_the_field(api, models, body, field):
    response = _schedule(api("manager"), models["acme_default"], **body)

    assert response.status_code == 422
    assert field in error_of(response)["fields"]
    assert not Export.objects.exists()


def test_missing_window_is_422(api, models):
    response = api("manager").post(f"/models/{models['acme_default'].model_id}/exports", {})

    assert response.status_code == 422
    assert set(error_of(response)["fields"]) == {"start_hour", "end_hour"}


def test_viewer_cannot_schedule_but_can_list(api, models):
    model = models["acme_default"]
    _schedule(api("manager"), model)

    assert _schedule(api("viewer"), model).status_code == 403
    listing = api("viewer").get(f"/models/{model.model_id}/exports")
    assert listing.status_code == 200
    assert [row["status"] for row in listing.json()["data"]] == ["pending"]


def test_completed_export_lists_a_download_url_and_downloads(api, models, export_dir):
    model = models["acme_default"]
    _snapshot(model, H0, clicks=2, conversions=1, revenue="12.5000", cost="2.0000")
    export_id = _schedule(api("manager"), model, **WEBHOOK).json()["data"]["export_id"]
    Export.objects.filter(export_id=export_id).update(webhook_url=None, webhook_secret=None)
    jobs.process_pending_exports()

    listing = api("viewer").get(f"/models/{model.model_id}/exports")
    (row,) = listing.json()["data"]
    assert (row["status"], row["rows_exported"]) == ("completed", 1)
    assert row["download_url"] == f"/api/v2/attribution/exports/{export_id}/download"
    assert str(export_dir) not in listing.content.decode()

    download = api("viewer").get(f"/exports/{export_id}/download")
    assert download.status_code == 200
    lines = list(csv.DictReader(io.StringIO(b"".join(download.streaming_content).decode())))
    assert [(line["date_hour_epoch"], line["attributed_revenue"]) for line in lines] == [(str(H0), "12.5000")]


def test_download_of_pending_other_tenant_and_missing_exports(api, models):
    export_id = _schedule(api("manager"), models["acme_default"]).json()["data"]["export_id"]

    assert api("viewer").get(f"/exports/{export_id}/download").status_code == 404
    assert api("other").get(f"/exports/{export_id}/download").status_code == 403
    assert api("viewer").get("/exports/999999/download").status_code == 404
