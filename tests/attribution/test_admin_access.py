"""Admin for API tokens and account access (attribution/admin_access.py)."""
import re

import pytest
from django.contrib.messages import get_messages
from django.contrib.messages.storage.cookie import CookieStorage
from django.test import Client

from attribution.api.auth import hash_token, issue_token
from attribution.models import ApiToken
from tests.attribution.api.conftest import accounts, users  # noqa: F401  (fixtures shared with the API tests)
from tracker.models import AccountAccess

pytestmark = pytest.mark.django_db


def _client(user):
    client = Client()
    client.force_login(user)
    return client


def _plaintext_from_messages(response):
    (message,) = [str(m) for m in get_messages(response.wsgi_request) if "copy it now" in str(m)]
    return message.split(": ", 1)[1].split(" ", 1)[0]


def test_superuser_creates_a_token_shown_once(users):
    client = _client(users["superuser"])

    response = client.post(
        "/admin/attribution/apitoken/add/", {"django_user": users["viewer"].pk, "name": "BI"}, follow=True
    )

    assert response.status_code == 200
    plaintext = _plaintext_from_messages(response)
    token = ApiToken.objects.get(name="BI")
    assert (token.django_user, token.token_hash) == (users["viewer"], hash_token(plaintext))
    listing = client.get("/admin/attribution/apitoken/")
    assert token.token_prefix in listing.content.decode()
    assert plaintext not in listing.content.decode()


def test_a_new_tokens_plaintext_never_travels_in_a_cookie(users):
    client = _client(users["superuser"])

    created = client.post("/admin/attribution/apitoken/add/", {"django_user": users["viewer"].pk, "name": "BI"})

    assert created.status_code == 302
    assert CookieStorage.cookie_name not in created.cookies  # messages stay in the session
    page = client.get(created["Location"]).content.decode()
    (plaintext,) = re.findall(r"API token for viewer: (\S+) — copy it now", page)
    assert ApiToken.objects.get(name="BI").token_hash == hash_token(plaintext)
    assert not any(plaintext in morsel.value for morsel in client.cookies.values())



def test_staff_user_creates_tokens_only_for_themselves_and_sees_only_theirs(users):
    issue_token(users["manager"], "manager's")
    client = _client(users["viewer"])

    client.post("/admin/attribution/apitoken/add/", {"django_user": users["manager"].pk, "name": "mine"})

    assert ApiToken.objects.get(name="mine").django_user == users["viewer"]
    listing = client.get("/admin/attribution/apitoken/").content.decode()
    assert "mine" in listing and "manager&#x27;s" not in listing
    foreign = ApiToken.objects.get(name="manager's")
    assert client.get(f"/admin/attribution/apitoken/{foreign.pk}/change/").status_code in (302, 403, 404)


def test_revoke_action(users):
    token, _plaintext = issue_token(users["viewer"], "old")
    client = _client(users["superuser"])

    client.post(
        "/admin/attribution/apitoken/", {"action": "revoke_selected", "_selected_action": [token.pk]}, follow=True
    )

    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None


def test_account_access_is_for_superusers_only(users, accounts):
    assert _client(users["manager"]).get("/admin/tracker/accountaccess/").status_code == 403

    response = _client(users["superuser"]).get("/admin/tracker/accountaccess/")
    assert response.status_code == 200
    assert "acme" in response.content.decode()


def test_account_access_refuses_unknown_accounts(users, accounts):
    client = _client(users["superuser"])

    refused = client.post("/admin/tracker/accountaccess/add/", {"django_user": users["other"].pk, "account_id": 4242})
    accepted = client.post(
        "/admin/tracker/accountaccess/add/", {"django_user": users["other"].pk, "account_id": accounts[0].user_id}
    )

    assert "No Prosper202 account has user_id 4242" in refused.content.decode()
    assert accepted.status_code == 302
    assert AccountAccess.objects.filter(django_user=users["other"], account_id=accounts[0].user_id).exists()


def test_user_admin_has_the_accounts_inline(users):
    response = _client(users["superuser"]).get(f"/admin/auth/user/{users['viewer'].pk}/change/")

    assert response.status_code == 200
    assert "Prosper202 accounts this user may see" in response.content.decode()
