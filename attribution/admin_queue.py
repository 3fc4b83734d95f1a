"""Queued work in the admin (SPEC §4.2): a group's progress page (backfill or rebuild: tasks done,
failed, queued and running, conversions written, errors) and the backfill form, which shows how
many conversions a backfill will touch before it queues it.

Tenancy as everywhere: the form offers only the caller's accounts, and a group of another
tenant's accounts is a 404. `urlpatterns` is included by attribution_site/urls.py.
"""
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path

from attribution import queued_work
from attribution.forms import RebuildWindowForm
from journeys import services
from tracker import queue_status
from tracker.accounts import live_account_ids
from tracker.arguments import InvalidArgument
from tracker.audit import Actor
from tracker.models import Account
from tracker.tenancy import can_manage_models, can_view_reports, visible_account_ids
from tracker.utc import utc_text

TASKS_SHOWN = 200
# The order tasks are listed in: what needs attention first.
_STATE_ORDER = {queue_status.RUNNING: 0, queue_status.FAILED: 1, queue_status.QUEUED: 2, queue_status.SUCCEEDED: 3}


def queued_work_view(request, reference):
    """A queued group (or the group of a task), refreshed every few seconds until it finishes."""
    if not can_view_reports(request.user):
        raise PermissionDenied
    try:
        group, task = queued_work.visible_work(request.user, reference)
    except queued_work.WorkNotFound:
        raise Http404("No such queued work among the accounts you can access.")
    tasks = sorted(group.tasks, key=lambda item: (_STATE_ORDER[item.state], item.task_id))
    context = {
        **admin.site.each_context(request),
        "title": f"{group.kind.capitalize()} {group.group_id}",
        "group": group,
        "focus": task,
        "state": group.state,
        "counts": group.counts,
        "summary": queued_work.summary(group),
        "queued_at": utc_text(group.queued_at),
        "tasks": [(item, queued_work.task_errors(item)) for item in tasks[:TASKS_SHOWN]],
        "tasks_hidden": max(0, len(tasks) - TASKS_SHOWN),
        "finished": group.state in (queue_status.SUCCEEDED, queue_status.FAILED),
    }
    return render(request, "admin/attribution/queued_work.html", context)


class BackfillForm(RebuildWindowForm):
    """Window (UTC, default the last lookback window), accounts (none ticked: all you see),
    batch size and slice length."""

    users = forms.TypedMultipleChoiceField(
        coerce=int, required=False, label="Accounts", widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every account you can access.",
    )
    batch_size = forms.IntegerField(
        min_value=1, max_value=services.MAX_BATCH_SIZE, initial=services.DEFAULT_BATCH_SIZE,
        help_text="Conversions per transaction.",
    )
    slice_hours = forms.IntegerField(
        min_value=1, max_value=services.MAX_SLICE_HOURS, initial=services.DEFAULT_SLICE_HOURS,
        help_text="Each account's window is queued as tasks of this many hours, shared by the workers.",
    )

    def __init__(self, *args, account_ids, **kwargs):
        super().__init__(*args, **kwargs)
        now = datetime.now(dt_timezone.utc)
        self.fields["start"].initial = (now - timedelta(seconds=settings.ATTRIBUTION_LOOKBACK_SECONDS)).strftime(
            "%Y-%m-%dT%H:%M")
        self.fields["users"].choices = [
            (account.user_id, f"{account.user_name} (#{account.user_id})")
            for account in Account.objects.filter(user_id__in=account_ids).order_by("user_id")
        ]

    def arguments(self, account_ids):
        """Keyword arguments of services.plan_backfill / enqueue_backfill."""
        return {"start": self.start_epoch, "end": self.end_epoch,
                "user_ids": self.cleaned_data["users"] or account_ids,
                "slice_hours": self.cleaned_data["slice_hours"]}


def _backfill_accounts(user):
    """The live accounts a manager may backfill; None = all (superusers)."""
    visible = visible_account_ids(user)
    live = live_account_ids()
    if visible is None:
        return None, live
    if not visible:
        raise PermissionDenied("No Prosper202 account is assigned to you.")
    return sorted(visible), [account_id for account_id in live if account_id in visible]


def backfill_view(request):
    """Step 1: the form. Step 2 (`plan`): how many conversions in how many slices, to confirm.
    Step 3 (`confirm`): queue it (audited `backfill_queued`) and go to the group's page."""
    if not can_manage_models(request.user):
        raise PermissionDenied
    account_ids, choices = _backfill_accounts(request.user)
    form = BackfillForm(request.POST if request.method == "POST" else None, account_ids=choices)
    plan = None
    if request.method == "POST" and form.is_valid():
        arguments = form.arguments(account_ids)
        try:
            if "confirm" in request.POST:
                work, slices, warnings = services.enqueue_backfill(
                    **arguments, batch_size=form.cleaned_data["batch_size"], actor=Actor.from_request(request),
                )
                for warning in warnings:
                    messages.warning(request, warning)
                if work.task_ids:
                    messages.success(request, f"Queued {len(slices)} backfill slice(s) of "
                                              f"{sum(piece.conversions for piece in slices)} conversion(s).")
                    return redirect("attribution_queued_work", reference=work.group_id)
                form.add_error(None, "No conversion in this window any more: nothing was queued.")
            else:
                plan = _plan(*services.plan_backfill(**arguments))
        except InvalidArgument as error:
            form.add_error(None, str(error))
    context = {
        **admin.site.each_context(request),
        "title": "Backfill journeys",
        "form": form,
        "plan": plan,
    }
    return render(request, "admin/attribution/backfill.html", context)


def _plan(slices, warnings, window):
    """What the confirmation shows: totals, and conversions and slices per account."""
    per_account = {}
    for piece in slices:
        conversions, count = per_account.get(piece.account_id, (0, 0))
        per_account[piece.account_id] = (conversions + piece.conversions, count + 1)
    names = dict(Account.objects.filter(user_id__in=list(per_account)).values_list("user_id", "user_name"))
    return {
        "conversions": sum(piece.conversions for piece in slices),
        "slices": len(slices),
        "window": (utc_text(window[0]), utc_text(window[1])),
        "accounts": [(account_id, names.get(account_id, ""), conversions, count)
                     for account_id, (conversions, count) in sorted(per_account.items())],
        "warnings": warnings,
    }


urlpatterns = [
    path("admin/attribution/backfill/", admin.site.admin_view(backfill_view), name="attribution_backfill"),
    path("admin/attribution/queued/<str:reference>/", admin.site.admin_view(queued_work_view),
         name="attribution_queued_work"),
]
