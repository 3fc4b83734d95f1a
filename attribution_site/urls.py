"""URL routes: the admin is the console; the API and health endpoint sit beside it."""
from django.contrib import admin
from django.urls import include, path

from attribution import admin_analysis, admin_queue, admin_reporting
from attribution.admin import attribution_admin_urls
from attribution.admin_checks import system_checks_view
from attribution.health import healthz

admin.site.site_header = "Attribution Ops"
admin.site.site_title = "Attribution Ops"
admin.site.index_title = "Prosper202 attribution console"

urlpatterns = [
    path("api/v2/attribution/", include("attribution.api.urls")),
    *attribution_admin_urls(),
    path(
        "admin/attribution/system-checks/",
        admin.site.admin_view(system_checks_view),
        name="attribution-system-checks",
    ),
    path("healthz", healthz, name="healthz"),
    *admin_reporting.urlpatterns,
    *admin_analysis.urlpatterns,
    *admin_queue.urlpatterns,
    path("admin/", admin.site.urls),
]
