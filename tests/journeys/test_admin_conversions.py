"""The conversions changelist: columns, filters, exact search, bounded queries on a big table."""
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from journeys import admin as journeys_admin
from journeys.models import JourneyTouch
from tests.journeys.admin_fixtures import superuser_client  # noqa: F401 (fixture)
from tracker import admin_helpers

CONV_TIME = 1_750_000_000
CHANGELIST = reverse("admin:journeys_conversion_changelist")


def store_journey(conversion, clicks):
    """Touchpoint rows as the backfill would write them (positions in the given order)."""
    for position, click in enumerate(clicks):
        JourneyTouch.objects.create(
            conv=conversion, click_id=click.click_id, click_time=click.click_time,
            position=position, created_at=CONV_TIME,
        )


@pytest.fixture
def book(tracker):
    """Two accounts; acme has two advertisers, one campaign each, and four conversions."""
    acme = tracker.account("acme")
    other = tracker.account("other")
    network_a = tracker.advertiser(acme, "Net A")
    network_b = tracker.advertiser(acme, "Net B")
    keto = tracker.campaign(acme, network_a, "Keto")
    vpn = tracker.campaign(acme, network_b, "VPN")
    other_campaign = tracker.campaign(other, name="Other")
    clicks = [tracker.click(acme, keto, CONV_TIME - 3600 * hours) for hours in (3, 2, 1)]
    with_journey = tracker.conversion(acme, keto, CONV_TIME, click=clicks[-1], transaction_id="TX-ALPHA")
    store_journey(with_journey, clicks)
    vpn_click = tracker.click(acme, vpn, CONV_TIME - 60)
    without_journey = tracker.conversion(acme, vpn, CONV_TIME + 10, click=vpn_click, transaction_id="12345")
    old_click = tracker.click(acme, keto, CONV_TIME - 40 * 86_400)
    recent_click = tracker.click(acme, keto, CONV_TIME - 100)
    outside = tracker.conversion(acme, keto, CONV_TIME + 20, click=recent_click)
    store_journey(outside, [old_click, recent_click])
    deleted = tracker.conversion(acme, vpn, CONV_TIME + 30, click_id=555, click_time=CONV_TIME, deleted=1)
    foreign_click = tracker.click(other, other_campaign, CONV_TIME - 5)
    foreign = tracker.conversion(other, other_campaign, CONV_TIME + 40, click=foreign_click)
    return {
        "acme": acme, "other": other, "network_a": network_a, "network_b": network_b,
        "keto": keto, "vpn": vpn, "with_journey": with_journey, "without_journey": without_journey,
        "outside": outside, "deleted": deleted, "foreign": foreign, "clicks": clicks,
    }


def listed(response):
    return [c.conv_id for c in response.context["cl"].result_list]


@pytest.mark.django_db
def test_changelist_columns_and_bounded_queries(superuser_client, book, django_assert_max_num_queries):
    with django_assert_max_num_queries(14):
        response = superuser_client.get(CHANGELIST)
    assert response.status_code == 200
    assert listed(response) == sorted((c.conv_id for c in (
        book["with_journey"], book["without_journey"], book["outside"], book["deleted"], book["foreign"],
    )), reverse=True)
    page = {c.conv_id: c for c in response.context["cl"].result_list}
    assert page[book["with_journey"].conv_id].journey_touch_count == 3
    assert page[book["without_journey"].conv_id].journey_touch_count == 0
    assert page[book["outside"].conv_id].journey_review == ["outside window"]
    html = response.content.decode()
    assert f'title="epoch {CONV_TIME}"' in html
    assert "2025-06-15 15:06:40 UTC" in html  # CONV_TIME as a UTC datetime
    assert "Keto (#" in html and "acme (#" in html


