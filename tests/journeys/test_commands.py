"""The journey management commands: output lines and exit codes (SPEC §4.2-§4.4)."""
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from journeys.models import JourneyTouch
from tests.journeys.journey_helpers import (
    DAY,
    NOW,
    RefuseTouchpointsOf,
    store_rows,
    stored,
)
from tracker.models import AuditEntry

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


class Terminal(io.StringIO):
    def isatty(self):
        return True


def run(name, *args, stdout=None):
    """(exit code, stdout, stderr) of a command run in-process."""
    out, err = stdout or io.StringIO(), io.StringIO()
    try:
        call_command(name, *args, stdout=out, stderr=err)
        code = 0
    except CommandError as error:
        err.write(str(error))
        code = error.returncode
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def shop(tracker, settings):
    settings.ATTRIBUTION_LOOKBACK_SECONDS = 10 * DAY
    account = tracker.account("shop")
    campaign = tracker.campaign(account)
    click = tracker.click(account, campaign, NOW - 2 * DAY)
    conversions = [
        tracker.conversion(account, campaign, NOW - DAY + n, click=click, transaction_id=str(n)) for n in range(3)
    ]
    return {"account": account, "campaign": campaign, "click": click, "conversions": conversions}


def test_backfill_prints_plain_progress_lines_and_a_summary(shop):
    code, out, err = run("backfill_conversion_journeys", f"--start={NOW - 5 * DAY}", "--end", str(NOW),
                         "--batch-size=2")

    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("Progress: 2 conversions done, ") and lines[0].endswith(" conv/s, 0 errors")
    assert lines[1].startswith("Progress: 3 conversions done, ")
    assert "3 conversion(s) in 2 batch(es), wrote 3 journey(s) (3 touchpoint rows)" in lines[-1]
    assert f"({NOW - 5 * DAY}..{NOW})" in lines[-1]
    assert all(len(stored(c.conv_id)) == 1 for c in shop["conversions"])


def test_backfill_draws_a_progress_bar_on_a_terminal(shop):
    terminal = Terminal()
    code, out, _ = run("backfill_conversion_journeys", "--start", "0", "--end", str(NOW), stdout=terminal)
    assert code == 0
    assert "\rBackfill" in out and "%|" in out and "3 conversions done" in out  # tqdm's bar
    assert "Progress:" not in out


def test_backfill_dry_run_writes_nothing(shop):
    code, out, _ = run("backfill_conversion_journeys", "--start=0", f"--end={NOW}", "--dry-run")
    assert code == 0
    assert out.splitlines()[-1].startswith("Dry run: Backfill complete")
    assert "would write 3 journey(s)" in out
    assert JourneyTouch.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_backfill_reports_failed_conversions_on_stderr_and_exits_1(shop):
    refused = shop["conversions"][1]
    with RefuseTouchpointsOf(refused.conv_id):
        code, out, err = run("backfill_conversion_journeys", "--start=0", f"--end={NOW}")

    assert code == 1
    assert f"Conversion {refused.conv_id} failed: writing the journey failed:" in err
    assert "refused by test trigger" in err
    assert "1 failed" in out.splitlines()[-1]
    assert len(stored(shop["conversions"][0].conv_id)) == 1 and stored(refused.conv_id) == []


@pytest.mark.parametrize("args, argument, value", [
    (["--start=abc"], "--start", "abc"),
    (["--start", "-5"], "--start", "-5"),
    (["--end=1.5"], "--end", "1.5"),
    (["--start=10", "--end=5"], "--start", "10"),
    (["--batch-size=0"], "--batch-size", "0"),
    (["--batch-size", "many"], "--batch-size", "many"),
    (["--user=999999"], "--user", "999999"),
    (["--user", "abc"], "--user", "abc"),
    # Out of range (SPEC §9): epochs beyond 2^32 − 1, ids beyond BIGINT.
    (["--start=4294967296"], "--start", "4294967296"),
    (["--start", "99999999999999999999"], "--start", "99999999999999999999"),
    (["--end=1000000000001"], "--end", "1000000000001"),
    (["--user=9223372036854775808"], "--user", "9223372036854775808"),
])
def test_backfill_bad_arguments_exit_2_naming_the_argument_and_write_nothing(shop, args, argument, value):
    code, out, err = run("backfill_conversion_journeys", *args)

    assert code == 2
    assert err.startswith(f"{argument}: ") and value in err
    assert JourneyTouch.objects.count() == 0
    assert not AuditEntry.objects.exists()


