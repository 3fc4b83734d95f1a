"""Rebuild benchmark (by hand, not a test): one account, N conversions with multi-touch journeys,
all seven model types active, a 30-day window, on MariaDB/MySQL.

Data shaped like Prosper202's: conv_id follows conv_time (conversions are logged as they
arrive), each conversion's journey is 1–10 clicks of its own campaign within the 7 days before it
(5.5 on average, the last one converting), plus unconverted clicks for the Markov fit.

For each size, in its own process: seed, time `run_rebuild` over the window (peak RSS of the
rebuild alone: VmHWM reset before it), then — right after, in the same process — the write
limit of exactly the rows it wrote (snapshots, per-touch credits, journey summaries), one
transaction per day (`bench/write_limit.py`: the best of executemany, formatted multi-row
INSERT and LOAD DATA into scratch copies of the tables). The report gives the rebuild's rows/s
as a ratio to it.

    .venv/bin/python bench/rebuild_benchmark.py                      # 25k, 50k, 100k
    .venv/bin/python bench/rebuild_benchmark.py --sizes 2000 --days 3   # quick run
    .venv/bin/python bench/rebuild_benchmark.py --sizes 25000 --profile /tmp/rebuild.prof
Options: --server-url mysql://root@127.0.0.1:3306, --database bench_perf (created if missing;
its tracker tables are emptied and reseeded), --buffer-pool-mb N (innodb_buffer_pool_size for
the run, restored afterwards).
"""
import argparse
import json
import os
import random
import subprocess
import sys
import time
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
    from django.core.management import call_command
    from django.db import connection, transaction

    from journeys import summary_store
    from tracker import schema

    call_command("migrate", verbosity=0)  # the project's own tables (journey summaries)
    schema.install(connection)
    rng = random.Random(202)
    with connection.cursor() as cursor:
        for table in schema.TABLES:
            # TRUNCATE, not DELETE: purging millions of deleted rows from the previous size would
            # run in InnoDB's background during the timed rebuild (it made runs vary 2x).
            cursor.execute(f"TRUNCATE TABLE `{table.name}`")
        cursor.execute(f"TRUNCATE TABLE `{summary_store.TABLE}`")
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


def written_tables():
    """(table, columns) of everything the rebuild writes: snapshots, per-touch credits and the
    journey summaries of the analysis reports, in the writers' column order."""
    from attribution import store
    from journeys import summary_store

    return [("202_attribution_snapshots", store.SNAPSHOT_COLUMNS),
            ("202_attribution_touchpoints", store.TOUCH_CREDIT_COLUMNS),
            (summary_store.TABLE, summary_store.COLUMNS)]


