"""API fixtures: two tenants, a user per role, and clients authenticated by Bearer token."""
import json

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from attribution.api.auth import issue_token
from tracker.audit import Actor
from tracker.models import AccountAccess

API = "/api/v2/attribution"
SETUP_ACTOR = Actor.cli("pytest")


class ApiClient:
    """A Django test client that sends a Bearer token and JSON bodies."""

    def __init__(self, token=None, client=None):
        self.client = client or Client()
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}

    def get(self, path, params=None, **extra):
        return self.client.get(API + path, params or {}, **self.headers, **extra)

    def delete(self, path, **extra):
        return self.client.delete(API + path, **self.headers, **extra)

    def _send(self, method, path, body, **extra):
        payload = body if isinstance(body, (bytes, str)) else json.dumps(body)
        return getattr(self.client, method)(
            API + path, payload, content_type="application/json", **self.headers, **extra
        )

    def post(self, path, body=None, **extra):
        return self._send("post", path, {} if body is None else body, **extra)

    def patch(self, path, body=None, **extra):
        return self._send("patch", path, {} if body is None else body, **extra)


@pytest.fixture
def accounts(tracker):
    """Two Prosper202 accounts: ours (acme) and another tenant's (globex)."""
    return tracker.account("acme"), tracker.account("globex")


def _user(username, group=None, account_ids=(), superuser=False):
    user = User.objects.create_user(username, is_superuser=superuser, is_staff=True)
    if group:
        user.groups.add(Group.objects.get(name=group))
    for account_id in account_ids:
        AccountAccess.objects.create(django_user=user, account_id=account_id)
    return user


@pytest.fixture
def users(accounts):
    """A user per role; all but `other` and `superuser` see only acme."""
    acme, globex = accounts
    return {
        "viewer": _user("viewer", "Attribution viewers", [acme.user_id]),
        "manager": _user("manager", "Attribution managers", [acme.user_id]),
        "no_perms": _user("no_perms", None, [acme.user_id]),
        "other": _user("other", "Attribution managers", [globex.user_id]),
        "superuser": _user("root", None, (), superuser=True),
    }


@pytest.fixture
def api(users):
    """api("viewer") → an ApiClient authenticated with a fresh token of that user."""

    def client_for(role):
        _token, plaintext = issue_token(users[role], f"{role} token")
        return ApiClient(plaintext)

    return client_for


@pytest.fixture
def models(accounts):
    """acme: a default last_touch and an inactive linear model; globex: its own default."""
    from attribution import services

    acme, globex = accounts
    return {
        "acme_default": services.create_model(
            account_id=acme.user_id, model_name="Last touch", model_type="last_touch",
            is_default=True, actor=SETUP_ACTOR,
        ),
        "acme_linear": services.create_model(
            account_id=acme.user_id, model_name="Linear", model_type="linear", is_active=False,
            actor=SETUP_ACTOR,
        ),
        "globex_default": services.create_model(
            account_id=globex.user_id, model_name="Globex last touch", model_type="last_touch",
            is_default=True, actor=SETUP_ACTOR,
        ),
    }


def error_of(response):
    """The error object of an error response, after checking its shape."""
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "fields"}
    return body["error"]
