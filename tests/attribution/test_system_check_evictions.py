"""System Checks' "Journey cache evictions waiting" row (SPEC §4.5, §10)."""
import pytest

from attribution.system_checks import ERROR, OK, WARNING, check_journey_cache_evictions
from journeys.cache import evict_journeys, get_journey, journey_cache_version
from journeys.models import PendingJourneyEviction
from tests.journeys.journey_helpers import store_rows
from tests.journeys.test_cache import cached, memcached_blinks  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


def queued_at_epoch():
    return int(PendingJourneyEviction.objects.get().queued_at.timestamp())


def test_ok_when_no_eviction_waits():
    result = check_journey_cache_evictions()

    assert (result.status, result.detail) == (OK, "no eviction waiting for the cache")


def test_waiting_evictions_warn_then_become_an_error_after_an_hour(memcached_blinks):
    memcached_blinks()
    assert evict_journeys([61]) is False

    recent = check_journey_cache_evictions(now=queued_at_epoch() + 60)
    old = check_journey_cache_evictions(now=queued_at_epoch() + 3601)

    assert recent.status == WARNING
    assert recent.detail.startswith("1 eviction(s) waiting since ")
    assert "(1 min ago): until then those journeys may be served stale" in recent.detail
    assert "evict_journey_cache --all" in recent.hint
    assert old.status == ERROR


def test_the_check_retries_waiting_evictions_once_the_cache_answers(memcached_blinks):
    store_rows(62, (5, 500, 0))
    get_journey(62)
    memcached_blinks()
    evict_journeys([62])
    memcached_blinks(back=True)
    assert cached(62) == [(5, 500)] and journey_cache_version() is not None

    result = check_journey_cache_evictions()

    assert result.status == OK
    assert cached(62) is None
    assert not PendingJourneyEviction.objects.exists()
