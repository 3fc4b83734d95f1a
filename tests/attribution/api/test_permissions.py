"""The permission matrix of SPEC §8/§9: viewer, manager, no permission, other tenant, superuser,
anonymous, bad token and revoked token, on every endpoint."""
import pytest

from attribution.api.auth import issue_token, revoke_tokens
from attribution.models import ApiToken, AttributionModel
from tests.attribution.api.conftest import ApiClient, error_of

pytestmark = pytest.mark.django_db

NOW_HOUR = 1_700_000_000 - 1_700_000_000 % 3600


@pytest.fixture
def conversion(tracker, accounts):
    acme = accounts[0]
    campaign = tracker.campaign(acme)
    click = tracker.click(acme, campaign, NOW_HOUR - 60)
    return tracker.conversion(acme, campaign, NOW_HOUR, click=click)


def _requests(models, conversion):
    """(name, method, path, body) of one request per endpoint and method, on acme's objects."""
    default = models["acme_default"].model_id
    linear = models["acme_linear"].model_id
    window = {"start_hour": NOW_HOUR - 3600, "end_hour": NOW_HOUR}
    return {
        "list models": ("get", "/models", None),
        "create model": ("post", "/models", {"user_id": models["acme_default"].user_id, "model_name": "New",
                                             "model_type": "linear"}),
        "get model": ("get", f"/models/{default}", None),
        "patch model": ("patch", f"/models/{linear}", {"model_name": "Renamed"}),
        "delete model": ("delete", f"/models/{linear}", None),
        "snapshots": ("get", f"/models/{default}/snapshots", window),
        "metrics": ("get", "/metrics", {"model_id": default, **window}),
        "compare": ("get", "/compare", {"models": f"{default},{linear}", **window}),
        "journey": ("get", f"/conversions/{conversion.conv_id}/journey", None),
        "list exports": ("get", f"/models/{default}/exports", None),
        "schedule export": ("post", f"/models/{default}/exports", {**window, "format": "csv"}),
        "rebuild": ("post", "/rebuilds", {"start": NOW_HOUR - 3600, "end": NOW_HOUR}),
    }


READS = ("list models", "get model", "snapshots", "metrics", "compare", "journey", "list exports")
WRITES = ("create model", "patch model", "delete model", "schedule export", "rebuild")
SUCCESS = {"create model": 201, "delete model": 204, "schedule export": 201, "rebuild": 202}

# Expected status per role: reads and writes by permission; `other` manages another tenant, so
# every acme object is 403 to it (and its own list simply lacks acme's models).
EXPECTED = {
    "viewer": {**{name: 200 for name in READS}, **{name: 403 for name in WRITES}},
    "manager": {**{name: 200 for name in READS}, **{name: SUCCESS.get(name, 200) for name in WRITES}},
    "superuser": {**{name: 200 for name in READS}, **{name: SUCCESS.get(name, 200) for name in WRITES}},
    "no_perms": {name: 403 for name in READS + WRITES},
    "other": {**{name: 403 for name in READS + WRITES}, "list models": 200, "rebuild": 202},
}


def _send(client, method, path, body):
    if method == "delete":
        return client.delete(path)
    return getattr(client, method)(path, body)


@pytest.mark.parametrize("role", sorted(EXPECTED))
@pytest.mark.parametrize("request_name", READS + WRITES)
def test_permission_matrix(api, models, conversion, role, request_name):
    method, path, body = _requests(models, conversion)[request_name]

    response = _send(api(role), method, path, body)

    assert response.status_code == EXPECTED[role][request_name], response.content
    if response.status_code == 403:
        assert error_of(response)["message"]


@pytest.mark.parametrize("request_name", READS + WRITES)
def test_anonymous_bad_and_revoked_tokens_get_401_everywhere(users, models, conversion, request_name):
    _token, revoked = issue_token(users["manager"], "old")
    revoke_tokens(ApiToken.objects.filter(name="old"))
    method, path, body = _requests(models, conversion)[request_name]

    for client in (ApiClient(), ApiClient("bad-token"), ApiClient(revoked)):
        response = _send(client, method, path, body)
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")
    assert AttributionModel.objects.count() == 3


def test_other_tenant_list_lacks_acme_models(api, models):
    response = api("other").get("/models")

    assert [row["model_id"] for row in response.json()["data"]] == [models["globex_default"].model_id]


def test_creating_a_model_for_another_tenant_is_403(api, models, accounts):
    response = api("other").post(
        "/models", {"user_id": accounts[0].user_id, "model_name": "Intruder", "model_type": "linear"}
    )

    assert response.status_code == 403
    assert not AttributionModel.objects.filter(model_name="Intruder").exists()


def test_another_tenants_model_is_403_but_a_missing_one_is_404(api, models):
    assert api("other").get(f"/models/{models['acme_default'].model_id}").status_code == 403
    assert api("other").get("/models/987654").status_code == 404
