"""`manage.py install_schema [--recommended-indexes]`: create the Prosper202 tables that are
missing (idempotent) and, on request, add the keys large installs should have.

A recommended key is added online (MySQL/MariaDB: ALGORITHM=INPLACE, LOCK=NONE, so trackers
keep writing clicks meanwhile), only when no key on the same columns exists, with progress
lines while the server builds it. Each key added is audited by one `202_attribution_audit` row
with user_id 0, because a schema change belongs to the installation, not to one account
(`schema_change`, with the table, key, statement and duration; the audit log shows it to
superusers, as rows of no visible account).
"""
import threading
import time

from django.core.management.base import BaseCommand
from django.db import connections, transaction

from tracker import audit, schema
from tracker.schema_check import key_columns, key_named

# Seconds between progress lines while a key is built.
PROGRESS_SECONDS = 10
INSTALLATION_ACCOUNT_ID = 0


class Command(BaseCommand):
    help = ("Create every missing 202_* table with Prosper202's DDL (existing tables are untouched); "
            "with --recommended-indexes also add the optional keys for large installs.")

    def add_arguments(self, parser):
        parser.add_argument("--database", default="default", help="Database alias (default: default).")
        parser.add_argument(
            "--recommended-indexes", action="store_true",
            help="Also add KEY attribution_campaign_time (aff_campaign_id, click_time) to 202_clicks, "
                 "online, unless a key on those columns exists (docs/performance.md).",
        )

    def handle(self, *args, **options):
        connection = connections[options["database"]]
        existing = set(connection.introspection.table_names())
        count = schema.install(connection)
        created = [t.name for t in schema.TABLES if t.name not in existing]
        for name in created:
            self.stdout.write(f"Created {name}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Schema installed on {connection.vendor}: {len(created)} table(s) created, "
                f"{count - len(created)} already present."
            )
        )
        if options["recommended_indexes"]:
            for table_name, key in schema.RECOMMENDED_KEYS:
                self.add_key(options["database"], table_name, key)

    def add_key(self, alias, table_name, key):
        columns = ", ".join(key.columns)
        present = key_named(key_columns(table_name, alias), key.columns)
        if present is not None:
            self.stdout.write(f"{table_name}: key {present} ({columns}) already present, nothing to do.")
            return
        connection = connections[alias]
        statement = schema.add_key_statement(connection.vendor, table_name, key)
        self.stdout.write(f"{table_name}: adding key {key.name} ({columns}) online; on a large table this "
                          "takes minutes while reads and writes go on.")
        self.stdout.flush()
        started = time.monotonic()
        with _ProgressLines(self.stdout, alias, connection, started):
            with connection.cursor() as cursor:
                cursor.execute(statement)
        seconds = round(time.monotonic() - started, 1)
        with transaction.atomic():
            audit.record(INSTALLATION_ACCOUNT_ID, "schema_change", audit.Actor.cli(), table=table_name,
                         key=key.name, columns=list(key.columns), statement=statement, seconds=seconds,
                         database=alias)
        self.stdout.write(self.style.SUCCESS(f"{table_name}: key {key.name} added in {seconds} s."))


class _ProgressLines:
    """While the block runs, print every PROGRESS_SECONDS how long the key build has run and,
    on MariaDB, the server's own progress estimate of the ALTER (PROCESSLIST.PROGRESS)."""

    def __init__(self, stdout, alias, connection, started):
        self.stdout, self.alias, self.started = stdout, alias, started
        self.thread_id = _server_thread_id(connection)
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._report, daemon=True)

    def __enter__(self):
        self.thread.start()

    def __exit__(self, *exc_info):
        self.done.set()
        self.thread.join()

    def _report(self):
        try:
            while not self.done.wait(PROGRESS_SECONDS):
                progress = self._server_progress()
                line = f"  ... {time.monotonic() - self.started:.0f} s"
                self.stdout.write(line + ("" if progress is None else f", {progress:.0f}% done per the server"))
                self.stdout.flush()
        finally:
            connections[self.alias].close()  # this thread's own connection

    def _server_progress(self):
        if self.thread_id is None:
            return None
        with connections[self.alias].cursor() as cursor:
            cursor.execute("SELECT PROGRESS FROM INFORMATION_SCHEMA.PROCESSLIST WHERE ID = %s", [self.thread_id])
            row = cursor.fetchone()
        return None if row is None or row[0] is None else float(row[0])


def _server_thread_id(connection):
    """The MariaDB connection id running the ALTER (None elsewhere: no progress estimate)."""
    if connection.vendor != "mysql" or not connection.mysql_is_mariadb:
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT CONNECTION_ID()")
        return cursor.fetchone()[0]
