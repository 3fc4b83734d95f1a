"""Routes of /api/v2/attribution/ (SPEC §8); anything else under the prefix is a JSON 404.

Every route also answers with a trailing slash; reverse() gives the form without one.
"""
from django.urls import path, re_path

from attribution.api import analysis_views, queue_views, views

_routes = [
    path("openapi.json", views.openapi_endpoint, name="attribution_api_openapi"),
    path("models", views.models_endpoint, name="attribution_api_models"),
    path("models/<int:model_id>", views.model_endpoint, name="attribution_api_model"),
    path("models/<int:model_id>/snapshots", views.snapshots_endpoint, name="attribution_api_snapshots"),
    path("models/<int:model_id>/exports", views.exports_endpoint, name="attribution_api_exports"),
    path("exports/<int:export_id>/download", views.export_download_endpoint,
         name="attribution_api_export_download"),
    path("metrics", views.metrics_endpoint, name="attribution_api_metrics"),
    path("compare", views.compare_endpoint, name="attribution_api_compare"),
    path("conversions/<int:conv_id>/journey", views.journey_endpoint, name="attribution_api_journey"),
    path("rebuilds", views.rebuilds_endpoint, name="attribution_api_rebuilds"),
    path("backfills", queue_views.backfills_endpoint, name="attribution_api_backfills"),
    path("tasks/<str:task_id>", queue_views.task_endpoint, name="attribution_api_task"),
    path("analysis/paths", analysis_views.paths_endpoint, name="attribution_api_analysis_paths"),
    path("analysis/path-length", analysis_views.path_length_endpoint, name="attribution_api_analysis_path_length"),
    path("analysis/time-lag", analysis_views.time_lag_endpoint, name="attribution_api_analysis_time_lag"),
    path("analysis/assists", analysis_views.assists_endpoint, name="attribution_api_analysis_assists"),
]

urlpatterns = [
    *_routes,
    *(path(f"{route.pattern}/", route.callback) for route in _routes),
    re_path(r"^(?P<path>.*)$", views.unknown_path),
]