def test_backfill_skips_a_deleted_user_with_a_warning(shop, tracker):
    gone = tracker.account("gone", user_deleted=1)
    code, out, err = run("backfill_conversion_journeys", "--user", str(gone.user_id),
                         "--user", str(shop["account"].user_id), "--start=0", f"--end={NOW}")
    assert code == 0
    assert f"User {gone.user_id} is deleted (user_deleted=1): skipped." in err
    assert "wrote 3 journey(s)" in out


def test_capture_says_so_on_first_run_then_captures_new_conversions(shop, tracker):
    code, out, _ = run("capture_journeys")
    highest = shop["conversions"][-1].conv_id
    assert code == 0
    assert out.startswith(f"First capture run: watermark set to conv_id {highest}, the current highest")

    new = tracker.conversion(shop["account"], shop["campaign"], NOW, click=shop["click"], transaction_id="new")
    code, out, _ = run("capture_journeys")
    assert code == 0
    assert out.strip() == (
        f"Captured 1 new conversion(s) after conv_id {highest}: 1 journey(s) written (1 touchpoint rows), "
        f"0 skipped (multi-touch disabled), 0 skipped (deleted). Watermark: conv_id {new.conv_id}."
    )


def test_verify_exits_1_listing_failing_conv_ids(shop):
    broken = shop["conversions"][0]
    store_rows(broken.conv_id, (shop["click"].click_id, shop["click"].click_time, 3))

    code, out, _ = run("verify_journeys", "--user", str(shop["account"].user_id))

    assert code == 1
    assert f"  conv_id {broken.conv_id}: positions are [3], expected 0..0" in out
    others = [c.conv_id for c in shop["conversions"][1:]]
    for conv_id in others:  # live, in an enabled scope, never captured: an error (SPEC §4.3)
        assert f"  conv_id {conv_id}: missing journey: a live conversion" in out
    assert "Verified 3 conversion(s), 1 with a stored journey: 3 with errors, 0 needing manual review." in out
    assert f"Failing conv_ids: {', '.join(map(str, [broken.conv_id, *others]))}" in out


def test_verify_exits_0_when_only_reviews_remain(shop, settings):
    settings.ATTRIBUTION_MAX_TOUCHES = 1
    conv = shop["conversions"][0]
    store_rows(conv.conv_id, (1, NOW - 3 * DAY, 0), (shop["click"].click_id, shop["click"].click_time, 1))
    code, out, _ = run("verify_journeys", f"--conv-id={conv.conv_id}")
    assert "Needs manual review:" in out and "beyond the cap of 1" in out
    # The stored journey also differs from a fresh one-touch build: stale is an error.
    assert code == 1


@pytest.mark.parametrize("args, message", [
    (["--conv-id=x"], "--conv-id: 'x'"),
    (["--conv-id=9223372036854775808"], "--conv-id: '9223372036854775808'"),
    (["--conv-id=424242"], "--conv-id: 424242 is not valid; no such conv_id"),
    (["--start=4294967296"], "--start: '4294967296'"),
    (["--user=9223372036854775808"], "--user: '9223372036854775808'"),
])
def test_verify_bad_argument_exits_2(shop, args, message):
    code, _, err = run("verify_journeys", *args)
    assert code == 2 and err.startswith(message)


def test_purge_refuses_without_a_terminal_or_yes(shop):
    conv = shop["conversions"][0]
    store_rows(conv.conv_id, (1, 10, 0), (2, 11, 1))

    code, _, err = run("purge_journeys", f"--conv-id={conv.conv_id}")

    assert code == 2
    assert "Refusing to purge without --yes" in err
    assert len(stored(conv.conv_id)) == 2


