"""The OpenAPI 3.0 description of /api/v2/attribution/, written by hand next to the views it
describes, and served (to users who may view reports) at /api/v2/attribution/openapi.json.

tests/attribution/api/test_openapi_schemathesis.py checks that real responses conform to it.
"""
from attribution.api.serializers import MAX_EPOCH, MAX_ID
from attribution.models import MODEL_TYPES, SCOPE_TYPES

SCOPE_NAMES = [name for name, _label in SCOPE_TYPES]
MODEL_TYPE_NAMES = [name for name, _label in MODEL_TYPES]


def _ref(kind, name):
    return {"$ref": f"#/components/{kind}/{name}"}


def _schema(name):
    return _ref("schemas", name)


def _data(schema, meta=False):
    properties = {"data": schema}
    if meta:
        properties["meta"] = _schema("PageMeta")
    return {
        "description": "Success.",
        "content": {"application/json": {"schema": {
            "type": "object", "required": ["data"], "properties": properties,
        }}},
    }


def _responses(success_status, success, *errors):
    """A responses object: the success response plus the shared error responses named."""
    responses = {
        str(success_status): success,
        "401": _ref("responses", "Unauthorized"),
        "429": _ref("responses", "TooManyFailedTokens"),
    }
    for status, name in errors:
        responses[str(status)] = _ref("responses", name)
    return responses


_BAD = (400, "BadRequest")
_FORBIDDEN = (403, "Forbidden")
_NOT_FOUND = (404, "NotFound")
_TOO_LARGE = (413, "TooLarge")
_INVALID = (422, "Unprocessable")

_INTEGER_ID = {"type": "integer", "minimum": 0, "maximum": MAX_ID}
_EPOCH = {"type": "integer", "minimum": 0, "maximum": MAX_EPOCH}
_NULLABLE_EPOCH = {**_EPOCH, "nullable": True}
_MONEY = {"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?$", "description": "decimal as text, no precision lost"}
_ISO = {"type": "string", "nullable": True, "description": "UTC, ISO 8601 (YYYY-MM-DDTHH:MM:SSZ)"}


def _query(name, schema, description, required=False):
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


def _path_id(name, description):
    return {"name": name, "in": "path", "required": True, "schema": _INTEGER_ID, "description": description}


_WINDOW_PARAMETERS = [
    _ref("parameters", "Scope"),
    _ref("parameters", "ScopeId"),
    _ref("parameters", "StartHour"),
    _ref("parameters", "EndHour"),
]
_PAGE_PARAMETERS = [_ref("parameters", "Limit"), _ref("parameters", "Offset")]

_ERROR_RESPONSES = {
    "BadRequest": "Malformed JSON or an invalid query parameter (named in `fields`).",
    "Unauthorized": "No credentials, or an invalid or revoked token.",
    "Forbidden": "Missing permission, failed CSRF check (session), or another tenant's object.",
    "NotFound": "No object with this id.",
    "TooLarge": "The request body is over 1 MiB.",
    "Unprocessable": "Validation failed; `fields` maps each field to its problem.",
    "TooManyFailedTokens": "Too many invalid tokens from this address; retry after Retry-After seconds.",
}


def _error_response(name, description):
    response = {"description": description, "content": {"application/json": {"schema": _schema("Error")}}}
    if name == "Unauthorized":
        response["headers"] = {
            "WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer challenge", "required": True}
        }
    if name == "TooManyFailedTokens":
        response["headers"] = {
            "Retry-After": {"schema": {"type": "integer"}, "description": "seconds to wait", "required": True}
        }
    return response


def _object(properties, required=(), additional=False):
    schema = {"type": "object", "properties": properties, "additionalProperties": additional}
    if required:
        schema["required"] = list(required)
    return schema


_KPIS = {
    "attributed_clicks": {"type": "integer", "minimum": 0},
    "attributed_conversions": {"type": "integer", "minimum": 0},
    "attributed_revenue": _MONEY,
    "attributed_cost": _MONEY,
    "profit": _MONEY,
    "roi_percent": {**_MONEY, "nullable": True, "description": "null when the cost is zero"},
}

