"""Write methods benchmark (by hand, not a test): executemany, formatted multi-row INSERT and
LOAD DATA LOCAL INFILE writing the same rows, by rows per transaction.

For each shape (journey touchpoints: five integers; per-touch credits: five integers and two
DECIMAL(10,5) credits) and each transaction size, the same rows are written into an empty
scratch copy of the table `--rounds` times per method, the methods taking turns, through
`bench/write_limit.py` (one MySQLdb connection with local_infile). Prints rows/s per method:
the median and the best of the rounds.

    DATABASE_URL=mysql://root@127.0.0.1:3306/bench_write .venv/bin/python bench/write_methods_benchmark.py
    ... --rows 200000 --sizes 100,2000,20000,200000 --rounds 5
"""
import argparse
import os
import random
import statistics
import sys
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench import write_limit  # noqa: E402

write_limit.use_benchmark_settings()


def touchpoint_rows(rng, count):
    return [(n // 12 + 1, rng.randrange(1, 10**9), 1_790_000_000 - rng.randrange(2_592_000), n % 12, 1_790_000_000)
            for n in range(count)]


def credit_rows(rng, count):
    return [(n // 40 + 1, n // 6 + 1, rng.randrange(1, 10**9), n % 6, Decimal(rng.randrange(1, 100_001)).scaleb(-5),
             Decimal(rng.randrange(1, 100_001)).scaleb(-5), 1_790_000_000) for n in range(count)]


SHAPES = {
    "touchpoints": ("202_conversion_touchpoints", ("conv_id", "click_id", "click_time", "position", "created_at"),
                    touchpoint_rows),
    "credits": ("202_attribution_touchpoints",
                ("snapshot_id", "conv_id", "click_id", "position", "credit", "weight", "created_at"), credit_rows),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000, help="Rows written per measurement.")
    parser.add_argument("--sizes", default="100,2000,20000,200000", help="Rows per transaction.")
    parser.add_argument("--rounds", type=int, default=5)
    arguments = parser.parse_args()
    write_limit.ensure_database(os.environ.get("DATABASE_URL", ""))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("install_schema", stdout=open(os.devnull, "w"))
    write_limit.ROUNDS = 1
    rng = random.Random(9)
    print(f"`bench/write_methods_benchmark.py {' '.join(sys.argv[1:])}`, load average before: "
          f"{write_limit.load_average()}")
    print()
    print("| rows | rows per transaction | executemany | formatted | LOAD DATA | best of rounds (e / f / L) |")
    print("|---|---:|---:|---:|---:|---|")
    for shape, (table, columns, make_rows) in SHAPES.items():
        rows = make_rows(rng, arguments.rows)
        for size in (int(s) for s in arguments.sizes.split(",")):
            transactions = [[rows[i:i + size]] for i in range(0, len(rows), size)]
            rates = {method: [] for method in write_limit.METHODS}
            for _ in range(arguments.rounds):
                for method, seconds in write_limit.measure(settings.DATABASES["default"], [(table, columns)],
                                                           transactions).items():
                    if seconds:
                        rates[method].append(len(rows) / seconds)
            medians = [f"{statistics.median(r):,.0f}" if r else "n/a" for r in rates.values()]
            bests = " / ".join(f"{max(r):,.0f}" if r else "n/a" for r in rates.values())
            print(f"| {shape} | {size:,} | {' | '.join(medians)} | {bests} |", flush=True)
    print(f"\nLoad average after: {write_limit.load_average()}")


if __name__ == "__main__":
    main()
