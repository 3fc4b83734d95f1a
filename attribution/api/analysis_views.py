"""GET analysis/paths, analysis/path-length, analysis/time-lag and analysis/assists (SPEC §7.1,
§8): parse the parameters, resolve the filters with tenancy (another tenant's id is a 403),
run the report, serialise. The reports themselves are `attribution.analysis_reader`'s.
"""
from attribution import analysis, analysis_reader
from attribution.api.errors import ApiError, bad_parameter, data_response
from attribution.api.requests import api_endpoint, bool_param, choice_param, hour_window, int_param
from journeys.summaries import CHANNEL_KINDS, DEFAULT_CHANNEL, UNKNOWN_CHANNEL
from tracker import tenancy

DEFAULT_PATHS_LIMIT = analysis.PATHS_PER_PAGE
MAX_PATHS_LIMIT = 1000
FILTERS = ("account", "advertiser", "campaign")


def _money(amount):
    return format(amount, "f")


def _share(share):
    return round(share, 6)


def _channel(channel, names):
    """A channel's id and name (`unknown` for 0, null when its row is gone)."""
    name = "unknown" if channel == UNKNOWN_CHANNEL else names.get(channel)
    return {"channel_id": channel, "channel_name": name}


def serialize_path(row, names):
    return {
        "path": [{**_channel(step.channel, names), "min_repeats": step.min_repeats,
                  "max_repeats": step.max_repeats} for step in row.steps],
        "label": analysis.path_label(row.steps, names),
        "conversions": row.conversions,
        "revenue": _money(row.revenue),
        "share": _share(row.share),
        "mean_touches": round(row.mean_touches, 2),
        "median_hours": round(row.median_hours, 2),
    }


def serialize_bucket(row, names):
    return {
        "bucket": row.label, "lowest": row.lowest, "highest": row.highest,
        "conversions": row.conversions, "revenue": _money(row.revenue), "share": _share(row.share),
    }


def serialize_assist(row, names):
    return {
        **_channel(row.channel, names),
        "last_touch_conversions": row.last_touch_conversions,
        "last_touch_revenue": _money(row.last_touch_revenue),
        "last_touch_share": _share(row.last_touch_share),
        "assisted_conversions": row.assisted_conversions,
        "assisted_revenue": _money(row.assisted_revenue),
        "assisted_share": _share(row.assisted_share),
        "assist_ratio": None if row.assist_ratio is None else round(row.assist_ratio, 4),
    }


SERIALIZERS = {
    "paths": serialize_path, "path-length": serialize_bucket, "time-lag": serialize_bucket,
    "assists": serialize_assist,
}


def _window(request):
    start_hour, end_hour = hour_window(request)
    if end_hour - start_hour > (analysis_reader.MAX_WINDOW_DAYS * 24 - 1) * analysis.HOUR_SECONDS:
        raise bad_parameter("start_hour", request.GET.get("start_hour", ""),
                            f"the window is at most {analysis_reader.MAX_WINDOW_DAYS} days")
    return start_hour, end_hour


def scope_params(request, filters):
    try:
        return analysis_reader.resolve_scope(request.user, **filters)
    except analysis_reader.AnalysisRequestError as error:
        raise ApiError(400, f"Invalid parameter {error.field}: {error.message}.", {error.field: error.message})


def report_endpoint(report):
    """The GET handler of one report."""

    def handler(request):
        start_hour, end_hour = _window(request)
        filters = {name: int_param(request, name, minimum=1) for name in FILTERS}
        channel = choice_param(request, "channel", CHANNEL_KINDS, default=DEFAULT_CHANNEL)
        collapse_repeats = bool(bool_param(request, "collapse"))
        limit, offset = None, 0
        if report == "paths":
            limit = int_param(request, "limit", default=DEFAULT_PATHS_LIMIT, minimum=1, maximum=MAX_PATHS_LIMIT)
            offset = int_param(request, "offset", default=0)
        scope = scope_params(request, filters)
        result = analysis_reader.run_report(
            report, scope, start_hour=start_hour, end_hour=end_hour, channel=channel,
            collapse_repeats=collapse_repeats, offset=offset, limit=limit,
        )
        meta = {
            "start_hour": start_hour, "end_hour": end_hour, **filters, "channel": channel,
            "collapse": collapse_repeats, "conversions": result.conversions, "revenue": _money(result.revenue),
        }
        if report == "paths":
            more = offset + limit < result.total_rows
            meta.update(limit=limit, offset=offset, next_offset=offset + limit if more else None,
                        total_paths=result.total_rows)
        serialize = SERIALIZERS[report]
        return data_response([serialize(row, result.names) for row in result.rows], meta=meta)

    return api_endpoint(GET=(tenancy.VIEW_PERMISSION, handler))


paths_endpoint = report_endpoint("paths")
path_length_endpoint = report_endpoint("path-length")
time_lag_endpoint = report_endpoint("time-lag")
assists_endpoint = report_endpoint("assists")
