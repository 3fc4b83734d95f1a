"""algorithmic (SPEC §5.2): first-order Markov-chain removal effects, solved exactly.

The chain
    States: START, one state per channel, and the absorbing CONVERSION and NULL. A channel is a
    touch's click `ppc_account_id` (`channel: "account"`, the default) or `landing_page_id`
    (`"landing_page"`); 0 ("none", or a click missing from 202_clicks) is a channel of its own.
    Paths: every converting journey is START → c1 → … → ck → CONVERSION, consecutive repeats of
    a channel kept as self-transitions (c → c); every non-converting click is START → c → NULL.
    P(s → t) = count(s → t) / count(s → anything).

Conversion probability
    With Q the channel-to-channel block of the transition matrix, b_s = P(s → CONVERSION) and
    σ_s = P(START → s), the probability of ending in CONVERSION from channel s is
    x = (I − Q)⁻¹ b, and P(CONVERSION) = σ·x. I − Q is invertible because every channel state
    lies on an observed path that ends in an absorbing state.

Removal effect of channel c
    effect(c) = 1 − P(CONVERSION with c removed) / P(CONVERSION), "removed" meaning transitions
    into c go to NULL. A walk converts without c exactly when it converts without ever reaching
    c, and by the Markov property a walk that reaches c converts afterwards with probability
    x_c. So P(CONVERSION with c removed) = P(CONVERSION) − h_c·x_c, where h_c, the probability
    of reaching c from START, is (σᵀG)_c / G_cc with G = (I − Q)⁻¹ (expected visits to c from
    START, divided by the expected visits to c once there). Hence
        effect(c) = h_c · x_c / P(CONVERSION),
    all channels from ONE Gauss-Jordan inversion of I − Q: O(channels³), no re-solve per
    channel, no simulation. Effects lie in [0, 1].

Credits
    A touch's credit = effect(its channel) / Σ effects over the distinct channels of its journey,
    split equally among the journey's touches of that channel. The journey falls back to linear
    when P(CONVERSION) is 0 (nothing converted) or every channel of the journey has effect 0
    (including channels the fit never saw, and when no effects were fitted at all).

What the numbers depend on
    The rebuild fits the chain once per Prosper202 user and run, over the run's whole-hour window
    (SPEC §6): its conversions' journeys and the window's non-converting clicks. So an hour's
    algorithmic credits depend on the window of the run that last rebuilt that hour — the hourly
    scheduled run fits on the last 24 hours, a manual 30-day rebuild on 30 days — and rebuilding
    the same hour with another window can legitimately change them.
"""
from collections import defaultdict
from collections.abc import Mapping

from journeys.rules import channel_of

CHANNEL_KINDS = ("account", "landing_page")  # the kinds of journeys.rules a Markov model may use
DEFAULT_CHANNEL_KIND = "account"


class RemovalEffects(Mapping):
    """Fitted removal effect per channel (a read-only mapping), plus P(CONVERSION) of the chain."""

    __slots__ = ("_effects", "p_conversion")

    def __init__(self, effects, p_conversion):
        self._effects = dict(effects)
        self.p_conversion = p_conversion

    def __getitem__(self, channel):
        return self._effects[channel]

    def get(self, channel, default=None):
        # Mapping.get goes through __getitem__ and an exception; this runs per touch.
        return self._effects.get(channel, default)

    def __iter__(self):
        return iter(self._effects)

    def __len__(self):
        return len(self._effects)

    def __repr__(self):
        return f"RemovalEffects({self._effects!r}, p_conversion={self.p_conversion!r})"


NO_EFFECTS = RemovalEffects({}, 0.0)


