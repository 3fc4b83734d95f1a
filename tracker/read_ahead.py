"""Read the next unit of work on a second connection while the caller writes this one.

A backfill batch and a rebuild chunk each read (and compute), then write in one transaction. On
MySQL/MariaDB the server works on its own cores: while it inserts one unit it can already serve
the reads of the next, so long runs come close to the write limit instead of alternating
(docs/performance.md). The reads happen on a reader thread, and Django gives that thread
connections of its own, which it closes when the iteration ends.

Only outside an outer transaction: the reader's connection could not see that transaction's
uncommitted rows. Elsewhere (SQLite, whose single file and writer gain nothing, or inside a
transaction) the items are produced in turn, on the caller's thread.
"""
from concurrent.futures import ThreadPoolExecutor

from django.db import connections, transaction

_END = object()


def can_read_ahead(using="default"):
    connection = transaction.get_connection(using)
    return connection.vendor == "mysql" and not connection.in_atomic_block


def read_ahead(items, *, name, using="default"):
    """Iterate `items` (an iterator doing its reads when advanced) one item ahead, advancing it
    on a reader thread named `name`. An exception raised while producing an item is raised
    here, in the caller's thread, when that item is due."""
    if not can_read_ahead(using):
        yield from items
        return
    items = iter(items)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=name) as reader:
        try:
            pending = reader.submit(next, items, _END)
            while (item := pending.result()) is not _END:
                pending = reader.submit(next, items, _END)
                yield item
        finally:
            # The reader thread's connections, closed by the thread that opened them (after the
            # item it may still be producing).
            reader.submit(connections.close_all).result()
