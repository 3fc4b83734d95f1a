"""Journey backfill benchmark (run by hand, not a test).

Generates a Prosper202 dataset in its own database (default 1,000,000 clicks and 100,000
conversions over 60 days, 5 accounts x 20 campaigns), times `backfill_conversion_journeys` over
the whole range, then times a bare multi-row INSERT of the same number of touchpoint rows into
a scratch copy of `202_conversion_touchpoints`. Prints conversions/s, touchpoint rows/s, the
ratio to the bare insert and the peak RSS of the backfill, and writes them to the "Journey
backfill" section of docs/performance.md (targets: >= 60% of the bare insert rate, < 300 MB).

Usage (MariaDB/MySQL; the database is created if missing and its 202 tables are WIPED, so its
name must contain "bench"):

    DEBUG=1 DATABASE_URL=mysql://root@127.0.0.1:3306/bench \\
        .venv/bin/python bench/backfill_benchmark.py
    # quick check at a smaller scale, without touching the docs:
    DEBUG=1 DATABASE_URL=mysql://root@127.0.0.1:3306/bench \\
        .venv/bin/python bench/backfill_benchmark.py --clicks 50000 --conversions 5000 --no-docs
"""
import argparse
import io
import os
import random
import re
import resource
import sys
import time
from array import array
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "attribution_site.settings")

DAY = 86_400
END = 1_790_000_000  # fixed so every run builds the same dataset
INSERT_CHUNK_ROWS = 5000
DOCS = ROOT / "docs" / "performance.md"
SECTION = "## Journey backfill"


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clicks", type=int, default=1_000_000)
    parser.add_argument("--conversions", type=int, default=100_000)
    parser.add_argument("--accounts", type=int, default=5)
    parser.add_argument("--campaigns-per-account", type=int, default=20)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--seed", type=int, default=202)
    parser.add_argument("--no-docs", action="store_true", help="Print only; leave docs/performance.md alone.")
    arguments = parser.parse_args()
    if arguments.conversions > arguments.clicks:
        parser.error("--conversions must not exceed --clicks")
    return arguments


def ensure_database():
    """Create the benchmark database when it is missing (MySQL/MariaDB)."""
    import environ

    config = environ.Env.db_url_config(os.environ.get("DATABASE_URL", ""))
    if not config["ENGINE"].endswith("mysql"):
        sys.exit("The benchmark runs on MySQL/MariaDB: set DATABASE_URL=mysql://.../bench")
    if "bench" not in config["NAME"]:
        sys.exit(f"Refusing to wipe database {config['NAME']!r}: its name must contain 'bench'.")
    import MySQLdb

    server = MySQLdb.connect(
        host=config.get("HOST") or "127.0.0.1", port=int(config.get("PORT") or 3306),
        user=config.get("USER") or "root", password=config.get("PASSWORD") or "", autocommit=True,
    )
    server.cursor().execute(
        f"CREATE DATABASE IF NOT EXISTS `{config['NAME']}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
    )
    server.close()


def insert_rows(cursor, table, columns, rows):
    """Multi-row INSERTs (mysqlclient turns executemany into INSERT ... VALUES (...), (...))."""
    sql = f"INSERT INTO `{table}` ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
    chunk = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == INSERT_CHUNK_ROWS:
            cursor.executemany(sql, chunk)
            chunk = []
    if chunk:
        cursor.executemany(sql, chunk)


