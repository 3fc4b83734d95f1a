"""GET analysis/paths, path-length, time-lag and assists (SPEC §7.1, §8): the response shape, the
figures of the small dataset, the tenancy matrix and bad parameters."""
import pytest

from tests.attribution import analysis_fixtures
from tests.attribution.analysis_fixtures import WINDOW
from tests.attribution.api.conftest import error_of

pytestmark = pytest.mark.django_db
REPORTS = ("paths", "path-length", "time-lag", "assists")
IN_WINDOW = {"start_hour": WINDOW[0], "end_hour": WINDOW[1]}


@pytest.fixture
def dataset(tracker, accounts):
    return analysis_fixtures.build(tracker, *accounts)


def test_paths_response(dataset, api):
    g, b = dataset.google, dataset.bing

    response = api("viewer").get("/analysis/paths", {**IN_WINDOW, "collapse": "true", "limit": 2})

    assert response.status_code == 200
    body = response.json()
    assert body["meta"] == {
        "start_hour": WINDOW[0], "end_hour": WINDOW[1], "account": None, "advertiser": None, "campaign": None,
        "channel": "account", "collapse": True, "conversions": 8, "revenue": "157.00000",
        "limit": 2, "offset": 0, "next_offset": 2, "total_paths": 5,
    }
    assert body["data"][0] == {
        "path": [{"channel_id": g, "channel_name": "Google", "min_repeats": 1, "max_repeats": 2},
                 {"channel_id": b, "channel_name": "Bing", "min_repeats": 1, "max_repeats": 2}],
        "label": f"Google (#{g}) ×1–2 › Bing (#{b}) ×1–2",
        "conversions": 3, "revenue": "38.00000", "share": 0.375, "mean_touches": 2.67, "median_hours": 120.0,
    }
    last_page = api("viewer").get("/analysis/paths/", {**IN_WINDOW, "collapse": "1", "offset": 4}).json()
    assert last_page["meta"]["next_offset"] is None
    assert last_page["data"][0]["path"][1] == {"channel_id": 0, "channel_name": "unknown", "min_repeats": 1,
                                               "max_repeats": 1}


def test_bucket_and_assist_responses(dataset, api):
    client = api("viewer")

    lengths = client.get("/analysis/path-length", IN_WINDOW).json()["data"]
    lags = client.get("/analysis/time-lag", IN_WINDOW).json()["data"]
    assists = client.get("/analysis/assists", {**IN_WINDOW, "channel": "landing_page"}).json()["data"]

    assert lengths[-1] == {"bucket": "26", "lowest": 26, "highest": None, "conversions": 1, "revenue": "100.00000",
                           "share": 0.125}
    assert [row["conversions"] for row in lags] == [2, 1, 0, 1, 0, 1, 1, 0, 1, 1]
    assert assists[0] == {
        "channel_id": dataset.home, "channel_name": "Home", "last_touch_conversions": 1,
        "last_touch_revenue": "5.00000", "last_touch_share": 0.125, "assisted_conversions": 5,
        "assisted_revenue": "142.00000", "assisted_share": 0.625, "assist_ratio": 5.0,
    }


@pytest.mark.parametrize("role, expected", [
    ("viewer", 8), ("manager", 8), ("other", 1), ("superuser", 9),
])
def test_each_user_counts_only_the_conversions_of_their_accounts(dataset, api, role, expected):
    for report in REPORTS:
        response = api(role).get(f"/analysis/{report}", IN_WINDOW)

        assert response.status_code == 200, report
        assert response.json()["meta"]["conversions"] == expected, report


@pytest.mark.parametrize("name", ["account", "advertiser", "campaign"])
def test_another_tenants_id_is_403_and_an_own_id_narrows(dataset, api, name):
    theirs = {"account": dataset.globex.user_id, "advertiser": dataset.globex_advertiser,
              "campaign": dataset.globex_campaign}[name]
    ours = {"account": dataset.acme.user_id, "advertiser": dataset.south, "campaign": dataset.autumn}[name]

    for report in REPORTS:
        refused = api("viewer").get(f"/analysis/{report}", {**IN_WINDOW, name: theirs})
        allowed = api("viewer").get(f"/analysis/{report}", {**IN_WINDOW, name: ours})

        assert refused.status_code == 403, report
        assert "Globex" not in refused.content.decode()
        assert allowed.status_code == 200 and allowed.json()["meta"][name] == ours
    assert api("viewer").get("/analysis/paths", {**IN_WINDOW, name: ours}).json()["meta"]["conversions"] == (
        8 if name == "account" else 2)


def test_without_the_view_permission_or_credentials(dataset, api):
    from tests.attribution.api.conftest import ApiClient

    assert api("no_perms").get("/analysis/time-lag", IN_WINDOW).status_code == 403
    assert ApiClient().get("/analysis/time-lag", IN_WINDOW).status_code == 401


@pytest.mark.parametrize("query, field", [
    ({"channel": "visitor"}, "channel"),
    ({"collapse": "maybe"}, "collapse"),
    ({"start_hour": WINDOW[1] + 3600, "end_hour": WINDOW[1]}, "start_hour"),
    ({"start_hour": 0, "end_hour": 400 * 86_400}, "start_hour"),
    ({"end_hour": 2**32}, "end_hour"),
    ({"campaign": "0"}, "campaign"),
    ({"account": "x"}, "account"),
    ({"campaign": 987_654}, "campaign"),  # nothing has that id (a superuser sees every account)
])
def test_bad_parameters_are_400_naming_the_parameter(dataset, api, query, field):
    response = api("superuser").get("/analysis/assists", query)

    assert response.status_code == 400
    assert list(error_of(response)["fields"]) == [field]


@pytest.mark.parametrize("query, field", [({"limit": 0}, "limit"), ({"limit": 1001}, "limit"), ({"offset": -1}, "offset")])
def test_bad_paging_is_400(dataset, api, query, field):
    response = api("viewer").get("/analysis/paths", query)

    assert response.status_code == 400
    assert list(error_of(response)["fields"]) == [field]
