"""Admin for the tracker side: the conversions changelist with its journey page, and read-only
admins for clicks, campaigns, advertisers, landing pages, traffic-source accounts and accounts.

Everything is read-only (Prosper202 owns these rows) and tenancy-filtered (SPEC §9). The tables
can hold millions of rows, so no page runs an unbounded COUNT(*): counts are capped, filters use
indexed columns, and per-row journey facts are fetched for the displayed page only.
"""
from functools import update_wrapper

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.options import ShowFacets
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Exists, Max, OuterRef, Q
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from journeys import admin_views
from journeys.models import (
    Advertiser,
    Campaign,
    Click,
    Conversion,
    JourneySummary,
    JourneyTouch,
    LandingPage,
    TrafficSourceAccount,
)
from journeys.rules import FLAG_LABELS, REVIEW_FLAGS
from journeys.services import needs_review, purge_journeys, rebuild_journeys, verify_journeys
from journeys.summaries import collapsed_path_pattern, parse_selection_token, path_text
from tracker import tenancy
from tracker.admin_helpers import (
    AccountFilter,
    CappedCountPaginator,
    ReadOnlyAdminMixin,
    TenantRowFilter,
    parse_id,
)
from tracker.audit import Actor
from tracker.models import Account
from tracker.utc import utc_html

# "Needs review" looks at the most recent conversions only, so it never scans a whole table.
REVIEW_SCAN_CONVERSIONS = 50_000


class TrackerAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only, tenancy-filtered, count-capped admin over one Prosper202 table."""

    account_field = "user_id"
    paginator = CappedCountPaginator
    show_full_result_count = False
    show_facets = ShowFacets.NEVER
    list_per_page = 100
    actions = None

    def get_queryset(self, request):
        return tenancy.restrict_to_visible(super().get_queryset(request), request.user, self.account_field)

    def has_module_permission(self, request):
        return tenancy.can_view_reports(request.user)

    def has_view_permission(self, request, obj=None):
        return tenancy.can_view_reports(request.user)


class CampaignFilter(TenantRowFilter):
    """Conversions of one campaign of the visible accounts."""

    title = "campaign"
    parameter_name = "campaign"
    choice_model, choice_id = Campaign, "aff_campaign_id"
    campaign_field = "campaign_id"

    def filter_by(self, queryset, chosen):
        return queryset.filter(**{self.campaign_field: chosen})


class ClickCampaignFilter(CampaignFilter):
    campaign_field = "aff_campaign_id"


class AdvertiserFilter(TenantRowFilter):
    """Conversions of the advertiser's campaigns (`campaign_id IN (…)`, on the campaign_id key)."""

    title = "advertiser"
    parameter_name = "advertiser"
    choice_model, choice_id = Advertiser, "aff_network_id"

    def filter_by(self, queryset, chosen):
        campaign_ids = Campaign.objects.filter(aff_network_id=chosen).values("aff_campaign_id")
        return queryset.filter(campaign_id__in=campaign_ids)


class DeletedFilter(admin.SimpleListFilter):
    title = "deleted"
    parameter_name = "deleted"

    def lookups(self, request, model_admin):
        return [("0", "Live"), ("1", "Soft-deleted")]

    def queryset(self, request, queryset):
        if self.value() == "0":
            return queryset.filter(deleted=0)
        if self.value() == "1":
            return queryset.exclude(deleted=0)
        return queryset


def _has_journey():
    return Exists(JourneyTouch.objects.filter(conv_id=OuterRef("conv_id")))


