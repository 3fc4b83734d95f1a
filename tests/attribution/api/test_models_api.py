"""models and models/<id>: list filters, create, update (incl. default switching), delete, audit."""
import json

import pytest

from attribution.models import AttributionModel, AttributionSetting
from tests.attribution.api.conftest import error_of
from tracker.models import AuditEntry

pytestmark = pytest.mark.django_db


def _ids(response):
    return [model["model_id"] for model in response.json()["data"]]


def _audit(action, model_id):
    entry = AuditEntry.objects.filter(action=action, model_id=model_id).get()
    return entry.metadata_dict


def test_list_shows_only_visible_models_with_filters(api, models):
    viewer = api("viewer")
    acme_ids = [models["acme_default"].model_id, models["acme_linear"].model_id]

    everything = viewer.get("/models")
    assert everything.status_code == 200
    assert _ids(everything) == acme_ids
    assert everything.json()["meta"] == {"limit": 100, "offset": 0, "next_offset": None}

    assert _ids(viewer.get("/models", {"type": "linear"})) == [models["acme_linear"].model_id]
    assert _ids(viewer.get("/models", {"active": "true"})) == [models["acme_default"].model_id]
    assert _ids(viewer.get("/models", {"active": "0"})) == [models["acme_linear"].model_id]
    assert _ids(viewer.get("/models", {"type": "time_decay"})) == []
    assert len(_ids(api("superuser").get("/models"))) == 3


def test_list_pages_with_limit_and_offset(api, models):
    first = api("viewer").get("/models", {"limit": 1})
    second = api("viewer").get("/models", {"limit": 1, "offset": 1})

    assert _ids(first) == [models["acme_default"].model_id]
    assert first.json()["meta"]["next_offset"] == 1
    assert _ids(second) == [models["acme_linear"].model_id]
    assert second.json()["meta"]["next_offset"] is None


@pytest.mark.parametrize(
    "params, parameter",
    [
        ({"type": "markov"}, "type"),
        ({"active": "yes"}, "active"),
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"user_id": "abc"}, "user_id"),
    ],
)
def test_list_rejects_bad_parameters_naming_them(api, models, params, parameter):
    response = api("viewer").get("/models", params)

    assert response.status_code == 400
    error = error_of(response)
    assert list(error["fields"]) == [parameter]
    assert parameter in error["message"] and repr(params[parameter]) in error["message"]


def test_model_detail(api, models):
    model = models["acme_default"]

    response = api("viewer").get(f"/models/{model.model_id}")

    assert response.status_code == 200
    data = response.json()["data"]
    assert data["model_slug"] == "last-touch"
    assert (data["is_default"], data["is_active"], data["weighting_config"]) == (True, True, None)
    assert data["created_at_iso"].endswith("Z")


def test_unknown_model_is_404(api, models):
    response = api("viewer").get("/models/999999")

    assert response.status_code == 404
    assert "999999" in error_of(response)["message"]


def test_create_returns_201_and_audits_the_api_actor(api, accounts, models):
    body = {"model_name": "Decay 24h", "model_type": "time_decay", "weighting_config": {"half_life_hours": 24}}

    response = api("manager").post("/models", body)

    assert response.status_code == 201
    data = response.json()["data"]
    assert data["user_id"] == accounts[0].user_id  # the manager's only account
    assert data["model_slug"] == "decay-24h"
    assert data["weighting_config"] == {"half_life_hours": 24}
    assert (data["is_active"], data["is_default"]) == (True, False)
    stored = AttributionModel.objects.get(model_id=data["model_id"])
    assert json.loads(stored.weighting_config) == {"half_life_hours": 24}
    assert _audit("model_create", stored.model_id)["actor"] == {"type": "api", "username": "manager"}


def test_create_as_default_switches_the_default(api, accounts, models):
    response = api("manager").post(
        "/models", {"user_id": accounts[0].user_id, "model_name": "New default", "model_type": "first_touch",
                    "is_default": True},
    )

    assert response.status_code == 201
    new_id = response.json()["data"]["model_id"]
    defaults = AttributionModel.objects.filter(user_id=accounts[0].user_id, is_default=True)
    assert list(defaults.values_list("model_id", flat=True)) == [new_id]
    setting = AttributionSetting.objects.get(user_id=accounts[0].user_id, scope_type="global")
    assert setting.model_id == new_id


def test_superuser_must_name_the_account(api, models):
    response = api("superuser").post("/models", {"model_name": "Orphan", "model_type": "linear"})

    assert response.status_code == 422
    assert list(error_of(response)["fields"]) == ["user_id"]


