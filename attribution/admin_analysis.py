"""Journey analysis pages in the admin (SPEC §7.1): top conversion paths, path length, time lag
and assisted conversions, each with its filters, a chart or share bars, and a CSV download of
exactly the table shown.

The filters are a GET form (bookmarkable). The account, advertiser and campaign choices are the
user's own, so another tenant's id is an invalid choice (a form error), never data. The reports
come from `attribution.analysis_reader`; this module only turns them into cells.
"""
import csv
from decimal import Decimal
from urllib.parse import urlencode

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse

from attribution import analysis, analysis_reader
from attribution.admin_reporting import utc_label
from attribution.exports.files import starts_a_formula
from attribution.forms import RANGE_CHOICES, HourWindowForm
from attribution.reporting import HOUR_SECONDS
from journeys.models import Advertiser, Campaign
from journeys.summaries import DEFAULT_CHANNEL, PathSelection, selection_token
from tracker.models import Account
from tracker.tenancy import can_view_reports, restrict_to_visible

CHANNEL_CHOICES = (
    ("account", "Traffic-source account"),
    ("campaign", "Campaign"),
    ("landing_page", "Landing page"),
)
# report -> (page title, URL name, one line on what it answers)
REPORT_PAGES = {
    "paths": ("Top conversion paths", "attribution_analysis_paths",
              "Which sequences of channels lead to conversions?"),
    "path-length": ("Path length", "attribution_analysis_path_length",
                    "How many touches does a conversion take?"),
    "time-lag": ("Time lag", "attribution_analysis_time_lag",
                 "How many days from the first touch to the conversion?"),
    "assists": ("Assisted conversions", "attribution_analysis_assists",
                "Which channels close conversions, and which assist them?"),
}
CENT = Decimal("0.01")
DEFAULT_RANGE = "7d"


class _VisibleChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return str(obj)


class AnalysisForm(HourWindowForm):
    """Window (whole UTC hours), filters and channel of a journey analysis report."""

    range = forms.ChoiceField(choices=RANGE_CHOICES, initial=DEFAULT_RANGE, required=False)
    account = _VisibleChoiceField(queryset=Account.objects.none(), required=False, empty_label="All my accounts")
    advertiser = _VisibleChoiceField(queryset=Advertiser.objects.none(), required=False, empty_label="Any")
    campaign = _VisibleChoiceField(queryset=Campaign.objects.none(), required=False, empty_label="Any")
    channel = forms.ChoiceField(choices=CHANNEL_CHOICES, initial=DEFAULT_CHANNEL, required=False)
    collapse = forms.BooleanField(required=False, label="Collapse repeats",
                                  help_text="Consecutive touches on one channel become one step (A ×3).")
    page = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["account"].queryset = restrict_to_visible(Account.objects.all(), user)
        self.fields["advertiser"].queryset = restrict_to_visible(Advertiser.objects.all(), user).order_by(
            "user_id", "aff_network_name")
        self.fields["campaign"].queryset = restrict_to_visible(Campaign.objects.all(), user).order_by(
            "user_id", "aff_campaign_name")

    def clean(self):
        cleaned = super().clean()
        cleaned["range"] = cleaned.get("range") or DEFAULT_RANGE
        cleaned["channel"] = cleaned.get("channel") or DEFAULT_CHANNEL
        cleaned["page"] = cleaned.get("page") or 1
        return cleaned

    def object_id(self, name):
        chosen = self.cleaned_data.get(name)
        return None if chosen is None else chosen.pk


# --- cells -------------------------------------------------------------------------------------


def _cell(text, *, number=False, share=None, href=None):
    """One table cell: its text (also the CSV value), and how the page shows it."""
    return {"text": str(text), "number": number, "share": share, "href": href}


def _money(amount):
    return _cell(amount.quantize(CENT), number=True)


def _percent(share):
    return _cell(f"{share * 100:.1f} %", number=True, share=share)


def _count(value, share=None):
    return _cell(value, number=True, share=share)


def _ratio(value):
    return _cell("—" if value is None else f"{value:.2f}", number=True)


def _conversions_link(row, context):
    """The conversions changelist filtered to this path's conversions of the window."""
    selection = PathSelection(context["channel"], row.channels, context["start_hour"],
                              context["end_hour"] + HOUR_SECONDS - 1, context["collapse"])
    query = {"journey_path": selection_token(selection)}
    query.update({name: value for name, value in context["filters"].items() if value is not None})
    return reverse("admin:journeys_conversion_changelist") + "?" + urlencode(query)


