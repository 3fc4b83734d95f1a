"""Epochs shown as UTC datetimes (SPEC §2): the one formatter for admin pages, commands and checks.

Prosper202 stores times as epoch seconds; people read UTC datetimes, and pages keep the raw epoch
in a tooltip so it can be copied into a command.
"""
from datetime import datetime, timezone

from django.utils.html import format_html

SECONDS_PATTERN = "%Y-%m-%d %H:%M:%S UTC"
MINUTES_PATTERN = "%Y-%m-%d %H:%M UTC"
ISO_PATTERN = "%Y-%m-%dT%H:%M:%SZ"  # ISO 8601, for the API and export files


def utc_datetime(epoch):
    """An epoch (seconds) as an aware UTC datetime."""
    return datetime.fromtimestamp(epoch, tz=timezone.utc)


def iso(epoch):
    """ISO 8601 in UTC with an explicit offset, e.g. 2026-11-24T10:00:00+00:00 (command output)."""
    return utc_datetime(epoch).isoformat()


def utc_text(epoch, pattern=SECONDS_PATTERN):
    """An epoch as UTC text, e.g. '2024-05-01 13:00:00 UTC'."""
    return utc_datetime(epoch).strftime(pattern)


def utc_html(epoch, pattern=SECONDS_PATTERN):
    """An epoch as UTC text with the raw epoch in a tooltip; '—' when there is none."""
    if epoch is None:
        return "—"
    return format_html('<span title="epoch {}">{}</span>', epoch, utc_text(epoch, pattern))