class HasJourneyFilter(admin.SimpleListFilter):
    title = "stored journey"
    parameter_name = "has_journey"

    def lookups(self, request, model_admin):
        return [("yes", "Has a journey"), ("no", "No journey")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(_has_journey())
        if self.value() == "no":
            return queryset.filter(~_has_journey())
        return queryset


class NeedsReviewFilter(admin.SimpleListFilter):
    """Journeys with a touch outside the lookback window or beyond the touch cap (SPEC §4.3),
    among the most recent REVIEW_SCAN_CONVERSIONS conversions (a bounded scan)."""

    title = f"needs review (latest {REVIEW_SCAN_CONVERSIONS:,} conversions)"
    parameter_name = "needs_review"

    def lookups(self, request, model_admin):
        return [("yes", "Needs manual review")]

    def queryset(self, request, queryset):
        if self.value() != "yes":
            return queryset
        newest = Conversion.objects.aggregate(newest=Max("conv_id"))["newest"] or 0
        return queryset.filter(conv_id__in=list(needs_review(min_conv_id=newest - REVIEW_SCAN_CONVERSIONS)))


class JourneyPathFilter(admin.SimpleListFilter):
    """The conversions of one channel path in one window, as the journey analysis links them
    (`journeys.summaries.selection_token`): matched on their journey summaries within the
    window only, so the scan is bounded by the window."""

    title = "journey path (analysis)"
    parameter_name = "journey_path"

    def lookups(self, request, model_admin):
        if self.value() is None:
            return []
        selection = parse_selection_token(self.value())
        if selection is None:
            return [(self.value(), "not a journey path")]
        steps = " › ".join(map(str, selection.channels))
        collapsed = ", repeats collapsed" if selection.collapsed else ""
        return [(self.value(), f"{selection.channel} path {steps}{collapsed}")]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        selection = parse_selection_token(self.value())
        if selection is None:
            return queryset.none()
        column = f"{selection.channel}_path"
        if selection.collapsed:
            match = {f"{column}__regex": collapsed_path_pattern(selection.channels)}
        else:
            match = {column: path_text(selection.channels)}
        summaries = JourneySummary.objects.filter(
            conv_time__gte=selection.start, conv_time__lte=selection.end, **match
        )
        return queryset.filter(conv_id__in=summaries.values("conv_id"))


class ConversionChangeList(ChangeList):
    """Adds journey facts (touch count, review flags) to the displayed page only."""

    def get_results(self, request):
        super().get_results(request)
        page = list(self.result_list)
        conv_ids = [c.conv_id for c in page]
        touch_counts = dict(
            JourneyTouch.objects.filter(conv_id__in=conv_ids).values("conv_id")
            .annotate(touch_count=Count("touchpoint_id")).order_by().values_list("conv_id", "touch_count")
        )
        review = needs_review(conv_ids=conv_ids)
        for conversion in page:
            conversion.journey_touch_count = touch_counts.get(conversion.conv_id, 0)
            flags = review.get(conversion.conv_id, ())
            conversion.journey_review = [FLAG_LABELS[flag] for flag in REVIEW_FLAGS if flag in flags]
        self.result_list = page


JOURNEY_ACTIONS = {
    "rebuild": (
        "Rebuild journey",
        "Rebuild this conversion's journey from 202_clicks now (SPEC §4.1): its stored touchpoint "
        "rows are replaced in one transaction and its cache entry is evicted.",
    ),
    "purge": (
        "Purge journey",
        "Delete this conversion's touchpoint rows and evict its cache entry. Credits fall back to "
        "the converting click alone until the journey is rebuilt.",
    ),
    "verify": (
        "Verify journey",
        "Check the stored journey against the rules of SPEC §4.3 and against what would be built "
        "now. Nothing is written.",
    ),
}


@admin.register(Conversion)
class ConversionAdmin(TrackerAdmin):
    list_display = (
        "conv_id", "conversion_time", "account", "campaign", "click_id", "revenue", "is_deleted",
        "journey_touches", "review",
    )
    list_display_links = ("conv_id",)
    sortable_by = ("conv_id",)  # the primary key: any other order would sort the whole table
    list_select_related = ("campaign", "user")
    list_filter = (
        AccountFilter, CampaignFilter, AdvertiserFilter, DeletedFilter, HasJourneyFilter,
        NeedsReviewFilter, JourneyPathFilter,
    )
    search_fields = ("conv_id",)  # replaced by exact lookups in get_search_results
    search_help_text = (
        "Exact conv_id or click_id (a number), or transaction id (text; prefix a numeric one "
        "with txn:)."
    )
    change_form_template = "admin/journeys/conversion/journey.html"

    def get_changelist(self, request, **kwargs):
        return ConversionChangeList

    def get_search_results(self, request, queryset, search_term):
        """Exact matches on indexed columns only: never LIKE over a million rows."""
        term = search_term.strip()
        if not term:
            return queryset, False
        if term.lower().startswith("txn:"):
            return queryset.filter(transaction_id=term[4:].strip()), False
        number = parse_id(term)
        if number is not None:
            return queryset.filter(Q(conv_id=number) | Q(click_id=number)), False
        return queryset.filter(transaction_id=term), False

    @admin.display(description="conversion time (UTC)")
    def conversion_time(self, conversion):
        return utc_html(conversion.conv_time)

    @admin.display(description="revenue")
    def revenue(self, conversion):
        return conversion.click_payout

    @admin.display(description="account")
    def account(self, conversion):
        return conversion.user or conversion.user_id

    @admin.display(description="deleted")
    def is_deleted(self, conversion):
        return "soft-deleted" if conversion.deleted else ""

    @admin.display(description="touches")
    def journey_touches(self, conversion):
        return getattr(conversion, "journey_touch_count", None)

    @admin.display(description="review")
    def review(self, conversion):
        return ", ".join(getattr(conversion, "journey_review", ())) or ""

    def get_urls(self):
        def wrap(view):
            def wrapper(*args, **kwargs):
                return self.admin_site.admin_view(view)(*args, **kwargs)

            return update_wrapper(wrapper, view)

        return [
            path(
                "<path:object_id>/journey/<str:action>/",
                wrap(self.journey_action_view),
                name="journeys_conversion_journey_action",
            ),
        ] + super().get_urls()

    def _conversion_or_404(self, request, object_id):
        """The conversion if this user's accounts include it; another tenant's is a 404."""
        conversion = self.get_object(request, unquote(object_id))
        if conversion is None:
            raise Http404(f"No conversion {object_id} among the accounts you can see.")
        return conversion

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The journey page: conversion facts, touches, verification, credits, timeline."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        conversion = self._conversion_or_404(request, object_id)
        page = admin_views.journey_page(conversion)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Conversion {conversion.conv_id}: journey",
            "subtitle": None,
            "opts": self.opts,
            "original": conversion,
            "page": page,
            "conversion_time": utc_html(conversion.conv_time),
            "click_time": utc_html(conversion.click_time),
            "can_manage": tenancy.can_manage_models(request.user),
            "journey_actions": [
                (name, label, reverse("admin:journeys_conversion_journey_action",
                                      args=[conversion.conv_id, name]))
                for name, (label, _) in JOURNEY_ACTIONS.items()
            ],
            "lookback_seconds": settings.ATTRIBUTION_LOOKBACK_SECONDS,
            "lookback": admin_views.human_duration(settings.ATTRIBUTION_LOOKBACK_SECONDS),
            "max_touches": settings.ATTRIBUTION_MAX_TOUCHES,
            "journey_match": settings.ATTRIBUTION_JOURNEY_MATCH,
            **(extra_context or {}),
        }
        return TemplateResponse(request, self.change_form_template, context)

    def journey_action_view(self, request, object_id, action):
        """Confirm (GET) then run (POST) rebuild, purge or verify on one conversion."""
        if action not in JOURNEY_ACTIONS:
            raise Http404(f"Unknown journey action {action!r}; allowed: {', '.join(JOURNEY_ACTIONS)}.")
        if not tenancy.can_manage_models(request.user):
            raise PermissionDenied
        conversion = self._conversion_or_404(request, object_id)
        page_url = reverse("admin:journeys_conversion_change", args=[conversion.conv_id])
        if request.method == "POST":
            level, message = _run_journey_action(action, conversion, Actor.from_request(request))
            self.message_user(request, message, level)
            return redirect(page_url)
        label, explanation = JOURNEY_ACTIONS[action]
        context = {
            **self.admin_site.each_context(request),
            "title": f"{label} of conversion {conversion.conv_id}?",
            "opts": self.opts,
            "original": conversion,
            "action_label": label,
            "explanation": explanation,
            "page_url": page_url,
        }
        return TemplateResponse(request, "admin/journeys/conversion/journey_action_confirm.html", context)


