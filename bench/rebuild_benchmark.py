"""Rebuild benchmark (by hand, not a test): one account, N conversions with multi-touch journeys,
all seven model types active, a 30-day window, on MariaDB/MySQL.

Data shaped like Prosper202's: conv_id follows conv_time (conversions are logged as they
arrive), each conversion's journey is 1–10 clicks of its own campaign within the 7 days before it
(5.5 on average, the last one converting), plus unconverted clicks for the Markov fit.

For each size, in its own process (so peak RSS is per size): seed, time `run_rebuild` over the
window, then — right after, in the same process and connection — time a bare multi-row INSERT
of exactly as many snapshot rows and touchpoint rows as the rebuild wrote, into scratch copies of
the two tables, through the rebuild's own writer (`store.insert_rows`: same statement, same
batch size, same value types, one transaction per rebuild chunk). That is the physical limit of
writing those rows from this client; the report gives the rebuild's rows/s as a ratio to it.

    .venv/bin/python bench/rebuild_benchmark.py                      # 25k, 50k, 100k
    .venv/bin/python bench/rebuild_benchmark.py --sizes 2000 --days 3   # quick run
    .venv/bin/python bench/rebuild_benchmark.py --sizes 25000 --profile /tmp/rebuild.prof
Options: --server-url mysql://root@127.0.0.1:3306, --database bench_perf (created if missing;
its tracker tables are emptied and reseeded).
"""
import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
MODEL_TYPES = {
    "last_touch": None, "first_touch": None, "linear": None, "assisted": None,
    "time_decay": '{"half_life_hours": 24}',
    "position_based": '{"first_touch_weight": 0.4, "last_touch_weight": 0.4}',
    "algorithmic": '{"method": "markov"}',
}
START = 1_790_000_000 - 1_790_000_000 % 3600
CAMPAIGNS, LANDING_PAGES, TRAFFIC_SOURCES = 10, 20, 8
MAX_TOUCHES = 10
SEED_ROWS_PER_INSERT = 2000


def setup_django(database_url):
    os.environ["DATABASE_URL"] = database_url
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("SECRET_KEY", "benchmark-only-" + "x" * 50)
    os.environ["CACHE_URL"] = "locmemcache://"
    sys.path.insert(0, str(BASE_DIR))
    os.environ["DJANGO_SETTINGS_MODULE"] = "attribution_site.settings"
    import django

    django.setup()


def insert_many(cursor, table, columns, rows):
    """Seeding only: plain multi-row INSERTs."""
    head = f"INSERT INTO `{table}` ({', '.join(columns)}) VALUES "
    row_sql = "(" + ", ".join(["%s"] * len(columns)) + ")"
    for offset in range(0, len(rows), SEED_ROWS_PER_INSERT):
        batch = rows[offset:offset + SEED_ROWS_PER_INSERT]
        cursor.execute(head + ", ".join([row_sql] * len(batch)), [v for row in batch for v in row])


