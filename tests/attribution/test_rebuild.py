"""attribution.rebuild in-process: hand-computed rows per model, windows, reruns, markers (SPEC §6)."""
import getpass
import io
import json
import threading
from datetime import datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from attribution import store
from attribution.models import CronjobLog, Snapshot, TouchCredit
from attribution.rebuild import RebuildWindow, plan_chunks, rebuild_window
from journeys import source
from journeys.models import Conversion
from tests.attribution.rebuild_fixtures import (
    HOUR,
    H,
    all_rows,
    build_scenario,
    credit_table,
    make_model,
    money,
    snapshot_table,
    store_journey,
)
from tracker.models import AuditEntry

pytestmark = pytest.mark.django_db

WINDOW = {"start": H + 1200, "end": H + HOUR + 300}  # starts at minute 20 of hour H


OPTIONS = {"start": "--start", "end": "--end", "user_ids": "--user", "model_ids": "--model",
           "lock_timeout": "--lock-timeout"}


def rebuild(force=False, **arguments):
    """The command as cron runs it: (result with exit_code, stdout, stderr)."""
    argv = ["--force"] if force else []
    for name, value in arguments.items():
        for item in value if isinstance(value, list) else [value]:
            argv.append(f"{OPTIONS[name]}={item}")
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("attribution_rebuild", *argv, stdout=out, stderr=err)
        code = 0
    except SystemExit as exit_info:
        code = exit_info.code
    return SimpleNamespace(exit_code=code), out.getvalue(), err.getvalue()


@pytest.fixture
def scenario(tracker):
    return build_scenario(tracker)


def test_window_is_widened_to_whole_hours():
    window = rebuild_window(H + 1200, H + HOUR + 300, now=0)
    assert (window.start_hour, window.end_hour, window.lookback_end) == (H, H + HOUR, H + 2 * HOUR - 1)
    assert window.iso_start == "2023-11-14T22:00:00+00:00"
    assert window.iso_end == "2023-11-14T23:59:59+00:00"
    default = rebuild_window(now=H + 1800)
    assert (default.start_hour, default.end_hour) == (H - 86400, H)


def test_chunks_cover_the_window_in_bounded_pieces():
    window = RebuildWindow(0, 49 * HOUR)
    assert plan_chunks(window, {}) == [(0, 24 * HOUR), (24 * HOUR, 48 * HOUR), (48 * HOUR, 50 * HOUR)]
    assert plan_chunks(window, {HOUR: 8, 2 * HOUR: 5}, max_conversions=10) == [
        (0, 2 * HOUR), (2 * HOUR, 26 * HOUR), (26 * HOUR, 50 * HOUR)
    ]