def _run_journey_action(action, conversion, actor):
    """Call the journey service for one conversion; (message level, message) for the admin."""
    conv_id = conversion.conv_id
    if action == "rebuild":
        result = rebuild_journeys([conv_id], actor=actor)
        if conv_id in result.failed:
            return messages.ERROR, f"Conversion {conv_id}: rebuild failed: {result.failed[conv_id]}"
        if result.skipped_disabled:
            return messages.WARNING, (
                f"Conversion {conv_id}: multi-touch is disabled for its scope; journey left as it was."
            )
        return messages.SUCCESS, f"Conversion {conv_id}: journey rebuilt ({result.written} written)."
    if action == "purge":
        result = purge_journeys(conv_ids=[conv_id], actor=actor)
        return messages.SUCCESS, (
            f"Conversion {conv_id}: journey purged, {result.rows_deleted} touchpoint row(s) deleted."
        )
    report = verify_journeys(conv_ids=[conv_id])
    return _verification_message(conv_id, report)


def _verification_message(conv_id, report):
    errors, warnings = admin_views.problems_of(report, conv_id)
    if errors:
        return messages.ERROR, f"Conversion {conv_id}: journey has errors: {'; '.join(errors)}"
    if warnings:
        return messages.WARNING, f"Conversion {conv_id}: journey needs manual review: {'; '.join(warnings)}"
    return messages.SUCCESS, f"Conversion {conv_id}: journey verified, no problems found."


