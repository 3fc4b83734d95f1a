"""Journey analysis (SPEC §7.1): the pure aggregation on plain values, then the four reports read
from the summaries of a small dataset, against figures computed by hand
(tests/attribution/analysis_fixtures.py has the dataset and its table)."""
from decimal import Decimal

import pytest

from attribution import analysis, analysis_reader
from attribution.analysis import PathConversion, Step
from tests.attribution import analysis_fixtures
from tests.attribution.analysis_fixtures import DAY, HOUR, WINDOW

SUPERUSER = type("Superuser", (), {"is_superuser": True, "is_authenticated": True, "is_active": True})()


def conversion(channels, revenue="1", lag=0, conv_id=1):
    return PathConversion(conv_id, 10 * DAY, 10 * DAY - lag, Decimal(revenue), tuple(channels))


# --- pure ---------------------------------------------------------------------------------------


def test_paths_group_identical_sequences_and_rank_ties_by_name_then_id():
    conversions = [
        conversion([1, 2], "10", lag=HOUR), conversion([1, 2], "5", lag=4 * HOUR),
        conversion([3], "7"), conversion([2], "1"), conversion([4], "2"),
    ]
    names = {1: "Google", 2: "Bing", 3: "Email", 4: "Bing"}

    table = analysis.top_paths(conversions)
    rows = table.rows(analysis.rank_paths(table, names))

    assert [row.channels for row in rows] == [(1, 2), (2,), (4,), (3,)]
    assert (table.conversions, table.revenue) == (5, Decimal("25"))
    top = rows[0]
    assert (top.conversions, top.revenue, top.share, top.mean_touches) == (2, Decimal("15"), 0.4, 2.0)
    assert top.median_hours == 2.5  # median of 1 h and 4 h
    assert analysis.path_label(top.steps, names) == "Google (#1) › Bing (#2)"


def test_a_page_of_paths_is_the_same_slice_of_the_full_ranking():
    sequences = [(1,), (2,), (3,), (1, 2), (2, 1), (3, 3), (1,), (2,), (1, 2), (1,), (4, 1), (4,)]
    table = analysis.top_paths([conversion(channels) for channels in sequences])
    names = {1: "Google", 2: "Bing", 3: "Email", 4: "Affiliate"}
    ranked = analysis.rank_paths(table, names)

    assert ranked[:3] == [(1,), (2,), (1, 2)]  # 3, 2 and 2 conversions, ties by name: Bing < Google
    for offset in range(len(ranked) + 1):
        for limit in range(1, 5):
            assert analysis.rank_paths(table, names, offset, limit) == ranked[offset:offset + limit]


def test_collapse_groups_by_steps_and_shows_the_repeats_of_each_step():
    conversions = [conversion([1, 1, 2]), conversion([1, 2, 2, 2]), conversion([1, 2]), conversion([2, 1])]

    table = analysis.top_paths(conversions, collapse_repeats=True)
    rows = table.rows(analysis.rank_paths(table, {1: "A", 2: "B"}))

    assert [(row.channels, row.conversions) for row in rows] == [((1, 2), 3), ((2, 1), 1)]
    assert rows[0].steps == (Step(1, 1, 2), Step(2, 1, 3))
    assert rows[0].mean_touches == 3.0  # (3 + 4 + 2) / 3 touches
    assert analysis.path_label(rows[0].steps, {1: "A", 2: "B"}) == "A (#1) ×1–2 › B (#2) ×1–3"
    assert analysis.path_label((Step(1, 3, 3), Step(0)), {1: "A"}) == "A (#1) ×3 › unknown (#0)"


def test_a_channel_without_a_name_is_shown_by_id():
    assert analysis.channel_name(9, {}) == "#9 (no name found)"
    assert analysis.channel_name(0, {0: "ignored"}) == "unknown (#0)"


def test_path_length_buckets_every_count_and_counts_steps_with_collapse():
    conversions = [conversion([1] * n, str(n)) for n in (1, 2, 10, 11, 25, 26)]

    plain = analysis.path_lengths(conversions)
    collapsed = analysis.path_lengths(conversions, collapse_repeats=True)

    assert [row.label for row in plain.rows] == [str(n) for n in range(1, 11)] + ["11–25", "26"]
    assert {row.label: (row.conversions, row.revenue) for row in plain.rows if row.conversions} == {
        "1": (1, Decimal(1)), "2": (1, Decimal(2)), "10": (1, Decimal(10)), "11–25": (2, Decimal(36)),
        "26": (1, Decimal(26)),
    }
    assert [(row.label, row.conversions) for row in collapsed.rows if row.conversions] == [("1", 6)]