def test_two_active_models_each_get_their_own_hand_computed_rows(scenario):
    last_touch = make_model(scenario.account, "last_touch")
    linear = make_model(scenario.account, "linear")
    outcome, out, err = rebuild(**WINDOW, user_ids=[scenario.account.user_id])
    assert outcome.exit_code == 0, err
    campaign, advertiser = scenario.campaign.aff_campaign_id, scenario.advertiser.aff_network_id
    l1, l2 = scenario.l1.landing_page_id, scenario.l2.landing_page_id
    s1, s2 = scenario.s1.ppc_account_id, scenario.s2.ppc_account_id
    late_hour = {
        (H + HOUR, "global", None): (1, 1, money(5), money(0)),
        (H + HOUR, "campaign", campaign): (1, 1, money(5), money(0)),
        (H + HOUR, "advertiser", advertiser): (1, 1, money(5), money(0)),
        (H + HOUR, "landing_page", 0): (1, 1, money(5), money(0)),
        (H + HOUR, "account", 0): (1, 1, money(5), money(0)),
    }
    assert snapshot_table(last_touch) == {
        (H, "global", None): (2, 2, money(42), money(3)),
        (H, "campaign", campaign): (2, 2, money(42), money(3)),
        (H, "advertiser", advertiser): (2, 2, money(42), money(3)),
        (H, "landing_page", l1): (1, 1, money(30), money(2)),
        (H, "landing_page", l2): (1, 1, money(12), money(1)),
        (H, "account", s2): (1, 1, money(30), money(2)),
        (H, "account", s1): (1, 1, money(12), money(1)),
        **late_hour,
    }
    assert snapshot_table(linear) == {
        (H, "global", None): (4, 2, money(42), money(3)),
        (H, "campaign", campaign): (4, 2, money(42), money(3)),
        (H, "advertiser", advertiser): (4, 2, money(42), money(3)),
        # a and c of conversion 1 (20 revenue, 4/3 cost); b of 1 and d of 2 (10 + 12, 2/3 + 1).
        (H, "landing_page", l1): (2, 1, money(20), money("1.3333")),
        (H, "landing_page", l2): (2, 2, money(22), money("1.6667")),
        (H, "account", s1): (2, 2, money(22), money("1.6667")),
        (H, "account", s2): (2, 1, money(20), money("1.3333")),
        **late_hour,
    }
    c1, c2, c3 = (scenario.conversions[n].conv_id for n in (1, 2, 3))
    clicks = scenario.clicks
    assert credit_table(last_touch) == {
        (H, c1, 2): (clicks["c"].click_id, Decimal(1)),
        (H, c2, 0): (clicks["d"].click_id, Decimal(1)),
        (H + HOUR, c3, 0): (987_654_321, Decimal(1)),
    }
    third = Decimal("0.33333")
    assert {key: value[1] for key, value in credit_table(linear).items() if key[1] == c1} == {
        (H, c1, 0): third, (H, c1, 1): third, (H, c1, 2): third,
    }
    assert TouchCredit.objects.filter(snapshot__model_id=linear.model_id).count() == 5
    assert f"model {linear.model_id} 'linear model' (linear): 3 conversion(s), 5 credited click(s)" in out
    assert out.splitlines()[-1] == (
        "Attribution rebuild complete for 1 user(s) covering "
        "2023-11-14T22:00:00+00:00 to 2023-11-14T23:59:59+00:00."
    )


def test_three_models_do_not_share_totals(scenario):
    models = {
        "first_touch": make_model(scenario.account, "first_touch"),
        "position_based": make_model(
            scenario.account, "position_based", '{"first_touch_weight": 0.5, "last_touch_weight": 0.3}'
        ),
        "assisted": make_model(scenario.account, "assisted"),
    }
    outcome, _, err = rebuild(**WINDOW)
    assert outcome.exit_code == 0, err
    l1, l2 = scenario.l1.landing_page_id, scenario.l2.landing_page_id
    first = snapshot_table(models["first_touch"])
    assert first[(H, "landing_page", l1)] == (1, 1, money(30), money(2))  # a
    assert first[(H, "landing_page", l2)] == (1, 1, money(12), money(1))  # d
    position = snapshot_table(models["position_based"])
    # conversion 1: a 0.5 (L1), b 0.2 (L2), c 0.3 (L1) → L1 0.8 × 30 = 24, cost 0.8 × 2 = 1.6.
    assert position[(H, "landing_page", l1)] == (2, 1, money(24), money("1.6"))
    assert position[(H, "landing_page", l2)] == (2, 2, money(18), money("1.4"))
    assisted = snapshot_table(models["assisted"])
    # a and b share conversion 1 (c gets nothing); one-touch conversions keep their only touch.
    assert assisted[(H, "global", None)] == (3, 2, money(42), money(3))
    assert assisted[(H, "landing_page", l1)] == (1, 1, money(15), money(1))
    assert (H, "landing_page", l1) in first and (H, "account", scenario.s2.ppc_account_id) in assisted


