"""Reads the journey analysis reports (SPEC §7.1) for one Django user: resolves the account,
advertiser and campaign filters with tenancy, streams the window's journey summaries into the
pure aggregation of `attribution.analysis`, and resolves the channel names shown.

Journeys are read as the rebuild summarised them (`journeys.summary_store`, on the heavy-read
database), one keyset batch at a time: reading them through `journeys.source` costs about 25 s
for 100,000 conversions, the summaries well under 2 s (docs/performance.md).
"""
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied

from attribution import analysis
from journeys import summary_store
from journeys.models import Advertiser, Campaign, LandingPage, TrafficSourceAccount
from journeys.summaries import CHANNEL_KINDS, UNKNOWN_CHANNEL
from tracker import sql
from tracker.accounts import live_account_ids
from tracker.models import Account
from tracker.tenancy import can_see_account, visible_account_ids

HOUR_SECONDS = analysis.HOUR_SECONDS
REPORTS = ("paths", "path-length", "time-lag", "assists")
# The longest window a report reads (a year and a day, as the snapshot reports allow).
MAX_WINDOW_DAYS = 366
# Channel kind -> (model, id field, name field) of the table its names come from.
CHANNEL_NAME_SOURCES = {
    "account": (TrafficSourceAccount, "ppc_account_id", "ppc_account_name"),
    "campaign": (Campaign, "aff_campaign_id", "aff_campaign_name"),
    "landing_page": (LandingPage, "landing_page_id", "landing_page_nickname"),
}


class AnalysisRequestError(ValueError):
    """A filter names something that does not exist; `field` names the filter."""

    def __init__(self, field, message):
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


@dataclass(frozen=True)
class AnalysisScope:
    """The conversions a report covers: accounts (live, visible, filtered) and, when an
    advertiser or campaign is chosen, its campaigns."""

    account_ids: tuple
    campaign_ids: tuple | None = None


def _owner(model, id_field, object_id, field, user):
    """The account owning a filter's object. Another tenant's object is PermissionDenied; an id
    nothing has is AnalysisRequestError for a user who sees every account, and PermissionDenied
    for the others (who cannot tell it from another tenant's)."""
    owner = model.objects.filter(**{id_field: object_id}).values_list("user_id", flat=True).first()
    if owner is not None and can_see_account(user, owner):
        return owner
    if owner is None and visible_account_ids(user) is None:
        raise AnalysisRequestError(field, f"no {field} has id {object_id}")
    raise PermissionDenied(f"{field} {object_id} does not belong to an account you can access.")


def resolve_scope(user, *, account=None, advertiser=None, campaign=None):
    """The AnalysisScope of these optional filters (ids), as `user` may see it."""
    candidates = set(live_account_ids())
    visible = visible_account_ids(user)
    if visible is not None:
        candidates &= visible
    campaign_ids = None
    if account is not None:
        candidates &= {_owner(Account, "user_id", account, "account", user)}
    if advertiser is not None:
        candidates &= {_owner(Advertiser, "aff_network_id", advertiser, "advertiser", user)}
        campaign_ids = set(
            Campaign.objects.filter(aff_network_id=advertiser).values_list("aff_campaign_id", flat=True)
        )
    if campaign is not None:
        candidates &= {_owner(Campaign, "aff_campaign_id", campaign, "campaign", user)}
        campaign_ids = {campaign} if campaign_ids is None else campaign_ids & {campaign}
    return AnalysisScope(
        account_ids=tuple(sorted(candidates)),
        campaign_ids=None if campaign_ids is None else tuple(sorted(campaign_ids)),
    )


def path_conversions(scope, *, start_hour, end_hour, channel):
    """The PathConversion of every summarised live conversion of the scope with conv_time in the
    whole hours start_hour .. end_hour (inclusive), batch by batch (channel None: no paths)."""
    for batch in summary_store.summary_batches(
        account_ids=scope.account_ids, campaign_ids=scope.campaign_ids, start=start_hour,
        end=end_hour + HOUR_SECONDS - 1, channel=channel,
    ):
        yield from batch


@dataclass
class AnalysisResult:
    """One report for one scope and window: rows in report order (for paths, the page asked
    for), the number of rows before paging, the window's totals and the channel names."""

    report: str
    rows: list
    total_rows: int
    conversions: int
    revenue: Decimal
    names: dict  # channel id -> name, for the channels of the report


def run_report(report, scope, *, start_hour, end_hour, channel, collapse_repeats, offset=0, limit=None):
    """The AnalysisResult of one of REPORTS; `offset` and `limit` page the paths."""
    conversions = path_conversions(scope, start_hour=start_hour, end_hour=end_hour,
                                   channel=None if report == "time-lag" else channel)
    names = {}
    if report == "paths":
        table = analysis.top_paths(conversions, collapse_repeats=collapse_repeats)
        names = channel_names(channel, table.channels(), scope.account_ids)
        page = analysis.rank_paths(table, names, offset, limit)
        return AnalysisResult(report, table.rows(page), len(table), table.conversions, table.revenue, names)
    if report == "assists":
        result = analysis.assists(conversions)
        names = channel_names(channel, {row.channel for row in result.rows}, scope.account_ids)
        rows = analysis.rank_assists(result.rows, names)
    elif report == "path-length":
        result = analysis.path_lengths(conversions, collapse_repeats=collapse_repeats)
        rows = result.rows
    elif report == "time-lag":
        result = analysis.time_lags(conversions)
        rows = result.rows
    else:
        raise ValueError(f"report {report!r} is not one of {', '.join(REPORTS)}")
    return AnalysisResult(report, rows, len(rows), result.conversions, result.revenue, names)


def channel_names(channel, channel_ids, account_ids):
    """{channel id: name} of these channels among the accounts' rows (ids without a row are left
    out: the report shows them by id)."""
    if channel not in CHANNEL_KINDS:
        raise ValueError(f"channel {channel!r} is not one of {', '.join(CHANNEL_KINDS)}")
    model, id_field, name_field = CHANNEL_NAME_SOURCES[channel]
    names = {}
    rows = model.objects.using(settings.HEAVY_READ_DATABASE).filter(user_id__in=account_ids)
    for chunk in sql.chunks(sorted(set(channel_ids) - {UNKNOWN_CHANNEL})):
        names.update(rows.filter(**{f"{id_field}__in": chunk}).values_list(id_field, name_field))
    return names