_MODEL = _object(
    {
        "model_id": _INTEGER_ID,
        "user_id": _INTEGER_ID,
        "model_name": {"type": "string"},
        "model_slug": {"type": "string"},
        "model_type": {"type": "string", "description": "one of " + ", ".join(MODEL_TYPE_NAMES)},
        "weighting_config": {"type": "object", "nullable": True, "additionalProperties": True},
        "is_active": {"type": "boolean"},
        "is_default": {"type": "boolean"},
        "created_at": _EPOCH,
        "created_at_iso": _ISO,
        "updated_at": _EPOCH,
        "updated_at_iso": _ISO,
    },
    required=("model_id", "user_id", "model_name", "model_slug", "model_type", "weighting_config",
              "is_active", "is_default", "created_at", "updated_at"),
)

_MODEL_WRITE_PROPERTIES = {
    "model_name": {"type": "string", "maxLength": 255},
    "model_slug": {"type": "string", "nullable": True, "maxLength": 191,
                   "description": "Generated from the name when omitted; a rename keeps the slug."},
    "model_type": {"type": "string", "enum": MODEL_TYPE_NAMES},
    "weighting_config": {
        "type": "object", "nullable": True, "additionalProperties": True,
        "description": "time_decay: {half_life_hours}; position_based: {first_touch_weight, "
                       "last_touch_weight}; algorithmic: {method: markov, channel?}; others: null.",
    },
    "is_active": {"type": "boolean"},
    "is_default": {"type": "boolean", "description": "true promotes this model to the account's default."},
}

_SNAPSHOT = _object(
    {
        "snapshot_id": _INTEGER_ID,
        "model_id": _INTEGER_ID,
        "user_id": _INTEGER_ID,
        "scope_type": {"type": "string", "enum": SCOPE_NAMES},
        "scope_id": {**_INTEGER_ID, "nullable": True},
        "date_hour": _EPOCH,
        "date_hour_iso": _ISO,
        "lookback_start": _EPOCH,
        "lookback_end": _EPOCH,
        "attributed_clicks": {"type": "integer", "minimum": 0},
        "attributed_conversions": {"type": "integer", "minimum": 0},
        "attributed_revenue": _MONEY,
        "attributed_cost": _MONEY,
        "created_at": _EPOCH,
    },
    required=("snapshot_id", "model_id", "scope_type", "scope_id", "date_hour", "attributed_clicks",
              "attributed_conversions", "attributed_revenue", "attributed_cost"),
)

_EXPORT = _object(
    {
        "export_id": _INTEGER_ID,
        "model_id": _INTEGER_ID,
        "user_id": _INTEGER_ID,
        "scope_type": {"type": "string"},
        "scope_id": {**_INTEGER_ID, "nullable": True},
        "start_hour": _EPOCH,
        "end_hour": _EPOCH,
        "format": {"type": "string"},
        "status": {"type": "string", "description": "pending, processing, completed or failed"},
        "rows_exported": {"type": "integer", "nullable": True},
        "webhook_url": {"type": "string", "nullable": True},
        "webhook_status_code": {"type": "integer", "nullable": True},
        "last_error": {"type": "string", "nullable": True},
        "queued_at": _EPOCH,
        "started_at": _NULLABLE_EPOCH,
        "completed_at": _NULLABLE_EPOCH,
        "failed_at": _NULLABLE_EPOCH,
        "download_url": {"type": "string", "nullable": True,
                         "description": "API download link (same credentials) once completed."},
    },
    required=("export_id", "model_id", "status", "format", "download_url"),
)

_TOUCH = _object(
    {
        "position": {"type": "integer", "minimum": 0},
        "click_id": _INTEGER_ID,
        "click_time": _EPOCH,
        "click_time_iso": _ISO,
        "seconds_before_conversion": {"type": "integer"},
        "is_converting_click": {"type": "boolean"},
        "click_found": {"type": "boolean", "description": "false when the 202_clicks row is missing"},
        "landing_page_id": {**_INTEGER_ID, "nullable": True},
        "ppc_account_id": {**_INTEGER_ID, "nullable": True},
    },
    required=("position", "click_id", "click_time", "is_converting_click"),
)

