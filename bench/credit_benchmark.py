"""Credit maths micro-benchmark: journeys credited per second for each model type, and the cost
of fitting the Markov chain. Pure Python, no database.

    .venv/bin/python bench/credit_benchmark.py [--journeys 100000] [--seed 1]

Prints a Markdown section for docs/performance.md.
"""
import argparse
import platform
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

from attribution.credit import MODEL_TYPES, credits_for, validate_config  # noqa: E402
from attribution.credit.markov import fit_removal_effects  # noqa: E402
from journeys.rules import (  # noqa: E402
    Touch,
    channel_of,  # noqa: E402
    journey_from_stored,
)

CONFIGS = {
    "time_decay": {"half_life_hours": 24},
    "position_based": {"first_touch_weight": 0.4, "last_touch_weight": 0.4},
    "algorithmic": {"method": "markov"},
}
LOOKBACK_SECONDS = 30 * 86400
REPEATS = 3


def make_journeys(rng, count, accounts=20):
    """Journeys shaped like a tracker's: mostly short, a tail up to the 25-touch cap (+1)."""
    journeys = []
    for conv_id in range(count):
        conv_time = 1_700_000_000 + conv_id * 30
        size = min(25, int(rng.expovariate(1 / 3)))
        stored = [
            (rng.randrange(10**9), conv_time - rng.randrange(LOOKBACK_SECONDS))
            for _ in range(size)
        ]
        journeys.append(
            journey_from_stored(
                conv_id=conv_id, conv_time=conv_time,
                converting_touch=Touch(10**9 + conv_id, conv_time - 60, 0, rng.randrange(accounts)),
                stored_touches=[
                    Touch(click_id, click_time, rng.randrange(50), rng.randrange(accounts))
                    for click_id, click_time in stored
                ],
            )
        )
    return journeys


def best_rate(work, items):
    """Items per CPU second of the fastest of REPEATS runs (CPU time, so other processes on a
    shared machine disturb the figure less than wall time would)."""
    durations = []
    for _ in range(REPEATS):
        started = time.process_time()
        work()
        durations.append(time.process_time() - started)
    return items / min(durations)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--journeys", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    journeys = make_journeys(rng, args.journeys)
    touches = sum(len(journey.touches) for journey in journeys)

    paths = [[channel_of(t, "account") for t in journey.touches] for journey in journeys]
    non_converting = [rng.randrange(20) for _ in range(args.journeys * 3)]
    effects = fit_removal_effects(paths, non_converting)

    print("## Credit maths (attribution/credit)\n")
    print(
        f"`bench/credit_benchmark.py --journeys {args.journeys} --seed {args.seed}` on "
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"{platform.machine()}: {args.journeys:,} journeys, {touches:,} touches "
        f"(mean {touches / args.journeys:.2f}), CPU time, best of {REPEATS}.\n"
    )
    print("| model type | journeys/s | µs/journey |")
    print("|---|---:|---:|")
    for model_type in MODEL_TYPES:
        config = validate_config(model_type, CONFIGS.get(model_type))

        def credit_all(model_type=model_type, config=config):
            for journey in journeys:
                credits_for(model_type, config, journey, effects)

        rate = best_rate(credit_all, args.journeys)
        print(f"| {model_type} | {rate:,.0f} | {1e6 / rate:.1f} |")

    print("\nMarkov fit (`fit_removal_effects`, once per user and rebuild run):\n")
    print("| converting paths | non-converting clicks | channels | CPU seconds |")
    print("|---:|---:|---:|---:|")
    for channels, campaigns in ((20, 1), (100, 1), (300, 1), (300, 30)):
        # With several campaigns a journey stays within one campaign's channels (journeys are
        # per campaign, landing pages belong to one), which leaves most of I − Q zero.
        per_campaign = channels // campaigns
        fit_paths = []
        for path in paths:
            base = rng.randrange(campaigns) * per_campaign
            fit_paths.append([base + rng.randrange(per_campaign) for _ in path])
        fit_non_converting = [rng.randrange(channels) for _ in non_converting]
        started = time.process_time()
        fitted = fit_removal_effects(fit_paths, fit_non_converting)
        seconds = time.process_time() - started
        shape = "dense" if campaigns == 1 else f"{campaigns} campaigns × {per_campaign}"
        print(
            f"| {len(fit_paths):,} | {len(fit_non_converting):,} | {len(fitted)} ({shape}) "
            f"| {seconds:.2f} |"
        )

if __name__ == "__main__":
    main()
