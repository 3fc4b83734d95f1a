"""POST backfills and GET tasks/<id> (SPEC §4.2, §8): queue a backfill of journeys as per-account
time slices, and report where a task or group queued through the API, the admin or `--async`
stands. Tenancy: a backfill covers the caller's accounts; another tenant's task is a 404.
"""
from attribution import queued_work
from attribution.api import serializers
from attribution.api.errors import ApiError, data_response
from attribution.api.requests import actor_of, api_endpoint, json_body, requested_accounts
from journeys import services
from tracker import tenancy
from tracker.arguments import InvalidArgument

# The journeys service names its arguments as the command does; the API's fields.
_FIELD_NAMES = {"--start": "start", "--end": "end", "--user": "user_id", "--batch-size": "batch_size",
                "--slice-hours": "slice_hours"}


def start_backfill(request):
    body = serializers.backfill_request_from_body(json_body(request))
    account_ids = requested_accounts(request, body)
    try:
        work, slices, warnings = services.enqueue_backfill(
            start=body["start"], end=body["end"], user_ids=account_ids,
            batch_size=body.get("batch_size", services.DEFAULT_BATCH_SIZE),
            slice_hours=body.get("slice_hours", services.DEFAULT_SLICE_HOURS), actor=actor_of(request),
        )
    except InvalidArgument as error:
        field = _FIELD_NAMES.get(error.field, error.field)
        raise ApiError(422, f"Invalid backfill request: {error}", {field: error.allowed})
    return data_response(
        {"group_id": work.group_id if work.task_ids else None, "task_ids": list(work.task_ids),
         "start": body["start"], "end": body["end"], "user_ids": list(work.account_ids),
         "slices": len(slices), "conversions": sum(piece.conversions for piece in slices),
         "warnings": warnings},
        status=202,
    )


def task_status(request, task_id):
    try:
        group, task = queued_work.visible_work(request.user, task_id)
    except queued_work.WorkNotFound:
        raise ApiError(404, f"No task or group {task_id} was queued among the accounts you can access.")
    return data_response(queued_work.work_data(group, task))


backfills_endpoint = api_endpoint(POST=(tenancy.MANAGE_PERMISSION, start_backfill))
task_endpoint = api_endpoint(GET=(tenancy.VIEW_PERMISSION, task_status))
