"""`manage.py verify_journeys`: check stored journeys against the rules (SPEC §4.3, runbook §3)."""
from django.core.management.base import BaseCommand, CommandError

from journeys import services
from tracker.arguments import InvalidArgument
from tracker.commands import add_repeated_id_argument, add_window_arguments
from tracker.progress import Progress


class Command(BaseCommand):
    help = (
        "Verify stored journeys: positions, converting click, order, touches after the conversion, "
        "staleness and orphans are errors; window, cap and unknown visitor need manual review."
    )

    def add_arguments(self, parser):
        add_window_arguments(parser, "Only conversions with conv_time >= EPOCH.",
                             "Only conversions with conv_time <= EPOCH.")
        add_repeated_id_argument(parser, "--user", "users", "Only this Prosper202 user_id")
        add_repeated_id_argument(parser, "--conv-id", "conv_ids", "Only this conversion")

    def handle(self, *args, **options):
        progress = Progress(self.stdout, label="Verify", unit="conv")
        try:
            report = services.verify_journeys(
                start=options["start"], end=options["end"], user_ids=options["users"],
                conv_ids=options["conv_ids"],
                # A counter on a terminal only: the plain output stays as SPEC §4.3 has it.
                progress=lambda report: progress.update(report.checked, None, (
                    f"{len(report.failing_conv_ids)} with errors, {len(report.review_conv_ids)} needing review"
                )) if progress.on_terminal else None,
            )
        except InvalidArgument as error:
            raise CommandError(str(error), returncode=2)
        finally:
            progress.close()
        failing, review = report.failing_conv_ids, report.review_conv_ids
        for title, conv_ids, attribute in (("Errors", failing, "errors"), ("Needs manual review", review, "warnings")):
            if conv_ids:
                self.stdout.write(f"{title}:")
                for conv_id in conv_ids:
                    for problem in getattr(report.results[conv_id], attribute):
                        self.stdout.write(f"  conv_id {conv_id}: {problem}")
        self.stdout.write(
            f"Verified {report.checked} conversion(s), {report.with_journey} with a stored journey: "
            f"{len(failing)} with errors, {len(review)} needing manual review."
        )
        if report.summary_problems:
            listed = ", ".join(str(problem.conv_id) for problem in report.summary_problems[:10])
            self.stdout.write(
                f"Journey analysis summaries out of date: {len(report.summary_problems)} (e.g. conv_id {listed}); "
                "rebuild their hours (attribution_rebuild --start/--end) to refresh the analysis reports."
            )
        if failing:
            self.stdout.write("Failing conv_ids: " + ", ".join(map(str, failing)))
            raise CommandError(f"{len(failing)} journey(s) failed verification.", returncode=1)
