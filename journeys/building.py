"""Building a journey (SPEC §4.1 steps 1-4): candidate clicks in, ordered journey out. No ORM.

Everything here takes plain values (named tuples, dataclasses, ints) so the rules are tested
without a database and the backfill's hot loop stays cheap.
"""
from bisect import bisect_left
from collections import Counter, deque
from dataclasses import dataclass
from operator import itemgetter
from typing import NamedTuple

from journeys.rules import (
    FLAG_ADDED_CONVERTING_CLICK,
    FLAG_BEYOND_CAP,
    FLAG_OUTSIDE_WINDOW,
    FLAG_VISITOR_UNKNOWN,
    window_start,
)

MATCH_CAMPAIGN = "campaign"
MATCH_VISITOR = "visitor"


class Candidate(NamedTuple):
    """A `202_clicks` row of the conversion's account and campaign (ip_id only in visitor mode).

    Everything here reads candidates by position, so any tuple starting (click_id, click_time,
    ip_id) will do: the store passes its query rows as they are.
    """

    click_id: int
    click_time: int
    ip_id: int | None = None


@dataclass(frozen=True)
class BuiltJourney:
    """A journey as `202_conversion_touchpoints` stores it: `touches` are (click_id, click_time,
    position) tuples in position order (plain tuples: a backfill makes millions)."""

    conv_id: int
    touches: tuple[tuple[int, int, int], ...]
    flags: frozenset[str]

    def pairs(self):
        """The journey as cached and compared: [(click_id, click_time), ...] in position order."""
        return [(click_id, click_time) for click_id, click_time, _ in self.touches]


def build_journey(conversion, candidates, *, lookback_seconds, max_touches,
                  match=MATCH_CAMPAIGN, visitor_ip_id=None):
    """Build one conversion's journey by SPEC §4.1 steps 1-4.

    `conversion` needs conv_id, click_id, click_time and conv_time; `candidates` are clicks of
    its account and campaign in any order, duplicates and out-of-window rows allowed. Rows
    sharing a click_id are one click at the smallest click_time among its candidate rows. In
    visitor mode only candidates with `visitor_ip_id` count, and a None visitor means the
    converting click has no `202_clicks_advance` row: the journey is that click alone.
    """
    conv_time = conversion.conv_time
    start = window_start(conv_time, lookback_seconds)
    flags = set()
    earliest = {}
    if match == MATCH_VISITOR and visitor_ip_id is None:
        flags.add(FLAG_VISITOR_UNKNOWN)
    else:
        by_visitor = match == MATCH_VISITOR
        for candidate in candidates:
            click_time = candidate[1]
            if start <= click_time <= conv_time and (not by_visitor or candidate[2] == visitor_ip_id):
                click_id = candidate[0]
                if earliest.get(click_id, click_time) >= click_time:
                    earliest[click_id] = click_time
    # (click_time, click_id) pairs: tuple order is the cap's order, newest first when reversed.
    kept = sorted(zip(earliest.values(), earliest.keys()), reverse=True)[:max_touches]
    if conversion.click_id not in {click_id for _, click_id in kept}:
        kept.append((conversion.click_time, conversion.click_id))
        flags.add(FLAG_ADDED_CONVERTING_CLICK)
    kept.sort()
    if len(kept) > max_touches:
        flags.add(FLAG_BEYOND_CAP)
    if kept[0][0] < start or kept[-1][0] > conv_time:
        flags.add(FLAG_OUTSIDE_WINDOW)
    times, click_ids = zip(*kept)
    return BuiltJourney(conversion.conv_id, tuple(zip(click_ids, times, range(len(kept)))), frozenset(flags))


