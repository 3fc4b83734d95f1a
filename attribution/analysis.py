"""Journey analysis (SPEC §7.1): top conversion paths, path length, time lag and assisted
conversions, aggregated from one channel path per conversion.

Pure: plain values in (`PathConversion`, one per live conversion of the window, with the channel
of each of its touches in order), report rows out. Each report consumes its conversions in one
pass, so the caller can stream them in batches; only the report's own rows stay in memory (for
top paths: one group per distinct path, with the lags its median needs).

"Collapse repeats" turns consecutive equal channels into one step: with it, journeys group by
their sequence of steps, a step shows how many touches it stood for (`A ×3`, or `A ×2–4` when the
grouped journeys differ), and a path's length is its number of steps. Time lag and assisted
conversions do not depend on it.
"""
import bisect
import statistics
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from journeys.summaries import UNKNOWN_CHANNEL, ChannelPath, collapse

HOUR_SECONDS = 3600
DAY_SECONDS = 86_400
PATHS_PER_PAGE = 50
ZERO = Decimal(0)
STEP_SEPARATOR = " › "
# (label, lowest, highest or None for no upper bound), in report order.
LENGTH_BUCKETS = (
    *((str(touches), touches, touches) for touches in range(1, 11)),
    ("11–25", 11, 25),
    ("26", 26, None),  # the 25-touch cap plus the converting click (and longer, under a raised cap)
)
LAG_BUCKETS = (
    *((str(days), days, days) for days in range(5)),
    ("5–7", 5, 7),
    ("8–14", 8, 14),
    ("15–21", 15, 21),
    ("22–30", 22, 30),
    ("over 30", 31, None),
)


# A live conversion and the channel of each touch of its journey, chronological.
PathConversion = ChannelPath


def lag_seconds(conversion):
    """Seconds from the first touch to the conversion (never negative)."""
    return max(0, conversion.conv_time - conversion.first_touch_time)


def _share(part, whole):
    return part / whole if whole else 0.0


# --- top conversion paths ----------------------------------------------------------------------


class Step(NamedTuple):
    """One step of a path: a channel, and the fewest and most touches it stood for."""

    channel: int
    min_repeats: int = 1
    max_repeats: int = 1


@dataclass
class PathRow:
    steps: tuple  # of Step
    conversions: int
    revenue: Decimal
    share: float  # of the window's conversions
    mean_touches: float
    median_hours: float  # from first touch to conversion

    @property
    def channels(self):
        return tuple(step.channel for step in self.steps)


@dataclass
class Report:
    """A report's rows with the window's totals (every live conversion of the window)."""

    rows: list
    conversions: int
    revenue: Decimal


# A path's running figures, kept as a plain list: a window can hold as many paths as conversions.
_CONVERSIONS, _REVENUE, _TOUCHES, _LAGS, _REPEATS = range(5)


