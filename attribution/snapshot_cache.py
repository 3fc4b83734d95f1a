"""Versioned cache keys for snapshot reads: a rebuild bumps the account's version after commit,
which retires every cached report of that account at once without listing keys."""
from django.db import transaction

from tracker.cache import cache_get, cache_incr


def _version_key(account_id):
    return f"attribution_snapshot_version_{account_id}"


def snapshot_cache_key(account_id, *parts):
    """A cache key for one report of one account, valid until its next rebuild."""
    version = cache_get(_version_key(account_id), 0)
    return "attribution_snapshots_{}_v{}_{}".format(account_id, version, "_".join(map(str, parts)))


def invalidate_snapshots_on_commit(account_id):
    """Retire the account's cached snapshot reads once the current transaction commits."""
    transaction.on_commit(lambda: cache_incr(_version_key(account_id)))
