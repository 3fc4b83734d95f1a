"""Admin for attribution models, scope settings and the audit log (SPEC §5.3, §9).

Every write goes through attribution.services, so the admin gets the same rules and audit rows
as the API. Querysets pass through attribution.tenancy; another tenant's object is a 404.
"""
import json
import time
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe

from attribution import multi_touch, services
from attribution.credit import InvalidModelConfig, describe_config, validate_config
from attribution.forms import (
    CONFIG_FIELDS,
    CONFIG_FIELDS_BY_TYPE,
    AttributionModelForm,
    RebuildWindowForm,
    ScopeSettingForm,
    config_from_inputs,
)
from attribution.models import AttributionModel, AttributionSetting
from tracker.admin_helpers import (
    AccountFilter,
    CappedCountPaginator,
    ReadOnlyAdminMixin,
    parse_id,
)
from tracker.arguments import ID_MAX, InvalidArgument
from tracker.audit import Actor
from tracker.models import AUDIT_ACTIONS, Account, AuditEntry
from tracker.tenancy import (
    can_manage_models,
    can_see_account,
    can_view_reports,
    restrict_to_visible,
    visible_account_ids,
)
from tracker.utc import utc_html

SECONDS_PER_DAY = 86400
DELETED_ROWS_MESSAGE = (
    "Reports no longer show the deleted model; its snapshots and credit rows are deleted in the "
    "background by a django-q2 worker (audited model_rows_deleted)."
)
# Fields whose change alters the numbers a rebuild writes (type, weights, whether it runs).
NUMBER_FIELDS = ("model_type", "weighting_config", "is_active")


