"""Rebuild benchmark (by hand, not a test): one account, N conversions with multi-touch journeys,
all seven model types active, a 30-day window, on MariaDB/MySQL.

For each size it seeds a scratch database with multi-row INSERTs, times `run_rebuild`, then times
a bare multi-row INSERT of as many rows as the rebuild wrote (snapshots + touchpoints) into a
scratch table, and reports conversions×models/s, rows/s, the ratio to the bare insert, and the
peak RSS of the process (each size runs in its own process so the peaks are separate).

    .venv/bin/python bench/rebuild_benchmark.py                      # 25k, 50k, 100k
    .venv/bin/python bench/rebuild_benchmark.py --sizes 2000 --days 3   # quick run
Options: --server-url mysql://root@127.0.0.1:3306 (database h_rebuild_bench is created/reset).
"""
import argparse
import json
import os
import random
import resource
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
ROWS_PER_INSERT = 1000


def setup_django(database_url):
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DEBUG", "0")
    os.environ.setdefault("SECRET_KEY", "benchmark-only-" + "x" * 50)
    os.environ["CACHE_URL"] = "locmemcache://"
    sys.path.insert(0, str(BASE_DIR))
    os.environ["DJANGO_SETTINGS_MODULE"] = "attribution_site.settings"
    import django

    django.setup()


def insert_many(cursor, table, columns, rows):
    head = f"INSERT INTO `{table}` ({', '.join(columns)}) VALUES "
    row_sql = "(" + ", ".join(["%s"] * len(columns)) + ")"
    for offset in range(0, len(rows), ROWS_PER_INSERT):
        batch = rows[offset:offset + ROWS_PER_INSERT]
        cursor.execute(head + ", ".join([row_sql] * len(batch)), [v for row in batch for v in row])


def seed(conversions, days):
    """Tracker rows for one account: conversions spread over `days`, journeys of 1-6 touches."""
    from django.db import connection, transaction

    from journeys import schema

    schema.install(connection)
    rng = random.Random(202)
    with transaction.atomic(), connection.cursor() as cursor:
        for table in schema.TABLES:
            cursor.execute(f"DELETE FROM `{table.name}`")
        cursor.execute("INSERT INTO `202_users` (user_id, user_name, user_email) VALUES (1, 'bench', 'b@example.com')")
        cursor.execute("INSERT INTO `202_aff_networks` (aff_network_id, user_id, aff_network_name) VALUES (1, 1, 'N')")
        insert_many(cursor, "202_aff_campaigns",
                    ("aff_campaign_id", "user_id", "aff_network_id", "aff_campaign_name", "aff_campaign_payout"),
                    [(c, 1, 1, f"C{c}", "10.00") for c in range(1, 11)])
        now = int(time.time())
        insert_many(cursor, "202_attribution_models",
                    ("user_id", "model_name", "model_slug", "model_type", "weighting_config", "is_active",
                     "created_at", "updated_at"),
                    [(1, t, t, t, c, 1, now, now) for t, c in MODEL_TYPES.items()])
    span = days * 86400
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

    for conv_id in range(1, conversions + 1):
        conv_time = START + rng.randrange(span)
        campaign = rng.randint(1, 10)
        touches = []
        for position in range(rng.randint(1, 6)):
            click_id += 1
            click_time = conv_time - rng.randrange(7 * 86400)
            touches.append((click_id, click_time))
            pending_clicks.append((click_id, 1, campaign, rng.randint(1, 20), rng.randint(1, 8), "0.25000", click_time))
        touches.sort(key=lambda t: (t[1], t[0]))
        converting = touches[-1]
        pending_conversions.append((conv_id, converting[0], campaign, "12.50000", 1, converting[1], conv_time, "", 1, "bench"))
        pending_touches.extend((conv_id, c, t, p, 0) for p, (c, t) in enumerate(touches))
        touch_rows += len(touches)
        if rng.random() < 0.5:  # an unconverted click for the Markov fit
            click_id += 1
            pending_clicks.append((click_id, 1, campaign, rng.randint(1, 20), rng.randint(1, 8), "0.25000",
                                   START + rng.randrange(span)))
        if len(pending_conversions) >= 5000:
            flush()
    flush()
    return touch_rows


