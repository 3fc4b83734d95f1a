"""Browse conversions and open one conversion's journey page."""
import pytest

from journeys.models import Conversion, JourneyTouch
from tests.browser.conftest import css, log_in, screenshot, visit

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_browse_conversions_and_open_a_journey(browser, admin_user, demo_data):
    log_in(browser)
    visit(browser, "/admin/journeys/conversion/")
    rows = browser.find_elements("css selector", "#result_list tbody tr")
    assert rows, "the conversions changelist shows no conversion"
    screenshot(browser, "conversions")

    multi_touch = (
        Conversion.objects.filter(deleted=0, conv_id__in=JourneyTouch.objects.filter(position=2).values("conv_id"))
        .order_by("-conv_id").first()
    )
    visit(browser, f"/admin/journeys/conversion/{multi_touch.conv_id}/change/")
    touches = browser.find_elements("css selector", "#journey-touches tr.touch")
    stored = JourneyTouch.objects.filter(conv_id=multi_touch.conv_id).count()
    assert len(touches) == stored >= 3
    assert "converting click" in css(browser, "#journey-touches").text
    screenshot(browser, "journey")
