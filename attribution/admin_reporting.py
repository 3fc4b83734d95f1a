"""Reporting in the admin (SPEC §7): snapshot and export changelists, the dashboard, the model
comparison, export scheduling and the authenticated export download.

Every queryset and page goes through attribution.tenancy; another tenant's export is a 404.
The custom pages are plain views wrapped with `admin.site.admin_view`; `urlpatterns` below is
included by attribution_site/urls.py ahead of the admin's own routes.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_http_methods

from attribution import reporting
from attribution.exports import COMPLETED, files, jobs, webhooks
from attribution.forms import HourWindowForm
from attribution.models import SCOPE_TYPES, AttributionModel, Export, Snapshot
from tracker.admin_helpers import CappedCountPaginator, ReadOnlyAdminMixin
from tracker.audit import Actor
from tracker.tenancy import (
    MANAGE_PERMISSION,
    can_see_account,
    can_view_reports,
    restrict_to_visible,
    visible_account_ids,
)
from tracker.utc import MINUTES_PATTERN, utc_html, utc_text

DEFAULT_COMPARED_MODELS = 6


DAY_PATTERN = "%Y-%m-%d (UTC)"


def utc_label(epoch, resolution="hour"):
    """An epoch as 'YYYY-MM-DD HH:MM UTC' (or the UTC day); the epoch goes in a tooltip or column."""
    if epoch is None:
        return "—"
    return utc_text(epoch, DAY_PATTERN if resolution == "day" else MINUTES_PATTERN)


def _utc_cell(epoch):
    return utc_html(epoch, MINUTES_PATTERN)


class _ReportPermissionMixin(ReadOnlyAdminMixin):
    """Read access follows the Prosper202 view permission and the user's accounts."""

    def has_module_permission(self, request):
        return can_view_reports(request.user)

    def has_view_permission(self, request, obj=None):
        if not can_view_reports(request.user):
            return False
        return obj is None or can_see_account(request.user, obj.user_id)

    def get_queryset(self, request):
        return restrict_to_visible(super().get_queryset(request), request.user)


class VisibleModelFilter(admin.SimpleListFilter):
    """Filter on model_id (the leading column of the snapshot and export indexes)."""

    title = "model"
    parameter_name = "model_id"

    def lookups(self, request, model_admin):
        models = restrict_to_visible(AttributionModel.objects.all(), request.user)
        return [(m.model_id, f"{m.model_name} (#{m.model_id})") for m in models.order_by("user_id", "model_name")]

    def queryset(self, request, queryset):
        if self.value() and self.value().isdigit():
            return queryset.filter(model_id=int(self.value()))
        return queryset


@admin.register(Snapshot)
class SnapshotAdmin(_ReportPermissionMixin, admin.ModelAdmin):
    list_display = (
        "snapshot_id", "model", "user", "scope_type", "scope_id", "hour_utc", "date_hour",
        "attributed_clicks", "attributed_conversions", "attributed_revenue", "attributed_cost",
    )
    list_filter = (VisibleModelFilter, "scope_type")
    list_select_related = ("model", "user")
    show_full_result_count = False
    paginator = CappedCountPaginator
    ordering = ("-snapshot_id",)
    search_fields = ()

    @admin.display(description="hour (UTC)")
    def hour_utc(self, snapshot):
        return _utc_cell(snapshot.date_hour)


