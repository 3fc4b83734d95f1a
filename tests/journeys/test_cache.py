"""The journey cache (SPEC §4.5): read-through, eviction after commit, memcached down, and
evictions that could not reach memcached retried once it is back.

Against the configured cache: real memcached when CACHE_URL points at it (CI's second pass).
"""
import logging

import pytest
from django.core.cache import cache
from django.db import transaction

from journeys import cache as journey_cache
from journeys.cache import (
    evict_all_journeys,
    evict_journeys_on_commit,
    get_journey,
    journey_cache_key,
    journey_cache_version,
    pending_evictions,
    retry_pending_evictions,
)
from journeys.models import JourneyTouch, PendingJourneyEviction
from tests.journeys.journey_helpers import store_rows

CLOSED_PORT_CACHE = {
    "BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache",
    "LOCATION": "127.0.0.1:9",  # nothing listens on the discard port
    "OPTIONS": {"connect_timeout": 0.2, "timeout": 0.2, "ignore_exc": False, "retry_attempts": 0},  # as settings.py
}


def cached(conv_id):
    """What the cache holds for this conversion now (None when evicted)."""
    return cache.get(journey_cache_key(conv_id), version=journey_cache_version())


def queued_conv_ids():
    return list(PendingJourneyEviction.objects.order_by("id").values_list("conv_id", flat=True))


@pytest.fixture
def memcached_blinks(settings):
    """Call it to make the cache unreachable, and again with `back=True` to restore it."""
    reachable = settings.CACHES

    def switch(back=False):
        settings.CACHES = reachable if back else {
            "default": {**CLOSED_PORT_CACHE, "KEY_PREFIX": reachable["default"]["KEY_PREFIX"]}
        }

    return switch


def rewrite_journey(conv_id, *touches):
    """A journey write as the services do it: rows replaced, eviction after commit."""
    with transaction.atomic():
        JourneyTouch.objects.filter(conv_id=conv_id).delete()
        store_rows(conv_id, *touches)
        evict_journeys_on_commit([conv_id])


@pytest.mark.django_db
def test_read_through_caches_the_stored_journey():
    store_rows(41, (5, 500, 0), (6, 600, 1))

    assert get_journey(41) == [(5, 500), (6, 600)]
    assert cached(41) == [(5, 500), (6, 600)]
    store_rows(41, (7, 700, 2))  # written behind the cache's back: the cached value is served
    assert get_journey(41) == [(5, 500), (6, 600)]


@pytest.mark.django_db(transaction=True)
def test_eviction_happens_after_commit_not_before():
    store_rows(42, (5, 500, 0))
    get_journey(42)
    assert cached(42) == [(5, 500)]

    with transaction.atomic():
        evict_journeys_on_commit([42])
        assert cached(42) == [(5, 500)]  # not before commit
    assert cached(42) is None  # gone after commit
    assert queued_conv_ids() == []


@pytest.mark.django_db(transaction=True)
def test_rolled_back_writes_do_not_evict():
    store_rows(43, (5, 500, 0))
    get_journey(43)
    with pytest.raises(RuntimeError), transaction.atomic():
        evict_journeys_on_commit([43])
        raise RuntimeError("abort")
    assert cached(43) == [(5, 500)]


@pytest.mark.django_db
def test_memcached_down_reads_the_database_and_logs_a_warning(memcached_blinks, caplog,
                                                             django_capture_on_commit_callbacks):
    memcached_blinks()
    store_rows(44, (5, 500, 0), (6, 600, 1))

    with caplog.at_level(logging.WARNING, logger="attribution.cache"):
        assert get_journey(44) == [(5, 500), (6, 600)]
        with django_capture_on_commit_callbacks(execute=True):
            evict_journeys_on_commit([44])  # must not raise

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("attribution_journey_version" in message for message in warnings)
    assert "could not evict 1 journey key(s) from the cache: queued for retry" in warnings


@pytest.mark.django_db(transaction=True)
def test_an_eviction_that_could_not_reach_memcached_happens_once_it_is_back(memcached_blinks, caplog):
    store_rows(45, (5, 500, 0))
    assert get_journey(45) == [(5, 500)]

    memcached_blinks()
    with caplog.at_level(logging.WARNING, logger="attribution.cache"):
        rewrite_journey(45, (6, 600, 0))
    assert queued_conv_ids() == [45]
    assert "could not evict 1 journey key(s) from the cache: queued for retry" in caplog.messages

    memcached_blinks(back=True)
    assert cached(45) == [(5, 500)]  # memcached still holds the old journey
    # This process saw the cache fail, so its first read retries the queued eviction first.
    assert get_journey(45) == [(6, 600)]
    assert queued_conv_ids() == []


@pytest.mark.django_db(transaction=True)
def test_queued_evictions_are_retried_by_the_scheduled_retry(memcached_blinks):
    for conv_id in (46, 47):
        store_rows(conv_id, (5, 500, 0))
        get_journey(conv_id)
    memcached_blinks()
    evict_journeys_on_commit([46, 47])
    assert retry_pending_evictions() == 0  # still unreachable: nothing lost, nothing done
    assert queued_conv_ids() == [46, 47]

    memcached_blinks(back=True)
    assert (cached(46), cached(47)) == ([(5, 500)], [(5, 500)])
    assert retry_pending_evictions() == 2
    assert (cached(46), cached(47)) == (None, None)
    assert queued_conv_ids() == []


@pytest.mark.django_db(transaction=True)
def test_too_many_queued_evictions_become_one_eviction_of_every_journey(memcached_blinks, monkeypatch):
    monkeypatch.setattr(journey_cache, "PENDING_ROWS_MAX", 3)
    for conv_id in (48, 49):
        store_rows(conv_id, (5, 500, 0))
        get_journey(conv_id)
    memcached_blinks()
    evict_journeys_on_commit([48])
    evict_journeys_on_commit([101, 102, 103])  # 4 rows would pass the cap
    evict_journeys_on_commit([104])  # covered by the queued "every journey"
    assert queued_conv_ids() == [48, None]
    rows, oldest, everything = pending_evictions()
    assert (rows, everything) == (2, True) and oldest is not None

    memcached_blinks(back=True)
    version = journey_cache_version()
    assert retry_pending_evictions() == 2
    assert journey_cache_version() == version + 1
    assert (cached(48), cached(49)) == (None, None)  # every journey key retired at once
    assert get_journey(49) == [(5, 500)]  # and read through again under the new namespace
    assert cached(49) == [(5, 500)]


@pytest.mark.django_db(transaction=True)
def test_evicting_every_journey_bumps_the_namespace_and_settles_the_queue(memcached_blinks):
    store_rows(50, (5, 500, 0))
    get_journey(50)
    memcached_blinks()
    assert evict_all_journeys() is False
    assert queued_conv_ids() == [None]

    memcached_blinks(back=True)
    assert cached(50) == [(5, 500)]
    assert evict_all_journeys() is True
    assert cached(50) is None
    assert queued_conv_ids() == []


@pytest.mark.django_db
def test_a_lost_namespace_version_never_brings_back_older_entries():
    store_rows(51, (5, 500, 0))
    get_journey(51)
    before = journey_cache_version()
    cache.delete(journey_cache.VERSION_KEY)  # memcached restarted, or evicted the version key

    assert journey_cache_version() > before
    assert cached(51) is None