def written_transactions():
    """The rows the rebuild wrote, one list per table of `written_tables()` for each day of
    date_hour / conv_time (the rebuild's chunks are at most a day)."""
    from django.db import connection

    (snapshots, snapshot_columns), (credits, credit_columns), (summaries, summary_columns) = written_tables()
    days = {}
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(snapshot_columns)} FROM `{snapshots}` ORDER BY snapshot_id")
        for row in cursor.fetchall():
            days.setdefault(row[4] // 86400, ([], [], []))[0].append(row)
        cursor.execute(
            f"SELECT {', '.join('t.' + column for column in credit_columns)}, s.date_hour "
            f"FROM `{credits}` t JOIN `{snapshots}` s ON s.snapshot_id = t.snapshot_id ORDER BY t.touchpoint_id"
        )
        for *row, hour in cursor.fetchall():
            days.setdefault(hour // 86400, ([], [], []))[1].append(tuple(row))
        cursor.execute(f"SELECT {', '.join(summary_columns)} FROM `{summaries}` ORDER BY conv_id")
        for row in cursor.fetchall():
            days.setdefault(row[3] // 86400, ([], [], []))[2].append(row)
    return [days[day] for day in sorted(days)]


def run_one(conversions, days, database_url, profile=None):
    setup_django(database_url)
    from django.conf import settings
    from django.db import connection

    from attribution.rebuild import run_rebuild
    from bench import write_limit
    from tracker.audit import Actor

    touches = seed(conversions, days)
    with connection.cursor() as cursor:
        write_limit.wait_for_quiet_innodb(cursor)
    load_before = write_limit.load_average()
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    write_limit.reset_peak_rss()
    started, cpu_started = time.perf_counter(), time.process_time()
    outcome = run_rebuild(start=START, end=START + days * 86400 - 1, user_ids=[1], actor=Actor.cli("benchmark"))
    rebuild_seconds = time.perf_counter() - started
    rebuild_cpu_seconds = time.process_time() - cpu_started
    peak_rss = write_limit.peak_rss_mb()
    load_after = write_limit.load_average()
    if profiler:
        profiler.disable()
        profiler.dump_stats(profile)
    assert not outcome.failed and not outcome.locked, outcome
    transactions = written_transactions()
    snapshots, credits, summaries = (sum(len(day[i]) for day in transactions) for i in range(3))
    rows = snapshots + credits + summaries
    best = write_limit.measure(settings.DATABASES["default"], written_tables(), transactions)
    per_method, limit = write_limit.rates(best, rows)
    return {
        "conversions": conversions, "touches": touches, "models": len(MODEL_TYPES), "days": days,
        "rebuild_seconds": round(rebuild_seconds, 2), "rebuild_client_cpu_seconds": round(rebuild_cpu_seconds, 2),
        "snapshot_rows": snapshots, "credit_rows": credits, "summary_rows": summaries,
        "conversion_models_per_second": round(conversions * len(MODEL_TYPES) / rebuild_seconds),
        "rows_per_second": round(rows / rebuild_seconds),
        "write_rows_per_second": {method: round(rate) for method, rate in per_method.items()},
        "limit_rows_per_second": round(limit), "ratio_to_limit": round(rows / rebuild_seconds / limit, 3),
        "peak_rss_mb": round(peak_rss, 1),
        "load_before": load_before, "load_after_rebuild": load_after, "load_after_limit": write_limit.load_average(),
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
    parser.add_argument("--buffer-pool-mb", type=int, help="innodb_buffer_pool_size for the run (restored).")
    parser.add_argument("--profile", help="Write cProfile stats of the rebuild (one size) to this file.")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.one:
        print(json.dumps(run_one(options.one, options.days, options.database_url, options.profile)))
        return
    database_url = ensure_database(options.server_url, options.database)
    setup_django(database_url)
    from django.db import connection

    from bench.write_limit import buffer_pool_mb

    with connection.cursor() as cursor:
        previous_pool = buffer_pool_mb(cursor)
        pool = buffer_pool_mb(cursor, options.buffer_pool_mb) if options.buffer_pool_mb else previous_pool
    results = []
    try:
        for size in (int(s) for s in options.sizes.split(",")):
            command = [sys.executable, __file__, "--one", str(size), "--days", str(options.days),
                       "--database-url", database_url]
            if options.profile:
                command += ["--profile", options.profile]
            completed = subprocess.run(command, capture_output=True, text=True)
            if completed.returncode:
                sys.exit(f"The benchmark child failed:\n{completed.stderr}")
            results.append(json.loads(completed.stdout.strip().splitlines()[-1]))
            print(json.dumps(results[-1]), flush=True)
    finally:
        with connection.cursor() as cursor:
            if buffer_pool_mb(cursor) != previous_pool:
                buffer_pool_mb(cursor, previous_pool)
    print()
    print(f"`bench/rebuild_benchmark.py {' '.join(sys.argv[1:])}`, innodb_buffer_pool_size {pool} MiB")
    print()
    print("| conversions | touches | rebuild s | rows written | rows/s | executemany | formatted | LOAD DATA "
          "| limit | ratio | peak RSS MB | load before → after rebuild → after limit |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in results:
        rates = r["write_rows_per_second"]
        cells = [f"{rates[m]:,}" if m in rates else "n/a" for m in ("executemany", "formatted", "load_data")]
        print(f"| {r['conversions']:,} | {r['touches']:,} | {r['rebuild_seconds']} | "
              f"{r['snapshot_rows'] + r['credit_rows'] + r['summary_rows']:,} | {r['rows_per_second']:,} | "
              f"{' | '.join(cells)} | "
              f"{r['limit_rows_per_second']:,} | {r['ratio_to_limit']:.0%} | {r['peak_rss_mb']} | "
              f"{r['load_before']} → {r['load_after_rebuild']} → {r['load_after_limit']} |")


if __name__ == "__main__":
    main()
