"""Fixtures shared by the journeys admin tests: logged-in clients without password hashing
(force_login), a superuser and a tenant with the view or manage permission."""
import pytest
from django.contrib.auth.models import Permission

from tracker.models import AccountAccess


def make_user(django_user_model, username, *, superuser=False, codenames=(), account_ids=()):
    user = django_user_model.objects.create(
        username=username, is_staff=True, is_superuser=superuser, is_active=True
    )
    user.user_permissions.add(*Permission.objects.filter(
        content_type__app_label="attribution", codename__in=codenames
    ))
    for account_id in account_ids:
        AccountAccess.objects.create(django_user=user, account_id=account_id)
    return user


def client_for(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def superuser_client(client, django_user_model):
    return client_for(client, make_user(django_user_model, "root", superuser=True))
