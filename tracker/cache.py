"""Cache access that never breaks a page: a dead memcached costs a logged warning, not an error.

SPEC §4.5: if memcached is down everything keeps working from the database, a warning is
logged, and System Checks shows it (see `cache_is_reachable`).
"""
import logging

from django.core.cache import cache

logger = logging.getLogger("attribution.cache")

_MISSING = object()


def cache_get(key, default=None, version=None):
    try:
        return cache.get(key, default, version=version)
    except Exception as error:  # any client or network error: fall back to the database
        logger.warning("cache get %s failed, reading from the database: %s", key, error)
        return default


def cache_set(key, value, timeout=None, version=None):
    try:
        cache.set(key, value, timeout, version=version)
    except Exception as error:
        logger.warning("cache set %s failed: %s", key, error)


def cache_get_or_set(key, default, timeout=None):
    """The cached value, storing `default` (a value or a callable) when missing; None when the
    cache cannot be reached. `timeout=None` keeps the value until evicted."""
    try:
        return cache.get_or_set(key, default, timeout)
    except Exception as error:
        logger.warning("cache get_or_set %s failed: %s", key, error)
        return None


def cache_delete_many(keys, version=None):
    """Delete the keys; False when the cache could not be reached (the caller decides whether
    that eviction must be retried)."""
    keys = list(keys)
    if not keys:
        return True
    try:
        cache.delete_many(keys, version=version)
    except Exception as error:
        logger.warning("cache delete of %d key(s) failed: %s", len(keys), error)
        return False
    return True


def cache_incr(key, initial=1):
    """Increment a counter, creating it when missing; returns None when the cache is down."""
    try:
        if cache.add(key, initial, timeout=None):
            return initial
        return cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache_set(key, initial, timeout=None)
        return initial
    except Exception as error:
        logger.warning("cache incr %s failed: %s", key, error)
        return None


def cache_is_reachable():
    """(ok, detail) after a real set/get round trip, for System Checks."""
    probe_key = "system_check_probe"
    try:
        cache.set(probe_key, "ok", 30)
        if cache.get(probe_key) != "ok":
            return False, "the cache accepted a value but did not return it"
    except Exception as error:
        return False, f"{type(error).__name__}: {error}"
    return True, "set/get round trip succeeded"
