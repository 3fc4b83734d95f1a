"""The System Checks admin page (SPEC §10, runbook §1 and §5): every check with its hint.

Routed in `attribution_site/urls.py` as `attribution-system-checks`, wrapped with
`admin.site.admin_view`. Per-account checks only show the accounts the viewer may see.
"""
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.utils import timezone

from attribution.system_checks import overall_status, run_checks
from tracker.tenancy import VIEW_PERMISSION, visible_account_ids


def system_checks_view(request):
    if not request.user.has_perm(VIEW_PERMISSION):
        raise PermissionDenied("Viewing System Checks needs the view_attribution_reports permission.")
    results = run_checks(account_ids=visible_account_ids(request.user))
    context = {
        **admin.site.each_context(request),
        "title": "System Checks",
        "results": results,
        "overall": overall_status(results),
        "checked_at": timezone.now(),
    }
    return render(request, "admin/attribution/system_checks.html", context)
