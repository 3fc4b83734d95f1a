"""Journey analysis admin pages (SPEC §7.1): filters, the table and its CSV, links to the
conversions of a path, form errors and tenancy."""
import csv
import io
import re

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from attribution.admin_analysis import REPORT_PAGES
from tests.attribution import analysis_fixtures
from tests.attribution.analysis_fixtures import HOUR, WINDOW
from tracker.models import AccountAccess
from tracker.utc import utc_text

pytestmark = pytest.mark.django_db
CUSTOM = {"range": "custom", "start": utc_text(WINDOW[0], "%Y-%m-%d %H:%M"),
          "end": utc_text(WINDOW[1], "%Y-%m-%d %H:%M")}


@pytest.fixture
def dataset(tracker):
    return analysis_fixtures.build(tracker)


def _client_of(django_user_model, *account_ids, group="Attribution viewers"):
    user = django_user_model.objects.create_user(f"user-{'-'.join(map(str, account_ids))}", is_staff=True)
    if group:
        user.groups.add(Group.objects.get(name=group))
    for account_id in account_ids:
        AccountAccess.objects.create(django_user=user, account_id=account_id)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def acme_viewer(dataset, django_user_model):
    return _client_of(django_user_model, dataset.acme.user_id)


def _url(report):
    return reverse(REPORT_PAGES[report][1])


