"""The pure journey rules (SPEC §4.1, §4.3, §5.1): multi-touch precedence, the review flags with
their one set of names, the checks of a stored journey, and the journey as it is credited.

No ORM and no Django: plain values in, plain values out, so the rules are tested without a
database, and every caller (capture, verify, admin filters, System Checks, crediting, analysis)
applies the same rule.
"""
from dataclasses import dataclass
from typing import NamedTuple

FLAG_ADDED_CONVERTING_CLICK = "added_converting_click"
FLAG_BEYOND_CAP = "beyond_cap"
FLAG_OUTSIDE_WINDOW = "outside_window"
FLAG_VISITOR_UNKNOWN = "visitor_unknown"
# Flags that put a journey on the "needs manual review" list (SPEC §4.3: warnings, not errors).
# `journeys.store.review_flags` is the one query that finds them.
REVIEW_FLAGS = (FLAG_OUTSIDE_WINDOW, FLAG_BEYOND_CAP, FLAG_VISITOR_UNKNOWN)
FLAG_LABELS = {
    FLAG_ADDED_CONVERTING_CLICK: "added converting click",
    FLAG_BEYOND_CAP: "beyond cap",
    FLAG_OUTSIDE_WINDOW: "outside window",
    FLAG_VISITOR_UNKNOWN: "visitor unknown",
}


def review_message(flag, *, lookback_seconds, max_touches):
    """What a review flag means, for verify's warnings and the pages."""
    return {
        FLAG_OUTSIDE_WINDOW: f"a touch is before the lookback window ({lookback_seconds} s before the conversion)",
        FLAG_BEYOND_CAP: f"more stored touches than the cap, beyond the cap of {max_touches}",
        FLAG_VISITOR_UNKNOWN: "visitor unknown: the converting click has no 202_clicks_advance row",
    }[flag]

# What a channel is (Markov credits, SPEC §5.2; journey analysis, §7.1): a touch's traffic-source
# account, its campaign or its landing page. 0 is a channel of its own ("unknown": no value, or
# the click row is missing).
CHANNEL_COLUMNS = {"account": "ppc_account_id", "campaign": "campaign_id", "landing_page": "landing_page_id"}


def channel_of(touch, channel_kind):
    """The channel of a touch for a channel kind (a key of CHANNEL_COLUMNS)."""
    return getattr(touch, CHANNEL_COLUMNS[channel_kind])


SCOPE_CAMPAIGN = "campaign"
SCOPE_ADVERTISER = "advertiser"
SCOPE_GLOBAL = "global"


def window_start(conv_time, lookback_seconds):
    """First second of a conversion's lookback window (the window is inclusive at both ends)."""
    return max(0, conv_time - lookback_seconds)


@dataclass(frozen=True, slots=True)
class Touch:
    """One click of a journey, with the click columns scopes, channels and reports need (0 when
    the click's `202_clicks` row is missing)."""

    click_id: int
    click_time: int
    landing_page_id: int = 0
    ppc_account_id: int = 0
    campaign_id: int = 0


@dataclass(frozen=True, slots=True)
class Journey:
    """A conversion's touches: sorted by (click_time, click_id), distinct, converting click in.

    Build it with `journey_from_stored`, which enforces those invariants; the credit functions
    rely on them and do not re-check (they run for every conversion and model of a rebuild).
    """

    conv_id: int
    conv_time: int
    converting_click_id: int
    touches: tuple[Touch, ...]


def journey_from_stored(*, conv_id, conv_time, converting_touch, stored_touches):
    """The journey SPEC §5.1 credits: stored touches de-duplicated by click id (first row wins),
    the converting click added when missing, sorted by time then click id.

    No stored touches gives the one-touch journey of the converting click. `converting_touch`
    is the converting click as the conversion row names it (its click_time), with its click's
    facts (zeros when its `202_clicks` row is missing).
    """
    by_click_id = {}
    for touch in stored_touches:
        by_click_id.setdefault(touch.click_id, touch)
    by_click_id.setdefault(converting_touch.click_id, converting_touch)
    touches = tuple(sorted(by_click_id.values(), key=_chronological))
    return Journey(conv_id, conv_time, converting_touch.click_id, touches)


def _chronological(touch):
    return (touch.click_time, touch.click_id)


class SettingRow(NamedTuple):
    """The `202_attribution_settings` columns that decide the multi-touch flag."""

    scope_type: str
    scope_id: int | None
    multi_touch_enabled: bool
    updated_at: int
    setting_id: int


class MultiTouchPolicy:
    """One account's effective multi-touch flag per campaign (SPEC §4.1 precedence).

    campaign row > advertiser row (the campaign's aff_network_id) > global row > enabled. When a
    scope has several rows (possible for global: NULL scope_id defeats the unique key) the row
    with the latest updated_at, then the highest setting_id, decides.
    """

    def __init__(self, rows):
        self._deciding = {}
        for row in rows:
            scope = (row.scope_type, None if row.scope_type == SCOPE_GLOBAL else row.scope_id)
            current = self._deciding.get(scope)
            if current is None or (row.updated_at, row.setting_id) > (current.updated_at, current.setting_id):
                self._deciding[scope] = row

    def deciding_row(self, campaign_id, advertiser_id):
        """The settings row that decides for this campaign, or None (enabled by default)."""
        for scope in ((SCOPE_CAMPAIGN, campaign_id), (SCOPE_ADVERTISER, advertiser_id), (SCOPE_GLOBAL, None)):
            if scope[0] != SCOPE_GLOBAL and scope[1] is None:
                continue
            row = self._deciding.get(scope)
            if row is not None:
                return row
        return None

    def enabled(self, campaign_id, advertiser_id):
        row = self.deciding_row(campaign_id, advertiser_id)
        return True if row is None else bool(row.multi_touch_enabled)


def check_stored_journey(conversion, stored, fresh):
    """The errors of a stored journey (SPEC §4.3): positions, converting click, order, touches
    after the conversion, and a fresh build that differs (stale). Review flags (warnings) come
    from `journeys.store.review_flags`.

    `stored`: (click_id, click_time, position) rows in stored order (position, then row id);
    `fresh`: the BuiltJourney §4.1 gives now, or None when no comparison applies (multi-touch
    disabled, account deleted).
    """
    errors = []
    count = len(stored)
    positions = [row[2] for row in stored]
    if positions != list(range(count)):
        errors.append(f"positions are {positions}, expected 0..{count - 1}")
    converting = sum(1 for row in stored if row[0] == conversion.click_id)
    if converting != 1:
        errors.append(f"converting click {conversion.click_id} appears {converting} time(s), expected exactly once")
    by_position = sorted(stored, key=lambda row: row[2])
    for earlier, later in zip(by_position, by_position[1:]):
        if (earlier[1], earlier[0]) >= (later[1], later[0]):
            errors.append(
                f"touches out of order at position {later[2]}: click {later[0]} at {later[1]} "
                f"follows click {earlier[0]} at {earlier[1]}"
            )
            break
    late = [row for row in stored if row[1] > conversion.conv_time]
    if late:
        errors.append(
            f"click {late[0][0]} at {late[0][1]} is later than the conversion at {conversion.conv_time}"
        )
    if fresh is not None and [(row[0], row[1]) for row in by_position] != fresh.pairs():
        errors.append(f"stale: stored journey has {count} touch(es), a fresh build has {len(fresh.touches)}")
    return errors
