"""Journey summaries (SPEC §7.1): the per-conversion facts the analysis reports read, written as
the rebuild writes them, read back by keyset, checked against the journeys, and the changelist
filter the analysis links to."""
import re
from decimal import Decimal

import pytest
from django.test import Client

from journeys import summary_store
from journeys.models import JourneySummary
from journeys.summaries import (
    PathSelection,
    collapse,
    collapsed_path_pattern,
    parse_path_text,
    parse_selection_token,
    path_text,
    selection_token,
)
from tests.attribution import analysis_fixtures
from tests.attribution.analysis_fixtures import DAY, HOUR, WINDOW
from tests.journeys.journey_helpers import store_rows

WINDOW_END = WINDOW[1] + HOUR - 1


def test_collapse_and_path_text():
    assert collapse((3, 3, 3, 7, 3)) == ([3, 7, 3], [3, 1, 1])
    assert collapse(()) == ([], [])
    assert path_text((3, 0, 12)) == "3 0 12" and parse_path_text("3 0 12") == (3, 0, 12)


def test_collapsed_pattern_matches_every_repeat_count_and_nothing_else():
    pattern = re.compile(collapsed_path_pattern((3, 7)))

    assert all(pattern.match(text) for text in ("3 7", "3 3 7", "3 7 7 7"))
    assert not any(pattern.match(text) for text in ("3", "7 3", "3 7 3", "33 7", "3 77", "13 7"))


def test_selection_tokens_round_trip_and_refuse_anything_else():
    selection = PathSelection("landing_page", (4, 0, 4), 3600, 7199, True)

    assert selection_token(selection) == "landing_page:4,0,4:3600-7199:collapsed"
    assert parse_selection_token(selection_token(selection)) == selection
    assert parse_selection_token("account:4:0-10") == PathSelection("account", (4,), 0, 10, False)
    for bad in ("", "account:4", "click:4:0-10", "account:4:10-0", "account:x:0-10", "account:4:0-10:yes",
                "account:4:0-99999999999", "account:-4:0-10", "account:" + ",".join(["1"] * 101) + ":0-10"):
        assert parse_selection_token(bad) is None, bad


@pytest.fixture
def dataset(db, tracker):
    return analysis_fixtures.build(tracker)


def _stored(conv_id):
    return JourneySummary.objects.get(conv_id=conv_id)


def test_summaries_hold_each_channel_path_of_the_journey_as_the_source_reads_it(dataset):
    g, b, e = dataset.google, dataset.bing, dataset.email
    c = dataset.conversions

    without_journey, missing_click, longest = _stored(c["c4"]), _stored(c["c5"]), _stored(c["c6"])

    assert (without_journey.account_path, without_journey.campaign_path, without_journey.landing_page_path) == (
        f"{e}", f"{dataset.autumn}", f"{dataset.offer}")
    assert without_journey.first_touch_time == without_journey.conv_time - 30 * 60  # its converting click
    assert missing_click.account_path == f"{g} 0" and missing_click.campaign_path == f"{dataset.spring} 0"
    assert parse_path_text(longest.account_path) == (g,) * 10 + (b,) * 15 + (e,)
    assert longest.conv_time - longest.first_touch_time == 40 * DAY
    assert longest.revenue == Decimal("100")
    assert not JourneySummary.objects.filter(conv_id=c["deleted"]).exists()


def test_replacing_an_accounts_hours_leaves_other_hours_and_accounts_alone(dataset):
    c = dataset.conversions
    before = JourneySummary.objects.count()

    written = summary_store.replace_summaries([], account_id=dataset.acme.user_id, start=WINDOW[0],
                                              end=WINDOW[0] + 2 * HOUR - 1, built_at=2)

    assert written == 0
    assert not JourneySummary.objects.filter(conv_id__in=[c["c1"]]).exists()
    assert JourneySummary.objects.count() == before - 1  # c1 only: c2 is at H + 2 h
    assert JourneySummary.objects.filter(user_id=dataset.globex.user_id).count() == 1


