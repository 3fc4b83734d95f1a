"""A realistic, deterministic Prosper202 dataset for demos and manual QA (SPEC §11).

Pure: `generate(click_count, seed, now)` returns plain rows (dicts keyed by column name, ids
assigned) and touches no database, so the same arguments always give the same rows. The
`seed_demo_data` command writes them.

What the data is built to show (each listed in `DemoDataset.features`):
- visitors (`202_clicks_advance.ip_id`) clicking a campaign several times before converting,
  so journeys are multi-touch in both `campaign` and `visitor` journey matching;
- clicks sharing one `click_time` (the click-id tie-break of SPEC §4.1);
- one visitor with 30 clicks whose conversion names its first click: the journey keeps the 25
  most recent clicks and adds the converting click, 26 touches (beyond the cap);
- soft-deleted conversions, a conversion whose converting click row is missing, a converting
  click without a `202_clicks_advance` row (visitor unknown);
- a campaign whose multi-touch setting is disabled, and a deleted account with traffic;
- one attribution model of each of the seven types for the first account.
"""
import random
from dataclasses import dataclass, field
from decimal import Decimal

DEFAULT_CLICK_COUNT = 20_000
DEFAULT_SEED = 202
MIN_CLICK_COUNT = 100
WINDOW_DAYS = 14
HOUR_SECONDS = 3600
DAY_SECONDS = 86_400
CAPPED_VISITOR_CLICKS = 30
SOFT_DELETED_SHARE = 0.03
TIE_PROBABILITY = 0.04

ACCOUNTS = (
    {"user_id": 1, "user_name": "acme", "user_email": "ops@acme.demo.invalid",
     "user_timezone": "America/New_York", "user_deleted": 0},
    {"user_id": 2, "user_name": "globex", "user_email": "ops@globex.demo.invalid",
     "user_timezone": "Europe/London", "user_deleted": 0},
    {"user_id": 3, "user_name": "initech-closed", "user_email": "ops@initech.demo.invalid",
     "user_timezone": "America/Los_Angeles", "user_deleted": 1},
)

ADVERTISERS = (
    {"aff_network_id": 1, "user_id": 1, "aff_network_name": "MaxBounty"},
    {"aff_network_id": 2, "user_id": 1, "aff_network_name": "ClickBank"},
    {"aff_network_id": 3, "user_id": 2, "aff_network_name": "Everflow Direct"},
    {"aff_network_id": 4, "user_id": 2, "aff_network_name": "CAKE Partners"},
    {"aff_network_id": 5, "user_id": 3, "aff_network_name": "Legacy Network"},
)

# traffic_share: share of the account's clicks; the Solar campaign has multi-touch disabled,
# the Dating campaign carries the 30-click visitor.
CAMPAIGNS = (
    {"aff_campaign_id": 1, "user_id": 1, "aff_network_id": 1, "aff_campaign_name": "Keto Trial US",
     "aff_campaign_payout": "32.00", "traffic_share": 0.35},
    {"aff_campaign_id": 2, "user_id": 1, "aff_network_id": 1, "aff_campaign_name": "VPN Annual",
     "aff_campaign_payout": "45.00", "traffic_share": 0.20},
    {"aff_campaign_id": 3, "user_id": 1, "aff_network_id": 2, "aff_campaign_name": "Solar Leads CA",
     "aff_campaign_payout": "18.50", "traffic_share": 0.15},
    {"aff_campaign_id": 4, "user_id": 1, "aff_network_id": 2, "aff_campaign_name": "Dating Smartlink",
     "aff_campaign_payout": "2.75", "traffic_share": 0.30},
    {"aff_campaign_id": 5, "user_id": 2, "aff_network_id": 3, "aff_campaign_name": "Insurance Quotes",
     "aff_campaign_payout": "12.00", "traffic_share": 0.45},
    {"aff_campaign_id": 6, "user_id": 2, "aff_network_id": 4, "aff_campaign_name": "Sweepstakes iPhone",
     "aff_campaign_payout": "1.60", "traffic_share": 0.35},
    {"aff_campaign_id": 7, "user_id": 2, "aff_network_id": 4, "aff_campaign_name": "Meal Kit Trial",
     "aff_campaign_payout": "22.00", "traffic_share": 0.20},
    {"aff_campaign_id": 8, "user_id": 3, "aff_network_id": 5, "aff_campaign_name": "Old Offer",
     "aff_campaign_payout": "5.00", "traffic_share": 1.0},
)
DISABLED_CAMPAIGN_ID = 3
CAPPED_CAMPAIGN_ID = 4
MISSING_CLICK_CAMPAIGN_ID = 1
UNKNOWN_VISITOR_CAMPAIGN_ID = 2
# Share of all clicks per account; the deleted account keeps a trickle of traffic.
ACCOUNT_TRAFFIC_SHARE = {1: 0.65, 2: 0.33, 3: 0.02}