@pytest.mark.django_db
def test_no_unbounded_count_over_conversion_logs(superuser_client, book):
    with CaptureQueriesContext(connection) as queries:
        for query in ("", "?deleted=0", "?has_journey=yes", "?needs_review=yes", "?q=12345"):
            assert superuser_client.get(CHANGELIST + query).status_code == 200
    counts = [q["sql"] for q in queries if re.search(r"COUNT\(", q["sql"], re.I)
              and "202_conversion_logs" in q["sql"]]
    assert counts, "the paginator should count (bounded)"
    for sql in counts:
        # Bounded by a LIMIT, by the displayed page's ids, or by the recent conv_id range the
        # review filter scans (REVIEW_SCAN_CONVERSIONS).
        assert re.search(r"LIMIT \d+|conv_id IN \([\d, ]+\)|conv_id > -?\d+", sql), f"unbounded count: {sql}"


@pytest.mark.django_db
def test_count_is_capped(superuser_client, book, monkeypatch):
    monkeypatch.setattr(admin_helpers, "COUNT_CAP", 3)
    response = superuser_client.get(CHANGELIST)
    assert response.context["cl"].paginator.is_capped
    assert "more than 3 conversions" in response.content.decode()
    monkeypatch.setattr(admin_helpers, "COUNT_CAP", 10)
    assert "5 conversions" in superuser_client.get(CHANGELIST).content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("query, expected", [
    ("account={acme}", ["deleted", "outside", "without_journey", "with_journey"]),
    ("campaign={keto}", ["outside", "with_journey"]),
    ("advertiser={network_b}", ["deleted", "without_journey"]),
    ("deleted=1", ["deleted"]),
    ("deleted=0", ["foreign", "outside", "without_journey", "with_journey"]),
    ("has_journey=yes", ["outside", "with_journey"]),
    ("has_journey=no", ["foreign", "deleted", "without_journey"]),
    ("needs_review=yes", ["outside"]),
    ("campaign=abc", []),
])
def test_filters(superuser_client, book, query, expected):
    ids = {name: getattr(value, "pk", None) for name, value in book.items() if hasattr(value, "pk")}
    response = superuser_client.get(CHANGELIST + "?" + query.format(**ids))
    assert response.status_code == 200
    assert listed(response) == [book[name].conv_id for name in expected]


@pytest.mark.django_db
def test_needs_review_counts_touches_beyond_the_cap(superuser_client, book, tracker, settings):
    settings.ATTRIBUTION_MAX_TOUCHES = 2
    response = superuser_client.get(CHANGELIST + "?needs_review=yes")
    assert listed(response) == [book["outside"].conv_id, book["with_journey"].conv_id]
    assert {c.conv_id: c.journey_review for c in response.context["cl"].result_list}[
        book["with_journey"].conv_id] == ["beyond cap"]


@pytest.mark.django_db
def test_needs_review_scans_only_recent_conversions(superuser_client, book, monkeypatch):
    monkeypatch.setattr(journeys_admin, "REVIEW_SCAN_CONVERSIONS", 1)
    assert listed(superuser_client.get(CHANGELIST + "?needs_review=yes")) == []


@pytest.mark.django_db
@pytest.mark.parametrize("term, expected", [
    ("{with_journey_conv}", ["with_journey"]),
    ("{with_journey_click}", ["with_journey"]),
    ("TX-ALPHA", ["with_journey"]),
    ("TX-ALP", []),
    ("txn:12345", ["without_journey"]),
    ("12345", []),
    ("99999999999999999999999", []),
])
def test_search_is_exact(superuser_client, book, term, expected):
    term = term.format(with_journey_conv=book["with_journey"].conv_id,
                       with_journey_click=book["with_journey"].click_id)
    response = superuser_client.get(CHANGELIST, {"q": term})
    assert response.status_code == 200
    assert listed(response) == [book[name].conv_id for name in expected]


@pytest.mark.django_db
def test_account_filter_offers_campaigns_of_the_chosen_account(superuser_client, book):
    response = superuser_client.get(CHANGELIST, {"account": book["acme"].user_id})
    html = response.content.decode()
    assert "Keto (#" in html and "VPN (#" in html
    assert "Other (#" not in html