def test_window_from_minute_20_keeps_the_hours_earlier_conversions(scenario):
    model = make_model(scenario.account, "last_touch")
    rebuild(**WINDOW)
    assert Conversion.objects.get(pk=scenario.conversions[1].conv_id).conv_time == H + 600
    assert snapshot_table(model)[(H, "global", None)][1] == 2


def test_rerun_writes_identical_rows(scenario):
    for model_type in ("last_touch", "linear", "time_decay", "algorithmic"):
        config = {"time_decay": '{"half_life_hours": 24}', "algorithmic": '{"method": "markov"}'}.get(model_type)
        make_model(scenario.account, model_type, config)
    rebuild(**WINDOW)
    first = all_rows()
    rebuild(**WINDOW)
    assert all_rows() == first
    assert len(first[0]) > 10 and len(first[1]) > 5


def test_empty_window_clears_its_hours_and_deleted_conversion_disappears(scenario):
    model = make_model(scenario.account, "linear")
    rebuild(**WINDOW)
    Conversion.objects.filter(pk=scenario.conversions[3].conv_id).update(deleted=1)
    rebuild(**WINDOW)
    assert not Snapshot.objects.filter(model_id=model.model_id, date_hour=H + HOUR).exists()
    assert snapshot_table(model)[(H, "global", None)] == (4, 2, money(42), money(3))
    Conversion.objects.filter(pk__in=[c.conv_id for c in scenario.conversions.values()]).update(deleted=1)
    rebuild(**WINDOW)
    assert not Snapshot.objects.filter(model_id=model.model_id).exists()
    assert not TouchCredit.objects.exists()


def test_scope_rows_sum_to_the_global_row_for_every_scope_type(scenario, tracker):
    # Thirds of odd amounts: rounding each scope row alone would not add up.
    for n in range(6):
        click = tracker.click(scenario.account, scenario.campaign, H + 100 + n,
                              landing_page_id=[scenario.l1, scenario.l2][n % 2].landing_page_id,
                              ppc_account_id=[scenario.s1, scenario.s2][n % 2].ppc_account_id,
                              cpc="0.33333")
        conversion = tracker.conversion(scenario.account, scenario.campaign, H + 900, click=click,
                                        payout=f"{7 + n}.11111")
        store_journey(conversion, [scenario.clicks["a"], scenario.clicks["b"], click])
    model = make_model(scenario.account, "time_decay", '{"half_life_hours": 1}')
    rebuild(**WINDOW)
    rows = list(Snapshot.objects.filter(model_id=model.model_id).values())
    for hour in {row["date_hour"] for row in rows}:
        (global_row,) = [r for r in rows if r["date_hour"] == hour and r["scope_type"] == "global"]
        for scope_type in ("campaign", "advertiser", "landing_page", "account"):
            scoped = [r for r in rows if r["date_hour"] == hour and r["scope_type"] == scope_type]
            assert sum(money(r["attributed_revenue"]) for r in scoped) == money(global_row["attributed_revenue"])
            assert sum(money(r["attributed_cost"]) for r in scoped) == money(global_row["attributed_cost"])
            assert sum(r["attributed_clicks"] for r in scoped) == global_row["attributed_clicks"]


def test_algorithmic_credits_match_a_hand_computed_markov_chain(tracker):
    # Paths: S1→S2→conv, S2→conv, S1→null (an unused click). P(conv) = 2/3·1/2 + 1/3 = 2/3;
    # without S1: 1/3 → effect 1/2; without S2: 0 → effect 1. Journey S1,S2: 1/3 and 2/3.
    account = tracker.account("markov")
    campaign = tracker.campaign(account)
    s1, s2 = tracker.traffic_source(account, name="S1"), tracker.traffic_source(account, name="S2")
    first = tracker.click(account, campaign, H + 10, ppc_account_id=s1.ppc_account_id)
    second = tracker.click(account, campaign, H + 20, ppc_account_id=s2.ppc_account_id, cpc="3.00000")
    alone = tracker.click(account, campaign, H + 30, ppc_account_id=s2.ppc_account_id)
    tracker.click(account, campaign, H + 40, ppc_account_id=s1.ppc_account_id)  # converts nowhere
    journey_conversion = tracker.conversion(account, campaign, H + 100, click=second, payout="30.00000")
    store_journey(journey_conversion, [first, second])
    tracker.conversion(account, campaign, H + 200, click=alone, payout="6.00000")
    model = make_model(account, "algorithmic", '{"method": "markov"}')
    outcome, _, err = rebuild(start=H, end=H, user_ids=[account.user_id])
    assert outcome.exit_code == 0, err
    rows = snapshot_table(model)
    assert rows[(H, "account", s1.ppc_account_id)] == (1, 1, money(10), money(1))
    assert rows[(H, "account", s2.ppc_account_id)] == (2, 2, money(26), money(2.5))


