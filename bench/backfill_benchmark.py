"""Journey backfill benchmark (run by hand, not a test): the backfill against the write limit.

Generates a Prosper202 dataset in its own database (see `generate`), then for each variant of
the optional key (`--index without|with|both`) runs, in a child process, the
`backfill_conversion_journeys` command over the whole range and, right after in the same
process, the write limit of exactly the rows it wrote, in the same transactions
(`bench/write_limit.py`: the best of executemany, formatted multi-row INSERT and LOAD DATA).
Prints per variant: backfill seconds, touchpoint rows/s, each write method's rows/s, the ratio
to the limit, the child's peak RSS during the backfill and the load average before and after.

Usage (MariaDB/MySQL; the database is created when missing and its 202 tables are WIPED, so its
name must contain "bench"). The machine is shared: check `uptime` first.

    DATABASE_URL=mysql://root@127.0.0.1:3306/bench_backfill_200k \\
        .venv/bin/python bench/backfill_benchmark.py --clicks 200000 --conversions 20000
    DATABASE_URL=mysql://root@127.0.0.1:3306/bench_backfill_1m \\
        .venv/bin/python bench/backfill_benchmark.py --buffer-pool-mb 2048 --reuse
    # where the time goes (store functions timed in the child) or a cProfile of the backfill:
    ... bench/backfill_benchmark.py --reuse --index without --phases
    ... bench/backfill_benchmark.py --reuse --index without --profile /tmp/backfill.prof

`--buffer-pool-mb N` sets `innodb_buffer_pool_size` for the run (SET GLOBAL) and restores the
previous size afterwards. `--reuse` keeps the data of a previous run with the same arguments.
"""
import argparse
import bisect
import functools
import io
import itertools
import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench import write_limit  # noqa: E402

write_limit.use_benchmark_settings()

DAY = 86_400
END = 1_790_000_000  # fixed so every run builds the same dataset
SEED_ROWS_PER_INSERT = 5000
DATA_ARGUMENTS = ("clicks", "conversions", "accounts", "campaigns_per_account", "days", "seed",
                  "duplicates", "differing_duplicates")
TOUCH_COLUMNS = ("conv_id", "click_id", "click_time", "position", "created_at")


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clicks", type=int, default=1_000_000)
    parser.add_argument("--conversions", type=int, default=100_000)
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--campaigns-per-account", type=int, default=None,
                        help="Default: one campaign per 12.5 clicks (4,000 per account at 1M clicks).")
    parser.add_argument("--days", type=int, default=45)
    parser.add_argument("--seed", type=int, default=202)
    parser.add_argument("--duplicates", type=float, default=0.002,
                        help="Share of clicks replayed as an identical second row (default 0.2%%).")
    parser.add_argument("--differing-duplicates", type=float, default=0.0002,
                        help="Share of clicks with a second row at a later time (default 0.02%%).")
    parser.add_argument("--batch-size", type=int, default=None, help="Default: the command's default.")
    parser.add_argument("--index", choices=("without", "with", "both"), default="both",
                        help="Run without the optional attribution_campaign_time key, with it, or both.")
    parser.add_argument("--buffer-pool-mb", type=int, help="innodb_buffer_pool_size for the run (restored).")
    parser.add_argument("--reuse", action="store_true", help="Keep the data of a run with the same arguments.")
    parser.add_argument("--phases", action="store_true", help="Time the store functions of the backfill.")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the backfill into FILE.")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.campaigns_per_account is None:
        arguments.campaigns_per_account = max(1, round(arguments.clicks / 12.5 / arguments.accounts))
    if arguments.conversions > arguments.clicks // 3:
        parser.error("--conversions must not exceed a third of --clicks")
    return arguments


def insert_rows(cursor, table, columns, rows):
    """Seeding only: multi-row INSERTs (mysqlclient turns executemany into them)."""
    from tracker.sql import chunks

    statement = f"INSERT INTO `{table}` ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
    for chunk in chunks(rows, SEED_ROWS_PER_INSERT):
        cursor.executemany(statement, chunk)


