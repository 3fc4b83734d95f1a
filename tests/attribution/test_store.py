"""attribution.store: the Markov fit's non-converting clicks, the snapshot writer, locks and cron markers."""
import threading
from decimal import Decimal

import pytest
from django.db import connection, transaction

from attribution import store
from attribution.models import CronjobLog, Snapshot, TouchCredit
from tests.attribution.rebuild_fixtures import HOUR, H, build_scenario, make_model

pytestmark = pytest.mark.django_db


def test_non_converting_channels_exclude_every_journey_click(tracker):
    scenario = build_scenario(tracker)
    spare = tracker.click(scenario.account, scenario.campaign, H + 50,
                          ppc_account_id=scenario.s1.ppc_account_id)
    other_campaign = tracker.campaign(scenario.account)
    tracker.click(scenario.account, other_campaign, H + 60, ppc_account_id=scenario.s1.ppc_account_id)
    counts = store.non_converting_channel_counts(
        scenario.account.user_id, H - HOUR, H + 2 * HOUR, 10**9, "account"
    )
    assert counts == {scenario.s1.ppc_account_id: 1}
    assert spare.click_time == H + 50


def test_replace_snapshots_swaps_a_chunk_and_hangs_credits_under_global_rows(tracker):
    account = tracker.account()
    model = make_model(account, "linear")
    other = make_model(account, "last_touch")
    row = (model.model_id, account.user_id, "global", None, H, H, H + 3599, 1, 1, Decimal("2.0000"), Decimal("0.5000"))
    other_row = (other.model_id, *row[1:])
    with transaction.atomic():
        store.replace_snapshots(
            model_ids=[model.model_id, other.model_id], hour_start=H, hour_end=H + HOUR,
            snapshot_rows=[row, other_row, (*row[:2], "campaign", 7, *row[4:])],
            credit_rows=[(model.model_id, H, 11, 21, 0, 1.0)], created_at=5,
        )
    assert Snapshot.objects.count() == 3
    credit = TouchCredit.objects.get()
    assert credit.snapshot.scope_type == "global" and credit.snapshot.model_id == model.model_id
    assert (credit.credit, credit.weight, credit.created_at) == (1, 1, 5)
    with transaction.atomic():
        store.replace_snapshots(
            model_ids=[model.model_id], hour_start=H, hour_end=H + HOUR, snapshot_rows=[],
            credit_rows=[], created_at=6,
        )
    assert list(Snapshot.objects.values_list("model_id", flat=True)) == [other.model_id]
    assert not TouchCredit.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_replace_snapshots_refuses_to_run_outside_a_transaction():
    with pytest.raises(RuntimeError, match="inside the chunk's transaction"):
        store.replace_snapshots(model_ids=[1], hour_start=H, hour_end=H + HOUR, snapshot_rows=[],
                                credit_rows=[], created_at=1)


def test_cronjob_log_row_is_created_then_updated():
    store.mark_rebuild_succeeded(100)
    assert CronjobLog.objects.get(pk=2).last_execution_time == 100
    store.mark_rebuild_succeeded(200)
    assert CronjobLog.objects.get(pk=2).last_execution_time == 200
    store.record_scheduled_hour(H)
    store.record_scheduled_hour(H)
    assert store.scheduled_hour_recorded(H) and not store.scheduled_hour_recorded(H + HOUR)


def test_account_lock_is_exclusive_and_released():
    results = []

    def other_holder():
        try:
            with store.account_lock(77, 0) as acquired:
                results.append(acquired)
        finally:
            connection.close()

    with store.account_lock(77, 0) as acquired:
        assert acquired
        thread = threading.Thread(target=other_holder)
        thread.start()
        thread.join()
    thread = threading.Thread(target=other_holder)
    thread.start()
    thread.join()
    assert results == [False, True]