def test_purge_with_yes_reports_rows_deleted(shop):
    first, second = shop["conversions"][:2]
    store_rows(first.conv_id, (1, 10, 0), (2, 11, 1))
    store_rows(second.conv_id, (3, 12, 0))

    code, out, _ = run("purge_journeys", "--conv-id", str(first.conv_id), f"--conv-id={second.conv_id}", "--yes")

    assert code == 0
    assert out.strip() == "Deleted 3 touchpoint row(s) of 2 conversion(s)."
    assert JourneyTouch.objects.count() == 0


def test_purge_dry_run_needs_no_confirmation(shop):
    conv = shop["conversions"][0]
    store_rows(conv.conv_id, (1, 10, 0))
    code, out, _ = run("purge_journeys", "--user", str(shop["account"].user_id), "--dry-run")
    assert code == 0
    assert out.strip() == "Dry run: would delete 1 touchpoint row(s) of 1 conversion(s)."
    assert len(stored(conv.conv_id)) == 1


@pytest.mark.parametrize("answer, remaining", [("y\n", 0), ("n\n", 1)])
def test_purge_asks_on_a_terminal(shop, monkeypatch, answer, remaining):
    conv = shop["conversions"][0]
    store_rows(conv.conv_id, (1, 10, 0))
    monkeypatch.setattr(sys, "stdin", Terminal(answer))
    prompts = []
    monkeypatch.setattr("builtins.input", lambda prompt: prompts.append(prompt) or sys.stdin.readline())

    code, out, _ = run("purge_journeys", f"--conv-id={conv.conv_id}")

    assert code == 0
    assert prompts == ["Delete 1 touchpoint row(s) of 1 conversion(s)? [y/N] "]
    assert len(stored(conv.conv_id)) == remaining


@pytest.mark.parametrize("args, argument", [
    ([], "selection"),
    (["--orphans", "--conv-id=1", "--yes"], "selection"),
    (["--disabled-scopes", "--start=5", "--yes"], "--start/--end/--campaign"),
    (["--user=abc", "--yes"], "--user"),
    (["--user=999999", "--yes"], "--user"),
    (["--user=1", "--campaign=x", "--yes"], "--campaign"),
    (["--conv-id=99999999999999999999", "--yes"], "--conv-id"),
    (["--user=1", "--end=4294967296", "--yes"], "--end"),
])
def test_purge_bad_arguments_exit_2(shop, args, argument):
    store_rows(shop["conversions"][0].conv_id, (1, 10, 0))
    code, _, err = run("purge_journeys", *args)
    assert code == 2
    assert err.startswith(f"{argument}: ")
    assert JourneyTouch.objects.count() == 1 and not AuditEntry.objects.exists()


@pytest.mark.slow
def test_real_process_exit_codes(tmp_path):
    """Exit codes as cron sees them, for arguments refused before any database read."""
    env = {**os.environ, "DEBUG": "1", "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}"}
    for args, message in (
        (["--batch-size=0"], "--batch-size: '0' is not valid"),
        (["--start", "abc"], "--start: 'abc' is not valid"),
    ):
        process = subprocess.run(
            [sys.executable, "manage.py", "backfill_conversion_journeys", *args],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        )
        assert process.returncode == 2, process.stderr
        assert message in process.stderr


def test_verify_reports_analysis_summaries_out_of_date_without_failing(shop):
    """Summaries are rebuilt with the snapshots (SPEC §7.1); after a backfill they lag until the
    hours are rebuilt: verify says so, and the journeys themselves still verify."""
    run("backfill_conversion_journeys", "--start=0", f"--end={NOW}")

    code, out, _ = run("verify_journeys", "--user", str(shop["account"].user_id))

    assert code == 0
    first = shop["conversions"][0].conv_id
    assert f"Journey analysis summaries out of date: 3 (e.g. conv_id {first}, " in out
    run("attribution_rebuild", f"--start={NOW - 2 * DAY}", f"--end={NOW}")
    code, out, _ = run("verify_journeys", "--user", str(shop["account"].user_id))
    assert code == 0 and "summaries out of date" not in out
