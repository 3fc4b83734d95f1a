"""The conversion journey page: touches in order with flags, credit columns, cache, actions."""
import json
import time
from fractions import Fraction

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from attribution.models import AttributionModel
from journeys import admin_views
from journeys.models import JourneyTouch
from journeys.services import rebuild_journeys
from tests.journeys.admin_fixtures import client_for, make_user, superuser_client  # noqa: F401
from tracker.audit import Actor
from tracker.models import AuditEntry

CONV_TIME = 1_750_000_000
HOUR = 3600


def page_url(conversion):
    return reverse("admin:journeys_conversion_change", args=[conversion.conv_id])


def action_url(conversion, action):
    return reverse("admin:journeys_conversion_journey_action", args=[conversion.conv_id, action])


def add_model(account, model_type, config=None, name=None, is_default=False, active=True):
    now = int(time.time())
    return AttributionModel.objects.create(
        user=account, model_name=name or model_type, model_slug=name or model_type,
        model_type=model_type, weighting_config=config, is_active=active, is_default=is_default,
        created_at=now, updated_at=now,
    )


@pytest.fixture
def journey(tracker):
    """Three clicks 3 h, 2 h and 1 h before the conversion of the last one, journey stored."""
    account = tracker.account("acme")
    campaign = tracker.campaign(account, name="Keto")
    lander = tracker.landing_page(account, campaign, "Lander")
    source = tracker.traffic_source(account, "Google")
    clicks = [
        tracker.click(account, campaign, CONV_TIME - hours * HOUR,
                      landing_page_id=lander.landing_page_id, ppc_account_id=source.ppc_account_id)
        for hours in (3, 2, 1)
    ]
    conversion = tracker.conversion(account, campaign, CONV_TIME, click=clicks[-1])
    result = rebuild_journeys([conversion.conv_id], actor=Actor.cli("setup"))
    assert result.written == 1
    return {"account": account, "campaign": campaign, "clicks": clicks, "conversion": conversion}


def credit_columns(page):
    return {column.title: column.credits for column in page.credit_columns}


@pytest.mark.django_db
def test_touches_in_order_with_flags_and_hand_computed_credits(superuser_client, journey):
    account = journey["account"]
    add_model(account, "last_touch", name="Last", is_default=True)
    add_model(account, "time_decay", '{"half_life_hours": 1}', name="Decay 1h")
    add_model(account, "position_based", '{"first_touch_weight": 0.4, "last_touch_weight": 0.4}',
              name="Positions")
    add_model(account, "assisted", name="Assisted")
    add_model(account, "linear", name="Inactive", active=False)
    response = superuser_client.get(page_url(journey["conversion"]))
    assert response.status_code == 200
    page = response.context["page"]
    assert [t.click_id for t in page.touches] == [c.click_id for c in journey["clicks"]]
    assert [t.position for t in page.touches] == [0, 1, 2]
    assert [t.before_conversion for t in page.touches] == ["3 h", "2 h", "1 h"]
    assert [t.flags for t in page.touches] == [[], [], ["converting click"]]
    assert page.touches[0].landing_page.landing_page_nickname == "Lander"
    assert page.touches[0].traffic_source.ppc_account_name == "Google"

    columns = credit_columns(page)
    # Reference columns only for the types no active model already shows.
    assert list(columns) == ["Last", "Assisted", "Decay 1h", "Positions", "first touch", "linear"]
    assert columns["first touch"] == (1.0, 0.0, 0.0)
    assert columns["Last"] == (0.0, 0.0, 1.0)
    assert columns["linear"] == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    # raw 0.5^3, 0.5^2, 0.5^1 = 1/8, 2/8, 4/8 → 1/7, 2/7, 4/7
    assert columns["Decay 1h"] == pytest.approx(tuple(float(Fraction(n, 7)) for n in (1, 2, 4)))
    assert columns["Positions"] == pytest.approx((0.4, 0.2, 0.4))
    assert columns["Assisted"] == pytest.approx((0.5, 0.5, 0.0))
    for column in page.credit_columns:
        assert column.total == pytest.approx(1.0, abs=1e-9)

    html = response.content.decode()
    assert "<svg" in html and "journey-timeline" in html
    assert html.count("<circle") == 3
    assert f'title="epoch {CONV_TIME - 3 * HOUR}"' in html
    assert "No problems found" in html