def test_superuser_creating_for_a_missing_account_is_422(api, models):
    response = api("superuser").post(
        "/models", {"user_id": 424242, "model_name": "Ghost", "model_type": "linear"}
    )

    assert response.status_code == 422
    assert "424242" in error_of(response)["fields"]["user_id"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"model_name": "Decay", "model_type": "time_decay"}, "half_life_hours"),
        ({"model_name": "Decay", "model_type": "time_decay", "weighting_config": {"half_life_hours": 0}},
         "half_life_hours"),
        ({"model_name": "Linear+", "model_type": "linear", "weighting_config": {"x": 1}}, "weighting_config"),
        ({"model_name": "Bogus", "model_type": "bogus"}, "model_type"),
        ({"model_type": "linear"}, "model_name"),
        ({"model_name": "Flag", "model_type": "linear", "is_active": "yes"}, "is_active"),
        ({"model_name": "Config", "model_type": "linear", "weighting_config": "{}"}, "weighting_config"),
        ({"model_name": "Extra", "model_type": "linear", "colour": "red"}, "colour"),
    ],
)
def test_create_validation_errors_are_422_naming_the_field(api, models, body, field):
    before = AttributionModel.objects.count()

    response = api("manager").post("/models", body)

    assert response.status_code == 422
    assert field in error_of(response)["fields"]
    assert AttributionModel.objects.count() == before


def test_rename_keeps_the_slug_and_audits_before_after(api, models):
    model = models["acme_linear"]

    response = api("manager").patch(f"/models/{model.model_id}", {"model_name": "Even split"})

    assert response.status_code == 200
    data = response.json()["data"]
    assert (data["model_name"], data["model_slug"]) == ("Even split", "linear")
    metadata = _audit("model_update", model.model_id)
    assert metadata["changes"] == {"model_name": {"before": "Linear", "after": "Even split"}}
    assert metadata["actor"] == {"type": "api", "username": "manager"}


def test_patch_changes_type_and_config(api, models):
    model = models["acme_linear"]

    response = api("manager").patch(
        f"/models/{model.model_id}",
        {"model_type": "position_based", "weighting_config": {"first_touch_weight": 0.4, "last_touch_weight": 0.4}},
    )

    assert response.status_code == 200
    assert response.json()["data"]["weighting_config"] == {"first_touch_weight": 0.4, "last_touch_weight": 0.4}
    assert AttributionModel.objects.get(model_id=model.model_id).model_type == "position_based"


def test_patch_is_default_true_promotes_and_activates(api, models):
    linear = models["acme_linear"]

    response = api("manager").patch(f"/models/{linear.model_id}", {"is_default": True})

    assert response.status_code == 200
    assert (response.json()["data"]["is_default"], response.json()["data"]["is_active"]) == (True, True)
    assert not AttributionModel.objects.get(model_id=models["acme_default"].model_id).is_default
    assert _audit("model_default_changed", linear.model_id)["previous_default_ids"] == [
        models["acme_default"].model_id
    ]


@pytest.mark.parametrize("change", [{"is_default": False}, {"is_active": False}])
def test_default_cannot_be_cleared_or_deactivated(api, models, change):
    default = models["acme_default"]

    response = api("manager").patch(f"/models/{default.model_id}", change)

    assert response.status_code == 422
    error = error_of(response)
    assert "promote another model" in error["message"]
    assert list(error["fields"]) == list(change)
    stored = AttributionModel.objects.get(model_id=default.model_id)
    assert (stored.is_default, stored.is_active) == (True, True)


def test_patch_with_empty_body_is_422(api, models):
    response = api("manager").patch(f"/models/{models['acme_linear'].model_id}", {})

    assert response.status_code == 422


def test_patch_with_duplicate_slug_is_422(api, models):
    response = api("manager").patch(f"/models/{models['acme_linear'].model_id}", {"model_slug": "last-touch"})

    assert response.status_code == 422
    assert "model_slug" in error_of(response)["fields"]


def test_delete_returns_204_and_audits(api, models):
    linear = models["acme_linear"]

    response = api("manager").delete(f"/models/{linear.model_id}")

    assert response.status_code == 204
    assert response.content == b""
    assert not AttributionModel.objects.filter(model_id=linear.model_id).exists()
    assert _audit("model_delete", linear.model_id)["actor"] == {"type": "api", "username": "manager"}


def test_deleting_the_default_is_422(api, models):
    default = models["acme_default"]

    response = api("manager").delete(f"/models/{default.model_id}")

    assert response.status_code == 422
    assert "promote another model" in error_of(response)["message"]
    assert AttributionModel.objects.filter(model_id=default.model_id).exists()
