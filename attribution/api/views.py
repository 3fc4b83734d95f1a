"""Views of /api/v2/attribution/ (SPEC §8): authenticate, check permission and tenancy, check the
shape of the input, call a service or report, serialise. No business rules live here.
"""

from django.http import HttpResponse, JsonResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

from attribution import journey_credits, reporting, services
from attribution.api import openapi, serializers
from attribution.api.errors import (
    ApiError,
    bad_parameter,
    data_response,
    not_found,
)
from attribution.api.requests import (
    actor_of,
    api_endpoint,
    bool_param,
    choice_param,
    hour_window,
    id_list_param,
    int_param,
    json_body,
    page_params,
    paged,
    requested_accounts,
    scope_params,
)
from attribution.credit import InvalidModelConfig
from attribution.exports import COMPLETED, files, jobs
from attribution.models import MODEL_TYPES, AttributionModel, Export
from journeys import source
from journeys.models import Conversion
from tracker import tenancy
from tracker.arguments import InvalidArgument

MAX_COMPARED_MODELS = 10
MODEL_TYPE_NAMES = tuple(name for name, _label in MODEL_TYPES)
# The services' field names where the API's differ.
_EXPORT_FIELD_NAMES = {"requested_format": "format", "scope_type": "scope"}


# --- lookups with tenancy ---------------------------------------------------------------------

def _visible_model(request, model_id):
    """The model, 404 when no such id exists, 403 when it belongs to another tenant."""
    model = AttributionModel.objects.filter(model_id=model_id).first() if model_id <= serializers.MAX_ID else None
    if model is None:
        raise not_found("Model", model_id)
    tenancy.require_account(request.user, model.user_id)
    return model


def _service_error(error):
    """A ModelChangeError or InvalidModelConfig as 422, with the API's own field names."""
    fields = dict(getattr(error, "fields", None) or {getattr(error, "field", "body"): error.message})
    if "account_id" in fields:
        fields["user_id"] = fields.pop("account_id")
    return ApiError(422, error.message, {name: str(problem) for name, problem in fields.items()})


_SERVICE_ERRORS = (services.ModelChangeError, InvalidModelConfig)


# --- models -----------------------------------------------------------------------------------

def list_models(request):
    models = tenancy.restrict_to_visible(AttributionModel.objects.all(), request.user)
    model_type = choice_param(request, "type", MODEL_TYPE_NAMES)
    if model_type is not None:
        models = models.filter(model_type=model_type)
    active = bool_param(request, "active")
    if active is not None:
        models = models.filter(is_active=active)
    account_id = int_param(request, "user_id")
    if account_id is not None:
        models = models.filter(user_id=account_id)
    limit, offset = page_params(request)
    rows, meta = paged(models.order_by("user_id", "model_id")[offset:offset + limit + 1], limit, offset)
    return data_response([serializers.serialize_model(model) for model in rows], meta=meta)


def _creation_account(request, body):
    """The account a new model belongs to: `user_id`, or the caller's only account."""
    if "user_id" in body:
        account_id = body["user_id"]
    else:
        visible = tenancy.visible_account_ids(request.user)
        if visible is None or len(visible) != 1:
            raise ApiError(422, "user_id is required: the Prosper202 account the model belongs to.",
                           {"user_id": "is required"})
        (account_id,) = visible
    tenancy.require_account(request.user, account_id)
    return account_id


def create_model(request):
    body = serializers.model_creation_from_body(json_body(request))
    account_id = _creation_account(request, body)
    body.pop("user_id", None)
    try:
        model = services.create_model(account_id=account_id, actor=actor_of(request), **body)
    except _SERVICE_ERRORS as error:
        raise _service_error(error)
    return data_response(serializers.serialize_model(model), status=201)


def get_model(request, model_id):
    return data_response(serializers.serialize_model(_visible_model(request, model_id)))


def update_model(request, model_id):
    model = _visible_model(request, model_id)
    changes = serializers.model_changes_from_body(json_body(request))
    try:
        model = services.update_model(model, changes=changes, actor=actor_of(request))
    except _SERVICE_ERRORS as error:
        raise _service_error(error)
    return data_response(serializers.serialize_model(model))


def delete_model(request, model_id):
    model = _visible_model(request, model_id)
    try:
        services.delete_model(model, actor=actor_of(request))
    except _SERVICE_ERRORS as error:
        raise _service_error(error)
    return HttpResponse(status=204)


# --- snapshots, metrics, comparison -----------------------------------------------------------