class TenantAdmin(admin.ModelAdmin):
    """Tenancy and the two Prosper202 permissions for every attribution ModelAdmin."""

    show_full_result_count = False
    list_select_related = ("user",)

    def get_queryset(self, request):
        return restrict_to_visible(super().get_queryset(request), request.user)

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404("No such object among the accounts you can access.")
        return obj

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user":
            kwargs["queryset"] = restrict_to_visible(Account.objects.order_by("user_id"), request.user)
        elif db_field.name == "model":
            kwargs["queryset"] = restrict_to_visible(
                AttributionModel.objects.select_related("user"), request.user
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_module_permission(self, request):
        return can_view_reports(request.user)

    def has_view_permission(self, request, obj=None):
        return can_view_reports(request.user) and (obj is None or can_see_account(request.user, obj.user_id))

    def has_add_permission(self, request):
        return can_manage_models(request.user)

    def has_change_permission(self, request, obj=None):
        return can_manage_models(request.user) and (obj is None or can_see_account(request.user, obj.user_id))

    def has_delete_permission(self, request, obj=None):
        return self.has_change_permission(request, obj)


def _rebuild_offer_url(account_id, model_ids, next_url):
    query = {"account": account_id, "next": next_url}
    if model_ids:
        query["models"] = ",".join(str(model_id) for model_id in model_ids)
    return f"{reverse('attribution_rebuild_offer')}?{urlencode(query)}"


@admin.register(AttributionModel)
class AttributionModelAdmin(TenantAdmin):
    form = AttributionModelForm
    change_form_template = "admin/attribution/attributionmodel/change_form.html"
    list_display = (
        "model_name", "model_type", "config_summary", "is_active", "is_default", "user",
        "validity", "updated",
    )
    list_filter = (AccountFilter, "model_type", "is_active", "is_default")
    search_fields = ("model_name", "model_slug")
    ordering = ("user_id", "model_name")
    actions = ("activate_models", "deactivate_models", "make_selected_default", "delete_models")

    class Media:
        js = ("attribution/model_form.js",)

    def get_fieldsets(self, request, obj=None):
        main = ("user", "model_name", "model_slug", "model_type", "is_active", "is_default")
        fieldsets = [(None, {"fields": main}), ("Weighting", {"fields": CONFIG_FIELDS})]
        if obj is not None:
            fieldsets.append(("Stored row", {"fields": ("validity", "stored_config", "created", "updated")}))
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return ("user", "is_default", "validity", "stored_config", "created", "updated")

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.display(description="config")
    def config_summary(self, obj):
        return describe_config(obj.model_type, obj.weighting_config)

    @admin.display(description="valid")
    def validity(self, obj):
        valid, reason = services.model_validity(obj)
        if valid:
            return mark_safe('<span style="color:#1a7f37">✔ valid</span>')
        return format_html('<strong style="color:#ba2121" title="{}">✖ invalid: {}</strong>', reason, reason)

    @admin.display(description="stored weighting_config")
    def stored_config(self, obj):
        return obj.weighting_config if obj.weighting_config is not None else "NULL (empty)"

    @admin.display(description="created", ordering="created_at")
    def created(self, obj):
        return utc_html(obj.created_at)

    @admin.display(description="updated", ordering="updated_at")
    def updated(self, obj):
        return utc_html(obj.updated_at)

    # --- saving through the services ---------------------------------------------------------

    def save_model(self, request, obj, form, change):
        actor = Actor.from_request(request)
        try:
            if change:
                before = AttributionModel.objects.get(pk=obj.pk)
                saved = services.update_model(before, changes=form.model_changes, actor=actor)
                obj._offer_rebuild = any(
                    getattr(before, field) != getattr(saved, field) for field in NUMBER_FIELDS
                ) and saved.is_active
            else:
                saved = services.create_model(**form.new_model, actor=actor)
                obj._offer_rebuild = saved.is_active
        except services.ModelChangeError as error:
            obj._refused = True
            self.message_user(request, error.message, messages.ERROR)
            return
        obj.pk = saved.pk
        obj.refresh_from_db()

    def save_related(self, request, form, formsets, change):
        """Models have no related objects; nothing to save beyond the service call."""

    def log_addition(self, request, obj, message):
        if not getattr(obj, "_refused", False):
            super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        if not getattr(obj, "_refused", False):
            super().log_change(request, obj, message)

    def _after_save(self, request, obj, response):
        if getattr(obj, "_offer_rebuild", False) and can_manage_models(request.user):
            return HttpResponseRedirect(_rebuild_offer_url(obj.user_id, [obj.pk], response.url))
        return response

    def response_add(self, request, obj, post_url_continue=None):
        if getattr(obj, "_refused", False):
            return HttpResponseRedirect(reverse("admin:attribution_attributionmodel_add"))
        response = super().response_add(request, obj, post_url_continue)
        return self._after_save(request, obj, response)

    def response_change(self, request, obj):
        change_url = reverse("admin:attribution_attributionmodel_change", args=[obj.pk])
        if getattr(obj, "_refused", False):
            return HttpResponseRedirect(change_url)
        return self._after_save(request, obj, super().response_change(request, obj))

    def delete_view(self, request, object_id, extra_context=None):
        obj = self.get_object(request, object_id)
        if obj.is_default and self.has_delete_permission(request, obj):
            self.message_user(
                request,
                f"{obj.model_name} is the default model of account {obj.user_id}; "
                "promote another model to default before deleting it.",
                messages.ERROR,
            )
            return redirect("admin:attribution_attributionmodel_change", obj.pk)
        return super().delete_view(request, object_id, extra_context)

    def delete_model(self, request, obj):
        services.delete_model(obj, actor=Actor.from_request(request))
        self.message_user(request, DELETED_ROWS_MESSAGE)

    def delete_queryset(self, request, queryset):
        actor = Actor.from_request(request)
        with transaction.atomic():
            for model in queryset.order_by("model_id"):
                services.delete_model(model, actor=actor)
        self.message_user(request, DELETED_ROWS_MESSAGE)

    # --- actions -----------------------------------------------------------------------------

    def _refusable(self, request, change):
        try:
            return change()
        except services.ModelChangeError as error:
            self.message_user(request, f"Nothing changed: {error.message}", messages.ERROR)
            return None

    @admin.action(description="Activate selected models", permissions=["change"])
    def activate_models(self, request, queryset):
        count = self._refusable(
            request, lambda: services.set_models_active(queryset, True, actor=Actor.from_request(request))
        )
        if not count:
            return None
        self.message_user(request, f"{count} model(s) activated; rebuild their window to see their numbers.")
        account_ids = {model.user_id for model in queryset}
        if len(account_ids) != 1:
            return None
        return HttpResponseRedirect(_rebuild_offer_url(
            account_ids.pop(), [model.pk for model in queryset], request.get_full_path()
        ))

    @admin.action(description="Deactivate selected models", permissions=["change"])
    def deactivate_models(self, request, queryset):
        count = self._refusable(
            request, lambda: services.set_models_active(queryset, False, actor=Actor.from_request(request))
        )
        if count is not None:
            self.message_user(request, f"{count} model(s) deactivated.")

    @admin.action(description="Make selected model the default of its account", permissions=["change"])
    def make_selected_default(self, request, queryset):
        models = list(queryset.order_by("model_id"))
        accounts = [model.user_id for model in models]
        doubled = sorted({account for account in accounts if accounts.count(account) > 1})
        if doubled:
            self.message_user(
                request,
                f"Select one model per account to make default; account(s) {', '.join(map(str, doubled))} "
                "had several.",
                messages.ERROR,
            )
            return

        def promote_all():
            with transaction.atomic():
                for model in models:
                    services.make_default(model, actor=Actor.from_request(request))
            return len(models)

        if self._refusable(request, promote_all) is not None:
            names = ", ".join(model.model_name for model in models)
            self.message_user(request, f"Default model set: {names}.")

    @admin.action(description="Delete selected models", permissions=["delete"])
    def delete_models(self, request, queryset):
        defaults = [model.model_name for model in queryset if model.is_default]
        if defaults:
            self.message_user(
                request,
                f"Nothing deleted: {', '.join(defaults)} is a default model; promote another model "
                "to default before deleting it.",
                messages.ERROR,
            )
            return None
        return delete_selected(self, request, queryset)

    # --- the "Make default" button -----------------------------------------------------------

    def get_urls(self):
        return [
            path(
                "<path:object_id>/make-default/",
                self.admin_site.admin_view(self.make_default_view),
                name="attribution_attributionmodel_make_default",
            ),
        ] + super().get_urls()

    def make_default_view(self, request, object_id):
        if request.method != "POST":
            return redirect("admin:attribution_attributionmodel_change", object_id)
        obj = self.get_object(request, object_id)
        if not self.has_change_permission(request, obj):
            raise PermissionDenied
        try:
            services.make_default(obj, actor=Actor.from_request(request))
        except services.ModelChangeError as error:
            self.message_user(request, error.message, messages.ERROR)
        else:
            self.message_user(request, f"{obj.model_name} is now the default model of account {obj.user_id}.")
        return redirect("admin:attribution_attributionmodel_change", obj.pk)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["validate_config_url"] = reverse("attribution_validate_model_config")
        context["config_fields_by_type"] = CONFIG_FIELDS_BY_TYPE
        context["can_make_default"] = bool(
            obj is not None and not obj.is_default and self.has_change_permission(request, obj)
        )
        return super().render_change_form(request, context, add, change, form_url, obj)


@admin.register(AttributionSetting)
class AttributionSettingAdmin(TenantAdmin):
    form = ScopeSettingForm
    list_display = ("setting_id", "user", "scope", "model", "multi_touch_enabled", "updated")
    list_filter = (AccountFilter, "scope_type", "multi_touch_enabled")
    list_select_related = ("user", "model")
    ordering = ("user_id", "scope_type", "scope_id")

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("user", "scope_type", "scope_id", "model", "multi_touch_enabled")
        return ("user", "scope_type", "scope_id", "model", "multi_touch_enabled",
                "enabled_at", "disabled_at", "effective", "updated")

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return ("user", "scope_type", "scope_id", "enabled_at", "disabled_at", "effective", "updated")

    actions = ("merge_global_rows",)

    @admin.display(description="scope", ordering="scope_type")
    def scope(self, obj):
        return obj.scope_type if obj.scope_id is None else f"{obj.scope_type} #{obj.scope_id}"

    @admin.display(description="multi-touch enabled at")
    def enabled_at(self, obj):
        return utc_html(obj.multi_touch_enabled_at)

    @admin.display(description="multi-touch disabled at")
    def disabled_at(self, obj):
        return utc_html(obj.multi_touch_disabled_at)

    @admin.display(description="effective at")
    def effective(self, obj):
        return utc_html(obj.effective_at)

    @admin.display(description="updated", ordering="updated_at")
    def updated(self, obj):
        return utc_html(obj.updated_at)

    def save_model(self, request, obj, form, change):
        values = form.setting_values
        saved = services.save_scope_setting(
            account_id=values["account_id"], scope_type=values["scope_type"],
            scope_id=values["scope_id"], model_id=values["model_id"],
            multi_touch_enabled=values["multi_touch_enabled"], actor=Actor.from_request(request),
        )
        obj.pk = saved.setting.pk
        obj.refresh_from_db()
        self._announce_chain(request, saved.chain_group_id)

    def _announce_chain(self, request, chain_group_id):
        """Link the queued purge/hydrate + rebuild chain's progress page (SPEC §5.3)."""
        if chain_group_id:
            self.message_user(request, format_html(
                'The multi-touch flag changed: its journeys are purged or hydrated, then the affected '
                'hours rebuilt, by django-q2 workers. <a href="{}">Follow the progress</a>.',
                reverse("attribution_multi_touch_chain", args=[chain_group_id]),
            ))

    def delete_model(self, request, obj):
        """Audited; SPEC §4.1 precedence then decides the scope (a flipped flag queues its chain)."""
        self._announce_chain(request, services.delete_scope_setting(obj, actor=Actor.from_request(request)))

    def delete_queryset(self, request, queryset):
        actor = Actor.from_request(request)
        with transaction.atomic():
            chains = [services.delete_scope_setting(row, actor=actor) for row in queryset.order_by("setting_id")]
        for chain_group_id in chains:
            self._announce_chain(request, chain_group_id)

    @admin.action(description="Merge duplicate global rows (keeps the row that decides)", permissions=["change"])
    def merge_global_rows(self, request, queryset):
        actor = Actor.from_request(request)
        for account_id in sorted(set(queryset.values_list("user_id", flat=True))):
            kept, removed = services.merge_global_settings(account_id, actor=actor)
            if removed:
                self.message_user(request, (
                    f"Account {account_id}: kept global setting #{kept.setting_id}, deleted "
                    f"{', '.join(f'#{setting_id}' for setting_id in removed)}."
                ))
            else:
                self.message_user(request, f"Account {account_id} has no duplicate global rows.", messages.WARNING)


class CreatedWithinFilter(admin.SimpleListFilter):
    """created_at (epoch) within the last day / week / month.

    created_at has no index, but the log is listed newest audit_id first and ids grow with
    time, so a recent window is found at the head of the primary key.
    """

    title = "date"
    parameter_name = "within"
    WINDOWS_DAYS = {"today": 1, "7d": 7, "30d": 30}

    def lookups(self, request, model_admin):
        return (("today", "Last 24 hours"), ("7d", "Last 7 days"), ("30d", "Last 30 days"))

    def queryset(self, request, queryset):
        days = self.WINDOWS_DAYS.get(self.value())
        if days is None:
            return queryset
        return queryset.filter(created_at__gte=int(time.time()) - days * SECONDS_PER_DAY)


class ActionFilter(admin.SimpleListFilter):
    title = "action"
    parameter_name = "action"

    def lookups(self, request, model_admin):
        return [(action, action) for action in AUDIT_ACTIONS]

    def queryset(self, request, queryset):
        return queryset.filter(action=self.value()) if self.value() else queryset


class ModelIdFilter(admin.SimpleListFilter):
    """Audit rows of one model (the visible models are listed; any id works in the URL)."""

    title = "model"
    parameter_name = "model_id"

    def lookups(self, request, model_admin):
        models = restrict_to_visible(AttributionModel.objects.order_by("user_id", "model_name"), request.user)
        return [(model.model_id, f"#{model.model_id} {model.model_name}") for model in models[:200]]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        model_id = parse_id(self.value())
        return queryset.none() if model_id is None else queryset.filter(model_id=model_id)


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdminMixin, TenantAdmin):
    """The audit log: written only by attribution.audit.record, never edited here."""

    paginator = CappedCountPaginator
    list_display = ("audit_id", "created", "action", "user", "model_id", "actor")
    list_filter = (AccountFilter, ModelIdFilter, ActionFilter, CreatedWithinFilter)
    fields = ("audit_id", "created", "user", "model_id", "action", "actor", "pretty_metadata")
    readonly_fields = fields
    ordering = ("-audit_id",)

    @admin.display(description="created", ordering="audit_id")
    def created(self, obj):
        return utc_html(obj.created_at)

    @admin.display(description="actor")
    def actor(self, obj):
        actor = obj.metadata_dict.get("actor") if isinstance(obj.metadata_dict, dict) else None
        if not isinstance(actor, dict):
            return "—"
        return f"{actor.get('type', '?')}: {actor.get('username', '?')}"

    @admin.display(description="metadata")
    def pretty_metadata(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.metadata_dict, indent=2, sort_keys=True))