@admin.register(Export)
class ExportAdmin(_ReportPermissionMixin, admin.ModelAdmin):
    list_display = (
        "export_id", "model", "user", "scope", "window", "requested_format", "status",
        "rows_exported", "webhook_result", "download", "queued",
    )
    list_filter = ("status", VisibleModelFilter)
    list_select_related = ("model", "user")
    show_full_result_count = False
    paginator = CappedCountPaginator
    ordering = ("-export_id",)
    # Secrets and server paths are never shown: no webhook_secret, no file_path.
    fields = (
        "export_id", "user", "model", "scope", "window", "requested_format", "status",
        "rows_exported", "download", "webhook_target", "webhook_secret_set", "webhook_result",
        "webhook_response_body", "last_error", "queued", "started", "completed", "failed",
    )
    readonly_fields = fields

    def has_add_permission(self, request):
        return request.user.has_perm(MANAGE_PERMISSION)

    def add_view(self, request, form_url="", extra_context=None):
        return HttpResponseRedirect(reverse("attribution_export_schedule"))

    @admin.display(description="scope")
    def scope(self, export):
        return export.scope_type if export.scope_id is None else f"{export.scope_type} {export.scope_id}"

    @admin.display(description="hours (UTC)")
    def window(self, export):
        return format_html("{} → {}", _utc_cell(export.start_hour), _utc_cell(export.end_hour))

    @admin.display(description="webhook")
    def webhook_result(self, export):
        if not export.webhook_url:
            return "—"
        if export.webhook_attempted_at is None:
            return "not sent yet"
        code = export.webhook_status_code
        return f"HTTP {code}" if code is not None else "no response"

    @admin.display(description="webhook URL")
    def webhook_target(self, export):
        """Scheme, host and path only: user-info and a query string often carry a token."""
        return webhooks.masked_url(export.webhook_url) or "—"

    @admin.display(description="webhook secret")
    def webhook_secret_set(self, export):
        return "set (hidden)" if export.webhook_secret else "—"

    @admin.display(description="file")
    def download(self, export):
        if export.status != COMPLETED:
            return "—"
        url = reverse("attribution_export_download", args=[export.export_id])
        return format_html('<a href="{}">Download {}</a>', url, export.requested_format)

    @admin.display(description="queued")
    def queued(self, export):
        return _utc_cell(export.queued_at)

    @admin.display(description="started")
    def started(self, export):
        return _utc_cell(export.started_at)

    @admin.display(description="completed")
    def completed(self, export):
        return _utc_cell(export.completed_at)

    @admin.display(description="failed")
    def failed(self, export):
        return _utc_cell(export.failed_at)


def _model_choice_label(model):
    return f"{model.model_name} (#{model.model_id}, account {model.user_id}, {model.model_type})"


class _VisibleModelsField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, model):
        return _model_choice_label(model)


class _VisibleModelField(forms.ModelChoiceField):
    def label_from_instance(self, model):
        return _model_choice_label(model)


def _visible_models(user):
    return restrict_to_visible(AttributionModel.objects.all(), user).order_by("user_id", "model_name")


def _epoch(moment):
    return int(moment.timestamp())


class ReportWindowForm(HourWindowForm):
    """Models, scope and UTC window of a report; `window()` gives the inclusive hour range."""

    models = _VisibleModelsField(queryset=AttributionModel.objects.none(), required=True)
    scope_type = forms.ChoiceField(choices=SCOPE_TYPES, initial="global")
    scope_id = forms.IntegerField(required=False, min_value=0,
                                  help_text="Empty: global, or every value of the scope type.")
    resolution = forms.ChoiceField(choices=(("hour", "Hour"), ("day", "Day (UTC)")), initial="hour",
                                   required=False)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["models"].queryset = _visible_models(user)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("scope_type") == "global":
            cleaned["scope_id"] = None
        cleaned["resolution"] = cleaned.get("resolution") or "hour"
        return cleaned


def _report_form(request, default_models):
    """The window form bound to the query string, or to defaults on a first visit."""
    if request.GET:
        return ReportWindowForm(request.GET, user=request.user)
    if not default_models:
        return ReportWindowForm(user=request.user)
    initial = {"models": [m.pk for m in default_models], "scope_type": "global", "range": "24h",
               "resolution": "hour"}
    return ReportWindowForm(initial, user=request.user)


def _require(request, permission):
    if not request.user.has_perm(permission):
        raise PermissionDenied


def _money(value):
    return float(value)


