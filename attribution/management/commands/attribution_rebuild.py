"""`manage.py attribution_rebuild`: rebuild hourly snapshots and per-touch credits (SPEC §6)."""
import getpass
import sys

from django.core.management.base import BaseCommand

from attribution.rebuild import EXIT_BAD_ARGUMENTS, RebuildArgumentError, run_rebuild
from tracker.audit import Actor


def _whole_number(argument, value):
    try:
        return int(value, 10)
    except ValueError:
        raise RebuildArgumentError(f"{argument}: {value!r} is not a whole number")


class Command(BaseCommand):
    help = (
        "Rebuild attribution snapshots and per-touch credits for whole hours "
        "(default: the last 24 hours, every active model of every user). "
        "Exit 0 ok, 1 a user failed, 2 bad arguments, 3 a user's lock was busy."
    )

    def add_arguments(self, parser):
        parser.add_argument("--start", metavar="EPOCH", help="Window start (default: --end minus 24 h).")
        parser.add_argument("--end", metavar="EPOCH", help="Window end (default: now).")
        parser.add_argument("--user", action="append", dest="users", default=[], metavar="ID",
                            help="Only this Prosper202 user_id; repeat for several.")
        parser.add_argument("--model", action="append", dest="models", default=[], metavar="ID",
                            help="Only this model id (inactive ones too); repeat for several.")
        parser.add_argument("--force", action="store_true",
                            help="Run a scheduled run even if its hour is already recorded.")
        parser.add_argument("--lock-timeout", default="0", metavar="SECONDS",
                            help="Wait this long for a user's lock before skipping it (default 0).")
        parser.add_argument("--async", action="store_true", dest="run_async",
                            help="Enqueue one django-q2 task per user (as one group) and return.")

    def handle(self, *args, **options):
        try:
            self._rebuild(options)
        except RebuildArgumentError as error:
            self.stderr.write(str(error))
            sys.exit(EXIT_BAD_ARGUMENTS)

    def _rebuild(self, options):
        start = None if options["start"] is None else _whole_number("--start", options["start"])
        end = None if options["end"] is None else _whole_number("--end", options["end"])
        user_ids = [_whole_number("--user", value) for value in options["users"]]
        model_ids = [_whole_number("--model", value) for value in options["models"]]
        lock_timeout = _whole_number("--lock-timeout", options["lock_timeout"])
        if options["run_async"]:
            from attribution.tasks import enqueue_account_rebuilds

            group, task_ids = enqueue_account_rebuilds(
                start=start, end=end, user_ids=user_ids, model_ids=model_ids,
                lock_timeout=lock_timeout, username=getpass.getuser(),
            )
            self.stdout.write(f"Enqueued {len(task_ids)} rebuild task(s) in group {group}")
            return
        outcome = run_rebuild(
            start=start, end=end, user_ids=user_ids, model_ids=model_ids, force=options["force"],
            lock_timeout=lock_timeout, actor=Actor.cli(getpass.getuser()),
            out=self.stdout, err=self.stderr,
        )
        if outcome.exit_code:
            sys.exit(outcome.exit_code)