TRAFFIC_SOURCES = (
    {"ppc_account_id": 1, "user_id": 1, "ppc_network_id": 1, "ppc_account_name": "Google Ads - Search"},
    {"ppc_account_id": 2, "user_id": 1, "ppc_network_id": 2, "ppc_account_name": "Facebook - Prospecting"},
    {"ppc_account_id": 3, "user_id": 1, "ppc_network_id": 3, "ppc_account_name": "Taboola - Native"},
    {"ppc_account_id": 4, "user_id": 2, "ppc_network_id": 4, "ppc_account_name": "Microsoft Ads"},
    {"ppc_account_id": 5, "user_id": 2, "ppc_network_id": 5, "ppc_account_name": "Outbrain"},
    {"ppc_account_id": 6, "user_id": 2, "ppc_network_id": 6, "ppc_account_name": "TikTok Ads"},
    {"ppc_account_id": 7, "user_id": 3, "ppc_network_id": 1, "ppc_account_name": "Legacy PPC"},
)

USER_AGENTS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/126.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/17.5 Safari/605.1.15",
)

# One model of each type for the first account, last touch the default (SPEC §5.1 configs).
FIRST_ACCOUNT_MODELS = (
    ("Last touch", "last-touch", "last_touch", None, True),
    ("First touch", "first-touch", "first_touch", None, False),
    ("Linear", "linear", "linear", None, False),
    ("Time decay (24 h half-life)", "time-decay-24h", "time_decay", {"half_life_hours": 24}, False),
    ("Position based 40/20/40", "position-based-40-40", "position_based",
     {"first_touch_weight": 0.4, "last_touch_weight": 0.4}, False),
    ("Assisted", "assisted", "assisted", None, False),
    ("Markov by traffic source", "markov-account", "algorithmic",
     {"method": "markov", "channel": "account"}, False),
)
SECOND_ACCOUNT_MODELS = (
    ("Last touch", "last-touch", "last_touch", None, True),
    ("Linear", "linear", "linear", None, False),
)


@dataclass
class DemoDataset:
    """Rows per 202 table, in insertion order, plus the notable cases for the summary."""

    accounts: list
    advertisers: list
    campaigns: list
    landing_pages: list
    traffic_sources: list
    clicks: list
    clicks_advance: list
    conversions: list
    models: list  # weighting_config as a dict (or None); the command stores it as a column
    settings: list  # model_slug instead of model_id; the command resolves it
    features: dict = field(default_factory=dict)