def dashboard_view(request):
    """KPI cards, a Chart.js chart and the rows of one or more models' snapshots."""
    if not can_view_reports(request.user):
        raise PermissionDenied
    form = _report_form(request, _visible_models(request.user).filter(is_default=True)[:1])
    panels, chart = [], None
    if form.is_valid():
        start_hour, end_hour = form.window()
        resolution = form.cleaned_data["resolution"]
        buckets = reporting.bucket_starts(start_hour, end_hour, resolution)
        chart = {
            "resolution": resolution,
            "labels": [utc_label(b, resolution) for b in buckets],
            "epochs": buckets,
            "series": [],
        }
        account_ids = visible_account_ids(request.user)
        for model in form.cleaned_data["models"]:
            query = {
                "account_ids": account_ids, "model_id": model.model_id,
                "scope_type": form.cleaned_data["scope_type"], "scope_id": form.cleaned_data["scope_id"],
                "start_hour": start_hour, "end_hour": end_hour,
            }
            kpis = reporting.totals(**query)
            points = reporting.snapshot_series(**query, resolution=resolution)
            by_bucket = {point.bucket: point for point in points}
            dense = [by_bucket.get(b, reporting.SeriesPoint(bucket=b)) for b in buckets]
            chart["series"].append({
                "model_id": model.model_id,
                "model_name": model.model_name,
                "revenue": [_money(p.revenue) for p in dense],
                "cost": [_money(p.cost) for p in dense],
                "profit": [_money(p.profit) for p in dense],
                "conversions": [p.conversions for p in dense],
                "clicks": [p.clicks for p in dense],
            })
            panels.append({
                "model": model,
                "kpis": kpis,
                "rows": [{"point": p, "label": utc_label(p.bucket, resolution)} for p in points],
            })
        window = {"start": utc_label(start_hour), "end": utc_label(end_hour + reporting.HOUR_SECONDS - 1),
                  "start_epoch": start_hour, "end_epoch": end_hour}
    else:
        window = None
    context = {
        **admin.site.each_context(request),
        "title": "Attribution dashboard",
        "form": form,
        "panels": panels,
        "chart": chart,
        "window": window,
    }
    return TemplateResponse(request, "admin/attribution/dashboard.html", context)


@require_http_methods(["GET", "POST"])
def comparison_view(request):
    """Selected models side by side; POST promotes one model to its account's default."""
    if not can_view_reports(request.user):
        raise PermissionDenied
    if request.method == "POST":
        return _promote(request)
    default_models = _default_compared_models(request.user)
    form = _report_form(request, default_models)
    rows, window = [], None
    if form.is_valid():
        start_hour, end_hour = form.window()
        rows = reporting.compare_models(
            model_ids=[m.model_id for m in form.cleaned_data["models"]],
            scope_type=form.cleaned_data["scope_type"], scope_id=form.cleaned_data["scope_id"],
            start_hour=start_hour, end_hour=end_hour,
            account_ids=visible_account_ids(request.user),
        )
        window = {"start": utc_label(start_hour), "end": utc_label(end_hour + reporting.HOUR_SECONDS - 1),
                  "start_epoch": start_hour, "end_epoch": end_hour}
    context = {
        **admin.site.each_context(request),
        "title": "Compare attribution models",
        "form": form,
        "rows": [(row, {b: share * 100 for b, share in row.position_share.items()}) for row in rows],
        "window": window,
        "can_promote": request.user.has_perm(MANAGE_PERMISSION),
        "query_string": request.GET.urlencode(),
    }
    return TemplateResponse(request, "admin/attribution/comparison.html", context)


def _default_compared_models(user):
    """Active models of the first visible account that has any, for a first visit."""
    first = _visible_models(user).filter(is_active=True).first()
    if first is None:
        return []
    return list(_visible_models(user).filter(user_id=first.user_id, is_active=True)[:DEFAULT_COMPARED_MODELS])


def _promote(request):
    """Make the posted model its account's default through the one model service."""
    from attribution import services

    _require(request, MANAGE_PERMISSION)
    back = reverse("attribution_compare")
    query = request.POST.get("query_string", "")
    if query:
        back += "?" + query
    model_id = request.POST.get("model_id", "")
    if not model_id.isdigit():
        messages.error(request, f"model_id: {model_id!r} is not a model id.")
        return HttpResponseRedirect(back)
    model = restrict_to_visible(AttributionModel.objects.all(), request.user).filter(
        model_id=int(model_id)
    ).first()
    if model is None:
        raise Http404("No such model among your accounts.")
    try:
        services.make_default(model, actor=Actor.from_request(request))
    except services.ModelChangeError as error:
        messages.error(request, f"{model.model_name} was not made the default: {error.message}")
    else:
        messages.success(
            request, f"{model.model_name} (#{model.model_id}) is now the default model of account {model.user_id}."
        )
    return HttpResponseRedirect(back)


