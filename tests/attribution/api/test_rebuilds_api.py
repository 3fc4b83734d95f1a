"""rebuilds: POST {start, end, user_id?, model_ids?} queues attribution.tasks.rebuild_task."""
import pytest
from django_q.models import OrmQ

from tests.attribution.api.conftest import error_of

pytestmark = pytest.mark.django_db

START, END = 1_699_990_000, 1_700_000_000
# The window is widened to whole hours when it is queued, so every task covers the same hours.
START_HOUR, END_HOUR = START - START % 3600, END - END % 3600


def _queued():
    """The tasks waiting in django-q2's ORM broker, decoded."""
    return [row.task for row in OrmQ.objects.order_by("id")]


def test_manager_rebuild_covers_their_accounts(api, accounts, models):
    response = api("manager").post("/rebuilds", {"start": START, "end": END})

    assert response.status_code == 202
    data = response.json()["data"]
    (task,) = _queued()
    assert data["task_id"] == task["id"]
    assert task["func"] == "attribution.tasks.rebuild_task"
    assert task["kwargs"] == {
        "start": START_HOUR, "end": END_HOUR, "user_ids": [accounts[0].user_id], "model_ids": None,
        "username": "manager",
    }
    assert data["user_ids"] == [accounts[0].user_id]


def test_rebuild_of_one_account_and_models(api, accounts, models):
    default = models["acme_default"].model_id
    response = api("manager").post(
        "/rebuilds", {"start": START, "end": END, "user_id": accounts[0].user_id, "model_ids": [default]}
    )

    assert response.status_code == 202
    (task,) = _queued()
    assert (task["kwargs"]["user_ids"], task["kwargs"]["model_ids"]) == ([accounts[0].user_id], [default])


def test_superuser_rebuild_without_user_covers_everyone(api, accounts, models):
    response = api("superuser").post("/rebuilds", {"start": START, "end": END})

    assert response.status_code == 202
    queued = _queued()
    assert [task["kwargs"]["user_ids"] for task in queued] == [[account.user_id] for account in accounts]
    assert {task["group"] for task in queued} == {response.json()["data"]["group_id"]}
    assert response.json()["data"]["task_id"] == response.json()["data"]["group_id"]


def test_rebuild_of_another_tenants_account_or_model_is_403(api, accounts, models):
    foreign_account = api("manager").post("/rebuilds", {"start": START, "end": END, "user_id": accounts[1].user_id})
    foreign_model = api("manager").post(
        "/rebuilds", {"start": START, "end": END, "model_ids": [models["globex_default"].model_id]}
    )

    assert foreign_account.status_code == 403
    assert foreign_model.status_code == 403
    assert _queued() == []


def test_user_without_accounts_cannot_rebuild_everything(api, users, models):
    users["manager"].account_access.all().delete()

    response = api("manager").post("/rebuilds", {"start": START, "end": END})

    assert response.status_code == 403
    assert _queued() == []


@pytest.mark.parametrize(
    "body, field",
    [
        ({"end": END}, "start"),
        ({"start": END + 1, "end": END}, "start"),
        ({"start": -1, "end": END}, "start"),
        ({"start": START, "end": "now"}, "end"),
        ({"start": START, "end": END, "model_ids": "1,2"}, "model_ids"),
        ({"start": START, "end": END, "model_ids": [987654]}, "model_ids"),
        ({"start": START, "end": END, "user_id": 424242}, "user_id"),
        ({"start": START, "end": END, "force": True}, "force"),
    ],
)
def test_invalid_rebuild_requests_are_422(api, users, models, body, field):
    response = api("superuser").post("/rebuilds", body)

    assert response.status_code == 422
    assert field in error_of(response)["fields"]
    assert _queued() == []


def test_model_outside_the_named_account_is_422(api, accounts, models):
    response = api("superuser").post(
        "/rebuilds",
        {"start": START, "end": END, "user_id": accounts[0].user_id, "model_ids": [models["globex_default"].model_id]},
    )

    assert response.status_code == 422
    assert "outside the requested accounts" in error_of(response)["fields"]["model_ids"]