def generate(click_count=DEFAULT_CLICK_COUNT, seed=DEFAULT_SEED, now=0):
    """Build the dataset: `click_count` clicks over the 14 days ending at `now` (epoch)."""
    if click_count < MIN_CLICK_COUNT:
        raise ValueError(f"click_count must be at least {MIN_CLICK_COUNT}, got {click_count}")
    rng = random.Random(seed)
    window_end = now
    window_start = (now // HOUR_SECONDS) * HOUR_SECONDS - WINDOW_DAYS * DAY_SECONDS
    landing_pages = _landing_pages()
    visits = _visits(rng, click_count, window_start, window_end, landing_pages)
    clicks = _number_clicks(visits)
    conversions, features = _conversions(rng, visits, clicks, window_end)
    clicks_advance = sorted(
        ({"click_id": click["click_id"], "ip_id": visit.visitor_id}
         for visit in visits if visit.has_advance_row for click in visit.clicks),
        key=lambda row: row["click_id"],
    )
    models, settings = _models_and_settings(now)
    features.update(
        window_start=window_start,
        window_end=window_end,
        disabled_campaign_id=DISABLED_CAMPAIGN_ID,
        deleted_account_id=3,
    )
    return DemoDataset(
        accounts=[dict(a) for a in ACCOUNTS],
        advertisers=[dict(a, aff_network_deleted=False) for a in ADVERTISERS],
        campaigns=[
            {k: v for k, v in c.items() if k != "traffic_share"} | {"aff_campaign_deleted": False}
            for c in CAMPAIGNS
        ],
        landing_pages=landing_pages,
        traffic_sources=[dict(t, ppc_account_deleted=False) for t in TRAFFIC_SOURCES],
        clicks=clicks,
        clicks_advance=clicks_advance,
        conversions=conversions,
        models=models,
        settings=settings,
        features=features,
    )


def _landing_pages():
    pages = []
    for campaign in CAMPAIGNS:
        variants = ("A", "B") if campaign["user_id"] != 3 else ("A",)
        for variant in variants:
            slug = campaign["aff_campaign_name"].lower().replace(" ", "-")
            pages.append({
                "landing_page_id": len(pages) + 1,
                "user_id": campaign["user_id"],
                "aff_campaign_id": campaign["aff_campaign_id"],
                "landing_page_nickname": f"{campaign['aff_campaign_name']} LP {variant}",
                "landing_page_url": f"https://lp.demo.invalid/{slug}/{variant.lower()}",
                "landing_page_deleted": False,
            })
    return pages


@dataclass
class _Visit:
    """One visitor's clicks on one campaign (click rows get their ids once all are known)."""

    visitor_id: int
    campaign: dict
    clicks: list
    has_advance_row: bool = True
    converts_on_first: bool = False


def _visits(rng, click_count, window_start, window_end, landing_pages):
    pages_by_campaign = {}
    for page in landing_pages:
        pages_by_campaign.setdefault(page["aff_campaign_id"], []).append(page["landing_page_id"])
    sources_by_account = {}
    for source in TRAFFIC_SOURCES:
        sources_by_account.setdefault(source["user_id"], []).append(source["ppc_account_id"])
    campaigns = list(CAMPAIGNS)
    campaign_weights = [
        ACCOUNT_TRAFFIC_SHARE[c["user_id"]] * c["traffic_share"] for c in campaigns
    ]

    def new_click(campaign, click_time):
        landing_pages_of_campaign = pages_by_campaign[campaign["aff_campaign_id"]]
        return {
            "user_id": campaign["user_id"],
            "aff_campaign_id": campaign["aff_campaign_id"],
            "landing_page_id": 0 if rng.random() < 0.08 else rng.choice(landing_pages_of_campaign),
            "ppc_account_id": 0 if rng.random() < 0.05 else rng.choice(
                sources_by_account[campaign["user_id"]]
            ),
            "click_cpc": Decimal(rng.randint(4, 150)) / 100,
            "click_time": click_time,
        }

    def click_times(count):
        times = [rng.randint(window_start, window_end - HOUR_SECONDS)]
        for _ in range(count - 1):
            gap = 0 if rng.random() < TIE_PROBABILITY else int(rng.expovariate(1 / 14_400)) + 60
            times.append(times[-1] + gap)
        overflow = times[-1] - (window_end - 60)
        if overflow > 0:
            times = [max(window_start, t - overflow) for t in times]
        return times

    visits = []
    capped_campaign = next(c for c in campaigns if c["aff_campaign_id"] == CAPPED_CAMPAIGN_ID)
    capped_start = window_end - 6 * DAY_SECONDS
    capped_times = sorted(rng.randint(capped_start, window_end - 2 * HOUR_SECONDS)
                          for _ in range(CAPPED_VISITOR_CLICKS))
    visits.append(_Visit(1, capped_campaign, [new_click(capped_campaign, t) for t in capped_times],
                         converts_on_first=True))
    remaining = click_count - CAPPED_VISITOR_CLICKS
    while remaining > 0:
        campaign = rng.choices(campaigns, weights=campaign_weights)[0]
        count = min(remaining, _clicks_per_visitor(rng))
        visits.append(_Visit(len(visits) + 1, campaign,
                             [new_click(campaign, t) for t in click_times(count)]))
        remaining -= count
    return visits


def _clicks_per_visitor(rng):
    roll = rng.random()
    if roll < 0.60:
        return 1
    if roll < 0.78:
        return 2
    if roll < 0.88:
        return 3
    if roll < 0.94:
        return 4
    return rng.randint(5, 8)


def _number_clicks(visits):
    """Give clicks ids in time order (as a tracker would), ties in generation order."""
    ordered = sorted(
        ((click["click_time"], visit_index, click_index, click)
         for visit_index, visit in enumerate(visits)
         for click_index, click in enumerate(visit.clicks)),
        key=lambda item: item[:3],
    )
    clicks = []
    for click_id, (_, _, _, click) in enumerate(ordered, start=1):
        click["click_id"] = click_id
        click.update(click_payout=Decimal(0), click_lead=False, click_filtered=False,
                     click_bot=False, click_alp=False, rotator_id=0)
        clicks.append(click)
    return clicks


def _conversion_probability(visit):
    count = len(visit.clicks)
    return 0.015 if count == 1 else min(0.15, 0.08 + 0.02 * (count - 2))


def _conversions(rng, visits, clicks, window_end):
    converting = [
        visit for visit in visits
        if visit.converts_on_first or rng.random() < _conversion_probability(visit)
    ]
    # The deleted account needs conversions too, so capture visibly skips them.
    if not any(v.campaign["user_id"] == 3 for v in converting):
        converting.append(next(v for v in visits if v.campaign["user_id"] == 3))
    unknown_visitor = next(
        (v for v in converting
         if v.campaign["aff_campaign_id"] == UNKNOWN_VISITOR_CAMPAIGN_ID and len(v.clicks) > 1),
        None,
    )
    if unknown_visitor is not None:
        unknown_visitor.has_advance_row = False

    rows = []
    unknown_visitor_row = None
    for visit in converting:
        last_time = max(c["click_time"] for c in visit.clicks)
        if visit.converts_on_first:
            converting_click = visit.clicks[0]
        elif len(visit.clicks) > 2 and rng.random() < 0.2:
            converting_click = rng.choice(visit.clicks[:-1])  # the offer credited an earlier subid
        else:
            converting_click = visit.clicks[-1]
        conv_time = last_time + rng.randint(60, 4 * HOUR_SECONDS)
        if conv_time > window_end:  # converted between the last click and now
            conv_time = rng.randint(last_time, window_end)
        rows.append(_conversion_row(rng, visit.campaign, converting_click["click_id"],
                                    converting_click["click_time"], conv_time, visit.visitor_id))
        if visit is unknown_visitor:
            unknown_visitor_row = rows[-1]

    missing_click_campaign = next(c for c in CAMPAIGNS if c["aff_campaign_id"] == MISSING_CLICK_CAMPAIGN_ID)
    missing_click_id = len(clicks) + 1000
    missing_click_time = window_end - 3 * DAY_SECONDS
    rows.append(_conversion_row(rng, missing_click_campaign, missing_click_id, missing_click_time,
                                missing_click_time + 1800, 0))

    rows.sort(key=lambda row: (row["conv_time"], row["click_id"]))
    for conv_id, row in enumerate(rows, start=1):
        row["conv_id"] = conv_id
    deletable = [r for r in rows if r["click_id"] != missing_click_id and r["user_id"] != 3]
    deleted = rng.sample(deletable, max(1, int(len(deletable) * SOFT_DELETED_SHARE)))
    for row in deleted:
        row["deleted"] = 1

    capped_visit = visits[0]
    capped_conversion = next(r for r in rows if r["click_id"] == capped_visit.clicks[0]["click_id"])
    features = {
        "capped_conv_id": capped_conversion["conv_id"],
        "missing_click_conv_id": next(r["conv_id"] for r in rows if r["click_id"] == missing_click_id),
        "deleted_conv_ids": sorted(r["conv_id"] for r in deleted),
        "multi_touch_visitors": sum(1 for v in converting if len(v.clicks) > 1),
        "unknown_visitor_conv_id": unknown_visitor_row and unknown_visitor_row["conv_id"],
        "tied_click_times": len(clicks) - len({(c["aff_campaign_id"], c["click_time"]) for c in clicks}),
    }
    return rows, features


def _ip_of(visitor_id):
    return f"198.51.{visitor_id // 250 % 250}.{visitor_id % 250 + 1}"


def _conversion_row(rng, campaign, click_id, click_time, conv_time, visitor_id):
    payout = Decimal(campaign["aff_campaign_payout"])
    if rng.random() < 0.15:  # some offers pay a bonus or a partial payout
        payout = (payout * Decimal(rng.choice(("0.5", "1.5", "2")))).quantize(Decimal("0.01"))
    seconds = conv_time - click_time
    return {
        "click_id": click_id,
        "transaction_id": None if rng.random() < 0.1 else f"TXN-{rng.getrandbits(40):010X}",
        "campaign_id": campaign["aff_campaign_id"],
        "click_payout": payout,
        "user_id": campaign["user_id"],
        "click_time": click_time,
        "conv_time": conv_time,
        "time_difference": f"{seconds // 3600} hours, {seconds % 3600 // 60} minutes",
        "ip": _ip_of(visitor_id),
        "pixel_type": rng.choice((1, 1, 1, 2, 3)),
        "user_agent": rng.choice(USER_AGENTS),
        "deleted": 0,
    }


def _models_and_settings(now):
    models, settings = [], []
    for user_id, specs in ((1, FIRST_ACCOUNT_MODELS), (2, SECOND_ACCOUNT_MODELS)):
        for name, slug, model_type, config, is_default in specs:
            models.append({
                "user_id": user_id, "model_name": name, "model_slug": slug,
                "model_type": model_type, "weighting_config": config,
                "is_active": True, "is_default": is_default,
                "created_at": now, "updated_at": now,
            })
        settings.append(_setting(user_id, "global", None, "last-touch", True, now))
    settings.append(_setting(1, "campaign", DISABLED_CAMPAIGN_ID, "last-touch", False, now))
    return models, settings


def _setting(user_id, scope_type, scope_id, model_slug, enabled, now):
    return {
        "user_id": user_id, "scope_type": scope_type, "scope_id": scope_id,
        "model_slug": model_slug, "multi_touch_enabled": enabled,
        "multi_touch_enabled_at": now if enabled else None,
        "multi_touch_disabled_at": None if enabled else now,
        "effective_at": now, "created_at": now, "updated_at": now,
    }