class ScheduleExportForm(forms.Form):
    """The admin's export form; all validation beyond types is schedule_export's."""

    model = _VisibleModelField(queryset=AttributionModel.objects.none())
    scope_type = forms.ChoiceField(choices=SCOPE_TYPES, initial="global")
    scope_id = forms.IntegerField(required=False, min_value=0,
                                  help_text="Empty: global, or every value of the scope type.")
    start = forms.DateTimeField(help_text="UTC, first hour included, e.g. 2024-05-01 00:00")
    end = forms.DateTimeField(help_text="UTC, last hour included")
    requested_format = forms.ChoiceField(
        label="format", choices=(("csv", "CSV"), ("xlsx", "Excel (XLSX)")), initial="csv"
    )
    webhook_url = forms.CharField(required=False, max_length=webhooks.WEBHOOK_URL_MAX_LENGTH,
                                  help_text="Optional http(s) URL on a public address.")
    webhook_secret = forms.CharField(required=False, max_length=webhooks.WEBHOOK_SECRET_MAX_LENGTH,
                                     widget=forms.PasswordInput(render_value=False),
                                     help_text="Signs the webhook body (HMAC-SHA256); never shown again.")
    webhook_headers = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text='Optional extra request headers as a JSON object, e.g. {"Authorization": "Bearer …"}; '
                  "never shown again.",
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model"].queryset = _visible_models(user)


def schedule_export_view(request):
    """Queue an export through jobs.schedule_export, which validates and audits it."""
    _require(request, MANAGE_PERMISSION)
    form = ScheduleExportForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            export = jobs.schedule_export(
                model=data["model"], scope_type=data["scope_type"],
                scope_id=None if data["scope_type"] == "global" else data["scope_id"],
                start_hour=_epoch(data["start"]), end_hour=_epoch(data["end"]),
                requested_format=data["requested_format"], webhook_url=data["webhook_url"],
                webhook_secret=data["webhook_secret"], webhook_headers=data["webhook_headers"],
                actor=Actor.from_request(request),
                viewer=request.user,
            )
        except jobs.ExportRequestError as error:
            field_names = {"start_hour": "start", "end_hour": "end"}
            for name, problem in error.fields.items():
                name = field_names.get(name, name)
                form.add_error(name if name in form.fields else None, problem)
        else:
            messages.success(request, f"Export #{export.export_id} queued; the export worker picks it up within a minute.")
            return HttpResponseRedirect(reverse("admin:attribution_export_changelist"))
    context = {
        **admin.site.each_context(request),
        "title": "Schedule an export",
        "form": form,
        "opts": Export._meta,
    }
    return TemplateResponse(request, "admin/attribution/export_schedule.html", context)


def export_download_view(request, export_id):
    """Stream a completed export's file to a user who may see its account (others get 404)."""
    if not can_view_reports(request.user):
        raise PermissionDenied
    export = restrict_to_visible(Export.objects.all(), request.user).filter(export_id=export_id).first()
    if export is None:
        raise Http404("No such export among your accounts.")
    response = files.download_response(export)
    if response is None:
        raise Http404("This export has no file to download (not completed, or the file is gone).")
    return response


urlpatterns = [
    path("admin/attribution/dashboard/", admin.site.admin_view(dashboard_view), name="attribution_dashboard"),
    path("admin/attribution/compare/", admin.site.admin_view(comparison_view), name="attribution_compare"),
    path("admin/attribution/exports/schedule/", admin.site.admin_view(schedule_export_view),
         name="attribution_export_schedule"),
    path("admin/attribution/exports/<int:export_id>/download/", admin.site.admin_view(export_download_view),
         name="attribution_export_download"),
]