class PathTable:
    """Every distinct path of a window with its running figures; rows are made only for the
    paths asked for (a page), after ranking.

    Conversions are counted per exact channel sequence as they come; with collapse repeats,
    each distinct sequence is collapsed once, when the groups are first asked for (a window has
    far fewer distinct sequences than conversions, and fewer still than touches).
    """

    def __init__(self, collapse_repeats):
        self.collapse_repeats = collapse_repeats
        self.sequences = {}  # channels -> [conversions, revenue, touches, lags, None]
        self.conversions = 0
        self.revenue = ZERO
        self._groups = None

    def __len__(self):
        return len(self.groups)

    def add(self, conversion):
        _conv_id, conv_time, first_touch_time, revenue, channels = conversion
        self.conversions += 1
        self.revenue += revenue
        lag = conv_time - first_touch_time
        lag = lag if lag > 0 else 0
        sequence = self.sequences.get(channels)
        if sequence is None:
            self.sequences[channels] = [1, revenue, len(channels), [lag], None]
        else:
            sequence[_CONVERSIONS] += 1
            sequence[_REVENUE] += revenue
            sequence[_TOUCHES] += len(channels)
            sequence[_LAGS].append(lag)

    @property
    def groups(self):
        """Path -> [conversions, revenue, touches, lags, repeats]: the sequences themselves
        (repeats None), or the sequences merged by their collapsed steps (repeats: the fewest
        and the most touches of each step)."""
        if self._groups is None:
            self._groups = self._collapsed() if self.collapse_repeats else self.sequences
        return self._groups

    def _collapsed(self):
        groups = {}
        for channels, (conversions, revenue, touches, lags, _none) in self.sequences.items():
            steps, repeats = collapse(channels)
            key = tuple(steps)
            group = groups.get(key)
            if group is None:
                groups[key] = [conversions, revenue, touches, list(lags), (repeats, repeats)]
                continue
            group[_CONVERSIONS] += conversions
            group[_REVENUE] += revenue
            group[_TOUCHES] += touches
            group[_LAGS].extend(lags)
            fewest, most = group[_REPEATS]
            group[_REPEATS] = (list(map(min, fewest, repeats)), list(map(max, most, repeats)))
        self.sequences = {}  # merged into the groups: no need to hold both
        return groups

    def channels(self):
        """Every channel on any path."""
        return {channel for key in self.groups for channel in key}

    def rows(self, keys):
        """PathRows of these paths (keys of `groups`), in this order."""
        rows = []
        for key in keys:
            conversions, revenue, touches, lags, repeats = self.groups[key]
            fewest, most = repeats or ((1,) * len(key),) * 2
            rows.append(PathRow(
                steps=tuple(map(Step, key, fewest, most)),
                conversions=conversions,
                revenue=revenue,
                share=_share(conversions, self.conversions),
                mean_touches=touches / conversions,
                median_hours=statistics.median(lags) / HOUR_SECONDS,
            ))
        return rows


def top_paths(conversions, *, collapse_repeats=False):
    """The PathTable of these conversions (rank it with `rank_paths`)."""
    table = PathTable(collapse_repeats)
    for conversion in conversions:
        table.add(conversion)
    return table


def channel_name(channel, names):
    """A channel as people read it: its name with its id, or "unknown" for channel 0."""
    if channel == UNKNOWN_CHANNEL:
        return "unknown (#0)"
    name = names.get(channel)
    return f"{name} (#{channel})" if name else f"#{channel} (no name found)"


def step_label(step, names):
    label = channel_name(step.channel, names)
    if step.max_repeats == 1:
        return label
    if step.min_repeats == step.max_repeats:
        return f"{label} ×{step.max_repeats}"
    return f"{label} ×{step.min_repeats}–{step.max_repeats}"


def path_label(steps, names):
    return STEP_SEPARATOR.join(step_label(step, names) for step in steps)


def _channel_order(channels, names):
    """channel -> its position when channels are sorted as shown (name, then id)."""
    shown = sorted(channels, key=lambda channel: (channel_name(channel, names).casefold(), channel))
    return {channel: position for position, channel in enumerate(shown)}


def rank_paths(table, names, offset=0, limit=None):
    """The paths (keys of the table's groups) ranked by conversions (most first), then by path
    as shown: channel by channel, by name then id; only positions offset .. offset + limit - 1.

    Only the runs of equal conversions the page touches are sorted by name: a month holds tens
    of thousands of one-conversion paths, and the first pages never need their order.
    """
    groups = table.groups
    by_conversions = sorted(groups, key=lambda key: -groups[key][_CONVERSIONS])
    end = len(by_conversions) if limit is None else min(len(by_conversions), offset + limit)
    if offset >= end:
        return []
    counts = [-groups[key][_CONVERSIONS] for key in by_conversions]
    first = bisect.bisect_left(counts, counts[offset])
    last = bisect.bisect_right(counts, counts[end - 1])
    order = _channel_order(table.channels(), names).__getitem__
    ties_by_name = sorted(by_conversions[first:last], key=lambda key: (-groups[key][_CONVERSIONS],
                                                                         tuple(map(order, key))))
    return ties_by_name[offset - first:end - first]


