"""Authentication of /api/v2/attribution/: Bearer tokens, sessions with CSRF, body limits."""
import hashlib

import pytest
from django.conf import settings
from django.test import Client, RequestFactory

from attribution.api.auth import (
    FAILED_TOKENS_PER_ADDRESS,
    client_address,
    issue_token,
    revoke_tokens,
    user_for_token,
)
from attribution.models import ApiToken, AttributionModel
from tests.attribution.api.conftest import API, ApiClient, error_of

pytestmark = pytest.mark.django_db


def test_no_credentials_is_401_with_bearer_challenge(users):
    response = ApiClient().get("/models")

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "Authorization: Bearer" in error_of(response)["message"]


def test_unknown_token_is_401_invalid_token(users):
    response = ApiClient("not-a-real-token").get("/models")

    assert response.status_code == 401
    assert 'error="invalid_token"' in response["WWW-Authenticate"]
    assert "invalid or has been revoked" in error_of(response)["message"]


def test_non_bearer_scheme_is_401(users):
    response = Client().get(API + "/models", HTTP_AUTHORIZATION="Basic dXNlcjpwdw==")

    assert response.status_code == 401
    assert 'error="invalid_request"' in response["WWW-Authenticate"]


def test_token_is_stored_hashed_and_records_last_use(users):
    token, plaintext = issue_token(users["viewer"], "ci")

    stored = ApiToken.objects.get(pk=token.pk)
    assert stored.token_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert plaintext not in (stored.token_hash, stored.name) and stored.token_prefix == plaintext[:8]
    assert stored.last_used_at is None

    assert ApiClient(plaintext).get("/models").status_code == 200
    assert ApiToken.objects.get(pk=token.pk).last_used_at is not None


def test_revoked_token_stops_working(users):
    token, plaintext = issue_token(users["viewer"], "ci")
    assert ApiClient(plaintext).get("/models").status_code == 200

    assert revoke_tokens(ApiToken.objects.filter(pk=token.pk)) == 1
    assert revoke_tokens(ApiToken.objects.filter(pk=token.pk)) == 0

    response = ApiClient(plaintext).get("/models")
    assert response.status_code == 401
    assert user_for_token(plaintext) is None


def test_token_of_inactive_user_is_refused(users):
    _token, plaintext = issue_token(users["viewer"], "ci")
    users["viewer"].is_active = False
    users["viewer"].save()

    assert ApiClient(plaintext).get("/models").status_code == 401


def test_bearer_header_wins_over_a_session(users):
    client = Client()
    client.force_login(users["viewer"])

    assert client.get(API + "/models").status_code == 200
    assert client.get(API + "/models", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401


def test_session_write_requires_csrf_token(users, accounts):
    client = Client(enforce_csrf_checks=True)
    client.force_login(users["manager"])
    body = {"model_name": "Via session", "model_type": "linear"}

    refused = ApiClient(client=client).post("/models", body)
    assert refused.status_code == 403
    assert "CSRF" in error_of(refused)["message"]
    assert not AttributionModel.objects.filter(model_name="Via session").exists()

    csrf_token = "k" * 32  # what a page load would have put in the cookie
    client.cookies[settings.CSRF_COOKIE_NAME] = csrf_token
    accepted = ApiClient(client=client).post("/models", body, HTTP_X_CSRFTOKEN=csrf_token)
    assert accepted.status_code == 201
    assert accepted.json()["data"]["user_id"] == accounts[0].user_id


def test_bearer_writes_are_exempt_from_csrf(users, accounts):
    _token, plaintext = issue_token(users["manager"], "ci")
    client = ApiClient(plaintext, client=Client(enforce_csrf_checks=True))

    response = client.post("/models", {"model_name": "Via token", "model_type": "linear"})

    assert response.status_code == 201


def test_body_over_one_mebibyte_is_413_and_writes_nothing(api, accounts):
    padding = "x" * (1024 * 1024)
    body = '{"model_name": "Huge", "model_type": "linear", "padding": "%s"}' % padding

    response = api("manager").post("/models", body)

    assert response.status_code == 413
    assert "1048576 bytes" in error_of(response)["message"]
    assert not AttributionModel.objects.filter(model_name="Huge").exists()


def test_malformed_json_is_400(api, accounts):
    response = api("manager").post("/models", '{"model_name": ')

    assert response.status_code == 400
    assert "not valid JSON" in error_of(response)["message"]


def test_json_that_is_not_an_object_is_400(api, accounts):
    response = api("manager").post("/models", "[1, 2]")

    assert response.status_code == 400
    assert error_of(response)["message"] == "The request body must be a JSON object."


def test_unsupported_method_is_405_with_allow_header(api):
    response = api("manager").patch("/models", {"model_name": "x"})

    assert response.status_code == 405
    assert response["Allow"] == "GET, POST"
    assert "PATCH" in error_of(response)["message"]


def test_unknown_path_is_json_404(api):
    response = api("viewer").get("/no-such-thing")

    assert response.status_code == 404
    assert "/api/v2/attribution/no-such-thing" in error_of(response)["message"]


ATTACKER, NEIGHBOUR = "203.0.113.7", "198.51.100.9"


def test_failed_tokens_from_one_address_are_throttled_with_429(users):
    _token, valid = issue_token(users["viewer"], "ci")
    for _ in range(FAILED_TOKENS_PER_ADDRESS):
        assert ApiClient("guess").get("/models", REMOTE_ADDR=ATTACKER).status_code == 401

    throttled = ApiClient("another-guess").get("/models", REMOTE_ADDR=ATTACKER)

    assert throttled.status_code == 429 and int(throttled["Retry-After"]) >= 1
    assert "Too many invalid API tokens" in error_of(throttled)["message"]
    assert ApiClient(valid).get("/models", REMOTE_ADDR=ATTACKER).status_code == 429  # no guess gets through
    assert ApiClient(valid).get("/models", REMOTE_ADDR=NEIGHBOUR).status_code == 200
    assert ApiClient("guess").get("/models", REMOTE_ADDR=NEIGHBOUR).status_code == 401


def test_valid_tokens_are_never_counted(users):
    _token, valid = issue_token(users["viewer"], "ci")
    for _ in range(FAILED_TOKENS_PER_ADDRESS + 1):
        assert ApiClient(valid).get("/models", REMOTE_ADDR=ATTACKER).status_code == 200


def test_a_dead_cache_does_not_take_token_checks_down(users, settings):
    settings.CACHES = {"default": {
        "BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache", "LOCATION": "127.0.0.1:9",
        "OPTIONS": {"connect_timeout": 0.2, "timeout": 0.2, "ignore_exc": False, "retry_attempts": 1},
    }}
    _token, valid = issue_token(users["viewer"], "ci")

    assert ApiClient(valid).get("/models").status_code == 200
    assert ApiClient("guess").get("/models").status_code == 401


def test_client_address_believes_x_forwarded_for_only_behind_the_trusted_proxy(settings):
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=f"1.2.3.4, {ATTACKER}")

    settings.TRUST_X_FORWARDED_PROTO = False
    assert client_address(request) == "10.0.0.2"
    settings.TRUST_X_FORWARDED_PROTO = True
    assert client_address(request) == ATTACKER  # the entry the proxy appended, not one the client wrote
