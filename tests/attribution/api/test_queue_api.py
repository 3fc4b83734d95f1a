"""backfills (POST {start, end, user_id?} → 202 with the group) and tasks/<id> (a queued task or
group: queued / running / succeeded / failed with a summary), with tenancy; real responses are
checked against the OpenAPI document."""
import pytest
from django_q.models import OrmQ

from tests.attribution.api.conftest import error_of
from tests.attribution.api.test_openapi_schemathesis import CHECKS, schema, wsgi_app  # noqa: F401  (fixture)
from tests.journeys.journey_helpers import DAY, NOW
from tests.queue_worker import orm_worker  # noqa: F401  (fixture)
from tracker import queue_status

pytestmark = pytest.mark.django_db

START, END = NOW - 3 * DAY, NOW


@pytest.fixture
def conversions(tracker, accounts, settings):
    """Two conversions a day on two days for each of acme and globex."""
    settings.ATTRIBUTION_LOOKBACK_SECONDS = 10 * DAY
    for account in accounts:
        campaign = tracker.campaign(account)
        for moment in (NOW - DAY, NOW - DAY + 60, NOW - 2 * DAY, NOW - 2 * DAY + 60):
            tracker.conversion(account, campaign, moment, click=tracker.click(account, campaign, moment - 300))


def _queued_kwargs():
    return [row.task["kwargs"] for row in OrmQ.objects.order_by("id")]


def test_manager_backfill_covers_their_accounts_as_daily_slices(api, accounts, conversions):
    response = api("manager").post("/backfills", {"start": START, "end": END})

    assert response.status_code == 202
    data = response.json()["data"]
    assert (data["slices"], data["conversions"], data["user_ids"]) == (2, 4, [accounts[0].user_id])
    assert data["group_id"].startswith("backfill-") and len(data["task_ids"]) == 2
    assert {tuple(kwargs["user_ids"]) for kwargs in _queued_kwargs()} == {(accounts[0].user_id,)}
    group = queue_status.find_group(data["group_id"])
    assert group.queued_by == {"type": "api", "username": "manager"}


def test_backfill_of_one_account_with_slice_hours_and_batch_size(api, accounts, conversions):
    response = api("superuser").post(
        "/backfills", {"start": START, "end": END, "user_id": accounts[1].user_id, "slice_hours": 72, "batch_size": 10},
    )

    assert response.status_code == 202
    assert response.json()["data"]["slices"] == 1
    (kwargs,) = _queued_kwargs()
    assert (kwargs["user_ids"], kwargs["batch_size"]) == ([accounts[1].user_id], 10)


def test_backfill_of_an_empty_window_queues_nothing(api, accounts, conversions):
    response = api("manager").post("/backfills", {"start": 0, "end": 1000})

    assert response.status_code == 202
    data = response.json()["data"]
    assert (data["group_id"], data["task_ids"], data["slices"], data["conversions"]) == (None, [], 0, 0)
    assert _queued_kwargs() == []


def test_backfill_of_another_tenant_or_without_permission_is_403(api, accounts, conversions):
    assert api("manager").post("/backfills", {"start": START, "end": END, "user_id": accounts[1].user_id}).status_code == 403
    assert api("viewer").post("/backfills", {"start": START, "end": END}).status_code == 403
    assert _queued_kwargs() == []


@pytest.mark.parametrize(
    "body, field",
    [
        ({"end": END}, "start"),
        ({"start": END + 1, "end": END}, "start"),
        ({"start": -1, "end": END}, "start"),
        ({"start": START, "end": END, "batch_size": 0}, "batch_size"),
        ({"start": START, "end": END, "slice_hours": 0}, "slice_hours"),
        ({"start": START, "end": END, "surprise": 1}, "surprise"),
    ],
)
def test_invalid_backfill_requests_name_the_field(api, accounts, conversions, body, field):
    response = api("manager").post("/backfills", body)

    assert response.status_code in (400, 422)
    assert field in error_of(response)["fields"]
    assert _queued_kwargs() == []


def test_task_status_of_a_group_and_of_a_task_through_their_life(api, accounts, conversions, orm_worker):
    queued = api("manager").post("/backfills", {"start": START, "end": END}).json()["data"]
    group_id, task_id = queued["group_id"], queued["task_ids"][0]
    viewer = api("viewer")

    group = viewer.get(f"/tasks/{group_id}").json()["data"]
    assert (group["type"], group["kind"], group["state"]) == ("group", "backfill", "queued")
    assert group["counts"]["queued"] == 2 and group["account_ids"] == [accounts[0].user_id]

    taken = orm_worker.take()
    assert viewer.get(f"/tasks/{task_id}").json()["data"]["state"] == "running"
    orm_worker.run(taken)

    task = viewer.get(f"/tasks/{task_id}/").json()["data"]
    assert (task["type"], task["group_id"], task["state"], task["attempts"]) == ("task", group_id, "succeeded", 1)
    assert task["result"]["written"] == 2 and task["errors"] == []
    assert task["worker"].startswith("attribution@")
    group = viewer.get(f"/tasks/{group_id}").json()["data"]
    assert (group["state"], group["totals"]["written"], group["error_count"]) == ("succeeded", 4, 0)


def test_another_tenants_or_unknown_task_is_404(api, accounts, conversions):
    theirs = api("other").post("/backfills", {"start": START, "end": END}).json()["data"]

    for reference in (theirs["group_id"], theirs["task_ids"][0], "f" * 32, "not-an-id"):
        response = api("viewer").get(f"/tasks/{reference}")
        assert response.status_code == 404
        assert error_of(response)["message"]
    assert api("superuser").get(f"/tasks/{theirs['group_id']}").status_code == 200


def test_real_responses_conform_to_the_document(api, users, accounts, conversions, orm_worker, wsgi_app):  # noqa: F811
    from attribution.api.auth import issue_token

    _token, token = issue_token(users["superuser"], "conformance")
    headers = {"Authorization": f"Bearer {token}"}
    queued = schema["/backfills"]["POST"].Case(body={"start": START, "end": END})
    data = queued.call_and_validate(app=wsgi_app, headers=headers, checks=CHECKS).json()["data"]
    orm_worker.run(orm_worker.take()[:1])
    for reference in (data["group_id"], *data["task_ids"]):
        case = schema["/tasks/{task_id}"]["GET"].Case(path_parameters={"task_id": reference})
        assert case.call_and_validate(app=wsgi_app, headers=headers, checks=CHECKS).status_code == 200
