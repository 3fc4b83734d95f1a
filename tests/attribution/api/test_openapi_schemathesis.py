"""The OpenAPI document: served, covers every route, and real responses conform to it.

Schemathesis generates requests from the document and sends them through the WSGI app in this
test's database transaction, with a superuser's Bearer token; every response must be documented
(status, content type, body schema, headers) and none may be a 5xx. Bounded and deterministic:
few examples, derandomized, no example database, no network.
"""
import re
import time
from decimal import Decimal

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.urls import URLPattern, URLResolver, get_resolver
from hypothesis import HealthCheck, settings

from attribution.api import openapi
from attribution.api.auth import issue_token
from attribution_site.wsgi import application
from journeys.models import JourneySummary
from tests.attribution.api.conftest import ApiClient
from tests.attribution.api.test_snapshots_api import H0, _snapshot

pytestmark = pytest.mark.django_db

schema = schemathesis.openapi.from_dict(openapi.SCHEMA)
schema.config.update(base_url="http://localhost/api/v2/attribution")

CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.response_headers_conformance,
]


def _api_routes():
    """The route templates under /api/v2/attribution/, as OpenAPI paths ("/models/{model_id}")."""
    (api,) = [p for p in get_resolver().url_patterns if isinstance(p, URLResolver) and "api/v2" in str(p.pattern)]
    routes = set()
    for pattern in api.url_patterns:
        if isinstance(pattern, URLPattern) and pattern.name and pattern.name != "attribution_api_openapi":
            route = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(pattern.pattern))
            routes.add("/" + route)
    return routes


def test_document_is_served_to_authenticated_callers(api):
    assert ApiClient().get("/openapi.json").status_code == 401

    response = api("viewer").get("/openapi.json")

    assert response.status_code == 200
    assert response.json() == openapi.SCHEMA


def test_document_covers_every_route():
    assert set(openapi.SCHEMA["paths"]) == _api_routes()


def _journey_summaries(account_id):
    """Two summarised conversions in the analysis endpoints' default window (the last 24 hours)."""
    now = int(time.time())
    for conv_id, path in ((1, "1 1 0"), (2, "2")):
        JourneySummary.objects.create(
            conv_id=conv_id, user_id=account_id, campaign_id=1, conv_time=now - 3600, revenue=Decimal("5"),
            first_touch_time=now - 90_000, account_path=path, campaign_path=path, landing_page_path=path,
            built_at=now,
        )


@pytest.fixture
def superuser_token(users, models):
    """A superuser token, and a little data so generated ids sometimes hit real rows."""
    _snapshot(models["acme_default"], H0, revenue="5.0000")
    _journey_summaries(models["acme_default"].user_id)
    _token, plaintext = issue_token(users["superuser"], "schemathesis")
    return plaintext


@pytest.fixture
def wsgi_app():
    """The real WSGI app, minus the per-request connection closing that would end this test's
    transaction (Django's own test client disconnects the same handlers)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield application
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(
    max_examples=8, derandomize=True, database=None, deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_responses_conform_to_the_document(case, superuser_token, wsgi_app):
    case.call_and_validate(app=wsgi_app, headers={"Authorization": f"Bearer {superuser_token}"}, checks=CHECKS)