def seed(conversions, days):
    """Tracker rows for one account; returns the number of stored touches."""
    from django.db import connection, transaction

    from tracker import schema

    schema.install(connection)
    rng = random.Random(202)
    with connection.cursor() as cursor:
        for table in schema.TABLES:
            # TRUNCATE, not DELETE: purging millions of deleted rows from the previous size would
            # run in InnoDB's background during the timed rebuild (it made runs vary 2x).
            cursor.execute(f"TRUNCATE TABLE `{table.name}`")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("INSERT INTO `202_users` (user_id, user_name, user_email) VALUES (1, 'bench', 'b@example.com')")
        cursor.execute("INSERT INTO `202_aff_networks` (aff_network_id, user_id, aff_network_name) VALUES (1, 1, 'N')")
        insert_many(cursor, "202_aff_campaigns",
                    ("aff_campaign_id", "user_id", "aff_network_id", "aff_campaign_name", "aff_campaign_payout"),
                    [(c, 1, 1, f"C{c}", "10.00") for c in range(1, CAMPAIGNS + 1)])
        now = int(time.time())
        insert_many(cursor, "202_attribution_models",
                    ("user_id", "model_name", "model_slug", "model_type", "weighting_config", "is_active",
                     "created_at", "updated_at"),
                    [(1, t, t, t, c, 1, now, now) for t, c in MODEL_TYPES.items()])
    span = days * 86400
    # Conversions are logged as they happen: conv_id grows with conv_time.
    conv_times = sorted(START + rng.randrange(span) for _ in range(conversions))
    click_id, pending_clicks, pending_conversions, pending_touches = 10_000_000, [], [], []
    touch_rows = 0

    def flush():
        with transaction.atomic(), connection.cursor() as cursor:
            insert_many(cursor, "202_clicks",
                        ("click_id", "user_id", "aff_campaign_id", "landing_page_id", "ppc_account_id",
                         "click_cpc", "click_time"), pending_clicks)
            insert_many(cursor, "202_conversion_logs",
                        ("conv_id", "click_id", "campaign_id", "click_payout", "user_id", "click_time",
                         "conv_time", "time_difference", "pixel_type", "user_agent"), pending_conversions)
            insert_many(cursor, "202_conversion_touchpoints",
                        ("conv_id", "click_id", "click_time", "position", "created_at"), pending_touches)
        pending_clicks.clear(), pending_conversions.clear(), pending_touches.clear()

    def click(campaign, click_time):
        nonlocal click_id
        click_id += 1
        cpc = f"0.{rng.randint(5, 95):02d}000"
        pending_clicks.append((click_id, 1, campaign, rng.randint(1, LANDING_PAGES),
                               rng.randint(1, TRAFFIC_SOURCES), cpc, click_time))
        return click_id

    for conv_id, conv_time in enumerate(conv_times, start=1):
        campaign = rng.randint(1, CAMPAIGNS)
        times = sorted(conv_time - rng.randrange(7 * 86400) for _ in range(rng.randint(1, MAX_TOUCHES)))
        touches = [(click(campaign, t), t) for t in times]
        converting_click, converting_time = touches[-1]
        payout = f"{rng.randint(500, 5000) / 100:.5f}"
        pending_conversions.append((conv_id, converting_click, campaign, payout, 1, converting_time,
                                    conv_time, "", 1, "bench"))
        pending_touches.extend((conv_id, c, t, p, 0) for p, (c, t) in enumerate(touches))
        touch_rows += len(touches)
        if rng.random() < 0.5:  # an unconverted click for the Markov fit
            click(campaign, conv_time - rng.randrange(86400))
        if len(pending_conversions) >= 5000:
            flush()
    flush()
    return touch_rows


