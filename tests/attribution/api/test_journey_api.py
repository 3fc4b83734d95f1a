"""conversions/<conv_id>/journey: ordered touches from the journey cache plus conversion facts."""
import pytest

from journeys.cache import journey_cache_key, journey_cache_version
from journeys.services import rebuild_journeys
from tests.attribution.api.conftest import error_of
from tracker.audit import Actor
from tracker.cache import cache_get

pytestmark = pytest.mark.django_db

CONV_TIME = 1_700_000_000


@pytest.fixture
def journey(tracker, accounts):
    """Three clicks of acme's campaign before a conversion of the middle one, journey written."""
    acme = accounts[0]
    campaign = tracker.campaign(acme)
    source = tracker.traffic_source(acme)
    first = tracker.click(acme, campaign, CONV_TIME - 7200, click_id=501, ppc_account_id=source.ppc_account_id)
    converting = tracker.click(acme, campaign, CONV_TIME - 600, click_id=502)
    tied = tracker.click(acme, campaign, CONV_TIME - 600, click_id=503, landing_page_id=9)
    conversion = tracker.conversion(acme, campaign, CONV_TIME, click=converting, payout="42.50000",
                                    transaction_id="T-1")
    result = rebuild_journeys([conversion.conv_id], actor=Actor.cli("pytest"))
    assert result.written == 1
    return conversion, (first, converting, tied), source


def test_journey_lists_ordered_touches_and_conversion_facts(api, journey):
    conversion, (first, converting, tied), source = journey

    response = api("viewer").get(f"/conversions/{conversion.conv_id}/journey")

    assert response.status_code == 200
    data = response.json()["data"]
    assert data["conversion"] == {
        "conv_id": conversion.conv_id, "user_id": conversion.user_id, "campaign_id": conversion.campaign_id,
        "click_id": 502, "click_time": CONV_TIME - 600, "conv_time": CONV_TIME,
        "conv_time_iso": "2023-11-14T22:13:20Z", "transaction_id": "T-1", "revenue": "42.50000",
        "deleted": False,
    }
    touches = data["touches"]
    # Sorted by click_time, ties by click_id (SPEC §4.1 step 4).
    assert [(t["position"], t["click_id"]) for t in touches] == [(0, 501), (1, 502), (2, 503)]
    assert [t["seconds_before_conversion"] for t in touches] == [7200, 600, 600]
    assert [t["is_converting_click"] for t in touches] == [False, True, False]
    assert (touches[0]["ppc_account_id"], touches[2]["landing_page_id"]) == (source.ppc_account_id, 9)
    assert all(t["click_found"] for t in touches)


def test_journey_is_read_through_the_journey_cache(api, journey):
    conversion = journey[0]

    api("viewer").get(f"/conversions/{conversion.conv_id}/journey")

    assert [tuple(t) for t in cache_get(journey_cache_key(conversion.conv_id), version=journey_cache_version())] == [
        (501, CONV_TIME - 7200), (502, CONV_TIME - 600), (503, CONV_TIME - 600)
    ]


def test_missing_converting_click_row_is_reported(api, tracker, accounts):
    acme = accounts[0]
    campaign = tracker.campaign(acme)
    conversion = tracker.conversion(acme, campaign, CONV_TIME, click_id=777, click_time=CONV_TIME - 60)
    rebuild_journeys([conversion.conv_id], actor=Actor.cli("pytest"))

    touches = api("viewer").get(f"/conversions/{conversion.conv_id}/journey").json()["data"]["touches"]

    assert [(t["click_id"], t["click_found"], t["landing_page_id"]) for t in touches] == [(777, False, None)]


def test_other_tenant_gets_403_and_unknown_conversion_404(api, journey):
    conversion = journey[0]

    assert api("other").get(f"/conversions/{conversion.conv_id}/journey").status_code == 403
    missing = api("viewer").get("/conversions/99999999/journey")
    assert missing.status_code == 404
    assert "99999999" in error_of(missing)["message"]
