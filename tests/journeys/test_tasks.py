"""django-q2 entry points: thin calls into the services with JSON-able summaries."""
import json

import pytest

from journeys import tasks
from tests.journeys.journey_helpers import DAY, NOW, audits, setting, store_rows, stored

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversion(tracker, settings):
    settings.ATTRIBUTION_LOOKBACK_SECONDS = 10 * DAY
    account = tracker.account()
    campaign = tracker.campaign(account)
    click = tracker.click(account, campaign, NOW - DAY)
    return tracker.conversion(account, campaign, NOW - DAY, click=click)


def test_backfill_task_returns_a_json_summary_and_audits_as_task(conversion):
    summary = tasks.backfill_slice_task(start=0, end=NOW, username="ops-bot")

    assert json.loads(json.dumps(summary))["written"] == 1
    assert len(stored(conversion.conv_id)) == 1
    assert audits("journey_backfill")[0][1]["actor"] == {"type": "task", "username": "ops-bot"}


def test_capture_task_first_run_sets_the_watermark(conversion):
    summary = tasks.capture_journeys_task()
    assert summary["first_run"] is True and summary["watermark_after"] == conversion.conv_id


def test_purge_tasks(conversion):
    store_rows(conversion.conv_id, (1, 5, 0), (2, 6, 1))
    setting(conversion.user, "global", None, False)

    assert tasks.purge_disabled_scopes_task(user_ids=[conversion.user_id]) == {
        "rows_deleted": 2, "conversions": 1, "dry_run": False,
    }
    store_rows(conversion.conv_id, (1, 5, 0))
    assert tasks.purge_task(conv_ids=[conversion.conv_id])["rows_deleted"] == 1
    assert stored(conversion.conv_id) == []


def test_hydrate_scope_task_rejects_an_unknown_scope_type(conversion):
    with pytest.raises(ValueError, match="scope_type"):
        tasks.hydrate_scope_task(conversion.user_id, "landing_page", 1)