def test_invalid_model_is_skipped_with_a_warning_and_others_still_run(scenario):
    broken = make_model(scenario.account, "time_decay", "{}")
    good = make_model(scenario.account, "last_touch")
    outcome, _, err = rebuild(**WINDOW)
    assert outcome.exit_code == 0
    assert f"User {scenario.account.user_id}: model {broken.model_id} skipped: half_life_hours" in err
    assert Snapshot.objects.filter(model_id=good.model_id).exists()
    assert not Snapshot.objects.filter(model_id=broken.model_id).exists()


def test_one_audit_row_per_user_and_model_with_the_run_metadata(scenario):
    model = make_model(scenario.account, "linear")
    make_model(scenario.account, "last_touch", active=False)
    rebuild(**WINDOW)
    (entry,) = AuditEntry.objects.filter(action="snapshot_rebuild")
    metadata = json.loads(entry.metadata)
    assert entry.model_id == model.model_id and entry.user_id == scenario.account.user_id
    assert {key: metadata[key] for key in (
        "lookback_start", "lookback_end", "hours_processed", "clicks", "conversions", "revenue", "cost"
    )} == {
        "lookback_start": H, "lookback_end": H + 2 * HOUR - 1, "hours_processed": 2, "clicks": 5,
        "conversions": 3, "revenue": 47.0, "cost": 3.0,
    }
    assert metadata["batches"] >= 2 and metadata["duration_ms"] >= 0
    assert metadata["actor"] == {"type": "cli", "username": getpass.getuser()}  # the OS user


def test_model_option_includes_inactive_models_and_leaves_others_alone(scenario):
    active = make_model(scenario.account, "last_touch")
    inactive = make_model(scenario.account, "linear", active=False)
    outcome, _, _ = rebuild(**WINDOW, model_ids=[inactive.model_id])
    assert outcome.exit_code == 0
    assert Snapshot.objects.filter(model_id=inactive.model_id).exists()
    assert not Snapshot.objects.filter(model_id=active.model_id).exists()


def test_deleted_user_is_skipped_with_a_warning(tracker, scenario):
    gone = tracker.account("gone", user_deleted=1)
    make_model(scenario.account, "last_touch")
    outcome, out, err = rebuild(**WINDOW, user_ids=[gone.user_id, scenario.account.user_id])
    assert outcome.exit_code == 0
    assert f"User {gone.user_id}: skipped, the Prosper202 user is deleted" in err
    assert "complete for 1 user(s)" in out