def test_time_lag_buckets_whole_days_at_their_edges():
    lags = [0, DAY - 1, DAY, 4 * DAY + 1, 5 * DAY, 7 * DAY + DAY - 1, 8 * DAY, 21 * DAY, 22 * DAY,
            31 * DAY - 1, 31 * DAY, 400 * DAY]
    report = analysis.time_lags([conversion([1], lag=lag) for lag in lags])

    assert [(row.label, row.conversions) for row in report.rows] == [
        ("0", 2), ("1", 1), ("2", 0), ("3", 0), ("4", 1), ("5–7", 2), ("8–14", 1), ("15–21", 1),
        ("22–30", 2), ("over 30", 2),
    ]
    assert report.rows[-1].highest is None
    # A first touch after the conversion (broken data) is a lag of 0, not a negative day.
    assert analysis.time_lags([conversion([1], lag=-HOUR)]).rows[0].conversions == 1


def test_assists_count_each_channel_once_per_conversion_and_may_both_assist_and_close():
    conversions = [conversion([1, 1, 1, 2], "10"), conversion([2, 1, 2], "4"), conversion([1], "1")]

    report = analysis.assists(conversions)
    rows = {row.channel: row for row in report.rows}

    assert (rows[1].assisted_conversions, rows[1].assisted_revenue) == (2, Decimal(14))
    assert (rows[1].last_touch_conversions, rows[1].last_touch_revenue) == (1, Decimal(1))
    assert (rows[2].assisted_conversions, rows[2].last_touch_conversions) == (1, 2)
    assert rows[1].assist_ratio == 2.0 and rows[2].assist_ratio == 0.5
    assert analysis.AssistRow(3).assist_ratio is None
    assert [row.channel for row in analysis.rank_assists(report.rows, {})] == [1, 2]


def test_empty_window_gives_zero_totals_and_every_bucket():
    assert len(analysis.top_paths([])) == 0
    assert [row.conversions for row in analysis.time_lags([]).rows] == [0] * len(analysis.LAG_BUCKETS)
    assert analysis.assists([]).rows == []


# --- the reports over the dataset ---------------------------------------------------------------


@pytest.fixture
def dataset(db, tracker):
    return analysis_fixtures.build(tracker)


def _report(dataset, report, channel="account", collapse=False, **filters):
    """A report of acme's conversions (unless `filters` say otherwise), as a superuser sees it."""
    filters = {"account": dataset.acme.user_id, **filters}
    scope = analysis_reader.resolve_scope(SUPERUSER, **{name: value for name, value in filters.items() if value})
    return analysis_reader.run_report(report, scope, start_hour=WINDOW[0], end_hour=WINDOW[1], channel=channel,
                                      collapse_repeats=collapse)


def _paths(result):
    return [(row.channels, row.conversions, row.revenue) for row in result.rows]


def test_top_paths_by_traffic_source(dataset):
    g, b, e = dataset.google, dataset.bing, dataset.email

    result = _report(dataset, "paths")

    assert (result.conversions, result.revenue) == (8, Decimal("157"))
    assert _paths(result) == [
        ((e,), 2, Decimal(10)),  # c4 (no stored journey: its converting click) and c8
        ((b, g), 1, Decimal(5)),  # then ties by name: Bing, Email, Google, unknown
        ((g, b), 1, Decimal(20)),
        ((g, b, b), 1, Decimal(8)),
        ((g, g, b), 1, Decimal(10)),
        ((g,) * 10 + (b,) * 15 + (e,), 1, Decimal(100)),  # the 26-touch journey
        ((g, 0), 1, Decimal(4)),  # the converting click's row is missing: channel 0
    ]
    assert result.rows[0].share == 0.25 and result.rows[0].median_hours == (30 * 60 + 22 * DAY) / 2 / HOUR
    assert analysis.path_label(result.rows[-1].steps, result.names) == "Google (#%d) › unknown (#0)" % g


def test_top_paths_collapsed(dataset):
    g, b, e = dataset.google, dataset.bing, dataset.email

    result = _report(dataset, "paths", collapse=True)

    assert _paths(result) == [
        ((g, b), 3, Decimal(38)), ((e,), 2, Decimal(10)), ((b, g), 1, Decimal(5)),
        ((g, b, e), 1, Decimal(100)), ((g, 0), 1, Decimal(4)),
    ]
    top = result.rows[0]
    assert top.steps == (Step(g, 1, 2), Step(b, 1, 2))
    assert round(top.mean_touches, 4) == round(8 / 3, 4) and top.median_hours == 5 * 24  # 3, 5 and 8 days
    assert result.rows[3].steps == (Step(g, 10, 10), Step(b, 15, 15), Step(e, 1, 1))


