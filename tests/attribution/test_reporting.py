"""attribution.reporting: totals and series over snapshot rows, day buckets, caching, validation."""
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.db import transaction

from attribution import reporting
from attribution.models import Snapshot
from attribution.snapshot_cache import invalidate_snapshots_on_commit
from tests.attribution.reporting_fixtures import BASE_HOUR, make_model, snapshot

pytestmark = pytest.mark.django_db

HOURS_30_DAYS = 720


@pytest.fixture
def thirty_days(tracker):
    """720 hours × 3 rows (global + campaigns 11 and 12) for one model, plus noise around it."""
    account = tracker.account("acme")
    model = make_model(account)
    other_model = make_model(account, name="Last", model_type="last_touch")
    rows = []
    for i in range(HOURS_30_DAYS):
        hour = BASE_HOUR + i * 3600
        rows.append(snapshot(model, hour, clicks=3, conversions=1 + i % 2,
                             revenue=str(Decimal("1.25") + i % 4), cost="0.75", save=False))
        rows.append(snapshot(model, hour, "campaign", 11, clicks=2, conversions=1, revenue="1", cost="0.5",
                             save=False))
        rows.append(snapshot(model, hour, "campaign", 12, clicks=1, conversions=1, revenue="0.25",
                             cost="0.25", save=False))
    # Outside the range, and another model's rows inside it: never counted.
    rows.append(snapshot(model, BASE_HOUR - 3600, revenue="1000", cost="1", clicks=9, save=False))
    rows.append(snapshot(model, BASE_HOUR + HOURS_30_DAYS * 3600, revenue="1000", cost="1", save=False))
    rows.append(snapshot(other_model, BASE_HOUR, revenue="500", cost="1", save=False))
    Snapshot.objects.bulk_create(rows, batch_size=500)
    return account, model


def window(**overrides):
    return {"start_hour": BASE_HOUR, "end_hour": BASE_HOUR + (HOURS_30_DAYS - 1) * 3600, **overrides}


def test_totals_of_a_30_day_hourly_range_equal_the_hand_sum(thirty_days):
    account, model = thirty_days
    kpis = reporting.totals(account_ids=None, model_id=model.model_id, scope_type="global", scope_id=None,
                            **window())
    # revenue: 720 × 1.25 + 180 × (0 + 1 + 2 + 3) = 900 + 1080; cost 720 × 0.75; conversions 720 + 360.
    assert kpis.revenue == Decimal("1980.0000")
    assert kpis.cost == Decimal("540.0000")
    assert kpis.profit == Decimal("1440.0000")
    assert kpis.roi_percent == Decimal("266.67")
    assert kpis.conversions == 1080
    assert kpis.clicks == 2160


def test_scope_totals_by_scope_id_and_across_all_values(thirty_days):
    account, model = thirty_days
    one = reporting.totals(account_ids=[account.user_id], model_id=model.model_id, scope_type="campaign",
                           scope_id=11, **window())
    every = reporting.totals(account_ids=[account.user_id], model_id=model.model_id, scope_type="campaign",
                             scope_id=None, **window())
    assert (one.revenue, one.cost, one.clicks) == (Decimal("720.0000"), Decimal("360.0000"), 1440)
    assert (every.revenue, every.cost, every.conversions) == (Decimal("900.0000"), Decimal("540.0000"), 1440)


def test_hourly_series_has_every_hour_in_order(thirty_days):
    account, model = thirty_days
    points = reporting.snapshot_series(account_ids=None, model_id=model.model_id, scope_type="global",
                                       scope_id=None, **window())
    assert len(points) == HOURS_30_DAYS
    assert [p.bucket for p in points[:2]] == [BASE_HOUR, BASE_HOUR + 3600]
    assert points[3].revenue == Decimal("4.2500") and points[3].conversions == 2
    assert sum(p.revenue for p in points) == Decimal("1980.0000")


