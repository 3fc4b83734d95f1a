"""Shared fixtures: every test database gets the Prosper202 tables from `install_schema`."""
import uuid

import pytest
from django.core.management import call_command
from django.db import connections


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """After Django's migrations, create the 202 tables exactly as an operator would."""
    with django_db_blocker.unblock():
        for alias in connections:
            if connections[alias].settings_dict.get("TEST", {}).get("MIRROR"):
                continue
            call_command("install_schema", database=alias, verbosity=0, stdout=open("/dev/null", "w"))


@pytest.fixture(autouse=True)
def isolated_cache_prefix(settings):
    """A fresh cache key prefix per test, so tests sharing one memcached never see each other."""
    settings.CACHES = {
        alias: {**config, "KEY_PREFIX": f"test-{uuid.uuid4().hex[:12]}"}
        for alias, config in settings.CACHES.items()
    }
    yield


@pytest.fixture
def tracker():
    """Factory for Prosper202 tracker rows (accounts, campaigns, clicks, conversions)."""
    from tests.factories import Tracker

    return Tracker()
