"""models/<id>/snapshots, metrics and compare: rows, windows, paging, totals against hand sums."""
from decimal import Decimal

import pytest

from attribution.models import Snapshot
from tests.attribution.api.conftest import error_of

pytestmark = pytest.mark.django_db

H0 = 1_699_999_200  # a whole UTC hour (2023-11-14T22:00:00Z)
HOUR = 3600


def _snapshot(model, hour, scope_type="global", scope_id=None, clicks=1, conversions=1, revenue="0", cost="0"):
    return Snapshot.objects.create(
        model_id=model.model_id, user_id=model.user_id, scope_type=scope_type, scope_id=scope_id,
        date_hour=hour, lookback_start=hour, lookback_end=hour + HOUR - 1, attributed_clicks=clicks,
        attributed_conversions=conversions, attributed_revenue=Decimal(revenue),
        attributed_cost=Decimal(cost), created_at=hour + HOUR,
    )


@pytest.fixture
def snapshots(models):
    """Three global hours of acme's default model, plus campaign rows and an out-of-window hour."""
    model = models["acme_default"]
    return {
        "h0": _snapshot(model, H0, clicks=2, conversions=2, revenue="20.0000", cost="1.5000"),
        "h1": _snapshot(model, H0 + HOUR, clicks=1, conversions=1, revenue="7.5000", cost="0.2500"),
        "h2": _snapshot(model, H0 + 2 * HOUR, clicks=3, conversions=2, revenue="12.2500", cost="3.0000"),
        "before": _snapshot(model, H0 - HOUR, revenue="99.0000"),
        "campaign_7": _snapshot(model, H0, "campaign", 7, clicks=2, conversions=2, revenue="20.0000", cost="1.5000"),
        "campaign_8": _snapshot(model, H0 + HOUR, "campaign", 8, revenue="7.5000", cost="0.2500"),
    }


def _window(**extra):
    return {"start_hour": H0, "end_hour": H0 + 2 * HOUR, **extra}


def test_snapshots_in_window_oldest_first(api, models, snapshots):
    response = api("viewer").get(f"/models/{models['acme_default'].model_id}/snapshots", _window())

    assert response.status_code == 200
    rows = response.json()["data"]
    assert [row["snapshot_id"] for row in rows] == [snapshots[name].snapshot_id for name in ("h0", "h1", "h2")]
    assert rows[0]["date_hour_iso"] == "2023-11-14T22:00:00Z"
    assert (rows[0]["attributed_revenue"], rows[0]["attributed_cost"]) == ("20.0000", "1.5000")
    assert rows[0]["scope_id"] is None
    meta = response.json()["meta"]
    assert (meta["start_hour"], meta["end_hour"], meta["scope"], meta["next_offset"]) == (H0, H0 + 2 * HOUR, "global", None)


def test_window_bounds_are_floored_to_the_hour(api, models, snapshots):
    response = api("viewer").get(
        f"/models/{models['acme_default'].model_id}/snapshots",
        {"start_hour": H0 + 1800, "end_hour": H0 + HOUR + 59},
    )

    assert [row["date_hour"] for row in response.json()["data"]] == [H0, H0 + HOUR]


def test_snapshot_paging(api, models, snapshots):
    path = f"/models/{models['acme_default'].model_id}/snapshots"

    first = api("viewer").get(path, _window(limit=2))
    rest = api("viewer").get(path, _window(limit=2, offset=2))

    assert [row["date_hour"] for row in first.json()["data"]] == [H0, H0 + HOUR]
    assert first.json()["meta"]["next_offset"] == 2
    assert [row["date_hour"] for row in rest.json()["data"]] == [H0 + 2 * HOUR]
    assert rest.json()["meta"]["next_offset"] is None


def test_scoped_snapshots(api, models, snapshots):
    path = f"/models/{models['acme_default'].model_id}/snapshots"

    every_campaign = api("viewer").get(path, _window(scope="campaign"))
    one_campaign = api("viewer").get(path, _window(scope="campaign", scope_id=8))

    assert [row["scope_id"] for row in every_campaign.json()["data"]] == [7, 8]
    assert [row["snapshot_id"] for row in one_campaign.json()["data"]] == [snapshots["campaign_8"].snapshot_id]