# --- custom admin pages (routed in attribution_site/urls.py) -------------------------------------

def validate_model_config_view(request):
    """Live validation for the model form: the same validate_config the save runs."""
    if not can_view_reports(request.user):
        raise PermissionDenied
    model_type = request.GET.get("model_type", "")
    inputs = {field: request.GET.get(field, "") for field in CONFIG_FIELDS}
    try:
        config = validate_config(model_type, config_from_inputs(model_type, inputs))
    except InvalidModelConfig as error:
        return JsonResponse({"valid": False, "errors": {error.field: error.message}, "summary": ""})
    return JsonResponse({"valid": True, "errors": {}, "summary": describe_config(model_type, config)})


def _safe_next(request, default):
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if next_url and url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
        return next_url
    return default


def _positive_int(value, name):
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise Http404(f"{name} must be an integer, got {value!r}.")
    if not 1 <= number <= ID_MAX:
        raise Http404(f"{name} must be a positive id, got {value!r}.")
    return number


def rebuild_offer_view(request):
    """'Rebuild the affected window?' after a change: the operator picks the UTC window."""
    if not can_manage_models(request.user):
        raise PermissionDenied
    params = request.POST if request.method == "POST" else request.GET
    account_id = _positive_int(params.get("account"), "account")
    if not can_see_account(request.user, account_id):
        raise Http404("No such account among the accounts you can access.")
    account = Account.objects.filter(user_id=account_id).first()
    if account is None:
        raise Http404(f"Account {account_id} does not exist.")
    model_ids = [_positive_int(part, "models") for part in params.get("models", "").split(",") if part]
    models = list(AttributionModel.objects.filter(user_id=account_id, model_id__in=model_ids))
    next_url = _safe_next(request, reverse("admin:attribution_attributionmodel_changelist"))

    form = RebuildWindowForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            work = services.enqueue_rebuilds(
                start=form.start_epoch, end=form.end_epoch, user_ids=[account_id],
                model_ids=[model.model_id for model in models], actor=Actor.from_request(request),
            )
        except InvalidArgument as error:
            form.add_error(None, str(error))
        else:
            if not work.task_ids:
                raise Http404(f"Account {account_id} is deleted: there is nothing to rebuild.")
            task_id = work.task_ids[0]
            messages.success(request, f"Rebuild queued for account {account_id} (task {task_id}).")
            return redirect("attribution_rebuild_status", task_id=task_id)
    context = {
        **admin.site.each_context(request),
        "title": "Rebuild the affected window?",
        "account": account,
        "models": models,
        "models_param": ",".join(str(model.model_id) for model in models),
        "form": form,
        "next_url": next_url,
    }
    return render(request, "admin/attribution/rebuild_offer.html", context)