def test_day_resolution_buckets_by_utc_day(tracker):
    account = tracker.account()
    model = make_model(account)
    # 22:00 and 23:00 on day 0, all 24 hours of day 1, 00:00 on day 2.
    hours = [BASE_HOUR + 22 * 3600, BASE_HOUR + 23 * 3600] + [BASE_HOUR + 86400 + h * 3600 for h in range(24)]
    hours.append(BASE_HOUR + 2 * 86400)
    for hour in hours:
        snapshot(model, hour, clicks=1, conversions=1, revenue="2.5", cost="1")
    points = reporting.snapshot_series(
        account_ids=None, model_id=model.model_id, scope_type="global", scope_id=None,
        start_hour=BASE_HOUR, end_hour=BASE_HOUR + 3 * 86400 - 3600, resolution="day",
    )
    assert [(p.bucket, p.conversions, p.revenue, p.cost) for p in points] == [
        (BASE_HOUR, 2, Decimal("5.0000"), Decimal("2.0000")),
        (BASE_HOUR + 86400, 24, Decimal("60.0000"), Decimal("24.0000")),
        (BASE_HOUR + 2 * 86400, 1, Decimal("2.5000"), Decimal("1.0000")),
    ]


def test_cached_until_the_account_snapshots_are_invalidated(tracker, django_capture_on_commit_callbacks):
    account = tracker.account()
    model = make_model(account)
    row = snapshot(model, BASE_HOUR, revenue="10", cost="4")
    query = dict(account_ids=None, model_id=model.model_id, scope_type="global", scope_id=None,
                 start_hour=BASE_HOUR, end_hour=BASE_HOUR)
    assert reporting.totals(**query).revenue == Decimal("10.0000")
    Snapshot.objects.filter(snapshot_id=row.snapshot_id).update(attributed_revenue=Decimal("25"))
    assert reporting.totals(**query).revenue == Decimal("10.0000")  # served from the cache
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            invalidate_snapshots_on_commit(account.user_id)
    assert reporting.totals(**query).revenue == Decimal("25.0000")


def test_roi_is_undefined_without_cost(tracker):
    account = tracker.account()
    model = make_model(account)
    snapshot(model, BASE_HOUR, revenue="10", cost="0")
    kpis = reporting.totals(account_ids=None, model_id=model.model_id, scope_type="global", scope_id=None,
                            start_hour=BASE_HOUR, end_hour=BASE_HOUR)
    assert kpis.roi_percent is None and kpis.as_dict()["roi_percent"] is None
    assert kpis.as_dict()["profit"] == "10.0000"


def test_window_bounds_are_floored_to_hours_and_inclusive(tracker):
    account = tracker.account()
    model = make_model(account)
    snapshot(model, BASE_HOUR, revenue="1")
    snapshot(model, BASE_HOUR + 3600, revenue="2")
    kpis = reporting.totals(account_ids=None, model_id=model.model_id, scope_type="global", scope_id=None,
                            start_hour=BASE_HOUR + 1800, end_hour=BASE_HOUR + 3600 + 59)
    assert kpis.revenue == Decimal("3.0000")


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"scope_type": "planet"}, "scope_type"),
        ({"start_hour": BASE_HOUR + 7200, "end_hour": BASE_HOUR}, "start_hour"),
        ({"start_hour": -5}, "start_hour"),
        ({"scope_type": "campaign", "scope_id": "7"}, "scope_id"),
        ({"resolution": "week"}, "resolution"),
    ],
)
def test_invalid_parameters_name_the_field(tracker, overrides, field):
    model = make_model(tracker.account())
    query = dict(account_ids=None, model_id=model.model_id, scope_type="global", scope_id=None,
                 start_hour=BASE_HOUR, end_hour=BASE_HOUR, resolution="hour")
    with pytest.raises(reporting.ReportRequestError) as raised:
        reporting.snapshot_series(**{**query, **overrides})
    assert raised.value.field == field


def test_unknown_and_other_tenants_models_are_refused(tracker):
    owner, other = tracker.account("owner"), tracker.account("other")
    model = make_model(owner)
    snapshot(model, BASE_HOUR, revenue="10")
    query = dict(scope_type="global", scope_id=None, start_hour=BASE_HOUR, end_hour=BASE_HOUR)
    with pytest.raises(PermissionDenied):
        reporting.totals(account_ids=[other.user_id], model_id=model.model_id, **query)
    with pytest.raises(reporting.UnknownModelError):
        reporting.totals(account_ids=None, model_id=model.model_id + 999, **query)