_CONVERSION = _object(
    {
        "conv_id": _INTEGER_ID,
        "user_id": {**_INTEGER_ID, "nullable": True},
        "campaign_id": {**_INTEGER_ID, "nullable": True},
        "click_id": _INTEGER_ID,
        "click_time": {"type": "integer"},
        "conv_time": {"type": "integer"},
        "conv_time_iso": _ISO,
        "transaction_id": {"type": "string", "nullable": True},
        "revenue": _MONEY,
        "deleted": {"type": "boolean"},
    },
    required=("conv_id", "click_id", "conv_time", "revenue"),
)

SCHEMA = {
    "openapi": "3.0.3",
    "info": {
        "title": "Attribution Ops API",
        "version": "2.0.0",
        "description": (
            "Prosper202-compatible attribution API. Authenticate with `Authorization: Bearer <token>` "
            "(tokens from the admin or `manage.py create_api_token`) or a Django session (send the "
            "CSRF token on writes). Successful responses are `{\"data\": …}` (lists add `meta` with "
            "`limit`, `offset`, `next_offset`); errors are `{\"error\": {\"message\", \"fields\"}}`. "
            "Times are Unix epoch seconds (UTC), with `*_iso` companions. Hour windows are floored "
            "to whole hours and default to the last 24 hours."
        ),
    },
    "servers": [{"url": "/api/v2/attribution"}],
    "security": [{"bearerAuth": []}, {"sessionAuth": []}],
    "paths": {
        "/models": {
            "get": {
                "operationId": "listModels",
                "summary": "Models of the accounts you can see (permission: view_attribution_reports).",
                "parameters": [
                    _query("type", {"type": "string", "enum": MODEL_TYPE_NAMES}, "Only models of this type."),
                    _query("active", {"type": "string", "enum": ["true", "false", "1", "0"]},
                           "Only active (true) or inactive (false) models."),
                    _query("user_id", _INTEGER_ID, "Only models of this Prosper202 account."),
                    *_PAGE_PARAMETERS,
                ],
                "responses": _responses(200, _data({"type": "array", "items": _schema("Model")}, meta=True),
                                        _BAD, _FORBIDDEN),
            },
            "post": {
                "operationId": "createModel",
                "summary": "Create a model (permission: manage_attribution_models).",
                "requestBody": {"required": True, "content": {"application/json": {"schema": _schema("ModelCreate")}}},
                "responses": _responses(201, _data(_schema("Model")), _BAD, _FORBIDDEN, _TOO_LARGE, _INVALID),
            },
        },
        "/models/{model_id}": {
            "parameters": [_ref("parameters", "ModelId")],
            "get": {
                "operationId": "getModel",
                "summary": "One model (permission: view_attribution_reports).",
                "responses": _responses(200, _data(_schema("Model")), _FORBIDDEN, _NOT_FOUND),
            },
            "patch": {
                "operationId": "updateModel",
                "summary": "Change a model; `is_default: true` promotes it (permission: manage_attribution_models).",
                "requestBody": {"required": True, "content": {"application/json": {"schema": _schema("ModelPatch")}}},
                "responses": _responses(200, _data(_schema("Model")), _BAD, _FORBIDDEN, _NOT_FOUND,
                                        _TOO_LARGE, _INVALID),
            },
            "delete": {
                "operationId": "deleteModel",
                "summary": "Delete a model that is not the default (permission: manage_attribution_models).",
                "responses": _responses(204, {"description": "Deleted."}, _FORBIDDEN, _NOT_FOUND, _INVALID),
            },
        },
        "/models/{model_id}/snapshots": {
            "parameters": [_ref("parameters", "ModelId")],
            "get": {
                "operationId": "listSnapshots",
                "summary": "Hourly snapshot rows of a model, oldest first (permission: view_attribution_reports).",
                "parameters": [*_WINDOW_PARAMETERS, *_PAGE_PARAMETERS],
                "responses": _responses(200, _data({"type": "array", "items": _schema("Snapshot")}, meta=True),
                                        _BAD, _FORBIDDEN, _NOT_FOUND),
            },
        },
        "/models/{model_id}/exports": {
            "parameters": [_ref("parameters", "ModelId")],
            "get": {
                "operationId": "listExports",
                "summary": "Exports of a model, newest first (permission: view_attribution_reports).",
                "parameters": list(_PAGE_PARAMETERS),
                "responses": _responses(200, _data({"type": "array", "items": _schema("Export")}, meta=True),
                                        _BAD, _FORBIDDEN, _NOT_FOUND),
            },
            "post": {
                "operationId": "scheduleExport",
                "summary": "Schedule a CSV/XLSX export (permission: manage_attribution_models).",
                "requestBody": {"required": True, "content": {"application/json": {"schema": _schema("ExportCreate")}}},
                "responses": _responses(201, _data(_schema("Export")), _BAD, _FORBIDDEN, _NOT_FOUND,
                                        _TOO_LARGE, _INVALID),
            },
        },
        "/exports/{export_id}/download": {
            "get": {
                "operationId": "downloadExport",
                "summary": "The file of a completed export (permission: view_attribution_reports).",
                "parameters": [_path_id("export_id", "202_attribution_exports.export_id")],
                "responses": _responses(
                    200,
                    {"description": "The CSV or XLSX file, as an attachment.", "content": {
                        "text/csv": {"schema": {"type": "string"}},
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                            "schema": {"type": "string", "format": "binary"}},
                    }},
                    _FORBIDDEN, _NOT_FOUND,
                ),
            },
        },
        "/metrics": {
            "get": {
                "operationId": "getMetrics",
                "summary": "Totals of one model over a window and scope (permission: view_attribution_reports).",
                "parameters": [
                    _query("model_id", _INTEGER_ID, "The model.", required=True),
                    *_WINDOW_PARAMETERS,
                    _query("resolution", {"type": "string", "enum": ["hour", "day"], "default": "hour"},
                           "Bucket size of `series` (UTC hours or days)."),
                ],
                "responses": _responses(200, _data(_schema("Metrics")), _BAD, _FORBIDDEN, _NOT_FOUND),
            },
        },
        "/compare": {
            "get": {
                "operationId": "compareModels",
                "summary": "Several models side by side (permission: view_attribution_reports).",
                "parameters": [
                    _query("models", {"type": "string", "pattern": "^[0-9]+(,[0-9]+){0,9}$"},
                           "1 to 10 comma-separated model ids.", required=True),
                    *_WINDOW_PARAMETERS,
                ],
                "responses": _responses(200, _data(_schema("Comparison")), _BAD, _FORBIDDEN, _NOT_FOUND),
            },
        },
        "/conversions/{conv_id}/journey": {
            "get": {
                "operationId": "getJourney",
                "summary": "A conversion and its ordered touches (permission: view_attribution_reports).",
                "parameters": [_path_id("conv_id", "202_conversion_logs.conv_id")],
                "responses": _responses(200, _data(_schema("Journey")), _FORBIDDEN, _NOT_FOUND),
            },
        },
        "/rebuilds": {
            "post": {
                "operationId": "startRebuild",
                "summary": "Queue a snapshot rebuild (permission: manage_attribution_models).",
                "requestBody": {"required": True, "content": {"application/json": {"schema": _schema("RebuildRequest")}}},
                "responses": _responses(
                    202,
                    {"description": "Queued.", "content": {"application/json": {"schema": _object(
                        {"data": _schema("RebuildQueued")}, required=("data",))}}},
                    _BAD, _FORBIDDEN, _TOO_LARGE, _INVALID,
                ),
            },
        },
    },
    "components": {
        "securitySchemes": {
            "bearerAuth": {"type": "http", "scheme": "bearer"},
            "sessionAuth": {"type": "apiKey", "in": "cookie", "name": "sessionid"},
        },
        "parameters": {
            "ModelId": _path_id("model_id", "202_attribution_models.model_id"),
            "Scope": _query("scope", {"type": "string", "enum": SCOPE_NAMES, "default": "global"}, "Scope type."),
            "ScopeId": _query("scope_id", _INTEGER_ID,
                              "Scope value (campaign id, …); omit for global; omitted = every value."),
            "StartHour": _query("start_hour", _EPOCH, "Window start, epoch seconds (floored to the hour)."),
            "EndHour": _query("end_hour", _EPOCH, "Window end hour, inclusive, epoch seconds."),
            "Limit": _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
                            "Page size."),
            "Offset": _query("offset", {"type": "integer", "minimum": 0, "default": 0}, "Rows to skip."),
        },
        "responses": {name: _error_response(name, description) for name, description in _ERROR_RESPONSES.items()},
        "schemas": {
            "Error": _object(
                {"error": _object(
                    {"message": {"type": "string"},
                     "fields": {"type": "object", "additionalProperties": {"type": "string"}}},
                    required=("message", "fields"),
                )},
                required=("error",),
            ),
            "PageMeta": _object(
                {"limit": {"type": "integer"}, "offset": {"type": "integer"},
                 "next_offset": {"type": "integer", "nullable": True}},
                required=("limit", "offset", "next_offset"), additional=True,
            ),
            "Model": _MODEL,
            "ModelCreate": _object(
                {"user_id": {**_INTEGER_ID, "description": "Prosper202 account; optional when you see only one."},
                 **_MODEL_WRITE_PROPERTIES},
                required=("model_name", "model_type"),
            ),
            "ModelPatch": {**_object(_MODEL_WRITE_PROPERTIES), "minProperties": 1},
            "Snapshot": _SNAPSHOT,
            "Export": _EXPORT,
            "ExportCreate": _object(
                {
                    "scope": {"type": "string", "enum": SCOPE_NAMES, "default": "global"},
                    "scope_id": {**_INTEGER_ID, "nullable": True},
                    "start_hour": _EPOCH,
                    "end_hour": _EPOCH,
                    "format": {"type": "string", "enum": ["csv", "xlsx", "xls"], "default": "csv"},
                    "webhook_url": {"type": "string", "nullable": True},
                    "webhook_secret": {"type": "string", "nullable": True, "writeOnly": True,
                                       "description": "HMAC key for X-Prosper202-Signature; never returned."},
                    "webhook_headers": {"type": "object", "nullable": True, "writeOnly": True,
                                        "additionalProperties": {"type": "string"},
                                        "description": "Extra request headers for the webhook; never returned."},
                },
                required=("start_hour", "end_hour"),
            ),
            "Kpis": _object(_KPIS, required=tuple(_KPIS)),
            "SeriesPoint": _object({"bucket": _EPOCH, **_KPIS}, required=("bucket", *_KPIS)),
            "Metrics": _object(
                {"model_id": _INTEGER_ID, "scope": {"type": "string"}, "scope_id": {**_INTEGER_ID, "nullable": True},
                 "start_hour": _EPOCH, "end_hour": _EPOCH, "resolution": {"type": "string", "enum": ["hour", "day"]},
                 "totals": _schema("Kpis"), "series": {"type": "array", "items": _schema("SeriesPoint")}},
                required=("model_id", "scope", "start_hour", "end_hour", "resolution", "totals", "series"),
            ),
            "ModelComparison": _object(
                {
                    "model_id": _INTEGER_ID, "model_name": {"type": "string"}, "model_type": {"type": "string"},
                    "account_id": _INTEGER_ID, "is_default": {"type": "boolean"}, "is_active": {"type": "boolean"},
                    "source": {"type": "string", "enum": ["snapshots", "journeys"]},
                    **_KPIS,
                    "position_share": _object(
                        {bucket: {"type": "number"} for bucket in ("first", "middle", "last")}, additional=False,
                    ),
                    "error": {"type": "string", "nullable": True},
                },
                required=("model_id", "source", *_KPIS, "position_share"),
            ),
            "Comparison": _object(
                {"model_ids": {"type": "array", "items": _INTEGER_ID}, "scope": {"type": "string"},
                 "scope_id": {**_INTEGER_ID, "nullable": True}, "start_hour": _EPOCH, "end_hour": _EPOCH,
                 "models": {"type": "array", "items": _schema("ModelComparison")}},
                required=("model_ids", "scope", "start_hour", "end_hour", "models"),
            ),
            "Touch": _TOUCH,
            "Conversion": _CONVERSION,
            "JourneyCredits": _object(
                {"model_id": {**_INTEGER_ID, "nullable": True}, "model_name": {"type": "string"},
                 "model_type": {"type": "string"}, "is_default": {"type": "boolean"},
                 "note": {"type": "string", "nullable": True},
                 "credits": {"type": "array", "items": {"type": "number"},
                             "description": "One credit per touch of `touches`, summing to 1."}},
                required=("model_id", "model_name", "model_type", "credits"),
            ),
            "Journey": _object(
                {"conversion": _schema("Conversion"),
                 "stored_touch_count": {"type": "integer", "minimum": 0,
                                        "description": "Rows in 202_conversion_touchpoints (0: one-touch fallback)."},
                 "converting_click_added": {"type": "boolean"},
                 "touches": {"type": "array", "items": _schema("Touch"),
                             "description": "The journey as credited: stored touches, the converting click "
                                            "added when missing, sorted by time then click id."},
                 "credits": {"type": "array", "items": _schema("JourneyCredits"),
                             "description": "Each active model of the account, from the rebuild's crediting pass."},
                 "invalid_models": {"type": "array", "items": _object(
                     {"model_id": _INTEGER_ID, "reason": {"type": "string"}}, required=("model_id", "reason"))}},
                required=("conversion", "touches", "credits"),
            ),
            "RebuildRequest": _object(
                {"start": _EPOCH, "end": _EPOCH,
                 "user_id": {**_INTEGER_ID, "nullable": True,
                             "description": "One account; omitted = every account you can see."},
                 "model_ids": {"type": "array", "nullable": True, "items": _INTEGER_ID}},
                required=("start", "end"),
            ),
            "RebuildQueued": _object(
                {"task_id": {"type": "string", "description": "The task, or the group when several accounts."},
                 "group_id": {"type": "string"},
                 "task_ids": {"type": "array", "items": {"type": "string"}},
                 "start": _EPOCH, "end": _EPOCH,
                 "user_ids": {"type": "array", "nullable": True, "items": _INTEGER_ID},
                 "model_ids": {"type": "array", "nullable": True, "items": _INTEGER_ID}},
                required=("task_id",),
            ),
        },
    },
}



