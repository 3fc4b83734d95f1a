"""`manage.py backfill_conversion_journeys`: rebuild journeys for a conversion-time window (SPEC §4.2)."""
from django.core.management.base import BaseCommand, CommandError

from journeys import services
from tracker.audit import Actor
from tracker.utc import utc_text

BAR_WIDTH = 30


class ProgressReport:
    """Progress after each batch: a redrawn bar on a terminal, plain lines otherwise; each new
    failure goes to stderr as `Conversion <conv_id> failed: <reason>`."""

    def __init__(self, stdout, stderr, on_terminal):
        self.stdout, self.stderr, self.on_terminal = stdout, stderr, on_terminal
        self.reported_failures = set()
        self.drawn = False

    def __call__(self, result):
        for conv_id in sorted(set(result.failed) - self.reported_failures):
            self._end_bar()
            self.stderr.write(f"Conversion {conv_id} failed: {result.failed[conv_id]}")
            self.reported_failures.add(conv_id)
        counts = (
            f"{result.conversions} conversions done, {result.rate:.1f} conv/s, "
            f"{len(result.failed)} errors"
        )
        if self.on_terminal:
            span = max(1, result.highest_conv_id - result.first_conv_id + 1)
            fraction = min(1.0, max(0.0, (result.last_conv_id - result.first_conv_id + 1) / span))
            filled = int(fraction * BAR_WIDTH)
            self.stdout.write(f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {fraction:4.0%} {counts}", ending="")
            self.stdout.flush()
            self.drawn = True
        else:
            self.stdout.write(f"Progress: {counts}")

    def _end_bar(self):
        if self.drawn:
            self.stdout.write("")
            self.drawn = False

    def finish(self):
        self._end_bar()


class Command(BaseCommand):
    help = (
        "Rebuild conversion journeys for conversions with conv_time in [--start, --end] "
        "(default: the last lookback window), in keyset batches."
    )

    def add_arguments(self, parser):
        parser.add_argument("--start", metavar="EPOCH", help="First conv_time (default: --end minus the lookback).")
        parser.add_argument("--end", metavar="EPOCH", help="Last conv_time, inclusive (default: now).")
        parser.add_argument("--user", action="append", dest="users", metavar="ID",
                            help="Only this Prosper202 user_id; repeat for several.")
        parser.add_argument("--batch-size", default=services.DEFAULT_BATCH_SIZE, metavar="N",
                            help=f"Conversions per transaction (default {services.DEFAULT_BATCH_SIZE}).")
        parser.add_argument("--dry-run", action="store_true", help="Build journeys but write nothing.")

    def handle(self, *args, **options):
        progress = ProgressReport(self.stdout, self.stderr, self.stdout.isatty())
        try:
            result = services.backfill_journeys(
                start=options["start"], end=options["end"], user_ids=options["users"],
                batch_size=options["batch_size"], dry_run=options["dry_run"],
                actor=Actor.cli(), progress=progress,
            )
        except services.JourneyArgumentError as error:
            raise CommandError(str(error), returncode=2)
        progress.finish()
        for warning in result.warnings:
            self.stderr.write(self.style.WARNING(warning))
        for conv_id in sorted(set(result.failed) - progress.reported_failures):
            self.stderr.write(f"Conversion {conv_id} failed: {result.failed[conv_id]}")
        verb = "would write" if result.dry_run else "wrote"
        self.stdout.write(
            f"{'Dry run: ' if result.dry_run else ''}Backfill complete for conv_time "
            f"{utc_text(result.start)} to {utc_text(result.end)} ({result.start}..{result.end}): "
            f"{result.conversions} conversion(s) in {result.batches} batch(es), {verb} "
            f"{result.written} journey(s) ({result.touch_rows} touchpoint rows), "
            f"skipped {result.skipped_disabled} (multi-touch disabled) and "
            f"{result.skipped_deleted} (deleted), {len(result.failed)} failed, "
            f"{result.elapsed_seconds:.1f} s ({result.rate:.1f} conv/s)."
        )
        if result.failed:
            raise CommandError(f"{len(result.failed)} conversion(s) failed; see the lines above.", returncode=1)