@pytest.mark.parametrize(
    "params, parameter",
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "5000"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": "-3"}, "offset"),
        ({"start_hour": "yesterday"}, "start_hour"),
        ({"start_hour": str(H0 + 7200), "end_hour": str(H0)}, "start_hour"),
        ({"end_hour": "1e9"}, "end_hour"),
        ({"scope": "planet"}, "scope"),
        ({"scope_id": "7"}, "scope_id"),
        ({"scope": "campaign", "scope_id": "-7"}, "scope_id"),
    ],
)
def test_bad_snapshot_parameters_are_400(api, models, params, parameter):
    response = api("viewer").get(f"/models/{models['acme_default'].model_id}/snapshots", params)

    assert response.status_code == 400
    assert list(error_of(response)["fields"]) == [parameter]


def test_metrics_totals_equal_the_hand_sums(api, models, snapshots):
    response = api("viewer").get("/metrics", _window(model_id=models["acme_default"].model_id))

    assert response.status_code == 200
    data = response.json()["data"]
    # h0 + h1 + h2: clicks 2+1+3, conversions 2+1+2, revenue 20+7.5+12.25, cost 1.5+0.25+3
    assert data["totals"] == {
        "attributed_clicks": 6,
        "attributed_conversions": 5,
        "attributed_revenue": "39.7500",
        "attributed_cost": "4.7500",
        "profit": "35.0000",
        "roi_percent": "736.84",
    }
    assert [point["bucket"] for point in data["series"]] == [H0, H0 + HOUR, H0 + 2 * HOUR]
    assert data["series"][1]["attributed_revenue"] == "7.5000"


def test_metrics_by_day_and_scope(api, models, snapshots):
    response = api("viewer").get(
        "/metrics", _window(model_id=models["acme_default"].model_id, scope="campaign", resolution="day")
    )

    data = response.json()["data"]
    # H0 is 22:00 UTC, so both campaign rows (22:00 and 23:00) fall in one UTC day.
    assert [point["bucket"] for point in data["series"]] == [H0 - 22 * HOUR]
    assert data["totals"]["attributed_revenue"] == "27.5000"
    assert data["totals"]["attributed_conversions"] == 3


def test_metrics_requires_a_visible_model(api, models):
    missing = api("viewer").get("/metrics", _window())
    foreign = api("viewer").get("/metrics", _window(model_id=models["globex_default"].model_id))
    unknown = api("viewer").get("/metrics", _window(model_id=123456))

    assert missing.status_code == 400 and list(error_of(missing)["fields"]) == ["model_id"]
    assert foreign.status_code == 403
    assert unknown.status_code == 404


def test_compare_lists_each_model(api, models, snapshots):
    default, linear = models["acme_default"], models["acme_linear"]

    response = api("viewer").get("/compare", _window(models=f"{default.model_id},{linear.model_id}"))

    assert response.status_code == 200
    rows = response.json()["data"]["models"]
    assert [row["model_id"] for row in rows] == [default.model_id, linear.model_id]
    assert rows[0]["source"] == "snapshots"
    assert (rows[0]["attributed_revenue"], rows[0]["attributed_conversions"]) == ("39.7500", 5)
    assert rows[1]["source"] == "journeys"
    assert rows[1]["attributed_conversions"] == 0


@pytest.mark.parametrize("models_param", ["", "a,b", "1,,x", ",".join(str(n) for n in range(1, 12))])
def test_compare_rejects_bad_model_lists(api, models, models_param):
    response = api("viewer").get("/compare", _window(models=models_param))

    assert response.status_code == 400
    assert list(error_of(response)["fields"]) == ["models"]


def test_compare_with_another_tenants_model_is_403(api, models):
    ids = f"{models['acme_default'].model_id},{models['globex_default'].model_id}"

    assert api("viewer").get("/compare", _window(models=ids)).status_code == 403