def generate(connection, arguments):
    """Write accounts, campaigns, visitors' clicks (chronological ids) and conversions.

    Campaign popularity is log-normal (sigma 1); a visitor clicks one campaign 1 + Exp(mean 1.5)
    times (about 2 clicks on average), a day apart on average; conversions are a random sample
    of visitors, each on the visitor's last click, 0-2 days after it. With one campaign per
    12.5 clicks this gives journeys of about 12 touches on average, a median near 10 and about
    a fifth at the 25-touch cap (campaign match). Replays: `--duplicates` of the clicks get an
    identical second row and `--differing-duplicates` a second row up to a day later, both
    inserted after all other clicks, as a tracker replaying them would.
    """
    rng = random.Random(arguments.seed)
    start = END - arguments.days * DAY
    campaign_count = arguments.accounts * arguments.campaigns_per_account
    owner = [0] + [(c - 1) // arguments.campaigns_per_account + 1 for c in range(1, campaign_count + 1)]
    weights = list(itertools.accumulate(rng.lognormvariate(0, 1.0) for _ in range(campaign_count)))
    clicks = []  # (click_time, campaign_id, visitor)
    visitors = 0
    while len(clicks) < arguments.clicks:
        campaign_id = bisect.bisect(weights, rng.random() * weights[-1]) + 1
        count = min(1 + int(rng.expovariate(1 / 1.5)), arguments.clicks - len(clicks))
        click_time = rng.randrange(start, END)
        visitors += 1
        for _ in range(count):
            clicks.append((min(click_time, END - 1), campaign_id, visitors))
            click_time += int(rng.expovariate(1 / DAY))
    clicks.sort()
    last_click = {}
    for index, (_, _, visitor) in enumerate(clicks):
        last_click[visitor] = index
    converting = rng.sample(range(1, visitors + 1), arguments.conversions)
    conversions = sorted(
        (min(END, clicks[last_click[v]][0] + rng.randrange(0, 2 * DAY)), last_click[v]) for v in converting
    )
    del last_click
    replays = [
        (i, t if rng.random() * (arguments.duplicates + arguments.differing_duplicates) < arguments.duplicates
         else t + rng.randrange(1, DAY), c)
        for i, (t, c, _) in enumerate(clicks)
        if rng.random() < arguments.duplicates + arguments.differing_duplicates
    ]
    click_columns = ["click_id", "user_id", "aff_campaign_id", "ppc_account_id", "click_cpc", "click_time"]
    with connection.cursor() as cursor:
        cursor.execute("SET unique_checks = 0")
        insert_rows(cursor, "202_users", ["user_id", "user_name", "user_email"],
                    ((n, f"bench{n}", f"bench{n}@example.com") for n in range(1, arguments.accounts + 1)))
        insert_rows(cursor, "202_aff_networks", ["aff_network_id", "user_id", "aff_network_name"],
                    ((n, n, f"Network {n}") for n in range(1, arguments.accounts + 1)))
        insert_rows(
            cursor, "202_aff_campaigns",
            ["aff_campaign_id", "user_id", "aff_network_id", "aff_campaign_name", "aff_campaign_payout"],
            ((c, owner[c], owner[c], f"Campaign {c}", "10.00") for c in range(1, campaign_count + 1)),
        )
        insert_rows(cursor, "202_clicks", click_columns,
                    ((i + 1, owner[c], c, 0, "0.10000", t) for i, (t, c, _) in enumerate(clicks)))
        insert_rows(cursor, "202_clicks", click_columns,
                    ((i + 1, owner[c], c, 0, "0.10000", t) for i, t, c in replays))
        insert_rows(cursor, "202_clicks_advance", ["click_id", "ip_id"],
                    ((i + 1, v) for i, (_, _, v) in enumerate(clicks)))
        insert_rows(
            cursor, "202_conversion_logs",
            ["conv_id", "click_id", "campaign_id", "click_payout", "user_id", "click_time", "conv_time",
             "time_difference", "pixel_type", "user_agent"],
            (
                (n + 1, i + 1, clicks[i][1], "10.00000", owner[clicks[i][1]], clicks[i][0], conv_time, "", 1, "bench")
                for n, (conv_time, i) in enumerate(conversions)
            ),
        )
        cursor.execute("SET unique_checks = 1")
        cursor.execute("ANALYZE TABLE `202_clicks`, `202_clicks_advance`, `202_conversion_logs`")
        cursor.fetchall()
    return len(replays)


def prepare_data(connection, arguments):
    """Generate the dataset unless --reuse finds one made with the same data arguments."""
    from django.core.management import call_command

    from tracker import schema

    wanted = json.dumps({name: getattr(arguments, name) for name in DATA_ARGUMENTS}, sort_keys=True)
    call_command("install_schema", stdout=io.StringIO())
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_meta (dataset TEXT NOT NULL)")
        cursor.execute("SELECT dataset FROM bench_meta")
        found = cursor.fetchone()
        if arguments.reuse and found and found[0] == wanted:
            print("Reusing the dataset of a previous run")
            return
        cursor.execute("DELETE FROM bench_meta")
        for table in schema.TABLES:
            cursor.execute(f"TRUNCATE TABLE `{table.name}`")
    began = time.perf_counter()
    replays = generate(connection, arguments)
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_meta (dataset) VALUES (%s)", [wanted])
    print(f"Generated {arguments.clicks:,} clicks (+{replays:,} replayed rows) and {arguments.conversions:,}"
          f" conversions in {time.perf_counter() - began:.1f} s")


def set_optional_key(connection, present):
    from django.core.management import call_command

    from tracker import schema
    from tracker.schema_check import key_columns

    name = schema.CAMPAIGN_TIME_KEY.name
    if present:
        call_command("install_schema", "--recommended-indexes", stdout=io.StringIO())
    elif name in key_columns("202_clicks"):
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE `202_clicks` DROP KEY `{name}`")


# --- the child: one backfill and the write limit of its rows ----------------------------------------

def timed_store_functions():
    """Wrap the store functions a backfill calls with wall-clock timers (--phases)."""
    from journeys import services, store

    timers, calls = Counter(), Counter()

    def wrap(owner, name):
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args, **kwargs):
            began = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                timers[name] += time.perf_counter() - began
                calls[name] += 1
        setattr(owner, name, timed)

    for name in ("conversion_batch", "setting_rows", "collect_candidates", "replace_journeys"):
        wrap(store, name)
    for name in ("_estimate", "_campaigns_are_cheaper", "_read_whole_campaigns", "_rows", "_feed"):
        wrap(store._ClickRead, name)
    for name in ("_not_exact", "_exact_candidates"):
        wrap(store, name)
    wrap(services, "build_journey")
    return timers, calls


