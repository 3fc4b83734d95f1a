"""Plain functions turning rows into JSON-ready dicts and request bodies into checked values.

Validation here is about shape only (types, required keys, ranges of query parameters); what a
value means for the business (slug rules, config ranges, default-model rules) is the services' job.
"""
import json

from attribution.api.errors import ApiError
from attribution.credit import stored_config_object
from attribution.exports.webhooks import masked_url
from tracker.utc import ISO_PATTERN, utc_text

MODEL_FIELDS = ("model_name", "model_slug", "model_type", "weighting_config", "is_active", "is_default")
MODEL_CREATE_FIELDS = ("user_id",) + MODEL_FIELDS
MAX_ID = 2**63 - 1  # BIGINT: larger ids cannot exist, and some drivers overflow on them
MAX_EPOCH = 2**32 - 1  # INT UNSIGNED epoch columns


def epoch_iso(epoch):
    """A Unix epoch as an ISO 8601 UTC string ("…Z"), or None."""
    if epoch is None:
        return None
    return utc_text(int(epoch), ISO_PATTERN)


def serialize_model(model):
    return {
        "model_id": model.model_id,
        "user_id": model.user_id,
        "model_name": model.model_name,
        "model_slug": model.model_slug,
        "model_type": model.model_type,
        "weighting_config": stored_config_object(model.weighting_config),
        "is_active": bool(model.is_active),
        "is_default": bool(model.is_default),
        "created_at": model.created_at,
        "created_at_iso": epoch_iso(model.created_at),
        "updated_at": model.updated_at,
        "updated_at_iso": epoch_iso(model.updated_at),
    }


def serialize_snapshot(snapshot):
    return {
        "snapshot_id": snapshot.snapshot_id,
        "model_id": snapshot.model_id,
        "user_id": snapshot.user_id,
        "scope_type": snapshot.scope_type,
        "scope_id": snapshot.scope_id,
        "date_hour": snapshot.date_hour,
        "date_hour_iso": epoch_iso(snapshot.date_hour),
        "lookback_start": snapshot.lookback_start,
        "lookback_end": snapshot.lookback_end,
        "attributed_clicks": snapshot.attributed_clicks,
        "attributed_conversions": snapshot.attributed_conversions,
        "attributed_revenue": str(snapshot.attributed_revenue),
        "attributed_cost": str(snapshot.attributed_cost),
        "created_at": snapshot.created_at,
    }


def serialize_export(export, download_url):
    """An export without its webhook secret, headers or file path, its URL masked (SPEC §8)."""
    return {
        "export_id": export.export_id,
        "model_id": export.model_id,
        "user_id": export.user_id,
        "scope_type": export.scope_type,
        "scope_id": export.scope_id,
        "start_hour": export.start_hour,
        "end_hour": export.end_hour,
        "format": export.requested_format,
        "status": export.status,
        "rows_exported": export.rows_exported,
        "webhook_url": masked_url(export.webhook_url),
        "webhook_status_code": export.webhook_status_code,
        "last_error": export.last_error,
        "queued_at": export.queued_at,
        "started_at": export.started_at,
        "completed_at": export.completed_at,
        "failed_at": export.failed_at,
        "download_url": download_url,
    }


def serialize_journey(conversion, record, credit_columns, invalid_models):
    """A conversion's facts, its journey as credited (journeys.source: stored touches, the
    converting click added when missing, sorted) and each active model's credits per touch."""
    touches = []
    for position, touch in enumerate(record.journey.touches):
        found = touch.click_id not in record.missing_click_ids
        touches.append(
            {
                "position": position,
                "click_id": touch.click_id,
                "click_time": touch.click_time,
                "click_time_iso": epoch_iso(touch.click_time),
                "seconds_before_conversion": conversion.conv_time - touch.click_time,
                "is_converting_click": touch.click_id == conversion.click_id,
                "click_found": found,
                "landing_page_id": touch.landing_page_id if found else None,
                "ppc_account_id": touch.ppc_account_id if found else None,
            }
        )
    return {
        "conversion": {
            "conv_id": conversion.conv_id,
            "user_id": conversion.user_id,
            "campaign_id": conversion.campaign_id,
            "click_id": conversion.click_id,
            "click_time": conversion.click_time,
            "conv_time": conversion.conv_time,
            "conv_time_iso": epoch_iso(conversion.conv_time),
            "transaction_id": conversion.transaction_id,
            "revenue": str(conversion.click_payout),
            "deleted": bool(conversion.deleted),
        },
        "stored_touch_count": record.stored_touch_count,
        "converting_click_added": record.converting_click_added,
        "touches": touches,
        "credits": [
            {
                "model_id": column.model_id,
                "model_name": column.title,
                "model_type": column.model_type,
                "is_default": column.is_default,
                "note": column.note or None,
                "credits": [round(credit, 6) for credit in column.credits],
            }
            for column in credit_columns
        ],
        "invalid_models": [{"model_id": model.model_id, "reason": reason} for model, reason in invalid_models],
    }


def _body_errors(body, allowed, types, required=()):
    """{field: problem} of a request body: its types and its required fields (unknown fields
    are refused at once by `_check_body_fields`)."""
    _check_body_fields(body, allowed)
    errors = _type_errors(body, types)
    errors.update({name: "is required" for name in required if name not in body})
    return errors