# --- journey analysis (SPEC §7.1): four reports over one set of parameters ----------------------

_ANALYSIS_FILTER_ID = {**_INTEGER_ID, "minimum": 1}
_ANALYSIS_PARAMETERS = [
    _ref("parameters", "StartHour"),
    _ref("parameters", "EndHour"),
    _query("account", _ANALYSIS_FILTER_ID, "Only this Prosper202 account (user_id); another tenant's id is 403."),
    _query("advertiser", _ANALYSIS_FILTER_ID, "Only this advertiser's campaigns (aff_network_id)."),
    _query("campaign", _ANALYSIS_FILTER_ID, "Only this campaign (aff_campaign_id)."),
    _query("channel", {"type": "string", "enum": ["account", "campaign", "landing_page"], "default": "account"},
           "What a touch's channel is: its traffic-source account, campaign or landing page (0: unknown)."),
    _query("collapse", {"type": "string", "enum": ["true", "false", "1", "0"]},
           "Collapse repeats: consecutive touches on one channel are one step (paths group by steps, "
           "path length counts steps)."),
]
_SHARE = {"type": "number", "minimum": 0, "maximum": 1, "description": "of the window's conversions"}
_ANALYSIS_CHANNEL = {"channel_id": _INTEGER_ID,
                     "channel_name": {"type": "string", "nullable": True,
                                      "description": "`unknown` for channel 0; null when its row is gone"}}