def top_clicks(rows, max_touches):
    """The rows of the `max_touches` most recent clicks among `rows`, which are candidate rows
    of one conversion's window sorted newest first ((click_time, click_id) descending).

    A click's time is its smallest row time (SPEC §4.1 step 2); without duplicate rows (the
    usual case) that is simply the first `max_touches` rows.
    """
    earliest = {}
    for row in rows:
        earliest[row[0]] = row[1]  # rows go newest first: the last one of a click is its earliest
    if len(earliest) == len(rows):
        return rows[:max_touches]
    kept = {click_id for _, click_id in sorted(zip(earliest.values(), earliest.keys()), reverse=True)[:max_touches]}
    return [row for row in rows if row[0] in kept]


class CandidateCollector:
    """The candidate rows each conversion of one group needs, from the group's clicks read
    newest first (a group: one account and campaign; in visitor mode also one visitor).

    Conversions are resolved newest first. One is *complete* once the read has passed its
    window start: it then holds every candidate row of its window, exact. One is *capped* once
    it holds `max_touches` distinct clicks before that: its clicks are exact unless one of them
    has a row the read has not reached (an older duplicate row), which only the caller can
    check, with `capped()`. Memory stays bounded by the cap: the collector holds the rows at or
    before its newest unresolved conversion, fewer than `max_touches` distinct clicks (plus the
    slice being fed).
    """

    def __init__(self, conversions, *, lookback_seconds, max_touches):
        """`conversions`: (conv_id, conv_time) pairs of the group."""
        self.lookback_seconds = lookback_seconds
        self.max_touches = max_touches
        self._pending = deque(sorted(conversions, key=lambda c: (c[1], c[0]), reverse=True))
        self._rows = []  # fed rows no later than the newest pending conversion, newest first
        self._head = 0  # rows before it are later than every pending conversion
        self._counts = Counter()  # click_id -> its rows in self._rows[self._head:]
        self._resolved = {}
        self._capped = {}

    @property
    def wants_more(self):
        return bool(self._pending)

    def feed(self, rows, read_down_to):
        """Take the group's rows with click_time in [read_down_to, the previous read_down_to),
        sorted newest first, and resolve every conversion they settle. Returns wants_more."""
        if self._pending and rows:
            newest = self._pending[0][1]
            first = 0 if rows[0][1] <= newest else bisect_left(rows, -newest, key=_minus_time)
            taken = rows[first:] if first else rows
            self._rows.extend(taken)
            self._counts.update(map(itemgetter(0), taken))
        while self._pending:
            conv_id, conv_time = self._pending[0]
            self._drop_later_than(conv_time)
            start = window_start(conv_time, self.lookback_seconds)
            if read_down_to <= start:
                rows = self._rows[self._head:]
                in_window = bisect_left(rows, 1 - start, key=_minus_time)  # first row before start
                self._resolved[conv_id] = top_clicks(rows[:in_window], self.max_touches)
            elif len(self._counts) >= self.max_touches:
                if len(self._counts) == len(self._rows) - self._head:  # no duplicate rows held
                    kept = self._rows[self._head:self._head + self.max_touches]
                else:
                    kept = top_clicks(self._rows[self._head:], self.max_touches)
                self._resolved[conv_id] = kept
                self._capped[conv_id] = Counter(map(itemgetter(0), kept))
            else:
                break
            self._pending.popleft()
        return self.wants_more

    def _drop_later_than(self, conv_time):
        rows, counts, head = self._rows, self._counts, self._head
        while head < len(rows) and rows[head][1] > conv_time:
            click_id = rows[head][0]
            counts[click_id] -= 1
            if not counts[click_id]:
                del counts[click_id]
            head += 1
        if head > 1024 and head * 2 > len(rows):
            del rows[:head]
            head = 0
        self._head = head

    def candidates(self):
        """conv_id -> candidate rows kept for it (every conversion of the group, maybe empty)."""
        result = dict(self._resolved)
        for conv_id, _ in self._pending:
            result[conv_id] = []
        return result

    def capped(self):
        """conv_id -> {click_id: rows seen} of the conversions resolved by the cap: one of them
        is exact only if no kept click has more rows than were seen (see the class docstring)."""
        return self._capped


def _minus_time(row):
    return -row[1]