def report_table(result, context):
    """(header, rows of cells) of a report as the page shows it and the CSV writes it."""
    names = result.names
    if result.report == "paths":
        header = ["Path", "Conversions", "Revenue", "Share of conversions", "Mean touches",
                  "Median hours to conversion"]
        rows = [[
            _cell(analysis.path_label(row.steps, names), href=_conversions_link(row, context)),
            _count(row.conversions), _money(row.revenue), _percent(row.share),
            _cell(f"{row.mean_touches:.1f}", number=True), _cell(f"{row.median_hours:.1f}", number=True),
        ] for row in result.rows]
    elif result.report == "assists":
        header = ["Channel", "Last-touch conversions", "Last-touch revenue", "Assisted conversions",
                  "Assisted revenue", "Assisted ÷ last-touch"]
        rows = [[
            _cell(analysis.channel_name(row.channel, names)),
            _count(row.last_touch_conversions, row.last_touch_share), _money(row.last_touch_revenue),
            _count(row.assisted_conversions, row.assisted_share), _money(row.assisted_revenue),
            _ratio(row.assist_ratio),
        ] for row in result.rows]
    else:
        first = {"path-length": "Steps" if context["collapse"] else "Touches",
                 "time-lag": "Days from first touch"}[result.report]
        header = [first, "Conversions", "Revenue", "Share of conversions"]
        rows = [[_cell(row.label), _count(row.conversions), _money(row.revenue), _percent(row.share)]
                for row in result.rows]
    return header, rows


def chart_data(result, header):
    """The bar chart of path length and time lag (None for the other reports)."""
    if result.report not in ("path-length", "time-lag"):
        return None
    return {
        "x_title": header[0],
        "labels": [row.label for row in result.rows],
        "conversions": [row.conversions for row in result.rows],
        "revenue": [float(row.revenue) for row in result.rows],
    }


def _csv_value(text):
    return "'" + text if starts_a_formula(text) else text


def csv_response(report, header, rows, start_hour, end_hour):
    """The table shown, as a CSV download (formula-like text written as text)."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    filename = f"journey-analysis-{report}-{start_hour}-{end_hour}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow(header)
    for row in rows:
        writer.writerow([_csv_value(cell["text"]) for cell in row])
    return response


# --- the page ----------------------------------------------------------------------------------


def _filters_query(request):
    """The filters of this page for another report's link (not its page or format)."""
    query = request.GET.copy()
    for name in ("page", "format"):
        query.pop(name, None)
    return "?" + query.urlencode() if query else ""


def _page_url(request, **changes):
    query = request.GET.copy()
    for name, value in changes.items():
        query[name] = value
    return "?" + query.urlencode()


def analysis_view(request, report):
    """One report page; `?format=csv` downloads the table it shows."""
    if not can_view_reports(request.user):
        raise PermissionDenied
    form = AnalysisForm(request.GET, user=request.user)
    context = {
        **admin.site.each_context(request),
        "title": REPORT_PAGES[report][0],
        "report": report,
        "question": REPORT_PAGES[report][2],
        "tabs": [(name, title, reverse(url_name) + _filters_query(request))
                 for name, (title, url_name, _question) in REPORT_PAGES.items()],
        "form": form,
    }
    if not form.is_valid():
        return TemplateResponse(request, "admin/attribution/analysis.html", context)
    start_hour, end_hour = form.window()
    filters = {name: form.object_id(name) for name in ("account", "advertiser", "campaign")}
    scope = analysis_reader.resolve_scope(request.user, **filters)
    channel, collapse_repeats = form.cleaned_data["channel"], form.cleaned_data["collapse"]
    page = form.cleaned_data["page"]
    result = analysis_reader.run_report(
        report, scope, start_hour=start_hour, end_hour=end_hour, channel=channel,
        collapse_repeats=collapse_repeats, offset=(page - 1) * analysis.PATHS_PER_PAGE,
        limit=analysis.PATHS_PER_PAGE,
    )
    header, rows = report_table(result, {
        "channel": channel, "collapse": collapse_repeats, "start_hour": start_hour, "end_hour": end_hour,
        "filters": filters,
    })
    if request.GET.get("format") == "csv":
        return csv_response(report, header, rows, start_hour, end_hour)
    pages = max(1, -(-result.total_rows // analysis.PATHS_PER_PAGE))
    context.update({
        "result": result,
        "header": header,
        "rows": rows,
        "chart": chart_data(result, header),
        "window": {"start": utc_label(start_hour), "end": utc_label(end_hour + HOUR_SECONDS - 1),
                   "start_epoch": start_hour, "end_epoch": end_hour},
        "revenue": result.revenue.quantize(CENT),
        "csv_url": _page_url(request, format="csv"),
        "paging": report == "paths" and {
            "page": page, "pages": pages, "total": result.total_rows,
            "previous": _page_url(request, page=page - 1) if page > 1 else None,
            "next": _page_url(request, page=page + 1) if page < pages else None,
        },
    })
    return TemplateResponse(request, "admin/attribution/analysis.html", context)


urlpatterns = [
    path(f"admin/attribution/analysis/{report}/", admin.site.admin_view(analysis_view), {"report": report},
         name=url_name)
    for report, (_title, url_name, _question) in REPORT_PAGES.items()
]