def written_transactions(connection, batch_size):
    """The touchpoint rows the backfill wrote, grouped as its transactions were (batch_size
    conversions each, in conv_id order)."""
    batches, current, conversions, previous = [], [], 0, None
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(TOUCH_COLUMNS)} FROM `202_conversion_touchpoints` ORDER BY conv_id, position")
        for row in cursor.fetchall():
            if row[0] != previous:
                previous = row[0]
                if conversions == batch_size:
                    batches.append(current)
                    current, conversions = [], 0
                conversions += 1
            current.append(row)
    if current:
        batches.append(current)
    return batches


def journey_lengths(connection):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n, COUNT(*) FROM (SELECT COUNT(*) AS n FROM `202_conversion_touchpoints`"
            " GROUP BY conv_id) AS journeys GROUP BY n ORDER BY n"
        )
        return dict(cursor.fetchall())


def percentile(lengths, fraction):
    total, seen = sum(lengths.values()), 0
    for touches, count in sorted(lengths.items()):
        seen += count
        if seen >= fraction * total:
            return touches
    return 0


def run_child(arguments):
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from journeys import services

    batch_size = arguments.batch_size or services.DEFAULT_BATCH_SIZE
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE TABLE `202_conversion_touchpoints`")
        write_limit.wait_for_quiet_innodb(cursor)
    timers = calls = None
    if arguments.phases:
        timers, calls = timed_store_functions()
    profiler = None
    if arguments.profile:
        import cProfile

        profiler = cProfile.Profile()
    load_before = write_limit.load_average()
    write_limit.reset_peak_rss()
    began = time.perf_counter()
    if profiler:
        profiler.enable()
    call_command("backfill_conversion_journeys", "--start=0", f"--end={END}", f"--batch-size={batch_size}",
                 stdout=io.StringIO(), stderr=sys.stderr)
    if profiler:
        profiler.disable()
        profiler.dump_stats(arguments.profile)
    seconds = time.perf_counter() - began
    peak = write_limit.peak_rss_mb()
    load_after = write_limit.load_average()
    transactions = written_transactions(connection, batch_size)
    rows = sum(len(t) for t in transactions)
    lengths = journey_lengths(connection)
    best = write_limit.measure(settings.DATABASES["default"], [("202_conversion_touchpoints", TOUCH_COLUMNS)],
                               [[rows] for rows in transactions])
    result = {
        "index": arguments.child, "backfill_seconds": round(seconds, 2), "touch_rows": rows,
        "conversions": arguments.conversions, "batch_size": batch_size,
        "rows_per_second": round(rows / seconds), "peak_rss_mb": round(peak),
        "write_seconds": {method: None if s is None else round(s, 2) for method, s in best.items()},
        "load_before": load_before, "load_after_backfill": load_after, "load_after_limit": write_limit.load_average(),
        "journeys": sum(lengths.values()),
        "mean_touches": round(rows / max(1, sum(lengths.values())), 1),
        "median_touches": percentile(lengths, 0.5), "p90_touches": percentile(lengths, 0.9),
        "capped_share": round(sum(n for k, n in lengths.items() if k >= settings.ATTRIBUTION_MAX_TOUCHES)
                              / max(1, sum(lengths.values())), 3),
    }
    if timers is not None:
        result["phases"] = {name: [round(timers[name], 2), calls[name]] for name in timers}
    print(json.dumps(result))


