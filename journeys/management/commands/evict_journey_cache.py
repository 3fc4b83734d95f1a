"""`manage.py evict_journey_cache`: evict cached journeys by hand (SPEC §4.5, runbook §3.3)."""
from django.core.management.base import BaseCommand, CommandError

from journeys import cache
from tracker.arguments import InvalidArgument
from tracker.commands import add_repeated_id_argument, add_window_arguments


class Command(BaseCommand):
    help = (
        "Evict cached journeys after a hand-made SQL change: --conv-id ID ... | --user ID ... "
        "[--start EPOCH] [--end EPOCH] | --all. Exit 1 when the cache was unreachable (the "
        "evictions are queued and retried), 2 on bad arguments."
    )

    def add_arguments(self, parser):
        add_repeated_id_argument(parser, "--conv-id", "conv_ids", "This conversion's journey")
        add_repeated_id_argument(parser, "--user", "users", "Journeys of this Prosper202 user_id's conversions")
        add_window_arguments(parser, "With --user: conv_time >= EPOCH.", "With --user: conv_time <= EPOCH.")
        parser.add_argument("--all", action="store_true", dest="everything",
                            help="Every journey key, at once (bumps the key namespace).")

    def handle(self, *args, **options):
        try:
            outcome = cache.evict_selection(
                conv_ids=options["conv_ids"], user_ids=options["users"],
                start=options["start"], end=options["end"], everything=options["everything"],
            )
        except InvalidArgument as error:
            raise CommandError(str(error), returncode=2)
        for warning in outcome.warnings:
            self.stderr.write(warning)
        if outcome.everything:
            if not outcome.queued:
                self.stdout.write("Evicted every journey cache key (namespace bumped).")
        else:
            self.stdout.write(f"Evicted {outcome.evicted} journey cache key(s).")
        if outcome.queued:
            raise CommandError(
                "The cache could not be reached: "
                + ("evicting every journey" if outcome.everything else f"{outcome.queued} key(s)")
                + " queued for retry (System Checks shows pending evictions).",
                returncode=1,
            )