def rebuild_status_view(request, task_id):
    """Where a queued rebuild stands: queued/running, succeeded (with its summary) or failed."""
    from django_q.models import Task

    if not can_view_reports(request.user):
        raise PermissionDenied
    task = Task.objects.filter(id=task_id).first()
    if task is not None:
        # No user_ids means a rebuild of every account (or not a rebuild): superusers only.
        account_ids = (task.kwargs or {}).get("user_ids") or []
        visible = visible_account_ids(request.user)
        if visible is not None and (not account_ids or not set(account_ids) <= visible):
            raise Http404("No such task among the accounts you can access.")
    result_admin_url = None
    if task is not None:
        name = "admin:django_q_success_change" if task.success else "admin:django_q_failure_change"
        if request.user.has_perm("django_q.view_success" if task.success else "django_q.view_failure"):
            result_admin_url = reverse(name, args=[task.id])
    context = {
        **admin.site.each_context(request),
        "title": "Rebuild task",
        "task_id": task_id,
        "task": task,
        "state": "queued or running" if task is None else ("succeeded" if task.success else "failed"),
        "result_text": "" if task is None else json.dumps(task.result, indent=2, default=str),
        "result_admin_url": result_admin_url,
    }
    return render(request, "admin/attribution/rebuild_status.html", context)


