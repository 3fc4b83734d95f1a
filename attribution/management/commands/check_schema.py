"""`manage.py check_schema`: compare the live 202 tables with Prosper202's DDL (SPEC §3.2).

Exit 1 on any error, 0 otherwise (warnings and recommendations are printed).
"""
import sys

from django.core.management.base import BaseCommand
from django.db import connections

from attribution.data_checks import check_schema


class Command(BaseCommand):
    help = "List every difference between the live 202_* tables and Prosper202's schema, and data problems."

    def add_arguments(self, parser):
        parser.add_argument("--database", default="default", help="Database alias (default: default).")

    def handle(self, *args, **options):
        alias = options["database"]
        if alias not in connections:
            self.stderr.write(f"--database: unknown alias {alias!r}; configured: {', '.join(connections)}")
            sys.exit(2)
        report = check_schema(alias)
        for problem in report.errors:
            self.stdout.write(self.style.ERROR(str(problem)))
        for problem in report.warnings:
            self.stdout.write(self.style.WARNING(str(problem)))
        for recommendation in report.recommendations:
            self.stdout.write(f"RECOMMENDATION: {recommendation}")
        summary = (
            f"Schema check on {report.vendor}: {len(report.errors)} error(s), "
            f"{len(report.warnings)} warning(s)."
        )
        if report.errors:
            self.stdout.write(self.style.ERROR(summary))
            sys.exit(1)
        self.stdout.write(self.style.SUCCESS(summary))
