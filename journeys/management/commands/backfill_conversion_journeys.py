"""`manage.py backfill_conversion_journeys`: rebuild journeys for a conversion-time window (SPEC §4.2).

Exit 0 all good, 1 some conversions failed, 2 bad arguments (nothing written).
"""
from django.core.management.base import BaseCommand, CommandError

from journeys import services
from tracker.arguments import InvalidArgument
from tracker.audit import Actor
from tracker.commands import add_repeated_id_argument, add_window_arguments
from tracker.progress import Progress
from tracker.utc import utc_text


class BackfillProgress:
    """After each batch: a tqdm bar on a terminal (over the conv_id range), plain lines
    otherwise; each new failure on stderr as `Conversion <conv_id> failed: <reason>`."""

    def __init__(self, command):
        self.command = command
        self.progress = Progress(command.stdout, label="Backfill", unit="conv_id")
        self.reported = set()

    def __call__(self, result):
        for conv_id in sorted(set(result.failed) - self.reported):
            self.progress.note(f"Conversion {conv_id} failed: {result.failed[conv_id]}", self.command.stderr)
            self.reported.add(conv_id)
        span = max(1, result.highest_conv_id - result.first_conv_id + 1)
        done = min(span, max(0, result.last_conv_id - result.first_conv_id + 1))
        self.progress.update(done, span, (
            f"{result.conversions} conversions done, {result.rate:.1f} conv/s, {len(result.failed)} errors"
        ))

    def close(self):
        self.progress.close()


class Command(BaseCommand):
    help = (
        "Rebuild conversion journeys for conversions with conv_time in [--start, --end] "
        "(default: the last lookback window), in keyset batches; --async queues it for the "
        "django-q2 workers as per-user time slices."
    )

    def add_arguments(self, parser):
        add_window_arguments(parser, "First conv_time (default: --end minus the lookback).",
                             "Last conv_time, inclusive (default: now).")
        add_repeated_id_argument(parser, "--user", "users", "Only this Prosper202 user_id")
        parser.add_argument("--batch-size", default=services.DEFAULT_BATCH_SIZE, metavar="N",
                            help=f"Conversions per transaction (default {services.DEFAULT_BATCH_SIZE}).")
        parser.add_argument("--dry-run", action="store_true", help="Build journeys but write nothing.")
        parser.add_argument("--async", action="store_true", dest="run_async",
                            help="Queue per-user time slices as one django-q2 group, print its id and return.")
        parser.add_argument("--slice-hours", default=services.DEFAULT_SLICE_HOURS, metavar="N",
                            help=f"With --async: hours per slice (default {services.DEFAULT_SLICE_HOURS}).")

    def handle(self, *args, **options):
        try:
            if options["run_async"]:
                return self._enqueue(options)
            progress = BackfillProgress(self)
            try:
                result = services.backfill_journeys(
                    start=options["start"], end=options["end"], user_ids=options["users"],
                    batch_size=options["batch_size"], dry_run=options["dry_run"],
                    actor=Actor.cli(), progress=progress,
                )
            finally:
                progress.close()
        except InvalidArgument as error:
            raise CommandError(str(error), returncode=2)
        for warning in result.warnings:
            self.stderr.write(self.style.WARNING(warning))
        for conv_id in sorted(set(result.failed) - progress.reported):
            self.stderr.write(f"Conversion {conv_id} failed: {result.failed[conv_id]}")
        verb = "would write" if result.dry_run else "wrote"
        self.stdout.write(
            f"{'Dry run: ' if result.dry_run else ''}Backfill complete for conv_time "
            f"{utc_text(result.start)} to {utc_text(result.end)} ({result.start}..{result.end}): "
            f"{result.conversions} conversion(s) in {result.batches} batch(es), {verb} "
            f"{result.written} journey(s) ({result.touch_rows} touchpoint rows), {result.capped} beyond the "
            f"{services.JourneyRules.from_settings().max_touches}-touch cap (converting click added), "
            f"skipped {result.skipped_disabled} (multi-touch disabled) and "
            f"{result.skipped_deleted} (deleted), {len(result.failed)} failed, "
            f"{result.elapsed_seconds:.1f} s ({result.rate:.1f} conv/s)."
        )
        if result.failed:
            raise CommandError(f"{len(result.failed)} conversion(s) failed; see the lines above.", returncode=1)

    def _enqueue(self, options):
        if options["dry_run"]:
            raise InvalidArgument("--dry-run", True, "cannot be combined with --async")
        work, slices, warnings = services.enqueue_backfill(
            start=options["start"], end=options["end"], user_ids=options["users"],
            batch_size=options["batch_size"], slice_hours=options["slice_hours"], actor=Actor.cli(),
        )
        for warning in warnings:
            self.stderr.write(self.style.WARNING(warning))
        self.stdout.write(
            f"Queued {len(work.task_ids)} backfill slice(s) covering {sum(s.conversions for s in slices)} "
            f"conversion(s) of {len(work.account_ids)} user(s) as group {work.group_id}"
        )
