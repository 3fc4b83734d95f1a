"""The conversion journey page (SPEC §7 "Journey page"): why was this conversion credited so?

`journey_page(conversion)` gathers what the page shows: the journey as `journeys.source` reads it
(stored touches through the journey cache), one row per touch with its flags, the verification result, and one credit column per active model
of the account (plus first touch / last touch / linear for reference). The timeline picture and
the human durations are pure helpers, so they are tested without a database.
"""
from dataclasses import dataclass, field

from django.utils.html import format_html, format_html_join

from journeys import rules, source
from journeys.models import LandingPage, TrafficSourceAccount
from journeys.rules import FLAG_ADDED_CONVERTING_CLICK, FLAG_LABELS, REVIEW_FLAGS
from journeys.services import JourneyRules, needs_review, verify_journeys
from tracker.utc import utc_datetime

# The credit columns are the attribution app's: it registers the function that computes them
# (journeys never imports attribution).
_credit_columns_provider = None


def register_credit_columns(provider):
    """`provider(record)` returns (columns, invalid models) for a JourneyRecord."""
    global _credit_columns_provider
    _credit_columns_provider = provider


# Labels of the page; the review flags' labels are the rules' (one set of names).
FLAG_CONVERTING = "converting click"
FLAG_ADDED = FLAG_LABELS[FLAG_ADDED_CONVERTING_CLICK]
FLAG_OUTSIDE_WINDOW = FLAG_LABELS[rules.FLAG_OUTSIDE_WINDOW]
FLAG_BEYOND_CAP = FLAG_LABELS[rules.FLAG_BEYOND_CAP]
FLAG_VISITOR_UNKNOWN = FLAG_LABELS[rules.FLAG_VISITOR_UNKNOWN]
FLAG_CLICK_MISSING = "click row missing"
FLAG_AFTER_CONVERSION = "after conversion"


def human_duration(seconds):
    """'2 h 5 min', '3 d 4 h', '45 s': the two largest units, for "time before conversion"."""
    if seconds < 0:
        return "-" + human_duration(-seconds)
    units = (("d", 86_400), ("h", 3600), ("min", 60), ("s", 1))
    parts = []
    for name, size in units:
        amount, seconds = divmod(seconds, size)
        if amount or parts:
            parts.append((amount, name))
        if len(parts) == 2:
            break
    shown = [f"{amount} {name}" for amount, name in parts if amount]
    return " ".join(shown) or "0 s"


@dataclass
class TouchRow:
    """One touch of the journey as the page shows it."""

    position: int
    click_id: int
    click_time: int
    seconds_before_conversion: int
    landing_page: object  # LandingPage or None
    traffic_source: object  # TrafficSourceAccount or None
    click_found: bool
    flags: list = field(default_factory=list)
    credits: list = field(default_factory=list)  # aligned with JourneyPage.credit_columns

    @property
    def click_datetime(self):
        return utc_datetime(self.click_time)

    @property
    def before_conversion(self):
        return human_duration(self.seconds_before_conversion)


@dataclass
class JourneyPage:
    conversion: object
    touches: list
    stored_touch_count: int
    journey_flags: list
    credit_columns: list
    invalid_models: list  # (model, reason)
    verification_errors: list
    verification_warnings: list
    timeline_svg: str


def journey_page(conversion):
    """Everything the journey page shows for one conversion (already tenancy-checked): the
    journey as `journeys.source` reads it for crediting, the stored rows' review flags from the
    one review query, the verification result and the credit columns."""
    record = source.journey_of(conversion.conv_id)
    rules = JourneyRules.from_settings()
    review = needs_review(conv_ids=[conversion.conv_id]).get(conversion.conv_id, set())
    journey_flags = [FLAG_LABELS[flag] for flag in REVIEW_FLAGS if flag in review]
    if record.converting_click_added:
        journey_flags.insert(0, FLAG_ADDED)
    if not record.converting_click_found:
        journey_flags.append(FLAG_CLICK_MISSING)
    rows = _touch_rows(conversion, record, journey_flags, rules)
    columns, invalid = _credit_columns_provider(record) if _credit_columns_provider else ([], [])
    errors, warnings = problems_of(verify_journeys(conv_ids=[conversion.conv_id]), conversion.conv_id)
    for row_index, row in enumerate(rows):
        row.credits = [column.credits[row_index] if column.credits else None for column in columns]
    return JourneyPage(
        conversion=conversion,
        touches=rows,
        stored_touch_count=record.stored_touch_count,
        journey_flags=journey_flags,
        credit_columns=columns,
        invalid_models=invalid,
        verification_errors=errors,
        verification_warnings=warnings,
        timeline_svg=timeline_svg(
            [(row.click_id, row.seconds_before_conversion, FLAG_CONVERTING in row.flags) for row in rows]
        ),
    )


