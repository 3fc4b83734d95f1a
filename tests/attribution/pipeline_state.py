"""Puts the test database in the state of a healthy pipeline, so a test can break one thing."""
import time
from contextlib import contextmanager
from datetime import timedelta

from django.db import connection
from django.utils import timezone
from django_q.models import Schedule

from attribution.models import CronjobLog
from tracker import schema


def make_pipeline_healthy(now=None):
    """Recent rebuild and export runs, and a minute schedule the cluster is keeping up with."""
    now = now or int(time.time())
    CronjobLog.objects.update_or_create(id=CronjobLog.REBUILD, defaults={"last_execution_time": now - 600})
    CronjobLog.objects.update_or_create(id=CronjobLog.EXPORT, defaults={"last_execution_time": now - 60})
    Schedule.objects.create(
        name="capture journeys", func="journeys.tasks.capture_journeys_task",
        schedule_type=Schedule.MINUTES, minutes=1, repeats=-1,
        next_run=timezone.now() + timedelta(seconds=30),
    )
    return now


def forget_pipeline_state():
    """Committed tests must remove the 202 rows they wrote: flush only empties Django's tables."""
    CronjobLog.objects.filter(id__in=(CronjobLog.REBUILD, CronjobLog.EXPORT)).delete()


@contextmanager
def index_dropped(table_name, key_name):
    """Drop one of Prosper202's keys from the test database, and put it back afterwards."""
    key = next(k for k in schema.TABLES_BY_NAME[table_name].keys if k.name == key_name)
    quote = connection.ops.quote_name
    columns = ", ".join(quote(c) for c in key.columns)
    sqlite_name = quote(f"{table_name}__{key_name}")
    with connection.cursor() as cursor:
        if connection.vendor == "mysql":
            cursor.execute(f"ALTER TABLE {quote(table_name)} DROP KEY {quote(key_name)}")
        else:
            cursor.execute(f"DROP INDEX {sqlite_name}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            if connection.vendor == "mysql":
                cursor.execute(f"ALTER TABLE {quote(table_name)} ADD KEY {quote(key_name)} ({columns})")
            else:
                cursor.execute(f"CREATE INDEX {sqlite_name} ON {quote(table_name)} ({columns})")