def test_batches_walk_the_window_by_keyset_and_filter_campaigns(dataset):
    c = dataset.conversions
    acme = [dataset.acme.user_id]

    batches = list(summary_store.summary_batches(account_ids=acme, start=WINDOW[0], end=WINDOW_END,
                                                 channel="campaign", batch_size=3))
    autumn = [row for batch in summary_store.summary_batches(
        account_ids=acme, start=WINDOW[0], end=WINDOW_END, channel="account", campaign_ids=[dataset.autumn])
        for row in batch]

    assert [len(batch) for batch in batches] == [3, 3, 2]
    assert [row.conv_id for batch in batches for row in batch] == [c[f"c{n}"] for n in range(1, 9)]
    assert batches[0][0].channels == (dataset.spring,) * 3 and batches[0][0].revenue == Decimal(10)
    assert [(row.conv_id, row.channels) for row in autumn] == [(c["c4"], (dataset.email,)), (c["c8"], (dataset.email,))]
    assert list(summary_store.summary_batches(account_ids=acme, start=WINDOW[0], end=WINDOW_END, channel=None,
                                              campaign_ids=[])) == []
    times_only = next(summary_store.summary_batches(account_ids=acme, start=WINDOW[0], end=WINDOW_END, channel=None))
    assert times_only[0].channels == ()


def test_check_finds_missing_stale_and_orphaned_summaries(dataset):
    c = dataset.conversions
    acme = [dataset.acme.user_id]
    assert summary_store.check_summaries(start=WINDOW[0], end=WINDOW_END, account_ids=acme) == []

    JourneySummary.objects.filter(conv_id=c["c1"]).delete()
    store_rows(c["c2"], (dataset.missing_click_id + 1, WINDOW[0], 9))  # the journey changed since
    JourneySummary.objects.create(conv_id=c["deleted"], user_id=dataset.acme.user_id, campaign_id=dataset.spring,
                                  conv_time=WINDOW[0] + 8 * HOUR, revenue=Decimal(50), first_touch_time=WINDOW[0],
                                  account_path="1", campaign_path="1", landing_page_path="1", built_at=1)

    problems = summary_store.check_summaries(start=WINDOW[0], end=WINDOW_END, account_ids=acme)

    assert [(problem.conv_id, problem.problem.split(":")[0].split(" (")[0]) for problem in problems] == [
        (c["c1"], "no journey summary"),
        (c["c2"], "journey summary differs from the journey"),
        (c["deleted"], "journey summary of a missing or soft-deleted conversion"),
    ]


def _changelist_ids(client, **query):
    html = client.get("/admin/journeys/conversion/", query).content.decode()
    return sorted(int(conv_id) for conv_id in re.findall(r'class="field-conv_id"><a href="[^"]*">(\d+)<', html))


def test_the_conversions_changelist_filters_to_one_path_of_a_window(dataset, admin_client):
    g, b = dataset.google, dataset.bing
    c = dataset.conversions

    def token(channels, collapsed=False, channel="account"):
        return selection_token(PathSelection(channel, channels, WINDOW[0], WINDOW_END, collapsed))

    assert _changelist_ids(admin_client, journey_path=token((g, b))) == [c["c2"]]
    assert _changelist_ids(admin_client, journey_path=token((g, b), collapsed=True)) == sorted(
        [c["c1"], c["c2"], c["c7"]])
    assert _changelist_ids(admin_client, journey_path=token((g, 0))) == [c["c5"]]
    assert _changelist_ids(admin_client, journey_path=token((dataset.spring,) * 26, channel="campaign")) == [c["c6"]]
    assert _changelist_ids(admin_client, journey_path="account:1:10-0") == []
    narrow = selection_token(PathSelection("account", (g, b), WINDOW[0], WINDOW[0] + HOUR, True))
    assert _changelist_ids(admin_client, journey_path=narrow) == [c["c1"]]


def test_the_path_filter_never_shows_another_tenants_conversions(dataset, django_user_model):
    from django.contrib.auth.models import Group

    from tracker.models import AccountAccess

    viewer = django_user_model.objects.create_user("globex-viewer", is_staff=True)
    viewer.groups.add(Group.objects.get(name="Attribution viewers"))
    AccountAccess.objects.create(django_user=viewer, account_id=dataset.globex.user_id)
    client = Client()
    client.force_login(viewer)
    acme_path = selection_token(PathSelection("account", (dataset.email,), WINDOW[0], WINDOW_END, False))
    globex_path = selection_token(PathSelection("account", (dataset.globex_source,), WINDOW[0], WINDOW_END, False))

    assert _changelist_ids(client, journey_path=acme_path) == []
    assert len(_changelist_ids(client, journey_path=globex_path)) == 1