def _check_body_fields(body, allowed):
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        allowed_text = ", ".join(allowed)
        raise ApiError(
            422,
            f"Unknown field(s): {', '.join(unknown)}. Allowed: {allowed_text}.",
            {name: f"unknown field; allowed fields are {allowed_text}" for name in unknown},
        )


def _type_errors(body, expectations):
    """Field → message for every present key whose JSON type is not the expected one."""
    errors = {}
    for name, (check, description) in expectations.items():
        if name in body and not check(body[name]):
            errors[name] = f"must be {description} (got {json.dumps(body[name])[:80]})"
    return errors


def _raise_field_errors(errors):
    if errors:
        summary = "; ".join(f"{name} {message}" for name, message in errors.items())
        raise ApiError(422, f"Invalid request body: {summary}.", errors)


def _is_string(value):
    return isinstance(value, str)


def _is_bool(value):
    return isinstance(value, bool)


def _is_id(value):
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_ID


def _is_epoch(value):
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_EPOCH


def _is_object_or_null(value):
    return value is None or isinstance(value, dict)


def _is_string_or_null(value):
    return value is None or isinstance(value, str)


_MODEL_TYPES = {
    "user_id": (_is_id, "a Prosper202 user id (non-negative integer)"),
    "model_name": (_is_string, "a string"),
    "model_slug": (_is_string_or_null, "a string or null"),
    "model_type": (_is_string, "a string"),
    "weighting_config": (_is_object_or_null, "a JSON object or null"),
    "is_active": (_is_bool, "true or false"),
    "is_default": (_is_bool, "true or false"),
}


def model_changes_from_body(body):
    """The fields of a PATCH body, checked for shape; at least one is required."""
    _check_body_fields(body, MODEL_FIELDS)
    _raise_field_errors(_type_errors(body, _MODEL_TYPES))
    if not body:
        raise ApiError(422, f"Send at least one of: {', '.join(MODEL_FIELDS)}.", {})
    return dict(body)


def model_creation_from_body(body):
    """The fields of a POST body, checked for shape; model_name and model_type are required."""
    errors = _body_errors(body, MODEL_CREATE_FIELDS, _MODEL_TYPES, required=("model_name", "model_type"))
    _raise_field_errors(errors)
    return dict(body)


_EXPORT_FIELDS = (
    "scope", "scope_id", "start_hour", "end_hour", "format", "webhook_url", "webhook_secret",
    "webhook_headers",
)
_EXPORT_TYPES = {
    "scope": (_is_string, "a string"),
    "scope_id": (lambda value: value is None or _is_id(value), "a non-negative integer or null"),
    "start_hour": (_is_epoch, "a Unix epoch in seconds"),
    "end_hour": (_is_epoch, "a Unix epoch in seconds"),
    "format": (_is_string, "a string"),
    "webhook_url": (_is_string_or_null, "a string or null"),
    "webhook_secret": (_is_string_or_null, "a string or null"),
    "webhook_headers": (lambda value: value is None or isinstance(value, dict),
                        "an object of header names to string values, or null"),
}


def export_request_from_body(body):
    """The fields of an export request, checked for shape; start_hour and end_hour are required."""
    errors = _body_errors(body, _EXPORT_FIELDS, _EXPORT_TYPES, required=("start_hour", "end_hour"))
    if body.get("scope", "global") == "global" and body.get("scope_id") is not None:
        errors["scope_id"] = "must be omitted or null for the global scope"
    _raise_field_errors(errors)
    return dict(body)


_REBUILD_FIELDS = ("start", "end", "user_id", "model_ids")
_REBUILD_TYPES = {
    "start": (_is_epoch, "a Unix epoch in seconds"),
    "end": (_is_epoch, "a Unix epoch in seconds"),
    "user_id": (lambda value: value is None or _is_id(value), "a Prosper202 user id or null"),
    "model_ids": (
        lambda value: value is None or (isinstance(value, list) and all(_is_id(item) for item in value)),
        "a list of model ids or null",
    ),
}


def _window_request(body, fields, types):
    """The fields of a request for queued work: start and end required, start not after end."""
    errors = _body_errors(body, fields, types, required=("start", "end"))
    if not errors and body["start"] > body["end"]:
        errors["start"] = f"must not be after end ({body['end']})"
    _raise_field_errors(errors)
    return dict(body)


def rebuild_request_from_body(body):
    return _window_request(body, _REBUILD_FIELDS, _REBUILD_TYPES)


_BACKFILL_FIELDS = ("start", "end", "user_id", "batch_size", "slice_hours")
_BACKFILL_TYPES = {
    "start": (_is_epoch, "a Unix epoch in seconds"),
    "end": (_is_epoch, "a Unix epoch in seconds"),
    "user_id": (lambda value: value is None or _is_id(value), "a Prosper202 user id or null"),
    "batch_size": (_is_id, "a whole number of conversions per transaction"),
    "slice_hours": (_is_id, "a whole number of hours"),
}


def backfill_request_from_body(body):
    """batch_size and slice_hours are optional."""
    return _window_request(body, _BACKFILL_FIELDS, _BACKFILL_TYPES)