# --- the parent ------------------------------------------------------------------------------

def report(arguments, results, pool_mb, server_version):
    from bench.write_limit import rates

    print()
    print(f"`bench/backfill_benchmark.py {' '.join(sys.argv[1:])}` on {server_version}, "
          f"innodb_buffer_pool_size {pool_mb} MiB, batch {results[0]['batch_size']:,}, "
          f"{results[0]['journeys']:,} journeys, touches mean {results[0]['mean_touches']}, median "
          f"{results[0]['median_touches']}, p90 {results[0]['p90_touches']}, "
          f"{results[0]['capped_share']:.0%} at the cap")
    print()
    print("| optional key | backfill s | touch rows | rows/s | executemany | formatted | LOAD DATA "
          "| limit | ratio | peak RSS MB | load before → after backfill → after limit |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for result in results:
        per_method, limit = rates(result["write_seconds"], result["touch_rows"])
        cells = [f"{per_method[m]:,.0f}" if m in per_method else "n/a"
                 for m in ("executemany", "formatted", "load_data")]
        print(f"| {result['index']} | {result['backfill_seconds']} | {result['touch_rows']:,} | "
              f"{result['rows_per_second']:,} | {' | '.join(cells)} | {limit:,.0f} | "
              f"{result['rows_per_second'] / limit:.0%} | {result['peak_rss_mb']} | "
              f"{result['load_before']} → {result['load_after_backfill']} → {result['load_after_limit']} |")
    for result in results:
        if "phases" in result:
            print(f"\nPhases ({result['index']} the key): " + ", ".join(
                f"{name} {seconds} s ({count})" for name, (seconds, count) in
                sorted(result["phases"].items(), key=lambda item: -item[1][0])))


def main():
    arguments = parse_arguments()
    if arguments.child:
        run_child(arguments)
        return
    write_limit.ensure_database(os.environ.get("DATABASE_URL", ""))
    import django

    django.setup()
    from django.db import connection

    from bench.write_limit import buffer_pool_mb

    prepare_data(connection, arguments)
    with connection.cursor() as cursor:
        cursor.execute("SELECT VERSION()")
        server_version = cursor.fetchone()[0]
        previous_pool = buffer_pool_mb(cursor)
    results = []
    try:
        with connection.cursor() as cursor:
            pool = buffer_pool_mb(cursor, arguments.buffer_pool_mb) if arguments.buffer_pool_mb else previous_pool
        variants = ("without", "with") if arguments.index == "both" else (arguments.index,)
        for variant in variants:
            set_optional_key(connection, variant == "with")
            connection.close()
            child = [sys.executable, __file__, *sys.argv[1:], "--child", variant]
            completed = subprocess.run(child, capture_output=True, text=True)
            if completed.returncode:
                sys.exit(f"The benchmark child failed:\n{completed.stderr}")
            results.append(json.loads(completed.stdout.strip().splitlines()[-1]))
            print(json.dumps(results[-1]), flush=True)
    finally:
        with connection.cursor() as cursor:
            if buffer_pool_mb(cursor) != previous_pool:
                buffer_pool_mb(cursor, previous_pool)
    report(arguments, results, pool, server_version)


if __name__ == "__main__":
    main()