_ANALYSIS_META = {
    "start_hour": _EPOCH, "end_hour": _EPOCH,
    "account": {**_INTEGER_ID, "nullable": True}, "advertiser": {**_INTEGER_ID, "nullable": True},
    "campaign": {**_INTEGER_ID, "nullable": True},
    "channel": {"type": "string"}, "collapse": {"type": "boolean"},
    "conversions": {"type": "integer", "minimum": 0, "description": "live conversions of the window"},
    "revenue": _MONEY,
}
_ANALYSIS_PAGE_META = {
    "limit": {"type": "integer"}, "offset": {"type": "integer"},
    "next_offset": {"type": "integer", "nullable": True}, "total_paths": {"type": "integer", "minimum": 0},
}
_ANALYSIS_BUCKET = _object(
    {"bucket": {"type": "string"}, "lowest": {"type": "integer"},
     "highest": {"type": "integer", "nullable": True, "description": "null: no upper bound"},
     "conversions": {"type": "integer", "minimum": 0}, "revenue": _MONEY, "share": _SHARE},
    required=("bucket", "lowest", "highest", "conversions", "revenue", "share"),
)
_ANALYSIS_REPORTS = {
    "paths": ("analysisPaths", "Top conversion paths, by conversions then path; paged (default 50).", _object(
        {"path": {"type": "array", "items": _object(
            {**_ANALYSIS_CHANNEL, "min_repeats": {"type": "integer", "minimum": 1},
             "max_repeats": {"type": "integer", "minimum": 1}},
            required=("channel_id", "channel_name", "min_repeats", "max_repeats"))},
         "label": {"type": "string"}, "conversions": {"type": "integer", "minimum": 1}, "revenue": _MONEY,
         "share": _SHARE, "mean_touches": {"type": "number"},
         "median_hours": {"type": "number", "description": "from first touch to conversion"}},
        required=("path", "label", "conversions", "revenue", "share", "mean_touches", "median_hours"),
    )),
    "path-length": ("analysisPathLength", "Conversions by touches (steps with collapse): 1…10, 11–25, 26.",
                    _ANALYSIS_BUCKET),
    "time-lag": ("analysisTimeLag", "Conversions by whole days from first touch: 0…4, 5–7, 8–14, 15–21, "
                 "22–30, over 30.", _ANALYSIS_BUCKET),
    "assists": ("analysisAssists", "Last-touch and assisted conversions per channel.", _object(
        {**_ANALYSIS_CHANNEL,
         "last_touch_conversions": {"type": "integer", "minimum": 0}, "last_touch_revenue": _MONEY,
         "last_touch_share": _SHARE, "assisted_conversions": {"type": "integer", "minimum": 0},
         "assisted_revenue": _MONEY, "assisted_share": _SHARE,
         "assist_ratio": {"type": "number", "nullable": True,
                          "description": "assisted ÷ last-touch; null when the channel closed none"}},
        required=("channel_id", "channel_name", "last_touch_conversions", "last_touch_revenue",
                  "assisted_conversions", "assisted_revenue", "assist_ratio"),
    )),
}


