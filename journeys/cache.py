"""The journey cache (SPEC §4.5): read-through by conversion, evicted after each write or purge.

Key `attribution_journey_<conv_id>` (under the project's key prefix, as Prosper202 named it);
value the ordered list of (click_id, click_time). A dead memcached only costs a logged warning
(tracker.cache): journeys are then read from the database.
"""
from django.db import transaction

from journeys import store
from tracker.cache import cache_delete_many, cache_get, cache_set

JOURNEY_CACHE_SECONDS = 24 * 3600


def journey_cache_key(conv_id):
    return f"attribution_journey_{int(conv_id)}"


def get_journey(conv_id):
    """The stored journey of one conversion as [(click_id, click_time)], cached."""
    key = journey_cache_key(conv_id)
    cached = cache_get(key)
    if cached is not None:
        return [tuple(touch) for touch in cached]
    journey = store.stored_journeys([int(conv_id)]).get(int(conv_id), [])
    cache_set(key, journey, JOURNEY_CACHE_SECONDS)
    return journey


def evict_journeys_on_commit(conv_ids, using="default"):
    """Drop these conversions' cached journeys once the current transaction commits."""
    keys = [journey_cache_key(conv_id) for conv_id in conv_ids]
    if keys:
        transaction.on_commit(lambda: cache_delete_many(keys), using=using)