def test_top_paths_by_campaign_and_by_landing_page(dataset):
    spring, autumn, home, offer = dataset.spring, dataset.autumn, dataset.home, dataset.offer

    by_campaign = _report(dataset, "paths", channel="campaign")
    by_landing_page = _report(dataset, "paths", channel="landing_page")

    assert [(row.channels, row.conversions) for row in by_campaign.rows] == [
        ((autumn,), 2), ((spring, spring), 2), ((spring,) * 3, 2), ((spring,) * 26, 1), ((spring, 0), 1),
    ]
    assert by_campaign.names == {spring: "Spring", autumn: "Autumn"}
    assert [(row.channels, row.conversions) for row in by_landing_page.rows] == [
        ((offer,), 2), ((home,) * 10 + (offer,) * 16, 1), ((home, home, offer), 1), ((home, offer), 1),
        ((home, offer, offer), 1), ((home, 0), 1), ((offer, home), 1),
    ]


def test_path_length(dataset):
    plain = _report(dataset, "path-length")
    collapsed = _report(dataset, "path-length", collapse=True)

    assert {row.label: (row.conversions, row.revenue) for row in plain.rows if row.conversions} == {
        "1": (2, Decimal(10)), "2": (3, Decimal(29)), "3": (2, Decimal(18)), "26": (1, Decimal(100)),
    }
    assert {row.label: (row.conversions, row.revenue) for row in collapsed.rows if row.conversions} == {
        "1": (2, Decimal(10)), "2": (5, Decimal(47)), "3": (1, Decimal(100)),
    }
    assert sum(row.share for row in plain.rows) == pytest.approx(1)


def test_time_lag(dataset):
    result = _report(dataset, "time-lag")

    assert {row.label: (row.conversions, row.revenue) for row in result.rows if row.conversions} == {
        "0": (2, Decimal(12)), "1": (1, Decimal(4)), "3": (1, Decimal(10)), "5–7": (1, Decimal(20)),
        "8–14": (1, Decimal(8)), "22–30": (1, Decimal(3)), "over 30": (1, Decimal(100)),
    }


def test_assisted_conversions_by_traffic_source(dataset):
    g, b, e = dataset.google, dataset.bing, dataset.email

    result = _report(dataset, "assists")

    assert [(row.channel, row.last_touch_conversions, row.last_touch_revenue, row.assisted_conversions,
             row.assisted_revenue, row.assist_ratio) for row in result.rows] == [
        (g, 1, Decimal(5), 5, Decimal(142), 5.0),
        (b, 3, Decimal(38), 3, Decimal(113), 1.0),
        (e, 3, Decimal(110), 0, Decimal(0), 0.0),
        (0, 1, Decimal(4), 0, Decimal(0), 0.0),
    ]


def test_assisted_conversions_by_landing_page(dataset):
    home, offer = dataset.home, dataset.offer

    result = _report(dataset, "assists", channel="landing_page")

    assert [(row.channel, row.last_touch_conversions, row.assisted_conversions) for row in result.rows] == [
        (home, 1, 5), (offer, 6, 3), (0, 1, 0),
    ]


def test_filters_narrow_to_an_advertiser_or_a_campaign(dataset):
    autumn_only = _report(dataset, "paths", advertiser=dataset.south)
    spring_only = _report(dataset, "path-length", campaign=dataset.spring)
    nothing = _report(dataset, "paths", advertiser=dataset.south, campaign=dataset.spring)

    assert _paths(autumn_only) == [((dataset.email,), 2, Decimal(10))]
    assert spring_only.conversions == 6
    assert nothing.rows == [] and nothing.conversions == 0


def test_paths_are_paged_after_ranking(dataset):
    scope = analysis_reader.resolve_scope(SUPERUSER)  # every account: acme's and globex's
    page = analysis_reader.run_report("paths", scope, start_hour=WINDOW[0], end_hour=WINDOW[1], channel="account",
                                      collapse_repeats=False, offset=2, limit=3)

    assert page.total_rows == 8  # acme's seven paths and globex's one
    assert (page.conversions, page.revenue) == (9, Decimal("227"))
    assert [row.channels for row in page.rows] == [
        (dataset.globex_source,), (dataset.google, dataset.bing), (dataset.google, dataset.bing, dataset.bing),
    ]


def test_deleted_accounts_are_left_out(dataset):
    dataset.globex.user_deleted = 1
    dataset.globex.save(update_fields=["user_deleted"])

    assert analysis_reader.resolve_scope(SUPERUSER).account_ids == (dataset.acme.user_id,)
