"""Admin log-in throttling (SPEC §9, django-axes): a username+address pair is locked after
repeated failures, with a clear page; other users and other addresses are unaffected."""
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"
ATTACKER, COLLEAGUE = "203.0.113.7", "198.51.100.9"
PASSWORD = "the-right-password"


def attempt(username, password, address=ATTACKER):
    return Client().post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)


@pytest.fixture
def staff(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only
    for username in ("ops", "analyst"):
        get_user_model().objects.create_user(username, password=PASSWORD, is_staff=True)


def test_repeated_failures_lock_the_username_from_that_address(staff):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert attempt("ops", "wrong").status_code == 200  # the form again, with its error

    locked = attempt("ops", "wrong")

    assert locked.status_code == 429
    page = " ".join(locked.content.decode().split())
    assert 'id="login-locked"' in page
    assert f"locked for “ops” from your address after {settings.AXES_FAILURE_LIMIT} failed attempts" in page
    assert "Try again in 15 minutes" in page
    assert attempt("ops", PASSWORD).status_code == 429  # even the right password, from there
    assert attempt("ops", PASSWORD, address=COLLEAGUE).status_code == 302  # the same user elsewhere
    assert attempt("analyst", PASSWORD).status_code == 302  # another user from the same address


def test_a_forged_forwarded_for_header_does_not_escape_the_lock(staff):
    for number in range(settings.AXES_FAILURE_LIMIT):
        Client().post(LOGIN, {"username": "ops", "password": "wrong"}, REMOTE_ADDR=ATTACKER,
                      HTTP_X_FORWARDED_FOR=f"192.0.2.{number}")

    assert attempt("ops", PASSWORD).status_code == 429


def test_a_success_clears_earlier_failures(staff):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        attempt("ops", "wrong")
    assert attempt("ops", PASSWORD).status_code == 302
    assert attempt("ops", "wrong").status_code == 200  # counting starts again
