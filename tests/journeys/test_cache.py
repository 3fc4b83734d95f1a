"""The journey cache (SPEC §4.5): read-through, eviction after commit, memcached down."""
import logging

import pytest
from django.core.cache import cache
from django.db import transaction

from journeys.cache import evict_journeys_on_commit, get_journey, journey_cache_key
from tests.journeys.journey_helpers import (
    store_rows,
)


@pytest.mark.django_db
def test_read_through_caches_the_stored_journey():
    store_rows(41, (5, 500, 0), (6, 600, 1))

    assert get_journey(41) == [(5, 500), (6, 600)]
    assert cache.get(journey_cache_key(41)) == [(5, 500), (6, 600)]
    store_rows(41, (7, 700, 2))  # written behind the cache's back: the cached value is served
    assert get_journey(41) == [(5, 500), (6, 600)]


@pytest.mark.django_db(transaction=True)
def test_eviction_happens_after_commit_not_before():
    """Against the configured cache (real memcached when CACHE_URL points at it)."""
    store_rows(42, (5, 500, 0))
    get_journey(42)
    key = journey_cache_key(42)
    assert cache.get(key) == [(5, 500)]

    with transaction.atomic():
        evict_journeys_on_commit([42])
        assert cache.get(key) == [(5, 500)]  # not before commit
    assert cache.get(key) is None  # gone after commit


@pytest.mark.django_db(transaction=True)
def test_rolled_back_writes_do_not_evict():
    store_rows(43, (5, 500, 0))
    get_journey(43)
    with pytest.raises(RuntimeError), transaction.atomic():
        evict_journeys_on_commit([43])
        raise RuntimeError("abort")
    assert cache.get(journey_cache_key(43)) == [(5, 500)]


@pytest.mark.django_db
def test_memcached_down_reads_the_database_and_logs_a_warning(settings, caplog):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache",
            "LOCATION": "127.0.0.1:9",  # nothing listens on the discard port
            "OPTIONS": {"connect_timeout": 0.2, "timeout": 0.2, "ignore_exc": False, "retry_attempts": 1},
        }
    }
    store_rows(44, (5, 500, 0), (6, 600, 1))

    with caplog.at_level(logging.WARNING, logger="attribution.cache"):
        assert get_journey(44) == [(5, 500), (6, 600)]
        evict_journeys_on_commit([44])  # outside a transaction: runs now, must not raise

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("attribution_journey_44" in message for message in warnings)