@admin.register(Click)
class ClickAdmin(TrackerAdmin):
    list_display = (
        "click_id", "click_time_utc", "user", "aff_campaign", "landing_page", "ppc_account",
        "click_cpc", "click_lead",
    )
    list_select_related = ("user", "aff_campaign", "landing_page", "ppc_account")
    list_filter = (AccountFilter, ClickCampaignFilter)
    search_fields = ("click_id",)
    search_help_text = "Exact click_id."
    ordering = ("-click_time",)
    sortable_by = ("click_id", "click_time_utc")

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        click_id = parse_id(term)
        return (queryset.none() if click_id is None else queryset.filter(click_id=click_id)), False

    @admin.display(description="click time (UTC)", ordering="click_time")
    def click_time_utc(self, click):
        return utc_html(click.click_time)


@admin.register(Campaign)
class CampaignAdmin(TrackerAdmin):
    list_display = ("aff_campaign_id", "aff_campaign_name", "user", "aff_network",
                    "aff_campaign_payout", "aff_campaign_deleted")
    list_select_related = ("user", "aff_network")
    list_filter = (AccountFilter, "aff_campaign_deleted")
    search_fields = ("aff_campaign_name",)


@admin.register(Advertiser)
class AdvertiserAdmin(TrackerAdmin):
    list_display = ("aff_network_id", "aff_network_name", "user", "aff_network_deleted")
    list_select_related = ("user",)
    list_filter = (AccountFilter, "aff_network_deleted")
    search_fields = ("aff_network_name",)


@admin.register(LandingPage)
class LandingPageAdmin(TrackerAdmin):
    list_display = ("landing_page_id", "landing_page_nickname", "landing_page_url", "user",
                    "aff_campaign", "landing_page_deleted")
    list_select_related = ("user", "aff_campaign")
    list_filter = (AccountFilter, "landing_page_deleted")
    search_fields = ("landing_page_nickname",)


@admin.register(TrafficSourceAccount)
class TrafficSourceAccountAdmin(TrackerAdmin):
    list_display = ("ppc_account_id", "ppc_account_name", "ppc_network_id", "user",
                    "ppc_account_deleted")
    list_select_related = ("user",)
    list_filter = (AccountFilter, "ppc_account_deleted")
    search_fields = ("ppc_account_name",)


@admin.register(Account)
class AccountAdmin(TrackerAdmin):
    list_display = ("user_id", "user_name", "user_email", "user_timezone", "user_deleted")
    list_filter = ("user_deleted",)
    search_fields = ("user_name", "user_email")
