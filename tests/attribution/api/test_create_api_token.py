"""manage.py create_api_token <username> [--name NAME]: prints a working token once."""
import io

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError

from attribution.api.auth import hash_token
from attribution.models import ApiToken
from tests.attribution.api.conftest import ApiClient

pytestmark = pytest.mark.django_db


def _run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_token", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_prints_a_working_token_stored_hashed(users):
    out, err = _run("viewer", "--name", "BI dashboard")

    plaintext = out.strip()
    token = ApiToken.objects.get(django_user=users["viewer"])
    assert (token.name, token.token_hash) == ("BI dashboard", hash_token(plaintext))
    assert token.token_prefix in err and plaintext not in err
    assert ApiClient(plaintext).get("/models").status_code == 200


def test_default_name_and_distinct_tokens(users):
    first, _ = _run("viewer")
    second, _ = _run("viewer")

    assert first != second
    assert list(ApiToken.objects.values_list("name", flat=True)) == ["cli", "cli"]


@pytest.mark.parametrize(
    "args, message",
    [
        (("ghost",), "username 'ghost' does not exist"),
        (("viewer", "--name", " "), "--name must be 1 to 100 characters"),
        (("viewer", "--name", "x" * 101), "--name must be 1 to 100 characters"),
    ],
)
def test_bad_arguments_exit_2_and_write_nothing(users, args, message):
    with pytest.raises(CommandError, match=message) as raised:
        _run(*args)

    assert raised.value.returncode == 2
    assert not ApiToken.objects.exists()


def test_inactive_user_is_refused(users):
    User.objects.filter(username="viewer").update(is_active=False)

    with pytest.raises(CommandError, match="inactive"):
        _run("viewer")
    assert not ApiToken.objects.exists()