def multi_touch_chain_view(request, group_id):
    """The chain a multi-touch flag change queued (SPEC §5.3): each step's state and result."""
    if not can_view_reports(request.user):
        raise PermissionDenied
    chain = multi_touch.find_chain(group_id)
    if chain is None or not can_see_account(request.user, chain.account_id):
        raise Http404("No such multi-touch chain among the accounts you can access.")
    context = {
        **admin.site.each_context(request),
        "title": "Multi-touch change: purge or hydrate, then rebuild",
        "chain": chain,
        "steps": [(step, json.dumps(step.result, indent=2, default=str) if step.result is not None else "")
                  for step in chain.steps],
    }
    return render(request, "admin/attribution/multi_touch_chain.html", context)


def attribution_admin_urls():
    """The custom pages, to route before admin.site.urls."""
    return [
        path(
            "admin/attribution/validate-model-config/",
            admin.site.admin_view(validate_model_config_view),
            name="attribution_validate_model_config",
        ),
        path("admin/attribution/rebuild/", admin.site.admin_view(rebuild_offer_view),
             name="attribution_rebuild_offer"),
        path("admin/attribution/rebuild/<str:task_id>/", admin.site.admin_view(rebuild_status_view),
             name="attribution_rebuild_status"),
        path("admin/attribution/multi-touch/<str:group_id>/", admin.site.admin_view(multi_touch_chain_view),
             name="attribution_multi_touch_chain"),
    ]


# The admins of tokens/access and of reporting live in their own modules; importing them here
# registers them whenever the admin is autodiscovered (routes, tests and scripts alike).
from attribution import admin_access, admin_reporting  # noqa: E402,F401
