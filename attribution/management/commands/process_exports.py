"""`manage.py process_exports`: one export worker pass, for cron or a manual run (SPEC §7)."""
from django.core.management.base import BaseCommand, CommandError

from attribution.exports.jobs import process_pending_exports


class Command(BaseCommand):
    help = "Claim and process pending attribution exports one at a time, then stamp cron log id 3."

    def add_arguments(self, parser):
        parser.add_argument("--max-jobs", type=int, default=None,
                            help="Stop after this many exports (default: every pending one).")

    def handle(self, *args, max_jobs, **options):
        if max_jobs is not None and max_jobs < 1:
            raise CommandError(f"--max-jobs must be at least 1, got {max_jobs}", returncode=2)
        result = process_pending_exports(max_jobs=max_jobs)
        self.stdout.write(
            f"Exports processed: {result.completed} completed, {result.failed} failed, "
            f"{result.claimed_elsewhere} taken by another worker, {result.requeued_stale} stale re-queued."
        )
        if result.failed:
            raise CommandError(f"{result.failed} export(s) failed; see last_error in the export admin.", returncode=1)