def bare_insert_seconds(rows):
    """Time a bare multi-row INSERT of `rows` touchpoint-shaped rows into a scratch table."""
    from django.db import connection, transaction

    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS `bench_bare_insert`")
        cursor.execute("CREATE TABLE `bench_bare_insert` LIKE `202_attribution_touchpoints`")
    values = [(i // 4 + 1, i, 10_000_000 + i, i % 6, "0.33333", "0.33333", 0) for i in range(rows)]
    started = time.perf_counter()
    for offset in range(0, rows, 24_000):  # about one rebuild chunk per transaction
        with transaction.atomic(), connection.cursor() as cursor:
            insert_many(cursor, "bench_bare_insert",
                        ("snapshot_id", "conv_id", "click_id", "position", "credit", "weight", "created_at"),
                        values[offset:offset + 24_000])
    elapsed = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE `bench_bare_insert`")
    return elapsed


def run_one(conversions, days, database_url):
    setup_django(database_url)
    from django.db import connection

    from attribution.audit import Actor
    from attribution.rebuild import run_rebuild

    seed(conversions, days)
    seeded_rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    outcome = run_rebuild(start=START, end=START + days * 86400 - 1, user_ids=[1],
                          actor=Actor.cli("benchmark"), out=open(os.devnull, "w"), err=sys.stderr)
    rebuild_seconds = time.perf_counter() - started
    peak_rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert outcome.exit_code == 0, outcome
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM `202_attribution_snapshots`")
        snapshots = cursor.fetchone()[0]
        cursor.execute("SELECT COUNT(*) FROM `202_attribution_touchpoints`")
        credits = cursor.fetchone()[0]
    rows = snapshots + credits
    bare_seconds = bare_insert_seconds(rows)
    return {
        "conversions": conversions, "models": len(MODEL_TYPES), "days": days,
        "rebuild_seconds": round(rebuild_seconds, 2), "snapshot_rows": snapshots, "credit_rows": credits,
        "conversion_models_per_second": round(conversions * len(MODEL_TYPES) / rebuild_seconds),
        "rows_per_second": round(rows / rebuild_seconds),
        "bare_insert_seconds": round(bare_seconds, 2),
        "bare_rows_per_second": round(rows / bare_seconds),
        "ratio_to_bare_insert": round(bare_seconds / rebuild_seconds, 3),
        "peak_rss_mb": round(peak_rss_kb / 1024, 1),
        "rss_after_seeding_mb": round(seeded_rss_kb / 1024, 1),
    }


def ensure_database(server_url, name):
    import MySQLdb
    from urllib.parse import urlparse

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
    parser.add_argument("--database", default="h_rebuild_bench")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.one:
        print(json.dumps(run_one(options.one, options.days, options.database_url)))
        return
    database_url = ensure_database(options.server_url, options.database)
    results = []
    for size in (int(s) for s in options.sizes.split(",")):
        completed = subprocess.run(
            [sys.executable, __file__, "--one", str(size), "--days", str(options.days),
             "--database-url", database_url],
            capture_output=True, text=True, check=True,
        )
        results.append(json.loads(completed.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), flush=True)
    print()
    print("| conversions | models | rebuild s | rows written | conv×models/s | rows/s | bare insert rows/s | ratio | peak RSS MB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['conversions']:,} | {r['models']} | {r['rebuild_seconds']} | "
              f"{r['snapshot_rows'] + r['credit_rows']:,} | {r['conversion_models_per_second']:,} | "
              f"{r['rows_per_second']:,} | {r['bare_rows_per_second']:,} | {r['ratio_to_bare_insert']:.0%} | "
              f"{r['peak_rss_mb']} |")


if __name__ == "__main__":
    main()
