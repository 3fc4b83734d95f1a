"""`GET /healthz` (SPEC §10): 200 while every check is ok or a warning, 503 on any error, and
nothing but check names and statuses in the body."""
import json
import socket

import pytest

from attribution import system_checks
from attribution.models import CronjobLog
from tests.attribution.pipeline_state import (
    forget_pipeline_state,
    index_dropped,
    make_pipeline_healthy,
)

PYMEMCACHE = "django.core.cache.backends.memcached.PyMemcacheCache"


def get_health(client):
    response = client.get("/healthz")
    body = json.loads(response.content)
    return response.status_code, body


def statuses(body):
    return {check["name"]: check["status"] for check in body["checks"]}


@pytest.mark.django_db
def test_healthy_pipeline_is_200(client):
    make_pipeline_healthy()
    code, body = get_health(client)
    assert code == 200, body
    assert body["status"] in ("ok", "warning")
    assert set(statuses(body)) == {name for name, _ in system_checks.CHECKS}
    assert "error" not in statuses(body).values()


@pytest.mark.django_db
def test_body_has_names_and_statuses_only(client, tracker):
    make_pipeline_healthy()
    account = tracker.account("secret-account")
    # An invalid model makes the checks name rows; none of it may reach the public body.
    from attribution.models import AttributionModel

    AttributionModel.objects.create(user=account, model_name="m", model_slug="m", model_type="time_decay",
                                    weighting_config="{}", is_default=True, created_at=0, updated_at=0)
    response = client.get("/healthz")
    assert response.status_code == 503
    body = json.loads(response.content)
    assert set(body) == {"status", "checks"}
    assert all(set(check) == {"name", "status"} for check in body["checks"])
    text = response.content.decode()
    for leak in ("secret-account", "half_life", "/work", "127.0.0.1", "manage.py"):
        assert leak not in text
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_rebuild_never_ran_is_503(client):
    make_pipeline_healthy()
    CronjobLog.objects.filter(id=CronjobLog.REBUILD).delete()
    code, body = get_health(client)
    assert code == 503
    assert body["status"] == "error"
    assert statuses(body)["rebuild_cron"] == "error"


@pytest.mark.django_db
def test_rebuild_stale_over_a_day_is_503_and_over_two_hours_is_200(client):
    now = make_pipeline_healthy()
    CronjobLog.objects.filter(id=CronjobLog.REBUILD).update(last_execution_time=now - 3 * 3600)
    code, body = get_health(client)
    assert code == 200 and statuses(body)["rebuild_cron"] == "warning"
    assert body["status"] == "warning"
    CronjobLog.objects.filter(id=CronjobLog.REBUILD).update(last_execution_time=now - 25 * 3600)
    code, body = get_health(client)
    assert code == 503 and statuses(body)["rebuild_cron"] == "error"


@pytest.mark.django_db(transaction=True)
def test_missing_index_is_503(client):
    make_pipeline_healthy()
    try:
        with index_dropped("202_attribution_snapshots", "model_hour_scope"):
            code, body = get_health(client)
    finally:
        forget_pipeline_state()
    assert code == 503
    assert statuses(body)["schema"] == "error"


@pytest.mark.django_db
def test_memcached_down_is_503(client, settings):
    make_pipeline_healthy()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    settings.CACHES = {"default": {"BACKEND": PYMEMCACHE, "LOCATION": f"127.0.0.1:{closed_port}",
                                   "OPTIONS": {"connect_timeout": 0.5, "timeout": 0.5, "ignore_exc": False}}}
    code, body = get_health(client)
    assert code == 503
    assert statuses(body)["cache"] == "error"


@pytest.mark.django_db
def test_needs_no_login_and_only_get(client):
    make_pipeline_healthy()
    assert client.get("/healthz").status_code == 200
    assert client.post("/healthz").status_code == 405