@pytest.mark.django_db
def test_invalid_legacy_model_is_listed_not_crashing(superuser_client, journey):
    add_model(journey["account"], "time_decay", "{}", name="Broken decay")
    response = superuser_client.get(page_url(journey["conversion"]))
    assert response.status_code == 200
    assert "Broken decay" not in credit_columns(response.context["page"])
    (model, reason), = response.context["page"].invalid_models
    assert model.model_name == "Broken decay"
    assert "half_life_hours" in reason
    assert "invalid: half_life_hours" in response.content.decode()


@pytest.mark.django_db
def test_algorithmic_without_rebuild_falls_back_to_linear(superuser_client, journey):
    add_model(journey["account"], "algorithmic", '{"method": "markov"}', name="Markov")
    page = superuser_client.get(page_url(journey["conversion"])).context["page"]
    markov = next(c for c in page.credit_columns if c.title == "Markov")
    assert markov.credits == pytest.approx((1 / 3,) * 3)
    assert "linear fallback" in markov.note


@pytest.mark.django_db
def test_flags_for_added_converting_click_and_outside_window(superuser_client, tracker, settings):
    settings.ATTRIBUTION_LOOKBACK_SECONDS = 2 * HOUR
    account = tracker.account("acme")
    campaign = tracker.campaign(account)
    old = tracker.click(account, campaign, CONV_TIME - 5 * HOUR)
    recent = tracker.click(account, campaign, CONV_TIME - HOUR)
    conversion = tracker.conversion(account, campaign, CONV_TIME, click_id=424242,
                                    click_time=CONV_TIME - 90)  # its click row is missing
    for position, click in enumerate((old, recent)):
        JourneyTouch.objects.create(conv=conversion, click_id=click.click_id, click_time=click.click_time,
                                    position=position, created_at=CONV_TIME)
    response = superuser_client.get(page_url(conversion))
    page = response.context["page"]
    assert [t.click_id for t in page.touches] == [old.click_id, recent.click_id, 424242]
    assert page.touches[0].flags == ["outside window"]
    assert page.touches[2].flags == ["converting click", "added converting click", "click row missing"]
    assert "added converting click" in page.journey_flags
    assert any("before the lookback window" in w for w in page.verification_warnings)
    assert credit_columns(page)["last touch"] == (0.0, 0.0, 1.0)


@pytest.mark.django_db
def test_no_stored_journey_is_the_one_touch_fallback(superuser_client, tracker):
    account = tracker.account("acme")
    campaign = tracker.campaign(account)
    click = tracker.click(account, campaign, CONV_TIME - 60)
    conversion = tracker.conversion(account, campaign, CONV_TIME, click=click)
    response = superuser_client.get(page_url(conversion))
    page = response.context["page"]
    assert [t.click_id for t in page.touches] == [click.click_id]
    assert credit_columns(page)["linear"] == (1.0,)
    assert "No stored journey" in response.content.decode()


@pytest.mark.django_db
def test_page_reads_through_the_cache_until_the_rebuild_action(
    superuser_client, journey, tracker, django_capture_on_commit_callbacks
):
    conversion = journey["conversion"]
    first = superuser_client.get(page_url(conversion)).context["page"]
    assert len(first.touches) == 3
    # The database changes behind the cache: a new click, and a touch row deleted by hand.
    newer = tracker.click(journey["account"], journey["campaign"], CONV_TIME - 30 * 60)
    JourneyTouch.objects.filter(conv=conversion, position=0).delete()
    cached = superuser_client.get(page_url(conversion)).context["page"]
    assert [t.click_id for t in cached.touches] == [t.click_id for t in first.touches]

    with django_capture_on_commit_callbacks(execute=True):
        response = superuser_client.post(action_url(conversion, "rebuild"))
    assert response.status_code == 302 and response.url == page_url(conversion)
    rebuilt = superuser_client.get(page_url(conversion))
    assert [t.click_id for t in rebuilt.context["page"].touches] == [
        c.click_id for c in journey["clicks"][:2]] + [journey["clicks"][2].click_id, newer.click_id]
    messages = [str(m) for m in get_messages(rebuilt.wsgi_request)]
    assert messages == [f"Conversion {conversion.conv_id}: journey rebuilt (1 written)."]
    audit = AuditEntry.objects.filter(action="journey_backfill").latest("audit_id")
    assert audit.user_id == journey["account"].user_id
    assert json.loads(audit.metadata)["actor"] == {"type": "admin", "username": "root"}


