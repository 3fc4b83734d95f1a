"""A small journey dataset with hand-computed analysis figures (SPEC §7.1), and the summaries
written as the rebuild writes them.

Account acme, window [H, H + 23 h] (hours H .. H + 23 h). Traffic sources: Google (G), Bing (B),
Email (E); landing pages Home (h), Offer (o); campaigns Spring (advertiser North) and Autumn
(advertiser South). Eight live conversions in the window (revenue in brackets; a journey's touches are a second apart):

    c1 [10]  G G B            Spring  h h o   first touch 3 days before
    c2 [20]  G B              Spring  h o     5 days
    c3 [5]   B G              Spring  o h     12 hours
    c4 [7]   E (no journey)   Autumn  o       30 minutes (the converting click)
    c5 [4]   G 0              Spring  h 0     1 day 1 hour (converting click row missing)
    c6 [100] G×10 B×15 E      Spring  h×10 o×16  40 days (26 touches)
    c7 [8]   G B B            Spring  h o o   8 days
    c8 [3]   E                Autumn  o       22 days

Not counted: a soft-deleted conversion and one the hour before the window (acme), and a
conversion of the other tenant, globex, in the window.
"""
from dataclasses import dataclass

from journeys import source, summary_store
from tests.journeys.journey_helpers import store_rows

H = 1_800_000_000  # a whole UTC hour
HOUR = 3600
DAY = 86_400
WINDOW = (H, H + 23 * HOUR)  # start_hour, end_hour (inclusive hours)


@dataclass
class Dataset:
    acme: object
    globex: object
    google: int
    bing: int
    email: int
    home: int
    offer: int
    spring: int
    autumn: int
    north: int
    south: int
    globex_source: int
    globex_campaign: int
    globex_advertiser: int
    conversions: dict  # name -> conv_id
    missing_click_id: int


def summarise(account_ids, start=WINDOW[0], end=WINDOW[1] + HOUR - 1):
    """Write the journey summaries of these accounts' hours as the rebuild does, one chunk."""
    for account_id in account_ids:
        chunk = summary_store.ChunkSummaries(account_id, start, end)
        for records in source.journey_batches(start=start, end=end, account_ids=[account_id]):
            chunk.add(records)
        chunk.replace(built_at=1)


def build(tracker, acme=None, globex=None):
    """The dataset above, summarised (for these two accounts when given)."""
    acme, globex = acme or tracker.account("acme"), globex or tracker.account("globex")
    north, south = tracker.advertiser(acme, "North"), tracker.advertiser(acme, "South")
    spring = tracker.campaign(acme, north, name="Spring")
    autumn = tracker.campaign(acme, south, name="Autumn")
    google, bing, email = (tracker.traffic_source(acme, name).ppc_account_id for name in ("Google", "Bing", "Email"))
    home = tracker.landing_page(acme, spring, "Home").landing_page_id
    offer = tracker.landing_page(acme, spring, "Offer").landing_page_id
    lander = {google: home, bing: offer, email: offer}
    conversions = {}

    def journey(name, campaign, conv_time, revenue, sources, first_lag, stored=True):
        """Clicks `sources` (0: no click row) a second apart from conv_time - first_lag, the
        last converting; their touchpoints stored unless `stored` is False."""
        times = [conv_time - first_lag + index for index in range(len(sources))]
        clicks = []
        for source_id, click_time in zip(sources, times):
            if source_id == 0:
                clicks.append((missing_click_id, click_time))
            else:
                click = tracker.click(acme, campaign, click_time, ppc_account_id=source_id,
                                      landing_page_id=lander[source_id])
                clicks.append((click.click_id, click_time))
        converting_id, converting_time = clicks[-1]
        conversion = tracker.conversion(acme, campaign, conv_time, click_id=converting_id,
                                        click_time=converting_time, payout=revenue)
        if stored:
            store_rows(conversion.conv_id, *((c, t, p) for p, (c, t) in enumerate(clicks)))
        conversions[name] = conversion.conv_id
        return conversion

    missing_click_id = 9_000_000_001
    journey("c1", spring, H + 1 * HOUR, "10", [google, google, bing], 3 * DAY)
    journey("c2", spring, H + 2 * HOUR, "20", [google, bing], 5 * DAY)
    journey("c3", spring, H + 3 * HOUR, "5", [bing, google], 12 * HOUR)
    journey("c4", autumn, H + 4 * HOUR, "7", [email], 30 * 60, stored=False)
    journey("c5", spring, H + 5 * HOUR, "4", [google, 0], DAY + HOUR)
    journey("c6", spring, H + 6 * HOUR, "100", [google] * 10 + [bing] * 15 + [email], 40 * DAY)
    journey("c7", spring, H + 7 * HOUR, "8", [google, bing, bing], 8 * DAY)
    journey("c8", autumn, H + 23 * HOUR + 3599, "3", [email], 22 * DAY)
    deleted = journey("deleted", spring, H + 8 * HOUR, "50", [google], HOUR)
    deleted.deleted = 1
    deleted.save(update_fields=["deleted"])
    journey("before", spring, H - 1, "60", [bing], HOUR)
    globex_advertiser = tracker.advertiser(globex, "Globex network")
    globex_campaign = tracker.campaign(globex, globex_advertiser, name="Globex campaign")
    globex_source = tracker.traffic_source(globex, "Globex source")
    globex_click = tracker.click(globex, globex_campaign, H + HOUR, ppc_account_id=globex_source.ppc_account_id)
    tracker.conversion(globex, globex_campaign, H + 2 * HOUR, click=globex_click, payout="70")
    summarise([acme.user_id, globex.user_id], start=H - HOUR, end=WINDOW[1] + HOUR - 1)
    return Dataset(
        acme=acme, globex=globex, google=google, bing=bing, email=email, home=home, offer=offer,
        spring=spring.aff_campaign_id, autumn=autumn.aff_campaign_id, north=north.aff_network_id,
        south=south.aff_network_id, globex_source=globex_source.ppc_account_id,
        globex_campaign=globex_campaign.aff_campaign_id, globex_advertiser=globex_advertiser.aff_network_id,
        conversions=conversions, missing_click_id=missing_click_id,
    )