def fit_removal_effects(converting_paths, non_converting_channels):
    """Fit the chain on converting channel paths and one-step non-converting channels.

    `converting_paths`: one sequence of channels per converting journey (empty ones are ignored:
    a journey always has a touch). `non_converting_channels`: one channel per click that led
    nowhere. Returns the removal effect of every channel seen, and P(CONVERSION).
    """
    start_counts = defaultdict(int)
    out_counts = defaultdict(lambda: defaultdict(int))
    conversion_counts = defaultdict(int)
    exits = defaultdict(int)

    for path in converting_paths:
        path = tuple(path)
        if not path:
            continue
        start_counts[path[0]] += 1
        for here, there in zip(path, path[1:]):
            out_counts[here][there] += 1
            exits[here] += 1
        conversion_counts[path[-1]] += 1
        exits[path[-1]] += 1
    for channel in non_converting_channels:
        start_counts[channel] += 1
        exits[channel] += 1  # channel → NULL

    # Channels seen only on non-converting clicks never reach CONVERSION: effect 0, and they
    # stay out of the linear system (only their share of START transitions matters).
    effects = dict.fromkeys(sorted(exits, key=_sortable), 0.0)
    channels = sorted(out_counts.keys() | conversion_counts.keys(), key=_sortable)
    if not channels:
        return RemovalEffects(effects, 0.0)

    index = {channel: i for i, channel in enumerate(channels)}
    size = len(channels)
    # A = I − Q, b = P(channel → CONVERSION), sigma = P(START → channel).
    matrix = [[0.0] * size for _ in range(size)]
    to_conversion = [0.0] * size
    for channel, i in index.items():
        row = matrix[i]
        row[i] = 1.0
        total = exits[channel]
        for there, count in out_counts[channel].items():
            row[index[there]] -= count / total
        to_conversion[i] = conversion_counts[channel] / total
    starts = sum(start_counts.values())
    sigma = [start_counts[channel] / starts for channel in channels]

    inverse = _invert(matrix)
    x = [sum(g * b for g, b in zip(row, to_conversion)) for row in inverse]
    p_conversion = sum(s * xi for s, xi in zip(sigma, x))
    for channel, c in index.items():
        expected_visits = sum(sigma[s] * inverse[s][c] for s in range(size))
        reach = expected_visits / inverse[c][c]
        effects[channel] = min(1.0, max(0.0, reach * x[c] / p_conversion))
    return RemovalEffects(effects, p_conversion)


def algorithmic(config, journey, removal_effects):
    """Credits from fitted removal effects; linear when they say nothing about this journey."""
    effects = NO_EFFECTS if removal_effects is None else removal_effects
    touches = journey.touches
    count = len(touches)
    if effects.p_conversion <= 0.0:
        return (1.0 / count,) * count
    channel_kind = config["channel"]
    channels = [channel_of(touch, channel_kind) for touch in touches]
    touches_per_channel = {}
    for channel in channels:
        touches_per_channel[channel] = touches_per_channel.get(channel, 0) + 1
    effect_of = effects.get
    total_effect = sum(effect_of(channel, 0.0) for channel in touches_per_channel)
    if total_effect <= 0.0:
        return (1.0 / count,) * count
    return tuple(
        effect_of(channel, 0.0) / total_effect / touches_per_channel[channel]
        for channel in channels
    )


def _invert(matrix):
    """Gauss-Jordan inverse of A = I − Q without pivoting.

    A is a non-singular M-matrix (Q is the sub-stochastic block of transient states) and
    diagonally dominant by rows, so every pivot is positive and elimination is stable without
    row swaps. That keeps the work of step k in the columns k .. n + k of [A | I] (to the left
    of k the rows are already reduced, to the right of n + k the identity is untouched), about
    n³ multiply-adds in all; rows with a zero factor (channels of other campaigns) are skipped.
    """
    size = len(matrix)
    work = [row + [1.0 if i == j else 0.0 for j in range(size)] for i, row in enumerate(matrix)]
    for col in range(size):
        span = slice(col, size + col + 1)
        pivot_row = work[col]
        scale = pivot_row[col]
        pivot_part = [value / scale for value in pivot_row[span]]
        pivot_row[span] = pivot_part
        for r in range(size):
            row = work[r]
            factor = row[col]
            if factor and r != col:
                row[span] = [a - factor * b for a, b in zip(row[span], pivot_part)]
    return [row[size:] for row in work]


def _sortable(channel):
    """Channels are usually ints; sort any hashable deterministically."""
    return (type(channel).__name__, channel)