@pytest.mark.parametrize("arguments, message", [
    (["--start", "abc"], "--start: 'abc' is not valid; expected a whole number of epoch seconds"),
    (["--start=-5"], "--start: '-5' is not valid"),
    (["--start", str(H + 10), "--end", str(H)], f"--start: {H + 10} is not valid; must not be after --end ({H})"),
    (["--start", "4294967296"], "--start: '4294967296' is not valid; expected a whole number of epoch seconds from 0 to 4294967295"),
    (["--start", "1000000000000", "--end", "1000000000001"], "--start: '1000000000000' is not valid"),
    (["--start", "99999999999999999999"], "--start: '99999999999999999999' is not valid"),
    (["--user", "424242"], "--user: 424242 is not valid; no such user_id in 202_users"),
    (["--user", "9223372036854775808"], "--user: '9223372036854775808' is not valid"),
    (["--model", "424242"], "--model: 424242 is not valid; no attribution model has this id"),
    (["--lock-timeout", "-1"], "--lock-timeout: '-1' is not valid"),
])
def test_bad_arguments_exit_2_and_write_nothing(scenario, arguments, message):
    make_model(scenario.account, "last_touch")
    err = io.StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("attribution_rebuild", *arguments, stdout=io.StringIO(), stderr=err)
    assert exit_info.value.code == 2
    assert err.getvalue().startswith(message)
    assert not Snapshot.objects.exists() and not AuditEntry.objects.exists()
    assert not CronjobLog.objects.exists()


def test_bad_argument_messages_name_the_argument(scenario, tracker):
    other = tracker.account("other")
    foreign = make_model(other, "linear")
    outcome, _, err = rebuild(user_ids=[scenario.account.user_id], model_ids=[foreign.model_id])
    assert outcome.exit_code == 2
    assert err.strip() == (
        f"--model: {foreign.model_id} is not valid; it belongs to user {other.user_id}, "
        f"outside --user {scenario.account.user_id}."
    )
    for arguments, message in [
        ({"start": -5}, "--start: '-5' is not valid"),
        ({"user_ids": [424242]}, "--user: 424242 is not valid; no such user_id in 202_users"),
    ]:
        outcome, _, err = rebuild(**arguments)
        assert outcome.exit_code == 2 and err.startswith(message)
    assert not Snapshot.objects.exists()


def test_scheduled_run_records_its_hour_once_and_skips_a_repeat(scenario):
    make_model(scenario.account, "last_touch")
    first, out, _ = rebuild()
    assert first.exit_code == 0
    end_iso = out.strip().splitlines()[-1].rsplit(" to ", 1)[1].rstrip(".")  # H1 + 3599, UTC
    end_hour = int(datetime.fromisoformat(end_iso).timestamp()) + 1 - HOUR
    assert list(store_cronjobs()) == [("attr", end_hour)]
    log_time = CronjobLog.objects.get(pk=2).last_execution_time
    audit_rows = AuditEntry.objects.count()
    second, out, _ = rebuild()
    assert second.exit_code == 0 and "already ran" in out
    assert AuditEntry.objects.count() == audit_rows
    forced, _, _ = rebuild(force=True)
    assert forced.exit_code == 0 and AuditEntry.objects.count() == audit_rows + 1
    assert list(store_cronjobs()) == [("attr", end_hour)]
    assert CronjobLog.objects.get(pk=2).last_execution_time >= log_time
    manual, _, _ = rebuild(**WINDOW)
    assert manual.exit_code == 0 and list(store_cronjobs()) == [("attr", end_hour)]


def store_cronjobs():
    with connection.cursor() as cursor:
        cursor.execute("SELECT cronjob_type, cronjob_time FROM " + connection.ops.quote_name("202_cronjobs"))
        return [(kind.strip(), time) for kind, time in cursor.fetchall()]


def test_cronjob_log_is_untouched_when_a_user_fails(scenario, monkeypatch):
    make_model(scenario.account, "last_touch")
    CronjobLog.objects.create(id=2, last_execution_time=123)

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(store, "replace_snapshots", broken)
    outcome, _, err = rebuild(**WINDOW)
    assert outcome.exit_code == 1
    assert f"User {scenario.account.user_id}: RuntimeError: database went away" in err
    assert CronjobLog.objects.get(pk=2).last_execution_time == 123


