"""`manage.py capture_journeys`: capture journeys of conversions above the watermark (SPEC §4.2)."""
from django.core.management.base import BaseCommand, CommandError

from journeys import services
from tracker.arguments import InvalidArgument
from tracker.audit import Actor


class Command(BaseCommand):
    help = "Capture journeys of new conversions (conv_id above the stored watermark), in conv_id order."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", default=services.DEFAULT_BATCH_SIZE, metavar="N",
                            help=f"Conversions per transaction (default {services.DEFAULT_BATCH_SIZE}).")

    def handle(self, *args, **options):
        try:
            result = services.capture_new_conversions(actor=Actor.cli(), batch_size=options["batch_size"])
        except InvalidArgument as error:
            raise CommandError(str(error), returncode=2)
        if result.first_run:
            self.stdout.write(
                f"First capture run: watermark set to conv_id {result.watermark_after}, the current "
                "highest; older conversions are not captured (use backfill_conversion_journeys for history)."
            )
            return
        for conv_id, reason in sorted(result.failed.items()):
            self.stderr.write(f"Conversion {conv_id} failed: {reason}")
        self.stdout.write(
            f"Captured {result.conversions} new conversion(s) after conv_id {result.watermark_before}: "
            f"{result.written} journey(s) written ({result.touch_rows} touchpoint rows), "
            f"{result.skipped_disabled} skipped (multi-touch disabled), "
            f"{result.skipped_deleted} skipped (deleted). Watermark: conv_id {result.watermark_after}."
        )
        if result.late_written:
            self.stdout.write(
                f"Late commits: {result.late_written} journey(s) written for conversions that became visible "
                f"after a higher conv_id was captured (re-scanned above conv_id {result.rescan_floor})."
            )
        if result.failed:
            raise CommandError(
                f"{len(result.failed)} conversion(s) failed; the watermark stays at conv_id "
                f"{result.watermark_after} and the next run retries them.",
                returncode=1,
            )
