"""Journey summaries (SPEC §7.1): what the journey analysis reports need of one conversion, kept
per conversion so a month of journeys is aggregated in under two seconds.

A summary is derived from the journey `journeys.source` reads (duplicate click rows resolved,
converting click added, the one-touch journey of a conversion without stored touches): the first
touch's time and the journey's channel path for each channel kind. A touch whose click row is
missing has every channel 0 ("unknown"). The rebuild writes summaries with the snapshots
(`summary_store.replace_summaries`) and verification compares them with a fresh read
(`summary_store.check_summaries`).

Pure: plain values in, plain values out.
"""
from decimal import Decimal
from typing import NamedTuple

from journeys.rules import CHANNEL_COLUMNS, channel_of
from tracker.arguments import EPOCH_MAX

# The analyst's choice of channel (journeys.rules.CHANNEL_COLUMNS), the account by default.
CHANNEL_KINDS = tuple(CHANNEL_COLUMNS)
DEFAULT_CHANNEL = "account"
UNKNOWN_CHANNEL = 0
PATH_SEPARATOR = " "


class ChannelPath(NamedTuple):
    """A summarised conversion with the channel of each touch of its journey (one channel kind),
    chronological: what the analysis reports aggregate."""

    conv_id: int
    conv_time: int
    first_touch_time: int
    revenue: Decimal
    channels: tuple


class Summary(NamedTuple):
    """One conversion's journey as the analysis reports see it."""

    conv_id: int
    user_id: int
    campaign_id: int
    conv_time: int
    revenue: Decimal
    first_touch_time: int
    paths: dict  # channel kind -> tuple of channel ids, one per touch, chronological

    def path(self, channel):
        return self.paths[channel]


def channel_path(touches, channel):
    """The channel of each touch, in the journey's order."""
    return tuple(channel_of(touch, channel) for touch in touches)


def summary_of(record):
    """The Summary of a `journeys.source.JourneyRecord`."""
    conversion, touches = record.conversion, record.journey.touches
    return Summary(
        conv_id=conversion.conv_id,
        user_id=conversion.user_id,
        campaign_id=conversion.campaign_id,
        conv_time=conversion.conv_time,
        revenue=conversion.revenue,
        first_touch_time=touches[0].click_time,
        paths={channel: channel_path(touches, channel) for channel in CHANNEL_KINDS},
    )


def path_text(channels):
    """A channel path as stored: ids separated by spaces ("3 3 7")."""
    return PATH_SEPARATOR.join(map(str, channels))


def parse_path_text(text):
    return tuple(map(int, text.split(PATH_SEPARATOR))) if text else ()


def collapse(channels):
    """Consecutive equal channels as one step: (3, 3, 3, 7) -> ([3, 7], [3, 1]), the steps'
    channels and how many touches each stands for."""
    steps, repeats, previous, run = [], [], None, 0
    for channel in channels:
        if channel == previous:
            run += 1
            continue
        if run:
            steps.append(previous)
            repeats.append(run)
        previous, run = channel, 1
    if run:
        steps.append(previous)
        repeats.append(run)
    return steps, repeats


def collapsed_path_pattern(channels):
    """A regular expression matching the stored path text of every journey whose collapsed path
    has these channels in this order (each step repeated any number of times)."""
    steps = [f"{channel}( {channel})*" for channel in channels]
    return "^" + PATH_SEPARATOR.join(steps) + "$"


class PathSelection(NamedTuple):
    """The conversions of one channel path in a window, as a changelist filter names them."""

    channel: str
    channels: tuple
    start: int
    end: int
    collapsed: bool


MAX_SELECTED_STEPS = 100
_COLLAPSED = "collapsed"


def selection_token(selection):
    """`account:3,5,5:START-END` (`:collapsed` appended for a collapsed path)."""
    token = f"{selection.channel}:{','.join(map(str, selection.channels))}:{selection.start}-{selection.end}"
    return token + f":{_COLLAPSED}" if selection.collapsed else token


def parse_selection_token(token):
    """The PathSelection of a token, or None when it is not one."""
    parts = (token or "").split(":")
    if len(parts) not in (3, 4) or parts[0] not in CHANNEL_KINDS or (len(parts) == 4 and parts[3] != _COLLAPSED):
        return None
    ids, window = parts[1].split(","), parts[2].split("-")
    numbers = [*ids, *window]
    if len(ids) > MAX_SELECTED_STEPS or len(window) != 2 or not all(n.isascii() and n.isdigit() for n in numbers):
        return None
    start, end = int(window[0]), int(window[1])
    if start > end or end > EPOCH_MAX or any(len(n) > 10 for n in ids):
        return None
    return PathSelection(parts[0], tuple(int(n) for n in ids), start, end, len(parts) == 4)
