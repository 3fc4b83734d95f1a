"""`manage.py delete_model_rows [--model ID ...] [--lock-timeout S]`: delete the snapshots and
credit rows that deleted models left behind (SPEC §5.3, System Checks "Snapshot rows of deleted
models"). A deletion normally queues this as a task; the command is for rows it left.

Exit 0 done, 2 bad arguments (nothing deleted), 3 an account's rebuild lock stayed busy.
"""
from django.core.management.base import BaseCommand, CommandError

from attribution import model_rows
from tracker.arguments import InvalidArgument
from tracker.audit import Actor

EXIT_BAD_ARGUMENTS, EXIT_LOCKED = 2, 3


class Command(BaseCommand):
    help = "Delete snapshot and credit rows of deleted attribution models (default: every such model)."

    def add_arguments(self, parser):
        parser.add_argument("--model", action="append", dest="models", default=[], metavar="ID",
                            help="Only this deleted model's rows; repeat for several.")
        parser.add_argument("--lock-timeout", default=0, metavar="SECONDS",
                            help="Wait this long for an account's running rebuild (default 0).")

    def handle(self, *args, **options):
        try:
            deletions = model_rows.delete_leftover_rows(
                model_ids=options["models"], lock_timeout=options["lock_timeout"], actor=Actor.cli(),
            )
        except InvalidArgument as error:
            raise CommandError(str(error), returncode=EXIT_BAD_ARGUMENTS)
        if not deletions:
            self.stdout.write("No snapshot row of a deleted model is left.")
        locked = [deletion for deletion in deletions if deletion.locked]
        for deletion in deletions:
            if deletion.locked:
                self.stderr.write(f"Model {deletion.model_id} (user {deletion.account_id}): skipped, "
                                  "a rebuild holds the account's lock")
            else:
                self.stdout.write(f"Model {deletion.model_id} (user {deletion.account_id}): deleted "
                                  f"{deletion.snapshots} snapshot row(s) and {deletion.credits} credit row(s).")
        if locked:
            raise CommandError(f"{len(locked)} model(s) skipped; rerun with --lock-timeout.", returncode=EXIT_LOCKED)