def problems_of(report, conv_id):
    """(errors, warnings) of one conversion in a journeys.services.VerifyReport."""
    problems = report.results.get(conv_id)
    return (list(problems.errors), list(problems.warnings)) if problems else ([], [])


def _touch_rows(conversion, record, journey_flags, rules):
    window_start = conversion.conv_time - rules.lookback_seconds
    touches = record.journey.touches
    landing_pages = LandingPage.objects.in_bulk({touch.landing_page_id for touch in touches} - {0})
    sources = TrafficSourceAccount.objects.in_bulk({touch.ppc_account_id for touch in touches} - {0})
    rows = []
    for position, touch in enumerate(touches):
        found = touch.click_id not in record.missing_click_ids
        flags = []
        if touch.click_id == conversion.click_id:
            flags.append(FLAG_CONVERTING)
            flags.extend(flag for flag in journey_flags if flag in (FLAG_ADDED, FLAG_BEYOND_CAP, FLAG_VISITOR_UNKNOWN))
        if touch.click_time < window_start:
            flags.append(FLAG_OUTSIDE_WINDOW)
        if touch.click_time > conversion.conv_time:
            flags.append(FLAG_AFTER_CONVERSION)
        if not found:
            flags.append(FLAG_CLICK_MISSING)
        rows.append(TouchRow(
            position=position,
            click_id=touch.click_id,
            click_time=touch.click_time,
            seconds_before_conversion=conversion.conv_time - touch.click_time,
            landing_page=landing_pages.get(touch.landing_page_id),
            traffic_source=sources.get(touch.ppc_account_id),
            click_found=found,
            flags=flags,
        ))
    return rows


TIMELINE_WIDTH = 860
TIMELINE_HEIGHT = 150
TIMELINE_MARGIN = 50
AXIS_Y = 90


def timeline_svg(touches):
    """An inline SVG: a horizontal time axis ending at the conversion, one labelled dot per touch.

    `touches`: (click_id, seconds_before_conversion, is_converting) in journey order. Labels
    alternate above and below the axis so neighbouring clicks stay readable.
    """
    span = max([seconds for _, seconds, _ in touches] + [1])
    usable = TIMELINE_WIDTH - 2 * TIMELINE_MARGIN

    def x_of(seconds_before):
        return f"{TIMELINE_MARGIN + usable * (1 - max(0, seconds_before) / span):.1f}"

    dots = format_html_join(
        "",
        '<g><title>click {} — {} before conversion</title>'
        '<circle cx="{}" cy="{}" r="{}" fill="{}"/>'
        '<text x="{}" y="{}" font-size="10" text-anchor="middle">{}</text></g>',
        (
            (
                click_id, human_duration(seconds), x_of(seconds), AXIS_Y,
                7 if converting else 5, "#ba2121" if converting else "#417690",
                x_of(seconds), AXIS_Y - 14 if index % 2 == 0 else AXIS_Y + 22, click_id,
            )
            for index, (click_id, seconds, converting) in enumerate(touches)
        ),
    )
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" role="img" class="journey-timeline" '
        'viewBox="0 0 {width} {height}" width="100%" aria-label="Journey timeline">'
        '<line x1="{left}" y1="{axis}" x2="{right}" y2="{axis}" stroke="#666" stroke-width="1"/>'
        '<text x="{left}" y="{below}" font-size="11" text-anchor="start">{span} before</text>'
        '<line x1="{right}" y1="{top}" x2="{right}" y2="{bottom}" stroke="#ba2121" stroke-width="2"/>'
        '<text x="{right}" y="{label}" font-size="11" text-anchor="end">conversion</text>'
        "{dots}</svg>",
        width=TIMELINE_WIDTH, height=TIMELINE_HEIGHT, left=TIMELINE_MARGIN,
        right=TIMELINE_WIDTH - TIMELINE_MARGIN, axis=AXIS_Y, top=AXIS_Y - 40, bottom=AXIS_Y + 10,
        below=AXIS_Y + 45, label=AXIS_Y - 45, span=human_duration(span), dots=dots,
    )