def _report_error(error):
    """A reporting.ReportRequestError as 400 naming the query parameter (404 for unknown models)."""
    if isinstance(error, reporting.UnknownModelError):
        return ApiError(404, error.message)
    name = "scope" if error.field == "scope_type" else error.field
    return ApiError(400, f"Invalid parameter {name}: {error.message}.", {name: error.message})


def list_snapshots(request, model_id):
    model = _visible_model(request, model_id)
    scope_type, scope_id = scope_params(request)
    start_hour, end_hour = hour_window(request)
    limit, offset = page_params(request)
    snapshots = reporting.snapshot_rows(
        model_id=model.model_id, scope_type=scope_type, scope_id=scope_id,
        start_hour=start_hour, end_hour=end_hour, account_ids=[model.user_id],
    )
    ordered = snapshots.order_by("date_hour", "scope_id", "snapshot_id")[offset:offset + limit + 1]
    rows, meta = paged(ordered, limit, offset)
    meta.update(start_hour=start_hour, end_hour=end_hour, scope=scope_type, scope_id=scope_id)
    return data_response([serializers.serialize_snapshot(row) for row in rows], meta=meta)


def metrics(request):
    """Totals of one model, plus the per-hour or per-day series they sum."""
    model_id = int_param(request, "model_id")
    if model_id is None:
        raise bad_parameter("model_id", "", "is required (the model whose totals to report)")
    model = _visible_model(request, model_id)
    scope_type, scope_id = scope_params(request)
    start_hour, end_hour = hour_window(request)
    resolution = choice_param(request, "resolution", reporting.RESOLUTIONS, default="hour")
    window = {
        "account_ids": [model.user_id], "model_id": model.model_id, "scope_type": scope_type,
        "scope_id": scope_id, "start_hour": start_hour, "end_hour": end_hour,
    }
    try:
        totals = reporting.totals(**window)
        series = reporting.snapshot_series(**window, resolution=resolution)
    except reporting.ReportRequestError as error:
        raise _report_error(error)
    return data_response(
        {
            "model_id": model.model_id, "scope": scope_type, "scope_id": scope_id,
            "start_hour": start_hour, "end_hour": end_hour, "resolution": resolution,
            "totals": totals.as_dict(), "series": [point.as_dict() for point in series],
        }
    )


def compare(request):
    models = [_visible_model(request, model_id) for model_id in id_list_param(request, "models", MAX_COMPARED_MODELS)]
    scope_type, scope_id = scope_params(request)
    start_hour, end_hour = hour_window(request)
    try:
        comparison = reporting.compare_models(
            model_ids=[model.model_id for model in models], scope_type=scope_type, scope_id=scope_id,
            start_hour=start_hour, end_hour=end_hour,
            account_ids=tenancy.visible_account_ids(request.user),
        )
    except reporting.ReportRequestError as error:
        raise _report_error(error)
    return data_response(
        {
            "model_ids": [model.model_id for model in models], "scope": scope_type,
            "scope_id": scope_id, "start_hour": start_hour, "end_hour": end_hour,
            "models": [row.as_dict() for row in comparison],
        }
    )


# --- journeys ---------------------------------------------------------------------------------

def conversion_journey(request, conv_id):
    record = source.journey_of(conv_id) if conv_id <= serializers.MAX_ID else None
    if record is None:
        raise not_found("Conversion", conv_id)
    tenancy.require_account(request.user, record.conversion.user_id)
    conversion = Conversion.objects.get(conv_id=conv_id)
    columns, invalid = journey_credits.model_credits(record)
    return data_response(serializers.serialize_journey(conversion, record, columns, invalid))


# --- exports ----------------------------------------------------------------------------------

def _download_url(export):
    """The API link to a completed export's file (never its server path)."""
    if export.status != COMPLETED:
        return None
    return reverse("attribution_api_export_download", args=[export.export_id])


def download_export(request, export_id):
    """Stream a completed export's file, so token holders can fetch what they scheduled."""
    export = Export.objects.filter(export_id=export_id).first() if export_id <= serializers.MAX_ID else None
    if export is None:
        raise not_found("Export", export_id)
    tenancy.require_account(request.user, export.user_id)
    response = files.download_response(export)
    if response is None:
        raise ApiError(404, f"Export {export_id} has no file to download (status {export.status}).")
    return response


