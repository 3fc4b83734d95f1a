"""`manage.py attribution_rebuild`: rebuild hourly snapshots and per-touch credits (SPEC §6).

Renders the engine's outcome: a line per user and model, skipped models and failures on stderr,
the final summary line, and the exit code (0 ok, 1 a user failed, 2 bad arguments, 3 a user's
lock stayed busy).
"""
import sys

from django.core.management.base import BaseCommand

from attribution import rebuild, services
from tracker.arguments import InvalidArgument
from tracker.audit import Actor
from tracker.commands import add_repeated_id_argument, add_window_arguments
from tracker.progress import Progress
from tracker.utc import iso

EXIT_OK, EXIT_FAILED, EXIT_BAD_ARGUMENTS, EXIT_LOCKED = 0, 1, 2, 3


def model_line(summary):
    return (
        f"User {summary.account_id}: model {summary.model_id} {summary.model_name!r} ({summary.model_type}): "
        f"{summary.conversions} conversion(s), {summary.clicks} credited click(s), "
        f"{summary.hours_processed} hour(s) with conversions, revenue {summary.revenue:.4f}, "
        f"cost {summary.cost:.4f}, {summary.duration_ms} ms"
    )


class Command(BaseCommand):
    help = (
        "Rebuild attribution snapshots and per-touch credits for whole hours "
        "(default: the last 24 hours, every active model of every user). "
        "Exit 0 ok, 1 a user failed, 2 bad arguments, 3 a user's lock was busy."
    )

    def add_arguments(self, parser):
        add_window_arguments(parser, "Window start (default: --end minus 24 h).", "Window end (default: now).")
        add_repeated_id_argument(parser, "--user", "users", "Only this Prosper202 user_id")
        add_repeated_id_argument(parser, "--model", "models", "Only this model id (inactive ones too)")
        parser.add_argument("--force", action="store_true",
                            help="Run a scheduled run even if its hour is already recorded.")
        parser.add_argument("--lock-timeout", default="0", metavar="SECONDS",
                            help="Wait this long for a user's lock before skipping it (default 0).")
        parser.add_argument("--async", action="store_true", dest="run_async",
                            help="Enqueue one django-q2 task per user (as one group) and return.")
        parser.add_argument("--dry-run", action="store_true",
                            help="Print the users, models, hours and conversions a run would cover; write nothing.")

    def handle(self, *args, **options):
        try:
            exit_code = self._rebuild(options)
        except InvalidArgument as error:
            self.stderr.write(str(error))
            sys.exit(EXIT_BAD_ARGUMENTS)
        if exit_code:
            sys.exit(exit_code)

    def _rebuild(self, options):
        arguments = {
            "start": options["start"], "end": options["end"], "user_ids": options["users"] or (),
            "model_ids": options["models"] or (),
        }
        actor = Actor.cli()
        if options["run_async"]:
            work = services.enqueue_rebuilds(**arguments, actor=actor)
            self.stdout.write(f"Enqueued {len(work.task_ids)} rebuild task(s) in group {work.group_id}")
            return EXIT_OK
        progress = Progress(self.stdout, label="Rebuild", unit="chunk")
        outcome = rebuild.run_rebuild(
            **arguments, force=options["force"], lock_timeout=options["lock_timeout"],
            dry_run=options["dry_run"], actor=actor,
            progress=lambda account_id, done, total: progress.update(
                done, total, f"user {account_id}: chunk {done}/{total} committed"
            ) if progress.on_terminal else None,
        )
        progress.close()
        return self._render(outcome)

    def _render(self, outcome):
        if outcome.already_ran:
            self.stdout.write(
                f"Scheduled rebuild for the hour {iso(outcome.window.end_hour)} already ran; "
                "nothing to do (use --force to run it again)."
            )
            return EXIT_OK
        for user in outcome.users:
            for skipped in user.skipped_models:
                self.stderr.write(f"User {user.account_id}: model {skipped.model_id} skipped: {skipped.reason}")
            if user.status == rebuild.DELETED:
                self.stderr.write(f"User {user.account_id}: skipped, the Prosper202 user is deleted")
            elif user.status == rebuild.FAILED:
                self.stderr.write(f"User {user.account_id}: {user.error}")
            elif user.status == rebuild.LOCKED:
                self.stderr.write(
                    f"User {user.account_id}: skipped, another rebuild holds its lock "
                    f"(waited {user.lock_timeout} s; see --lock-timeout)"
                )
            elif user.status == rebuild.PLANNED:
                models = ", ".join(f"{model_id} {name!r} ({kind})" for model_id, name, kind in user.planned_models)
                self.stdout.write(
                    f"User {user.account_id}: would rebuild model(s) {models or 'none'}: "
                    f"{user.conversions} conversion(s) in {user.hours_with_conversions} hour(s)"
                )
            elif not user.models:
                self.stdout.write(f"User {user.account_id}: no valid models to rebuild")
            for summary in user.models:
                self.stdout.write(model_line(summary))
        if outcome.dry_run:
            self.stdout.write(
                f"Dry run: nothing written. The rebuild would cover {outcome.window.iso_start} to "
                f"{outcome.window.iso_end} for {len(outcome.planned)} user(s)."
            )
            return EXIT_OK
        self.stdout.write(outcome.summary)
        if outcome.failed:
            return EXIT_FAILED
        return EXIT_LOCKED if outcome.locked else EXIT_OK
