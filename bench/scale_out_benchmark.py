"""Queued backfill on Redis with one and with two qclusters (run by hand, not a test).

Uses the dataset of `bench/backfill_benchmark.py` (same data arguments, `--reuse` keeps it), then
for each run: empties the stored journeys, the task results and the Redis database, starts the
clusters (`--workers` each), queues `backfill_conversion_journeys --async` over every
conversion, and times from the enqueue until every slice has a stored success. A plain
single-process `backfill_conversion_journeys` of the same window is timed first, for reference.
Prints one JSON line per run, then a table.

`--slice-hours N` (default 24) and `--configs 1x1,2x1` (clusters x workers each) choose the runs.

Usage (MariaDB/MySQL; the database is created when missing and its 202 tables are WIPED, so its
name must contain "bench"; the Redis database is emptied):

    DATABASE_URL=mysql://root@127.0.0.1:3306/bench_scale_100k REDIS_URL=redis://127.0.0.1:6379/6 \\
        .venv/bin/python bench/scale_out_benchmark.py --clicks 1000000 --conversions 100000 --reuse
"""
import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "attribution_site.settings")
os.environ.setdefault("DEBUG", "1")

import backfill_benchmark  # noqa: E402  (its dataset and arguments)

WAIT_SECONDS = 3600


def _environment(**extra):
    return {**os.environ, "CACHE_URL": "locmemcache://", **extra}


def _manage(*arguments, **extra):
    completed = subprocess.run([sys.executable, "manage.py", *arguments], cwd=ROOT, env=_environment(**extra),
                               capture_output=True, text=True)
    if completed.returncode:
        sys.exit(f"manage.py {' '.join(arguments)} failed:\n{completed.stderr}")
    return completed.stdout


def _reset(connection):
    import redis

    with connection.cursor() as cursor:
        for table in ("202_conversion_touchpoints", "django_q_task"):
            cursor.execute(f"DELETE FROM `{table}`")
        cursor.execute("DELETE FROM `202_attribution_audit` WHERE action IN ('journey_backfill', 'backfill_queued')")
    redis.from_url(os.environ["REDIS_URL"]).flushdb()


def _load():
    return os.getloadavg()


def run_clusters(connection, clusters, workers, window):
    """Seconds from the enqueue until every slice succeeded, with `clusters` qclusters."""
    _reset(connection)
    started = [subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, start_new_session=True,
                                env=_environment(Q_WORKERS=str(workers)), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL) for _ in range(clusters)]
    try:
        time.sleep(5)  # the clusters are up and polling before the work arrives
        load_before = _load()
        began = time.perf_counter()
        out = _manage("backfill_conversion_journeys", "--async", *window)
        group = out.split()[-1]
        slices = int(out.split()[1])
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            with connection.cursor() as cursor:
                cursor.execute("SELECT success, COUNT(*), COUNT(DISTINCT cluster) FROM django_q_task "
                               "WHERE `group` = %s GROUP BY success", [group])
                counts = {bool(success): (count, workers_seen) for success, count, workers_seen in cursor.fetchall()}
            if counts.get(True, (0, 0))[0] + counts.get(False, (0, 0))[0] >= slices:
                break
            if time.monotonic() > deadline:
                sys.exit(f"gave up waiting for {group}")
            time.sleep(0.5)
        seconds = time.perf_counter() - began
    finally:
        for process in started:  # SIGTERM to the cluster's main process, as systemd stops it
            process.send_signal(signal.SIGTERM)
        for process in started:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM `202_conversion_touchpoints`")
        rows = cursor.fetchone()[0]
    return {"clusters": clusters, "workers_per_cluster": workers, "slices": slices, "seconds": round(seconds, 1),
            "failed": counts.get(False, (0, 0))[0], "clusters_seen": counts.get(True, (0, 0))[1],
            "touchpoint_rows": rows, "load_before": [round(value, 2) for value in load_before],
            "load_after": [round(value, 2) for value in _load()]}


def run_single(connection, window):
    _reset(connection)
    began = time.perf_counter()
    _manage("backfill_conversion_journeys", *window)
    return {"clusters": 0, "workers_per_cluster": 0, "seconds": round(time.perf_counter() - began, 1)}


def main():
    if not os.environ.get("REDIS_URL"):
        sys.exit("Set REDIS_URL to a Redis database the benchmark may empty.")
    own = argparse.ArgumentParser(add_help=False)
    own.add_argument("--slice-hours", default="24")
    own.add_argument("--configs", default="1x1,2x1,1x2,2x2", help="clusters x workers per cluster")
    options, sys.argv[1:] = own.parse_known_args()
    arguments = backfill_benchmark.parse_arguments()
    backfill_benchmark.ensure_database()
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    backfill_benchmark.prepare_data(connection, arguments)
    with connection.cursor() as cursor:
        cursor.execute("SELECT MIN(conv_time), MAX(conv_time), COUNT(*) FROM `202_conversion_logs`")
        first, last, conversions = cursor.fetchone()
    window = ["--start", str(first), "--end", str(last)]
    queued = [*window, "--slice-hours", options.slice_hours]
    print(f"{conversions:,} conversions from {first} to {last}; {os.cpu_count()} cores", flush=True)
    results = [run_single(connection, window)]
    print(json.dumps(results[-1]), flush=True)
    for config in options.configs.split(","):
        clusters, workers = map(int, config.split("x"))
        results.append(run_clusters(connection, clusters, workers, queued))
        print(json.dumps(results[-1]), flush=True)
    print("| clusters × workers | seconds | conversions/s |")
    print("|---|---|---|")
    for result in results:
        label = "one process (no queue)" if not result["clusters"] else f"{result['clusters']} × {result['workers_per_cluster']}"
        print(f"| {label} | {result['seconds']} | {conversions / result['seconds']:,.0f} |")


if __name__ == "__main__":
    main()
