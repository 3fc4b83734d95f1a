"""`manage.py seed_demo_data [--clicks N] [--seed S]`: a deterministic Prosper202 demo dataset."""
import time

from django.core.management.base import BaseCommand
from django.db import connections, transaction

from attribution import demo_data
from attribution.credit import config_to_column
from attribution.models import AttributionModel, AttributionSetting
from journeys.models import (
    Advertiser,
    Campaign,
    Click,
    ClickAdvance,
    Conversion,
    LandingPage,
    TrafficSourceAccount,
)
from tracker.models import Account
from tracker.utc import MINUTES_PATTERN, utc_text

INSERT_BATCH_SIZE = 1000
# Tables that must be empty: seeding next to real tracker data would mix ids and accounts.
GUARDED_MODELS = (Account, Click, Conversion)
BAD_ARGUMENTS_EXIT = 2


class Command(BaseCommand):
    help = (
        "Create a realistic, deterministic Prosper202 demo dataset (3 accounts, one of them "
        "deleted; advertisers, campaigns, landing pages, traffic-source accounts; clicks over the "
        "14 days ending now; ~2-3% of them converting, with multi-touch visitors, tied click "
        "times, a 30-click visitor hitting the 25-touch cap, soft-deleted conversions, a "
        "conversion whose click row is missing; one attribution model of each type). "
        "Refuses (exit 2) when 202_users, 202_clicks or 202_conversion_logs already hold rows: "
        "it never writes next to real tracker data. It does not build journeys or snapshots; "
        "it prints the commands that do."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--clicks", type=int, default=demo_data.DEFAULT_CLICK_COUNT,
            help=f"Number of clicks (default {demo_data.DEFAULT_CLICK_COUNT}, "
                 f"at least {demo_data.MIN_CLICK_COUNT}).",
        )
        parser.add_argument(
            "--seed", type=int, default=demo_data.DEFAULT_SEED,
            help=f"Random seed; the same seed and --now give the same rows (default {demo_data.DEFAULT_SEED}).",
        )
        parser.add_argument(
            "--now", type=int, default=None,
            help="Epoch the data ends at (default: the current time); fix it to reproduce a dataset.",
        )
        parser.add_argument("--database", default="default", help="Database alias (default: default).")

    def handle(self, *args, **options):
        clicks, seed, now = options["clicks"], options["seed"], options["now"]
        if clicks < demo_data.MIN_CLICK_COUNT:
            return self._refuse(f"--clicks must be at least {demo_data.MIN_CLICK_COUNT}, got {clicks}.")
        if now is not None and now < demo_data.WINDOW_DAYS * demo_data.DAY_SECONDS:
            return self._refuse(f"--now must be an epoch after the first {demo_data.WINDOW_DAYS} days of 1970, got {now}.")
        database = options["database"]
        occupied = [m._meta.db_table for m in GUARDED_MODELS if m.objects.using(database).exists()]
        if occupied:
            return self._refuse(
                f"Refusing to seed: {', '.join(occupied)} already contain rows. seed_demo_data only "
                "writes into an empty Prosper202 schema (use a fresh database)."
            )
        started = time.monotonic()
        dataset = demo_data.generate(clicks, seed, int(time.time()) if now is None else now)
        with transaction.atomic(using=database):
            model_ids = _write(dataset, database)
        self._report(dataset, model_ids, time.monotonic() - started, connections[database].vendor)

    def _refuse(self, message):
        self.stderr.write(message)
        raise SystemExit(BAD_ARGUMENTS_EXIT)

    def _report(self, dataset, model_ids, seconds, vendor):
        features = dataset.features
        live = [a for a in dataset.accounts if not a["user_deleted"]]
        lines = [
            f"Demo data written to {vendor} in {seconds:.1f} s:",
            f"  accounts: {len(dataset.accounts)} ({', '.join(a['user_name'] for a in live)}; "
            f"account {features['deleted_account_id']} is deleted)",
            f"  advertisers: {len(dataset.advertisers)}, campaigns: {len(dataset.campaigns)}, "
            f"landing pages: {len(dataset.landing_pages)}, "
            f"traffic-source accounts: {len(dataset.traffic_sources)}",
            f"  clicks: {len(dataset.clicks)} (visitor rows: {len(dataset.clicks_advance)}), "
            f"{utc_text(features['window_start'], MINUTES_PATTERN)} to {utc_text(features['window_end'], MINUTES_PATTERN)}",
            f"  conversions: {len(dataset.conversions)} "
            f"({features['multi_touch_visitors']} from visitors with several clicks, "
            f"{len(features['deleted_conv_ids'])} soft-deleted)",
            f"  conversion {features['capped_conv_id']}: 30-click visitor, journey beyond the 25-touch cap",
            f"  conversion {features['missing_click_conv_id']}: converting click row missing",
        ]
        if features["unknown_visitor_conv_id"]:
            lines.append(f"  conversion {features['unknown_visitor_conv_id']}: converting click has "
                         "no 202_clicks_advance row (visitor unknown)")
        lines += [
            f"  campaign {features['disabled_campaign_id']}: multi-touch disabled by a campaign setting",
            f"  attribution models: {len(model_ids)} (ids {min(model_ids.values())}-"
            f"{max(model_ids.values())}), scope settings: {len(dataset.settings)}",
            "Journeys and snapshots are not built yet. Next:",
            f"  manage.py backfill_conversion_journeys --start {features['window_start']}",
            f"  manage.py attribution_rebuild --start {features['window_start']} "
            f"--end {features['window_end']}",
        ]
        self.stdout.write("\n".join(lines))


def _write(dataset, database):
    """Insert every row with multi-row INSERTs; returns {(user_id, model_slug): model_id}."""
    def bulk(model, rows):
        model.objects.using(database).bulk_create(
            [model(**row) for row in rows], batch_size=INSERT_BATCH_SIZE
        )

    bulk(Account, dataset.accounts)
    bulk(Advertiser, dataset.advertisers)
    bulk(Campaign, dataset.campaigns)
    bulk(LandingPage, dataset.landing_pages)
    bulk(TrafficSourceAccount, dataset.traffic_sources)
    bulk(Click, dataset.clicks)
    bulk(ClickAdvance, dataset.clicks_advance)
    bulk(Conversion, dataset.conversions)
    for row in dataset.models:
        AttributionModel.objects.using(database).create(
            **{**row, "weighting_config": config_to_column(row["model_type"], row["weighting_config"])}
        )
    model_ids = dict(
        ((user_id, slug), model_id)
        for user_id, slug, model_id in AttributionModel.objects.using(database).values_list(
            "user_id", "model_slug", "model_id"
        )
    )
    bulk(AttributionSetting, [
        {**{k: v for k, v in row.items() if k != "model_slug"},
         "model_id": model_ids[(row["user_id"], row["model_slug"])]}
        for row in dataset.settings
    ])
    return model_ids
