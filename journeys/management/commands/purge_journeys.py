"""`manage.py purge_journeys`: delete stored journeys of selected conversions (SPEC §4.4)."""
import sys

from django.core.management.base import BaseCommand, CommandError

from journeys import services
from tracker.arguments import InvalidArgument
from tracker.audit import Actor
from tracker.commands import add_repeated_id_argument, add_window_arguments
from tracker.progress import Progress


class Command(BaseCommand):
    help = (
        "Delete touchpoint rows of the selected conversions: --conv-id ... | --user ... [--start] "
        "[--end] [--campaign] | --disabled-scopes | --orphans. Reports rows deleted."
    )

    def add_arguments(self, parser):
        add_repeated_id_argument(parser, "--conv-id", "conv_ids", "This conversion")
        add_repeated_id_argument(parser, "--user", "users", "Conversions of this Prosper202 user_id")
        add_window_arguments(parser, "With --user: conv_time >= EPOCH.", "With --user: conv_time <= EPOCH.")
        parser.add_argument("--campaign", metavar="ID", help="With --user: only this campaign.")
        parser.add_argument("--disabled-scopes", action="store_true",
                            help="Conversions whose effective multi-touch setting is disabled.")
        parser.add_argument("--orphans", action="store_true",
                            help="Touchpoints of soft-deleted or missing conversions.")
        parser.add_argument("--yes", action="store_true", help="Do not ask for confirmation.")
        parser.add_argument("--dry-run", action="store_true", help="Count the rows, delete nothing.")

    def handle(self, *args, **options):
        selection = {
            "conv_ids": options["conv_ids"], "user_ids": options["users"], "start": options["start"],
            "end": options["end"], "campaign_id": options["campaign"],
            "disabled_scopes": options["disabled_scopes"], "orphans": options["orphans"],
        }
        actor = Actor.cli()
        try:
            selection = services.check_purge_selection(**selection)
            if not options["yes"] and not options["dry_run"]:
                if not sys.stdin.isatty():
                    raise CommandError(
                        "Refusing to purge without --yes: stdin is not a terminal "
                        "(add --yes to confirm, or --dry-run to count the rows).",
                        returncode=2,
                    )
                preview = self._purge(selection, dry_run=True, actor=actor)
                answer = input(
                    f"Delete {preview.rows_deleted} touchpoint row(s) of {preview.conversions} "
                    "conversion(s)? [y/N] "
                )
                if answer.strip().lower() not in ("y", "yes"):
                    self.stdout.write("Purge cancelled; nothing deleted.")
                    return
            result = self._purge(selection, dry_run=options["dry_run"], actor=actor)
        except InvalidArgument as error:
            raise CommandError(str(error), returncode=2)
        if result.dry_run:
            self.stdout.write(
                f"Dry run: would delete {result.rows_deleted} touchpoint row(s) of {result.conversions} conversion(s)."
            )
        else:
            self.stdout.write(f"Deleted {result.rows_deleted} touchpoint row(s) of {result.conversions} conversion(s).")

    def _purge(self, selection, *, dry_run, actor):
        """The purge, with a counter of conversions and rows on a terminal (plain output stays
        as SPEC §4.4 has it)."""
        progress = Progress(self.stdout, label="Dry run" if dry_run else "Purge", unit="conv")
        verb = "to delete" if dry_run else "deleted"
        try:
            return services.purge_journeys(
                **selection, dry_run=dry_run, actor=actor,
                progress=lambda result: progress.update(
                    result.conversions, None, f"{result.rows_deleted} touchpoint rows {verb}"
                ) if progress.on_terminal else None,
            )
        finally:
            progress.close()
