"""Journey analysis benchmark (SPEC §7.1; by hand, not a test): 100,000 conversions with a
mean of ~12 touches over 30 days, on MariaDB/MySQL.

Seeds one account (8 traffic sources, 10 campaigns, 20 landing pages), conv_id growing with
conv_time as Prosper202 logs them; each journey has 1–22 touches (uniform) or, for 5%, the
capped 26; 4% of the conversions have no stored journey and 1% of the clicks have no
`202_clicks` row. Then times the reading of the window through `journeys.source` and each of
the four reports over the 30-day window, each in a fresh process (peak RSS per report).

    .venv/bin/python bench/analysis_benchmark.py                       # 100k, seeds first
    .venv/bin/python bench/analysis_benchmark.py --conversions 5000    # quick run
    .venv/bin/python bench/analysis_benchmark.py --no-seed             # reuse the seeded data
Options: --server-url mysql://root@127.0.0.1:3306, --database bench_analysis (created if
missing; its 202 tables are TRUNCATEd and reseeded, so the name must contain "bench").
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
DAY = 86_400
START = 1_790_000_000 - 1_790_000_000 % DAY
DAYS = 30
TRAFFIC_SOURCES, CAMPAIGNS, LANDING_PAGES = 8, 10, 20
SEED_ROWS_PER_INSERT = 2000
FLUSH_CONVERSIONS = 5000


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


def touch_count(rng):
    return 26 if rng.random() < 0.05 else rng.randint(1, 22)


def seed(conversions):
    """The tracker rows of one account; returns (stored touches, conversions without journey)."""
    from django.core.management import call_command
    from django.db import connection, transaction

    from tracker import schema

    call_command("migrate", verbosity=0)  # the journey summary table is ours
    schema.install(connection)
    rng = random.Random(712)
    with connection.cursor() as cursor:
        for table in schema.TABLES:
            cursor.execute(f"TRUNCATE TABLE `{table.name}`")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("INSERT INTO `202_users` (user_id, user_name, user_email) VALUES (1, 'bench', 'b@example.com')")
        cursor.execute("INSERT INTO `202_aff_networks` (aff_network_id, user_id, aff_network_name) VALUES (1, 1, 'N')")
        insert_many(cursor, "202_aff_campaigns",
                    ("aff_campaign_id", "user_id", "aff_network_id", "aff_campaign_name", "aff_campaign_payout"),
                    [(c, 1, 1, f"Campaign {c}", "10.00") for c in range(1, CAMPAIGNS + 1)])
        insert_many(cursor, "202_landing_pages",
                    ("landing_page_id", "user_id", "aff_campaign_id", "landing_page_nickname", "landing_page_url"),
                    [(p, 1, p % CAMPAIGNS + 1, f"Lander {p}", f"https://example.com/{p}")
                     for p in range(1, LANDING_PAGES + 1)])
        insert_many(cursor, "202_ppc_accounts",
                    ("ppc_account_id", "user_id", "ppc_network_id", "ppc_account_name"),
                    [(s, 1, 1, f"Source {s}") for s in range(1, TRAFFIC_SOURCES + 1)])
    conv_times = sorted(START + rng.randrange(DAYS * DAY) for _ in range(conversions))
    click_id = 10_000_000
    clicks, logs, touchpoints = [], [], []
    stored_touches = without_journey = 0

    def flush():
        with transaction.atomic(), connection.cursor() as cursor:
            insert_many(cursor, "202_clicks",
                        ("click_id", "user_id", "aff_campaign_id", "landing_page_id", "ppc_account_id",
                         "click_cpc", "click_time"), clicks)
            insert_many(cursor, "202_conversion_logs",
                        ("conv_id", "click_id", "campaign_id", "click_payout", "user_id", "click_time",
                         "conv_time", "time_difference", "pixel_type", "user_agent"), logs)
            insert_many(cursor, "202_conversion_touchpoints",
                        ("conv_id", "click_id", "click_time", "position", "created_at"), touchpoints)
        clicks.clear(), logs.clear(), touchpoints.clear()

    for conv_id, conv_time in enumerate(conv_times, start=1):
        campaign = rng.randint(1, CAMPAIGNS)
        # A visitor comes back through a few favourite sources: paths repeat channels.
        sources = rng.sample(range(1, TRAFFIC_SOURCES + 1), rng.randint(1, 3))
        times = sorted(conv_time - rng.randrange(40 * DAY) // rng.randint(1, 8) for _ in range(touch_count(rng)))
        journey = []
        for click_time in times:
            click_id += 1
            journey.append((click_id, click_time))
            if rng.random() >= 0.01:  # 1%: the click row is missing
                clicks.append((click_id, 1, campaign, rng.randint(1, LANDING_PAGES), rng.choice(sources),
                               "0.10000", click_time))
        converting_click, converting_time = journey[-1]
        logs.append((conv_id, converting_click, campaign, f"{rng.randint(500, 5000) / 100:.5f}", 1,
                     converting_time, conv_time, "", 1, "bench"))
        if rng.random() < 0.04:
            without_journey += 1
        else:
            touchpoints.extend((conv_id, c, t, p, 0) for p, (c, t) in enumerate(journey))
            stored_touches += len(journey)
        if len(logs) >= FLUSH_CONVERSIONS:
            flush()
    flush()
    return stored_touches, without_journey


def _peak_rss_mb():
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def run_read(database_url):
    """Time one pass of journeys.source over the window (the floor of any source-based report)."""
    setup_django(database_url)
    from django.conf import settings

    from journeys import source

    started, cpu_started = time.perf_counter(), time.process_time()
    conversions = touches = 0
    for batch in source.journey_batches(start=START, end=START + DAYS * DAY - 1, account_ids=[1],
                                        using=settings.HEAVY_READ_DATABASE):
        conversions += len(batch)
        touches += sum(len(record.journey.touches) for record in batch)
    return {
        "what": "journeys.source pass", "conversions": conversions, "touches": touches,
        "seconds": round(time.perf_counter() - started, 2),
        "client_cpu_seconds": round(time.process_time() - cpu_started, 2), "peak_rss_mb": _peak_rss_mb(),
    }


def run_summarise(database_url):
    """Write the summaries as the rebuild does: per account and day, from the JourneyRecords
    read through journeys.source, in the transaction of that day. Times the summary work only
    (ChunkSummaries.add and .replace), not the journey reads the rebuild does anyway."""
    setup_django(database_url)
    from django.db import transaction

    from journeys import source, summary_store

    summary_seconds, written = 0.0, 0
    for day in range(DAYS):
        chunk = summary_store.ChunkSummaries(1, START + day * DAY, START + (day + 1) * DAY - 1)
        for records in source.journey_batches(start=chunk.start, end=chunk.end, account_ids=[1]):
            started = time.perf_counter()
            chunk.add(records)
            summary_seconds += time.perf_counter() - started
        started = time.perf_counter()
        with transaction.atomic():
            written += chunk.replace()
        summary_seconds += time.perf_counter() - started
    return {"what": "summaries written", "rows": written, "seconds": round(summary_seconds, 2)}


def run_report(database_url, report, channel, collapse_repeats):
    """Time one report over the whole window, as the API runs it."""
    setup_django(database_url)
    from attribution import analysis_reader
    from tracker.models import Account

    user = type("Superuser", (), {"is_superuser": True, "is_authenticated": True, "is_active": True})()
    assert Account.objects.filter(user_id=1).exists()
    load_before = os.getloadavg()[0]
    started, cpu_started = time.perf_counter(), time.process_time()
    scope = analysis_reader.resolve_scope(user)
    result = analysis_reader.run_report(report, scope, start_hour=START, end_hour=START + DAYS * DAY - 3600, limit=50,
                                        channel=channel, collapse_repeats=collapse_repeats)
    return {
        "report": report, "channel": channel, "collapse": collapse_repeats, "conversions": result.conversions,
        "rows": result.total_rows, "seconds": round(time.perf_counter() - started, 3),
        "client_cpu_seconds": round(time.process_time() - cpu_started, 3), "peak_rss_mb": _peak_rss_mb(),
        "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2),
    }


def ensure_database(server_url, name):
    from urllib.parse import urlparse

    import MySQLdb

    if "bench" not in name:
        raise SystemExit(f"--database {name!r}: the name must contain 'bench' (its 202 tables are wiped)")
    url = urlparse(server_url)
    server = MySQLdb.connect(host=url.hostname or "127.0.0.1", port=url.port or 3306,
                             user=url.username or "root", password=url.password or "")
    server.cursor().execute(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    server.close()
    return f"{server_url.rstrip('/')}/{name}"


def in_subprocess(*arguments):
    completed = subprocess.run([sys.executable, __file__, *arguments], capture_output=True, text=True)
    if completed.returncode:
        raise SystemExit(completed.stderr)
    return json.loads(completed.stdout.strip().splitlines()[-1])


REPORT_RUNS = (
    ("paths", "account", False), ("paths", "account", True), ("paths", "landing_page", False),
    ("path-length", "account", False), ("time-lag", "account", False), ("assists", "account", False),
    ("assists", "landing_page", False),
)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversions", type=int, default=100_000)
    parser.add_argument("--server-url", default="mysql://root@127.0.0.1:3306")
    parser.add_argument("--database", default="bench_analysis")
    parser.add_argument("--no-seed", action="store_true", help="Reuse the data (and summaries) of a previous run.")
    parser.add_argument("--no-source-pass", action="store_true", help="Skip timing the journeys.source pass.")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--report", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.step == "seed":
        setup_django(options.database_url)
        stored, without = seed(options.conversions)
        print(json.dumps({"stored_touches": stored, "without_journey": without}))
        return
    if options.step == "read":
        print(json.dumps(run_read(options.database_url)))
        return
    if options.step == "summarise":
        print(json.dumps(run_summarise(options.database_url)))
        return
    if options.report:
        report, channel, collapse_repeats = options.report
        print(json.dumps(run_report(options.database_url, report, channel, collapse_repeats == "1")))
        return
    database_url = ensure_database(options.server_url, options.database)
    if not options.no_seed:
        started = time.perf_counter()
        seeded = in_subprocess("--step", "seed", "--conversions", str(options.conversions),
                               "--database-url", database_url)
        print(json.dumps({**seeded, "seed_seconds": round(time.perf_counter() - started, 1)}), flush=True)
        print(json.dumps(in_subprocess("--step", "summarise", "--database-url", database_url)), flush=True)
    if not options.no_source_pass:
        print(json.dumps(in_subprocess("--step", "read", "--database-url", database_url)), flush=True)
    results = []
    for report, channel, collapse_repeats in REPORT_RUNS:
        results.append(in_subprocess("--report", report, channel, "1" if collapse_repeats else "0",
                                     "--database-url", database_url))
        print(json.dumps(results[-1]), flush=True)
    print()
    print("| report | channel | collapse | conversions | rows | seconds | client CPU s | peak RSS MB | load avg |")
    print("|---|---|---|---:|---:|---:|---:|---:|---|")
    for r in results:
        print(f"| {r['report']} | {r['channel']} | {'yes' if r['collapse'] else 'no'} | {r['conversions']:,} | "
              f"{r['rows']:,} | {r['seconds']} | {r['client_cpu_seconds']} | {r['peak_rss_mb']} | "
              f"{r['load_before']}–{r['load_after']} |")


if __name__ == "__main__":
    main()