def _table(response):
    """The rows of the report table as text cells."""
    html = response.content.decode()
    body = html.split('id="analysis-table"', 1)[1].split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    return [[re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in rows]


def test_every_page_is_linked_from_the_index(admin_client):
    html = admin_client.get("/admin/").content.decode()

    for report in REPORT_PAGES:
        assert f'href="{_url(report)}"' in html


def test_top_paths_page_shows_names_with_ids_and_links_each_path_to_its_conversions(dataset, acme_viewer):
    response = acme_viewer.get(_url("paths"), {**CUSTOM, "collapse": "on"})

    assert response.status_code == 200
    rows = _table(response)
    g, b = dataset.google, dataset.bing
    assert rows[0] == [f"Google (#{g}) ×1–2 › Bing (#{b}) ×1–2", "3", "38.00", "37.5 %", "2.7", "120.0"]
    assert [row[0] for row in rows[1:]] == [
        f"Email (#{dataset.email})", f"Bing (#{b}) › Google (#{g})",
        f"Google (#{g}) ×10 › Bing (#{b}) ×15 › Email (#{dataset.email})", f"Google (#{g}) › unknown (#0)",
    ]
    html = response.content.decode()
    assert 'id="total-conversions">8<' in html and 'id="total-revenue">157.00<' in html
    assert html.count("<meter") == len(rows)
    link = re.search(r'<a href="([^"]+)" title="Conversions on this path">', html).group(1).replace("&amp;", "&")
    assert link.startswith("/admin/journeys/conversion/?journey_path=account%3A")
    changelist = acme_viewer.get(link).content.decode()
    shown = sorted(int(i) for i in re.findall(r'class="field-conv_id"><a href="[^"]*">(\d+)<', changelist))
    assert shown == sorted(dataset.conversions[name] for name in ("c1", "c2", "c7"))


def test_the_csv_is_exactly_the_table_shown(dataset, acme_viewer):
    for report in REPORT_PAGES:
        query = {**CUSTOM, "channel": "landing_page"}
        shown = _table(acme_viewer.get(_url(report), query))

        response = acme_viewer.get(_url(report), {**query, "format": "csv"})

        assert response["Content-Type"].startswith("text/csv")
        assert f"journey-analysis-{report}-{WINDOW[0]}-{WINDOW[1]}.csv" in response["Content-Disposition"]
        header, *rows = list(csv.reader(io.StringIO(response.content.decode())))
        assert rows == shown, report
        assert header[1:3] in (["Conversions", "Revenue"], ["Last-touch conversions", "Last-touch revenue"])


def test_length_and_lag_pages_embed_their_chart_data_without_inline_script(dataset, acme_viewer):
    for report, labels in (("path-length", ["1", "2", "3"]), ("time-lag", ["0", "1", "2"])):
        html = acme_viewer.get(_url(report), CUSTOM).content.decode()

        assert 'id="analysis-chart"' in html and 'id="analysis-chart-data"' in html
        assert "analysis.js" in html and "chart.umd.min.js" in html
        data = re.search(r'<script id="analysis-chart-data" type="application/json">(.*?)</script>', html).group(1)
        assert data.startswith('{"x_title"') and f'"labels": {labels}'.replace("'", '"')[:-1] in data
        assert not re.search(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", html)


def test_path_length_counts_steps_when_collapsed(dataset, acme_viewer):
    rows = _table(acme_viewer.get(_url("path-length"), {**CUSTOM, "collapse": "on"}))

    assert rows[0][0] == "1" and [row[1] for row in rows[:3]] == ["2", "5", "1"]
    assert "<th>Steps</th>" in acme_viewer.get(_url("path-length"), {**CUSTOM, "collapse": "on"}).content.decode()


def test_paths_are_paged_fifty_at_a_time(dataset, acme_viewer, tracker):
    spring = dataset.spring
    campaign = type("Campaign", (), {"aff_campaign_id": spring})
    for index in range(60):  # sixty more one-touch paths, each on its own landing page id
        click = tracker.click(dataset.acme, campaign, WINDOW[0] + 600 + index, landing_page_id=1000 + index)
        tracker.conversion(dataset.acme, campaign, WINDOW[0] + 600 + index, click=click)
    analysis_fixtures.summarise([dataset.acme.user_id])

    first = acme_viewer.get(_url("paths"), {**CUSTOM, "channel": "landing_page"})
    second = acme_viewer.get(_url("paths"), {**CUSTOM, "channel": "landing_page", "page": 2})

    assert len(_table(first)) == 50 and len(_table(second)) == 67 - 50
    assert "Page 2 of 2 (67 paths)" in second.content.decode()
    assert "#1059 (no name found)" in "".join(row[0] for row in _table(first) + _table(second))


@pytest.mark.parametrize("query, field", [
    ({"range": "custom"}, "start"),
    ({"range": "custom", "start": "2027-01-02 00:00", "end": "2027-01-01 00:00"}, "start"),
    ({"range": "custom", "start": "2025-01-01 00:00", "end": "2027-01-01 00:00"}, "end"),
    ({"range": "forever"}, "range"),
    ({"channel": "visitor"}, "channel"),
    ({"campaign": "abc"}, "campaign"),
])
def test_bad_filters_are_form_errors(dataset, acme_viewer, query, field):
    response = acme_viewer.get(_url("time-lag"), query)

    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert "analysis-table" not in response.content.decode()


def test_another_tenants_ids_are_invalid_choices_and_their_rows_are_never_shown(dataset, acme_viewer):
    for name, other in (("account", dataset.globex.user_id), ("advertiser", dataset.globex_advertiser),
                        ("campaign", dataset.globex_campaign)):
        response = acme_viewer.get(_url("paths"), {**CUSTOM, name: other})

        assert "Select a valid choice" in str(response.context["form"].errors[name]), name
        assert "Globex" not in response.content.decode()
    own = acme_viewer.get(_url("assists"), CUSTOM).content.decode()
    assert "Globex" not in own and 'id="total-conversions">8<' in own


def test_a_user_with_two_accounts_sees_both_and_can_narrow_to_one(dataset, django_user_model):
    client = _client_of(django_user_model, dataset.acme.user_id, dataset.globex.user_id)

    both = client.get(_url("path-length"), CUSTOM).content.decode()
    globex = client.get(_url("path-length"), {**CUSTOM, "account": dataset.globex.user_id}).content.decode()

    assert 'id="total-conversions">9<' in both
    assert 'id="total-conversions">1<' in globex


def test_pages_need_the_view_permission(dataset, django_user_model):
    client = _client_of(django_user_model, dataset.acme.user_id, group=None)

    assert client.get(_url("paths")).status_code == 403


def test_report_tabs_keep_the_filters_but_not_the_page(dataset, acme_viewer):
    html = acme_viewer.get(_url("paths"), {**CUSTOM, "channel": "campaign", "page": 2}).content.decode()

    tab = re.search(r'<a href="(/admin/attribution/analysis/time-lag/[^"]*)"', html).group(1).replace("&amp;", "&")
    assert "channel=campaign" in tab and "range=custom" in tab and "page=" not in tab


def test_a_first_visit_shows_the_last_seven_days(dataset, acme_viewer):
    response = acme_viewer.get(_url("assists"))

    assert response.status_code == 200
    start, end = (int(value) for value in re.search(
        r'id="report-window" data-start="(\d+)" data-end="(\d+)"', response.content.decode()).groups())
    assert end - start == (7 * 24 - 1) * HOUR