def list_exports(request, model_id):
    model = _visible_model(request, model_id)
    limit, offset = page_params(request)
    model_exports = Export.objects.filter(model_id=model.model_id, user_id=model.user_id).order_by("-export_id")
    rows, meta = paged(model_exports[offset:offset + limit + 1], limit, offset)
    return data_response([serializers.serialize_export(row, _download_url(row)) for row in rows], meta=meta)


def schedule_export(request, model_id):
    model = _visible_model(request, model_id)
    body = serializers.export_request_from_body(json_body(request))
    try:
        export = jobs.schedule_export(
            model=model, scope_type=body.get("scope", "global"), scope_id=body.get("scope_id"),
            start_hour=body["start_hour"], end_hour=body["end_hour"],
            requested_format=body.get("format", "csv"), webhook_url=body.get("webhook_url"),
            webhook_secret=body.get("webhook_secret"), webhook_headers=body.get("webhook_headers"),
            actor=actor_of(request), viewer=request.user,
        )
    except jobs.ExportRequestError as error:
        fields = {_EXPORT_FIELD_NAMES.get(name, name): problem for name, problem in error.fields.items()}
        raise ApiError(422, f"Invalid export request: {error.message}.", fields)
    return data_response(serializers.serialize_export(export, _download_url(export)), status=201)


# --- rebuilds ---------------------------------------------------------------------------------

def _rebuild_models(request, body, account_ids):
    model_ids = sorted(set(body.get("model_ids") or ()))
    owners = dict(AttributionModel.objects.filter(model_id__in=model_ids).values_list("model_id", "user_id"))
    unknown = [model_id for model_id in model_ids if model_id not in owners]
    if unknown:
        raise ApiError(422, f"model_ids {unknown} do not exist.", {"model_ids": f"unknown ids {unknown}"})
    for model_id in model_ids:
        tenancy.require_account(request.user, owners[model_id])
        if account_ids is not None and owners[model_id] not in account_ids:
            raise ApiError(
                422, f"Model {model_id} belongs to account {owners[model_id]}, not to {account_ids}.",
                {"model_ids": f"model {model_id} is outside the requested accounts"},
            )
    return model_ids or None


# The rebuild engine names its arguments as the command does; the API's fields.
_REBUILD_FIELD_NAMES = {"--start": "start", "--end": "end", "--user": "user_id", "--model": "model_ids"}


def start_rebuild(request):
    body = serializers.rebuild_request_from_body(json_body(request))
    account_ids = requested_accounts(request, body)
    model_ids = _rebuild_models(request, body, account_ids)
    try:
        work = services.enqueue_rebuilds(
            start=body["start"], end=body["end"], user_ids=account_ids or (), model_ids=model_ids or (),
            actor=actor_of(request),
        )
    except InvalidArgument as error:
        field = _REBUILD_FIELD_NAMES.get(error.field, error.field)
        raise ApiError(422, f"Invalid rebuild request: {error}", {field: error.allowed})
    return data_response(
        {"task_id": work.reference, "group_id": work.group_id, "task_ids": list(work.task_ids),
         "start": body["start"], "end": body["end"], "user_ids": list(work.account_ids),
         "model_ids": model_ids},
        status=202,
    )


def openapi_document(request):
    return JsonResponse(openapi.SCHEMA)


@csrf_exempt
def unknown_path(request, path=""):
    """JSON 404 for any other path under the prefix (any method: it changes nothing)."""
    return ApiError(404, f"No API endpoint at /api/v2/attribution/{path}.").response()


VIEW = tenancy.VIEW_PERMISSION
MANAGE = tenancy.MANAGE_PERMISSION

openapi_endpoint = api_endpoint(GET=(VIEW, openapi_document))
models_endpoint = api_endpoint(GET=(VIEW, list_models), POST=(MANAGE, create_model))
model_endpoint = api_endpoint(GET=(VIEW, get_model), PATCH=(MANAGE, update_model), DELETE=(MANAGE, delete_model))
snapshots_endpoint = api_endpoint(GET=(VIEW, list_snapshots))
metrics_endpoint = api_endpoint(GET=(VIEW, metrics))
compare_endpoint = api_endpoint(GET=(VIEW, compare))
journey_endpoint = api_endpoint(GET=(VIEW, conversion_journey))
exports_endpoint = api_endpoint(GET=(VIEW, list_exports), POST=(MANAGE, schedule_export))
export_download_endpoint = api_endpoint(GET=(VIEW, download_export))
rebuilds_endpoint = api_endpoint(POST=(MANAGE, start_rebuild))
