"""Building a journey (SPEC §4.1 steps 1-4): candidate clicks in, ordered journey out. No ORM.

Everything here takes plain values (named tuples, dataclasses, ints) so the rules are tested
without a database and the backfill's hot loop stays cheap.
"""
from dataclasses import dataclass
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
    """A `202_clicks` row of the conversion's account and campaign (ip_id only in visitor mode)."""

    click_id: int
    click_time: int
    ip_id: int | None = None


@dataclass(frozen=True)
class JourneyTouchSpec:
    click_id: int
    click_time: int
    position: int


@dataclass(frozen=True)
class BuiltJourney:
    conv_id: int
    touches: tuple[JourneyTouchSpec, ...]
    flags: frozenset[str]

    def pairs(self):
        """The journey as cached and compared: [(click_id, click_time), ...] in position order."""
        return [(touch.click_id, touch.click_time) for touch in self.touches]


def build_journey(conversion, candidates, *, lookback_seconds, max_touches,
                  match=MATCH_CAMPAIGN, visitor_ip_id=None):
    """Build one conversion's journey by SPEC §4.1 steps 1-4.

    `conversion` needs conv_id, click_id, click_time and conv_time; `candidates` are clicks of
    its account and campaign in any order, duplicates and out-of-window rows allowed. In visitor
    mode only candidates with `visitor_ip_id` count, and a None visitor means the converting
    click has no `202_clicks_advance` row: the journey is that click alone.
    """
    conv_time = conversion.conv_time
    start = window_start(conv_time, lookback_seconds)
    flags = set()
    latest_time = {}
    if match == MATCH_VISITOR and visitor_ip_id is None:
        flags.add(FLAG_VISITOR_UNKNOWN)
    else:
        by_visitor = match == MATCH_VISITOR
        for candidate in candidates:
            click_id, click_time = candidate[0], candidate[1]
            if click_time < start or click_time > conv_time:
                continue
            if by_visitor and candidate[2] != visitor_ip_id:
                continue
            # Duplicate click rows: the click counts once, at its latest time in the window.
            if latest_time.get(click_id, -1) < click_time:
                latest_time[click_id] = click_time
    kept = sorted(latest_time.items(), key=_recency_key, reverse=True)[:max_touches]
    if not any(click_id == conversion.click_id for click_id, _ in kept):
        kept.append((conversion.click_id, conversion.click_time))
        flags.add(FLAG_ADDED_CONVERTING_CLICK)
    kept.sort(key=_recency_key)
    if len(kept) > max_touches:
        flags.add(FLAG_BEYOND_CAP)
    if any(click_time < start or click_time > conv_time for _, click_time in kept):
        flags.add(FLAG_OUTSIDE_WINDOW)
    touches = tuple(
        JourneyTouchSpec(click_id, click_time, position)
        for position, (click_id, click_time) in enumerate(kept)
    )
    return BuiltJourney(conversion.conv_id, touches, frozenset(flags))


def _recency_key(pair):
    click_id, click_time = pair
    return click_time, click_id


class _Collecting:
    __slots__ = ("conv_id", "conv_time", "start", "visitor", "seen", "rows")

    def __init__(self, conv_id, conv_time, start, visitor):
        self.conv_id, self.conv_time, self.start, self.visitor = conv_id, conv_time, start, visitor
        self.seen = set()
        self.rows = []


class CandidateCollector:
    """Keeps, per conversion, only the candidates that can end up in its journey.

    Clicks are fed newest first ((click_time, click_id) descending, the cap's order). A
    conversion takes clicks at or before its conv_time until it holds `max_touches` distinct
    clicks or the clicks fall before its window; once every conversion is satisfied the caller
    stops reading. Feeding `build_journey` these rows gives exactly the journey it would build
    from every click of the range, with memory bounded by the cap instead of the range.
    """

    def __init__(self, conversions, *, lookback_seconds, max_touches, visitors=None):
        """`conversions`: (conv_id, conv_time) pairs; `visitors`: conv_id -> ip_id (visitor mode)."""
        self.max_touches = max_touches
        self.by_visitor = visitors is not None
        self._pending = sorted(
            (
                _Collecting(conv_id, conv_time, window_start(conv_time, lookback_seconds),
                            visitors.get(conv_id) if self.by_visitor else None)
                for conv_id, conv_time in conversions
            ),
            key=lambda c: c.conv_time,
            reverse=True,
        )
        self._active = []
        self._done = {}

    @property
    def wants_more(self):
        return bool(self._pending or self._active)

    def feed(self, rows):
        """Consume Candidate rows sorted newest first; returns whether more rows are wanted."""
        for row in rows:
            click_time = row[1]
            while self._pending and self._pending[0].conv_time >= click_time:
                self._active.append(self._pending.pop(0))
            finished = False
            for conversion in self._active:
                if click_time < conversion.start:
                    finished = True
                    continue
                if self.by_visitor and row[2] != conversion.visitor:
                    continue
                if row[0] not in conversion.seen:
                    conversion.seen.add(row[0])
                    conversion.rows.append(row)
                    if len(conversion.seen) >= self.max_touches:
                        finished = True
            if finished:
                self._retire(row[1])
            if not self.wants_more:
                return False
        return self.wants_more

    def _retire(self, click_time):
        still_active = []
        for conversion in self._active:
            if click_time < conversion.start or len(conversion.seen) >= self.max_touches:
                self._done[conversion.conv_id] = conversion.rows
            else:
                still_active.append(conversion)
        self._active = still_active

    def candidates(self):
        """conv_id -> the candidate rows kept for it (every conversion, possibly empty)."""
        result = dict(self._done)
        for conversion in self._pending + self._active:
            result[conversion.conv_id] = conversion.rows
        return result