def bare_insert_seconds(snapshot_rows, credit_rows, transactions):
    """Time a bare multi-row INSERT of the rebuild's row counts through the rebuild's writer."""
    from django.db import connection, transaction

    from attribution import store

    with connection.cursor() as cursor:
        for table in ("bench_bare_snapshots", "bench_bare_touchpoints"):
            cursor.execute(f"DROP TABLE IF EXISTS `{table}`")
        cursor.execute("CREATE TABLE `bench_bare_snapshots` LIKE `202_attribution_snapshots`")
        cursor.execute("CREATE TABLE `bench_bare_touchpoints` LIKE `202_attribution_touchpoints`")
    created_at = int(time.time())

    def snapshots(first, last):  # same value types as the rebuild's snapshot rows
        return [
            (i % 7 + 1, 1, "landing_page", i % 40, START + (i // 280) * 3600, START, START + 86399,
             i % 50, i % 30, Decimal(i % 99_999).scaleb(-4), Decimal(i % 9_999).scaleb(-4), created_at)
            for i in range(first, last)
        ]

    def credits(first, last):  # same value types as the rebuild's touchpoint rows
        return [(i // 40 + 1, i // 5, 10_000_000 + i, i % 10, 0.33333, 0.33333, created_at)
                for i in range(first, last)]

    started, cpu_started = time.perf_counter(), time.process_time()
    for number in range(transactions):
        with transaction.atomic(), connection.cursor() as cursor:
            bounds = [(total * number // transactions, total * (number + 1) // transactions)
                      for total in (snapshot_rows, credit_rows)]
            store.insert_rows(cursor, "bench_bare_snapshots", store.SNAPSHOT_COLUMNS, snapshots(*bounds[0]))
            store.insert_rows(cursor, "bench_bare_touchpoints", store.TOUCH_CREDIT_COLUMNS, credits(*bounds[1]))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE `bench_bare_snapshots`")
        cursor.execute("DROP TABLE `bench_bare_touchpoints`")
    return elapsed, cpu


def run_one(conversions, days, database_url, profile=None):
    setup_django(database_url)
    from django.db import connection

    from attribution.rebuild import run_rebuild
    from tracker.audit import Actor

    touches = seed(conversions, days)
    seeded_rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    load_before = os.getloadavg()[0]
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    started, cpu_started = time.perf_counter(), time.process_time()
    outcome = run_rebuild(start=START, end=START + days * 86400 - 1, user_ids=[1],
                          actor=Actor.cli("benchmark"), out=open(os.devnull, "w"), err=sys.stderr)
    rebuild_seconds = time.perf_counter() - started
    rebuild_cpu_seconds = time.process_time() - cpu_started
    if profiler:
        profiler.disable()
        profiler.dump_stats(profile)
    peak_rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert outcome.exit_code == 0, outcome
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM `202_attribution_snapshots`")
        snapshots = cursor.fetchone()[0]
        cursor.execute("SELECT COUNT(*) FROM `202_attribution_touchpoints`")
        credits = cursor.fetchone()[0]
        cursor.execute("SELECT COUNT(DISTINCT date_hour DIV 86400) FROM `202_attribution_snapshots`")
        days_written = cursor.fetchone()[0]
    rows = snapshots + credits
    bare_seconds, bare_cpu_seconds = bare_insert_seconds(snapshots, credits, max(1, days_written))
    load_after = os.getloadavg()[0]
    return {
        "conversions": conversions, "touches": touches, "models": len(MODEL_TYPES), "days": days,
        "rebuild_seconds": round(rebuild_seconds, 2), "rebuild_client_cpu_seconds": round(rebuild_cpu_seconds, 2),
        "snapshot_rows": snapshots, "credit_rows": credits,
        "conversion_models_per_second": round(conversions * len(MODEL_TYPES) / rebuild_seconds),
        "rows_per_second": round(rows / rebuild_seconds),
        "bare_insert_seconds": round(bare_seconds, 2), "bare_client_cpu_seconds": round(bare_cpu_seconds, 2),
        "bare_rows_per_second": round(rows / bare_seconds),
        "ratio_to_bare_insert": round(bare_seconds / rebuild_seconds, 3),
        "peak_rss_mb": round(peak_rss_kb / 1024, 1),
        "rss_after_seeding_mb": round(seeded_rss_kb / 1024, 1),
        "load_before": round(load_before, 2), "load_after": round(load_after, 2),
    }


def ensure_database(server_url, name):
    from urllib.parse import urlparse

    import MySQLdb

    url = urlparse(server_url)
    server = MySQLdb.connect(host=url.hostname or "127.0.0.1", port=url.port or 3306,
                             user=url.username or "root", password=url.password or "")
    server.cursor().execute(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    server.close()
    return f"{server_url.rstrip('/')}/{name}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="25000,50000,100000", help="Comma-separated conversion counts.")
    parser.add_argument("--days", type=int, default=30, help="Window length in days (default 30).")
    parser.add_argument("--server-url", default="mysql://root@127.0.0.1:3306")
    parser.add_argument("--database", default="bench_perf")
    parser.add_argument("--profile", help="Write cProfile stats of the rebuild (one size) to this file.")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.one:
        print(json.dumps(run_one(options.one, options.days, options.database_url, options.profile)))
        return
    database_url = ensure_database(options.server_url, options.database)
    results = []
    for size in (int(s) for s in options.sizes.split(",")):
        command = [sys.executable, __file__, "--one", str(size), "--days", str(options.days),
                   "--database-url", database_url]
        if options.profile:
            command += ["--profile", options.profile]
        completed = subprocess.run(command, capture_output=True, text=True, check=True)
        results.append(json.loads(completed.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), flush=True)
    print()
    print("| conversions | touches | rebuild s | rows written | conv×models/s | rows/s | bare insert rows/s "
          "| ratio | peak RSS MB | load avg |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['conversions']:,} | {r['touches']:,} | {r['rebuild_seconds']} | "
              f"{r['snapshot_rows'] + r['credit_rows']:,} | {r['conversion_models_per_second']:,} | "
              f"{r['rows_per_second']:,} | {r['bare_rows_per_second']:,} | {r['ratio_to_bare_insert']:.0%} | "
              f"{r['peak_rss_mb']} | {r['load_before']}–{r['load_after']} |")


if __name__ == "__main__":
    main()