def test_busy_lock_skips_the_user_with_exit_3_and_writes_nothing(scenario):
    make_model(scenario.account, "last_touch")
    held, release = threading.Event(), threading.Event()

    def hold_lock():
        try:
            with store.account_lock(scenario.account.user_id, 0) as acquired:
                assert acquired
                held.set()
                release.wait(30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        assert held.wait(30)
        outcome, _, err = rebuild(**WINDOW)
    finally:
        release.set()
        holder.join()
    assert outcome.exit_code == 3
    assert f"User {scenario.account.user_id}: skipped, another rebuild holds its lock" in err
    assert not Snapshot.objects.exists()
    assert not CronjobLog.objects.exists()
    after, _, _ = rebuild(**WINDOW)
    assert after.exit_code == 0 and Snapshot.objects.exists()


def test_the_rebuild_writes_the_analysis_summaries_of_its_hours(scenario):
    """SPEC §7.1 reports read journey summaries rebuilt with the snapshots: same hours, replaced."""
    from journeys.models import JourneySummary

    make_model(scenario.account, "last_touch")
    JourneySummary.objects.create(
        conv_id=424242, user_id=scenario.account.user_id, campaign_id=1, conv_time=H + 10, revenue=1,
        first_touch_time=H, account_path="", campaign_path="", landing_page_path="", built_at=1,
    )
    outcome, _, err = rebuild(**WINDOW)
    assert outcome.exit_code == 0, err
    summaries = {row.conv_id: row for row in JourneySummary.objects.all()}
    assert sorted(summaries) == sorted(c.conv_id for c in scenario.conversions.values())
    first = summaries[scenario.conversions[1].conv_id]
    assert (first.first_touch_time, first.conv_time) == (scenario.clicks["a"].click_time, H + 600)


def test_an_account_without_models_still_gets_its_journey_summaries(scenario):
    from journeys.models import JourneySummary

    outcome, out, err = rebuild(**WINDOW, user_ids=[scenario.account.user_id])
    assert outcome.exit_code == 0, err
    assert f"User {scenario.account.user_id}: no valid models to rebuild" in out
    assert JourneySummary.objects.filter(user_id=scenario.account.user_id).count() == len(scenario.conversions)
    assert not Snapshot.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_chunks_read_on_a_second_connection_write_the_rows_of_a_rebuild_in_turn(scenario, monkeypatch):
    """MariaDB: each chunk is read and credited on a reader thread (its own connection) while the
    previous one is written; the rows equal those of a rebuild that reads and writes in turn."""
    if connection.vendor != "mysql":
        pytest.skip("the reader thread is for a database server with cores of its own")
    for model_type, config in (("last_touch", None), ("time_decay", '{"half_life_hours": 1}'),
                               ("algorithmic", '{"method": "markov"}')):
        make_model(scenario.account, model_type, config)
    reading_threads = []
    journey_batches = source.journey_batches

    def spy(**kwargs):
        reading_threads.append(threading.current_thread().name)
        return journey_batches(**kwargs)

    monkeypatch.setattr(source, "journey_batches", spy)
    two_chunks = {"start": H + HOUR - 24 * HOUR, "end": H + HOUR + 300}  # hour H, then hour H+1
    result, _, err = rebuild(**two_chunks)
    read_ahead_rows = all_rows()
    with transaction.atomic():  # inside a transaction: read and written in turn, on this thread
        in_turn, _, _ = rebuild(**two_chunks)

    assert (result.exit_code, in_turn.exit_code, err) == (0, 0, "")
    this_thread = threading.current_thread().name
    assert reading_threads[0] == this_thread  # the Markov fit's pass, before any chunk
    assert [name.startswith("rebuild-read") for name in reading_threads[1:3]] == [True, True]
    assert reading_threads[3:] == [this_thread] * 3
    assert all_rows() == read_ahead_rows
    snapshot_hours = {row[4] for row in read_ahead_rows[0]}
    assert snapshot_hours == {str(H), str(H + HOUR)}
    # last touch: one row per conversion (3); time decay and Markov: a, b, c + d + conversion 3's click
    assert len(read_ahead_rows[1]) == 3 + 5 + 5
