"""Shared data and readers for the rebuild tests: one account with a hand-computable journey set.

Hour H (epoch 1_699_999_200, 22:00 UTC):
  conversion 1 at H+600, payout 30, stored journey a → b → c (c converts, cpc 2.00):
    a: H−3000, landing page L1, source S1;  b: H−1000, L2, S2;  c: H+500, L1, S2
  conversion 2 at H+2400, payout 12, no stored journey, converting click d (H+2000, L2, S1, cpc 1)
Hour H+3600:
  conversion 3 at H+3700, payout 5, converting click missing from 202_clicks (cost 0, scopes 0)
"""
import time
from dataclasses import dataclass
from decimal import Decimal

from attribution.models import AttributionModel, Snapshot, TouchCredit
from journeys.models import JourneyTouch

H = 1_699_999_200
HOUR = 3600


def make_model(account, model_type, config=None, *, active=True, name=None):
    now = int(time.time())
    name = name or f"{model_type} model"
    return AttributionModel.objects.create(
        user=account, model_name=name, model_slug=f"{name.lower().replace(' ', '-')}-{model_type}",
        model_type=model_type, weighting_config=config, is_active=active, is_default=False,
        created_at=now, updated_at=now,
    )


def store_journey(conversion, clicks):
    for position, click in enumerate(clicks):
        JourneyTouch.objects.create(
            conv_id=conversion.conv_id, click_id=click.click_id, click_time=click.click_time,
            position=position, created_at=int(time.time()),
        )


@dataclass
class Scenario:
    account: object
    advertiser: object
    campaign: object
    l1: object
    l2: object
    s1: object
    s2: object
    clicks: dict
    conversions: dict


def build_scenario(tracker):
    account = tracker.account("rebuild")
    advertiser = tracker.advertiser(account)
    campaign = tracker.campaign(account, advertiser)
    l1 = tracker.landing_page(account, campaign, name="L1")
    l2 = tracker.landing_page(account, campaign, name="L2")
    s1 = tracker.traffic_source(account, name="S1")
    s2 = tracker.traffic_source(account, name="S2")

    def click(at, landing_page, source, cpc):
        return tracker.click(
            account, campaign, at, cpc=cpc, landing_page_id=landing_page.landing_page_id,
            ppc_account_id=source.ppc_account_id,
        )

    clicks = {
        "a": click(H - 3000, l1, s1, "0.50000"),
        "b": click(H - 1000, l2, s2, "0.50000"),
        "c": click(H + 500, l1, s2, "2.00000"),
        "d": click(H + 2000, l2, s1, "1.00000"),
    }
    conversions = {
        1: tracker.conversion(account, campaign, H + 600, click=clicks["c"], payout="30.00000"),
        2: tracker.conversion(account, campaign, H + 2400, click=clicks["d"], payout="12.00000"),
        3: tracker.conversion(account, campaign, H + 3700, click_id=987_654_321,
                              click_time=H + HOUR, payout="5.00000"),
    }
    store_journey(conversions[1], [clicks["a"], clicks["b"], clicks["c"]])
    return Scenario(account, advertiser, campaign, l1, l2, s1, s2, clicks, conversions)


def snapshot_table(model):
    """{(date_hour, scope_type, scope_id): (clicks, conversions, revenue, cost)} of one model."""
    return {
        (row.date_hour, row.scope_type, row.scope_id): (
            row.attributed_clicks, row.attributed_conversions,
            Decimal(row.attributed_revenue).quantize(Decimal("0.0001")),
            Decimal(row.attributed_cost).quantize(Decimal("0.0001")),
        )
        for row in Snapshot.objects.filter(model_id=model.model_id)
    }


def credit_table(model):
    """{(date_hour, conv_id, position): (click_id, credit)} of one model's per-touch rows."""
    hours = dict(
        Snapshot.objects.filter(model_id=model.model_id, scope_type="global")
        .values_list("snapshot_id", "date_hour")
    )
    return {
        (hours[row.snapshot_id], row.conv_id, row.position): (
            row.click_id, Decimal(row.credit).quantize(Decimal("0.00001"))
        )
        for row in TouchCredit.objects.filter(snapshot_id__in=hours)
    }


def all_rows():
    """Every snapshot and credit row without ids and created_at, for exact rerun comparisons."""
    snapshots = {
        row["snapshot_id"]: row
        for row in Snapshot.objects.values(
            "snapshot_id", "model_id", "user_id", "scope_type", "scope_id", "date_hour",
            "lookback_start", "lookback_end", "attributed_clicks", "attributed_conversions",
            "attributed_revenue", "attributed_cost",
        )
    }
    snapshot_keys = sorted(
        tuple(str(value) for key, value in row.items() if key != "snapshot_id")
        for row in snapshots.values()
    )
    credit_keys = sorted(
        (
            snapshots[row["snapshot_id"]]["model_id"], snapshots[row["snapshot_id"]]["date_hour"],
            row["conv_id"], row["click_id"], row["position"], str(row["credit"]), str(row["weight"]),
        )
        for row in TouchCredit.objects.values("snapshot_id", "conv_id", "click_id", "position", "credit", "weight")
    )
    return snapshot_keys, credit_keys


def money(value):
    return Decimal(value).quantize(Decimal("0.0001"))
