"""`manage.py install_schema`: create the Prosper202 tables that are missing (idempotent)."""
from django.core.management.base import BaseCommand
from django.db import connections

from tracker import schema


class Command(BaseCommand):
    help = "Create every missing 202_* table with Prosper202's DDL (existing tables are untouched)."

    def add_arguments(self, parser):
        parser.add_argument("--database", default="default", help="Database alias (default: default).")

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