def _analysis_operation(report, operation_id, summary, row):
    meta = {**_ANALYSIS_META, **(_ANALYSIS_PAGE_META if report == "paths" else {})}
    body = _object({"data": {"type": "array", "items": row}, "meta": _object(meta, required=tuple(meta))},
                   required=("data", "meta"))
    paging = [_query("limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50}, "Paths per page."),
              _ref("parameters", "Offset")]
    parameters = [*_ANALYSIS_PARAMETERS, *(paging if report == "paths" else ())]
    return {"get": {
        "operationId": operation_id,
        "summary": f"{summary} Live conversions of the window's whole UTC hours, from the journey "
                   "summaries of the rebuild (permission: view_attribution_reports).",
        "parameters": parameters,
        "responses": _responses(200, {"description": "Success.", "content": {"application/json": {"schema": body}}},
                                _BAD, _FORBIDDEN),
    }}


SCHEMA["paths"].update({
    f"/analysis/{report}": _analysis_operation(report, *description)
    for report, description in _ANALYSIS_REPORTS.items()
})


# --- queued work (SPEC §4.2, §8): backfills and the status of a queued task or group -----------

_STATE = {"type": "string", "enum": ["queued", "running", "succeeded", "failed"]}
_TASK_SUMMARY = {"task_id": {"type": "string"}, "account_id": _INTEGER_ID, "state": _STATE,
                 "attempts": {"type": "integer", "minimum": 0},
                 "retrying": {"type": "boolean", "description": "failed, and will be run again"}}
_TASK_DETAILS = {
    "worker": {"type": "string", "nullable": True, "description": "the qcluster that ran it: name@host:pid"},
    "started": _ISO, "stopped": _ISO,
    "arguments": {"type": "object", "additionalProperties": True},
    "result": {"type": "object", "nullable": True, "additionalProperties": True,
               "description": "the task's summary (a backfill slice's counts, a rebuild's outcome)"},
    "errors": {"type": "array", "items": {"type": "string"}},
    "result_pruned": {"type": "boolean", "description": "succeeded; django-q2 no longer keeps its result"},
}
_GROUP_DETAILS = {
    "queued_at": _EPOCH,
    "queued_by": {"type": "object", "additionalProperties": True},
    "parameters": {"type": "object", "additionalProperties": True},
    "account_ids": {"type": "array", "items": _INTEGER_ID},
    "counts": _object({name: {"type": "integer", "minimum": 0}
                       for name in ("queued", "running", "succeeded", "failed", "retrying")},
                      required=("queued", "running", "succeeded", "failed", "retrying")),
    "totals": {"type": "object", "additionalProperties": {"type": "integer"},
               "description": "summed over the tasks' results (backfill: conversions, written, …)"},
    "error_count": {"type": "integer", "minimum": 0},
    "errors": {"type": "array", "items": {"type": "string"}, "description": "the first 100"},
    "tasks": {"type": "array", "items": _object(_TASK_SUMMARY, required=tuple(_TASK_SUMMARY))},
}

SCHEMA["paths"].update({
    "/backfills": {
        "post": {
            "operationId": "startBackfill",
            "summary": "Queue a journey backfill as per-account time slices, one django-q2 group "
                       "(permission: manage_attribution_models).",
            "requestBody": {"required": True, "content": {"application/json": {"schema": _schema("BackfillRequest")}}},
            "responses": _responses(
                202,
                {"description": "Queued (nothing is queued, and group_id is null, when no slice holds a conversion).",
                 "content": {"application/json": {"schema": _object(
                     {"data": _schema("BackfillQueued")}, required=("data",))}}},
                _BAD, _FORBIDDEN, _TOO_LARGE, _INVALID,
            ),
        },
    },
    "/tasks/{task_id}": {
        "get": {
            "operationId": "getTask",
            "summary": "Where a task or group queued through the API, the admin or --async stands "
                       "(permission: view_attribution_reports; another tenant's is 404).",
            "parameters": [{"name": "task_id", "in": "path", "required": True,
                            "schema": {"type": "string", "maxLength": 64},
                            "description": "A task id (32 hex digits) or a group id (backfill-…, rebuild-…)."}],
            "responses": _responses(200, _data(_schema("QueuedWork")), _FORBIDDEN, _NOT_FOUND),
        },
    },
})
SCHEMA["components"]["schemas"].update({
    "BackfillRequest": _object(
        {"start": _EPOCH, "end": _EPOCH,
         "user_id": {**_INTEGER_ID, "nullable": True, "description": "One account; omitted = every account you can see."},
         "batch_size": {"type": "integer", "minimum": 1, "maximum": 50_000, "default": 5000},
         "slice_hours": {"type": "integer", "minimum": 1, "maximum": 24 * 366, "default": 24}},
        required=("start", "end"),
    ),
    "BackfillQueued": _object(
        {"group_id": {"type": "string", "nullable": True}, "task_ids": {"type": "array", "items": {"type": "string"}},
         "start": _EPOCH, "end": _EPOCH, "user_ids": {"type": "array", "items": _INTEGER_ID},
         "slices": {"type": "integer", "minimum": 0}, "conversions": {"type": "integer", "minimum": 0},
         "warnings": {"type": "array", "items": {"type": "string"}}},
        required=("group_id", "task_ids", "start", "end", "user_ids", "slices", "conversions", "warnings"),
    ),
    "QueuedWork": _object(
        {"id": {"type": "string"}, "type": {"type": "string", "enum": ["task", "group"]},
         "group_id": {"type": "string"}, "kind": {"type": "string", "enum": ["backfill", "rebuild"]},
         **_TASK_SUMMARY, **_TASK_DETAILS, **_GROUP_DETAILS},
        required=("id", "type", "group_id", "kind", "state"),
    ),
})