def generate(connection, arguments):
    """Write accounts, campaigns, clicks (chronological ids) and conversions; returns the window."""
    rng = random.Random(arguments.seed)
    start = END - arguments.days * DAY
    campaign_count = arguments.accounts * arguments.campaigns_per_account
    with connection.cursor() as cursor:
        cursor.execute("SET unique_checks = 0")
        insert_rows(cursor, "202_users", ["user_id", "user_name", "user_email"],
                    ((n, f"bench{n}", f"bench{n}@example.com") for n in range(1, arguments.accounts + 1)))
        insert_rows(cursor, "202_aff_networks", ["aff_network_id", "user_id", "aff_network_name"],
                    ((n, n, f"Network {n}") for n in range(1, arguments.accounts + 1)))
        owner = {c: (c - 1) // arguments.campaigns_per_account + 1 for c in range(1, campaign_count + 1)}
        insert_rows(
            cursor, "202_aff_campaigns",
            ["aff_campaign_id", "user_id", "aff_network_id", "aff_campaign_name", "aff_campaign_payout"],
            ((c, owner[c], owner[c], f"Campaign {c}", "10.00") for c in owner),
        )
        times = array("q", sorted(rng.randrange(start, END) for _ in range(arguments.clicks)))
        campaigns = array("l", (rng.randint(1, campaign_count) for _ in range(arguments.clicks)))
        insert_rows(
            cursor, "202_clicks",
            ["click_id", "user_id", "aff_campaign_id", "ppc_account_id", "click_cpc", "click_time"],
            ((i + 1, owner[campaigns[i]], campaigns[i], 0, "0.10000", times[i]) for i in range(arguments.clicks)),
        )
        converting = rng.sample(range(arguments.clicks), arguments.conversions)
        conversions = sorted((min(END, times[i] + rng.randrange(0, 2 * DAY)), i) for i in converting)
        insert_rows(
            cursor, "202_conversion_logs",
            ["conv_id", "click_id", "campaign_id", "click_payout", "user_id", "click_time", "conv_time",
             "time_difference", "pixel_type", "user_agent"],
            (
                (n + 1, i + 1, campaigns[i], "10.00000", owner[campaigns[i]], times[i], conv_time, "", 1, "bench")
                for n, (conv_time, i) in enumerate(conversions)
            ),
        )
        cursor.execute("SET unique_checks = 1")
    return 0, END


def wipe(connection):
    from journeys import schema

    with connection.cursor() as cursor:
        for table in schema.TABLES:
            cursor.execute(f"TRUNCATE TABLE `{table.name}`")
        cursor.execute("DROP TABLE IF EXISTS `bench_scratch_touchpoints`")


def bare_insert(connection, row_count, rows_per_transaction):
    """Seconds to INSERT row_count touchpoint-shaped rows into a scratch copy of the table."""
    from django.db import transaction

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE `bench_scratch_touchpoints` LIKE `202_conversion_touchpoints`")
    began = time.perf_counter()
    done = 0
    while done < row_count:
        size = min(rows_per_transaction, row_count - done)
        with transaction.atomic(), connection.cursor() as cursor:
            insert_rows(
                cursor, "bench_scratch_touchpoints", ["conv_id", "click_id", "click_time", "position", "created_at"],
                (((done + n) // 25 + 1, done + n + 1, END - n, n % 25, END) for n in range(size)),
            )
        done += size
    return time.perf_counter() - began


def update_docs(text):
    """Replace (or append) the Journey backfill section of docs/performance.md."""
    current = DOCS.read_text() if DOCS.exists() else "# Performance\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(current):
        updated = pattern.sub(lambda _: text + "\n", current)
    else:
        updated = current.rstrip("\n") + "\n\n" + text + "\n"
    DOCS.parent.mkdir(exist_ok=True)
    DOCS.write_text(updated)


def main():
    arguments = parse_arguments()
    ensure_database()
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("install_schema", stdout=io.StringIO())
    wipe(connection)
    began = time.perf_counter()
    start, end = generate(connection, arguments)
    generated_seconds = time.perf_counter() - began
    print(f"Generated {arguments.clicks} clicks and {arguments.conversions} conversions in {generated_seconds:.1f} s")

    output = io.StringIO()
    began = time.perf_counter()
    call_command("backfill_conversion_journeys", f"--start={start}", f"--end={end}",
                 f"--batch-size={arguments.batch_size}", stdout=output, stderr=sys.stderr)
    backfill_seconds = time.perf_counter() - began
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(output.getvalue().splitlines()[-1])
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*), COUNT(DISTINCT conv_id) FROM `202_conversion_touchpoints`")
        touch_rows, journeys = cursor.fetchone()

    average_touches = touch_rows / max(1, journeys)
    bare_seconds = bare_insert(connection, touch_rows, int(arguments.batch_size * average_touches))
    conversions_per_second = arguments.conversions / backfill_seconds
    rows_per_second = touch_rows / backfill_seconds
    bare_rows_per_second = touch_rows / bare_seconds
    ratio = rows_per_second / bare_rows_per_second
    with connection.cursor() as cursor:
        cursor.execute("SELECT VERSION()")
        server_version = cursor.fetchone()[0]
        cursor.execute("DROP TABLE `bench_scratch_touchpoints`")

    verdict_rate = "met" if ratio >= 0.6 else "NOT met"
    verdict_rss = "met" if peak_rss_mb < 300 else "NOT met"
    report = "\n".join([
        SECTION,
        "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d} by `bench/backfill_benchmark.py` on "
        f"{connection.vendor} {server_version} (`--clicks {arguments.clicks} --conversions "
        f"{arguments.conversions} --accounts {arguments.accounts} --campaigns-per-account "
        f"{arguments.campaigns_per_account} --days {arguments.days} --batch-size {arguments.batch_size}`), "
        "30-day lookback, 25-touch cap, campaign match.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| backfill wall time | {backfill_seconds:.1f} s |",
        f"| conversions/s | {conversions_per_second:,.0f} |",
        f"| touchpoint rows written | {touch_rows:,} ({average_touches:.1f} per journey) |",
        f"| touchpoint rows/s (backfill) | {rows_per_second:,.0f} |",
        f"| touchpoint rows/s (bare multi-row INSERT, same rows) | {bare_rows_per_second:,.0f} |",
        f"| ratio to the bare insert | {ratio:.0%} (target >= 60%: {verdict_rate}) |",
        f"| peak RSS of the backfill process | {peak_rss_mb:.0f} MB (target < 300 MB: {verdict_rss}) |",
        "",
        "How it stays fast and bounded: conversions are read by keyset on conv_id, 500 per",
        "transaction; candidate clicks are read once per account of a batch (the (user_id,",
        "click_time) index is the only time index Prosper202 guarantees), newest first in slices",
        "growing up to 2,000 rows, and a campaign leaves the read once every conversion of it holds",
        "its 25 most recent clicks, so a 30-day window costs about the batch's own time span rather",
        "than 30 days of clicks; each batch is one DELETE ... IN (...) and multi-row INSERTs.",
        "Rerun: see the docstring of `bench/backfill_benchmark.py`.",
    ])
    print()
    print(report)
    if not arguments.no_docs:
        update_docs(report)
        print(f"\nWritten to {DOCS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