# --- path length and time lag ------------------------------------------------------------------


@dataclass
class BucketRow:
    label: str
    lowest: int
    highest: int | None  # None: no upper bound
    conversions: int
    revenue: Decimal
    share: float  # of the window's conversions


def _bucket_index(buckets):
    """value -> bucket position, for every value with its own bucket; the last bucket (open
    ended) takes everything above."""
    index = {}
    for position, (_label, lowest, highest) in enumerate(buckets):
        for value in range(lowest, (highest if highest is not None else lowest) + 1):
            index[value] = position
    return index


def _bucketed(values_and_revenue, buckets):
    index = _bucket_index(buckets)
    last = len(buckets) - 1
    counts, sums = [0] * len(buckets), [ZERO] * len(buckets)
    total, revenue = 0, ZERO
    for value, amount in values_and_revenue:
        position = index.get(value, last)
        counts[position] += 1
        sums[position] += amount
        total += 1
        revenue += amount
    rows = [
        BucketRow(label, lowest, highest, counts[position], sums[position], _share(counts[position], total))
        for position, (label, lowest, highest) in enumerate(buckets)
    ]
    return Report(rows, total, revenue)


def path_lengths(conversions, *, collapse_repeats=False):
    """Conversions and revenue by number of touches (of steps, with collapse): every bucket."""
    def lengths():
        for conversion in conversions:
            steps = collapse(conversion.channels)[0] if collapse_repeats else conversion.channels
            yield len(steps), conversion.revenue

    return _bucketed(lengths(), LENGTH_BUCKETS)


def time_lags(conversions):
    """Conversions and revenue by whole days from the first touch to the conversion."""
    return _bucketed(
        ((lag_seconds(conversion) // DAY_SECONDS, conversion.revenue) for conversion in conversions),
        LAG_BUCKETS,
    )


# --- assisted conversions ----------------------------------------------------------------------


@dataclass
class AssistRow:
    channel: int
    last_touch_conversions: int = 0
    last_touch_revenue: Decimal = ZERO
    assisted_conversions: int = 0
    assisted_revenue: Decimal = ZERO
    last_touch_share: float = 0.0  # of the window's conversions
    assisted_share: float = 0.0

    @property
    def assist_ratio(self):
        """Assisted ÷ last-touch conversions; None when the channel closed none."""
        if not self.last_touch_conversions:
            return None
        return self.assisted_conversions / self.last_touch_conversions


def assists(conversions):
    """Per channel: conversions whose last touch is on it, and conversions it assisted (on any
    touch but the last, counted once per conversion; a channel can do both in one journey)."""
    rows = {}
    total, revenue = 0, ZERO

    def row_of(channel):
        row = rows.get(channel)
        if row is None:
            row = rows[channel] = AssistRow(channel)
        return row

    for conversion in conversions:
        total += 1
        revenue += conversion.revenue
        closing = row_of(conversion.channels[-1])
        closing.last_touch_conversions += 1
        closing.last_touch_revenue += conversion.revenue
        for channel in set(conversion.channels[:-1]):
            assisting = row_of(channel)
            assisting.assisted_conversions += 1
            assisting.assisted_revenue += conversion.revenue
    for row in rows.values():
        row.last_touch_share = _share(row.last_touch_conversions, total)
        row.assisted_share = _share(row.assisted_conversions, total)
    return Report(list(rows.values()), total, revenue)


def rank_assists(rows, names):
    """Channels by assisted conversions, then last-touch conversions (most first), then as shown."""
    order = _channel_order([row.channel for row in rows], names)
    return sorted(rows, key=lambda row: (-row.assisted_conversions, -row.last_touch_conversions, order[row.channel]))
