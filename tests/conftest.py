"""Shared fixtures: every test database gets the Prosper202 tables from `install_schema`."""
import uuid

import pytest
from django.core.management import call_command
from django.db import connections

from tests.factories import empty_202_tables


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """After Django's migrations, create the 202 tables exactly as an operator would."""
    with django_db_blocker.unblock():
        for alias in connections:
            if connections[alias].settings_dict.get("TEST", {}).get("MIRROR"):
                continue
            call_command("install_schema", database=alias, verbosity=0, stdout=open("/dev/null", "w"))


def _commits_to_the_database(request):
    marker = request.node.get_closest_marker("django_db")
    return (
        (marker is not None and marker.kwargs.get("transaction", False))
        or "transactional_db" in request.fixturenames
        or "live_server" in request.fixturenames
    )


@pytest.fixture(autouse=True)
def empty_202_tables_after_committed_tests(request, django_db_blocker):
    """Committed tests must leave no 202 rows behind for the next test."""
    yield
    if _commits_to_the_database(request):
        with django_db_blocker.unblock():
            empty_202_tables()


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
