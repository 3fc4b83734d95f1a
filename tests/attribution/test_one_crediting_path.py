"""SPEC §7 "one crediting path": the comparison computed on the fly equals the rebuild's snapshots
exactly — every model type, every scope type and value — on data with duplicate click rows that
differ, click rows that are missing, a journey beyond the cap, conversions without a stored
journey and payouts that need half-even rounding."""
from types import SimpleNamespace

import pytest

from attribution import reporting
from attribution.rebuild import run_rebuild
from tests.attribution.rebuild_fixtures import HOUR, H, make_model, store_journey
from tracker.audit import Actor

pytestmark = pytest.mark.django_db

MODELS = [
    ("last_touch", None),
    ("first_touch", None),
    ("linear", None),
    ("time_decay", '{"half_life_hours": 1}'),
    ("position_based", '{"first_touch_weight": 0.4, "last_touch_weight": 0.35}'),
    ("assisted", None),
    ("algorithmic", '{"method": "markov"}'),
    ("algorithmic", '{"method": "markov", "channel": "landing_page"}'),
]
SCOPES = ("global", "campaign", "advertiser", "landing_page", "account")


@pytest.fixture
def messy_account(tracker, settings):
    """Two campaigns of two advertisers, three hours of conversions; the traps of SPEC §4.1/§5.1."""
    settings.ATTRIBUTION_MAX_TOUCHES = 25
    account = tracker.account("messy")
    advertisers = [tracker.advertiser(account, name=f"Adv {n}") for n in range(2)]
    campaigns = [tracker.campaign(account, advertiser) for advertiser in advertisers]
    pages = [tracker.landing_page(account, campaigns[0], name=f"L{n}") for n in range(3)]
    sources = [tracker.traffic_source(account, name=f"S{n}") for n in range(3)]

    def click(campaign, at, n, cpc="0.33333"):
        return tracker.click(account, campaign, at, cpc=cpc, landing_page_id=pages[n % 3].landing_page_id,
                             ppc_account_id=sources[(n + 1) % 3].ppc_account_id)

    clicks = [click(campaigns[n % 2], H - 5000 + 137 * n, n) for n in range(40)]
    # A duplicate row of clicks[3] with another landing page and account: the smallest values win.
    tracker.click(account, campaigns[1], clicks[3].click_time, click_id=clicks[3].click_id, cpc="0.10000",
                  landing_page_id=pages[0].landing_page_id, ppc_account_id=sources[0].ppc_account_id)
    payouts = ["10.00005", "0.00005", "12.34565", "7.77777", "3.00015", "99.99995", "1.00000"]
    conversions = []
    for n, payout in enumerate(payouts):
        converting = clicks[30 + n]
        conversion = tracker.conversion(account, campaigns[n % 2], H + 900 * n + 17, click=converting,
                                        payout=payout, transaction_id=f"t{n}")
        conversions.append(conversion)
    # Stored journeys: a plain one with the duplicate click, one naming a click with no row,
    # one capped (25 stored + the converting click added), the rest none (one-touch fallback).
    store_journey(conversions[0], [clicks[1], clicks[3], clicks[30]])
    missing = SimpleNamespace(click_id=999_999_999, click_time=H - 100)
    store_journey(conversions[1], [clicks[5], missing, clicks[31]])
    store_journey(conversions[2], clicks[2:27])
    store_journey(conversions[3], [clicks[7], clicks[9]])  # lacks its converting click
    # A conversion whose converting click row is missing, and spare non-converting clicks (Markov).
    conversions.append(tracker.conversion(account, campaigns[0], H + 2 * HOUR + 5, click_id=888_888_888,
                                          click_time=H + 2 * HOUR, payout="4.44444", transaction_id="ghost"))
    return account, campaigns, advertisers, pages, sources


def compare_all(model, scope_values):
    results = {}
    for scope_type in SCOPES:
        for scope_id in [None, *scope_values[scope_type]]:
            if scope_type == "global" and scope_id is not None:
                continue
            (row,) = reporting.compare_models(
                model_ids=[model.model_id], scope_type=scope_type, scope_id=scope_id,
                start_hour=H, end_hour=H + 2 * HOUR,
            )
            assert row.error is None, row.error
            results[(scope_type, scope_id)] = (row.kpis, row.position_share, row.source)
    return results


@pytest.mark.parametrize("model_type, config", MODELS, ids=[f"{t}-{c}" for t, c in MODELS])
def test_comparison_on_the_fly_equals_the_rebuilds_snapshots(messy_account, model_type, config,
                                                             django_capture_on_commit_callbacks):
    account, campaigns, advertisers, pages, sources = messy_account
    model = make_model(account, model_type, config)
    scope_values = {
        "global": [],
        "campaign": [c.aff_campaign_id for c in campaigns],
        "advertiser": [a.aff_network_id for a in advertisers],
        "landing_page": [0] + [p.landing_page_id for p in pages],
        "account": [0] + [s.ppc_account_id for s in sources],
    }

    on_the_fly = compare_all(model, scope_values)
    with django_capture_on_commit_callbacks(execute=True):  # retires the cached comparisons
        outcome = run_rebuild(start=H, end=H + 2 * HOUR, user_ids=[account.user_id], actor=Actor.cli("pytest"))
    assert outcome.succeeded
    from_snapshots = compare_all(model, scope_values)

    assert {key: source for key, (_, _, source) in on_the_fly.items()} == dict.fromkeys(on_the_fly, "journeys")
    assert {key: source for key, (_, _, source) in from_snapshots.items()} == dict.fromkeys(on_the_fly, "snapshots")
    assert {key: value[:2] for key, value in on_the_fly.items()} == {
        key: value[:2] for key, value in from_snapshots.items()
    }
    # The traps were really in the data: 8 conversions, money that needed rounding, a capped journey.
    global_kpis = on_the_fly[("global", None)][0]
    assert global_kpis.conversions == 8
    # Per hour, the exact payout sum rounded once (half-even): 30.12352 → 30.1235,
    # 104.00010 → 104.0001, 4.44444 → 4.4444.
    assert str(global_kpis.revenue) == "138.5680"