@pytest.mark.django_db
def test_purge_action_confirms_then_deletes_and_audits(
    superuser_client, journey, django_capture_on_commit_callbacks
):
    conversion = journey["conversion"]
    superuser_client.get(page_url(conversion))  # fills the cache
    confirm = superuser_client.get(action_url(conversion, "purge"))
    assert confirm.status_code == 200
    assert "Yes, purge journey" in confirm.content.decode()
    assert JourneyTouch.objects.filter(conv=conversion).count() == 3  # GET writes nothing

    with django_capture_on_commit_callbacks(execute=True):
        superuser_client.post(action_url(conversion, "purge"))
    response = superuser_client.get(page_url(conversion))
    assert JourneyTouch.objects.filter(conv=conversion).count() == 0
    assert [str(m) for m in response.context["messages"]] == [
        f"Conversion {conversion.conv_id}: journey purged, 3 touchpoint row(s) deleted."]
    assert len(response.context["page"].touches) == 1  # cache evicted: one-touch fallback
    audit = AuditEntry.objects.get(action="journey_purge")
    assert json.loads(audit.metadata)["actor"]["username"] == "root"


@pytest.mark.django_db
def test_verify_action_reports_errors(superuser_client, journey):
    conversion = journey["conversion"]
    JourneyTouch.objects.filter(conv=conversion, position=1).update(position=7)
    response = superuser_client.post(action_url(conversion, "verify"), follow=True)
    (message,) = [str(m) for m in response.context["messages"]]
    assert message.startswith(f"Conversion {conversion.conv_id}: journey has errors:")
    assert "position" in message


@pytest.mark.django_db
def test_unknown_action_is_404(superuser_client, journey):
    assert superuser_client.get(action_url(journey["conversion"], "explode")).status_code == 404


@pytest.mark.django_db
def test_actions_need_the_manage_permission(client, django_user_model, journey):
    account_id = journey["account"].user_id
    viewer = client_for(client, make_user(django_user_model, "viewer", codenames=["view_attribution_reports"],
                                          account_ids=[account_id]))
    page = viewer.get(page_url(journey["conversion"]))
    assert page.status_code == 200
    assert action_url(journey["conversion"], "purge") not in page.content.decode()
    assert viewer.post(action_url(journey["conversion"], "purge")).status_code == 403
    assert JourneyTouch.objects.filter(conv=journey["conversion"]).count() == 3


def test_human_duration():
    assert admin_views.human_duration(7500) == "2 h 5 min"
    assert admin_views.human_duration(3 * 86_400 + 4 * 3600 + 59) == "3 d 4 h"
    assert admin_views.human_duration(45) == "45 s"
    assert admin_views.human_duration(0) == "0 s"
    assert admin_views.human_duration(3600) == "1 h"
    assert admin_views.human_duration(-120) == "-2 min"


def test_timeline_svg_places_touches_on_the_axis():
    svg = admin_views.timeline_svg([(11, 7200, False), (12, 3600, False), (13, 0, True)])
    assert svg.count("<circle") == 3
    # Oldest touch at the left margin, converting click at the conversion line on the right.
    assert 'cx="50.0"' in svg and 'cx="430.0"' in svg and 'cx="810.0"' in svg
    assert "click 13 — 0 s before conversion" in svg
    assert "<script" not in admin_views.timeline_svg([(1, 5, True)])


@pytest.mark.django_db
def test_visitor_unknown_flag_in_visitor_mode(superuser_client, tracker, settings):
    settings.ATTRIBUTION_JOURNEY_MATCH = "visitor"
    account = tracker.account("acme")
    campaign = tracker.campaign(account)
    click = tracker.click(account, campaign, CONV_TIME - 60)  # no 202_clicks_advance row
    conversion = tracker.conversion(account, campaign, CONV_TIME, click=click)
    page = superuser_client.get(page_url(conversion)).context["page"]
    assert page.journey_flags == ["visitor unknown"]
    assert page.touches[0].flags == ["converting click", "visitor unknown"]
