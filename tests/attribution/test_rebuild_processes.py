"""The rebuild as real processes: SIGKILL mid-run, concurrent runs, --async and a django-q2 worker.

The subprocesses need the test data: on MariaDB they use the test database itself (committed by
transaction=True tests); on SQLite, whose test database lives in memory, the seeded database is
copied to a file with SQLite's backup API and every process (and the assertions) use the file.
"""
import os
import signal
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from attribution.models import AttributionModel
from journeys.models import Click, Conversion, JourneyTouch
from tests.attribution.rebuild_fixtures import HOUR, H

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

BASE_DIR = Path(settings.BASE_DIR)
DAYS = 30
CONVERSIONS_PER_HOUR = 3
WINDOW_ARGS = ["--start", str(H), "--end", str(H + DAYS * 86400 - 1)]
MODEL_CONFIGS = {
    "last_touch": None, "first_touch": None, "linear": None, "assisted": None,
    "time_decay": '{"half_life_hours": 12}',
    "position_based": '{"first_touch_weight": 0.4, "last_touch_weight": 0.4}',
    "algorithmic": '{"method": "markov", "channel": "landing_page"}',
}
WAIT_SECONDS = 180


class ExternalDatabase:
    """The database the subprocesses use, with raw reads that see their commits."""

    def __init__(self, tmp_path):
        self.vendor = connection.vendor
        if self.vendor == "mysql":
            db = connection.settings_dict
            credentials = quote(db["USER"] or "root") + (":" + quote(db["PASSWORD"]) if db["PASSWORD"] else "")
            self.url = f"mysql://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 3306}/{db['NAME']}"
            self.file = None
        else:
            self.file = tmp_path / "rebuild.sqlite3"
            self.url = f"sqlite:///{self.file}"

    def publish(self):
        """Make the seeded test data visible to subprocesses (SQLite: copy it to the file)."""
        if self.file is not None:
            connection.ensure_connection()
            target = sqlite3.connect(self.file)
            connection.connection.backup(target)
            target.close()

    def query(self, sql, params=()):
        """Run SQL written with `backticks` and ? placeholders on either vendor."""
        if self.file is None:
            with connection.cursor() as cursor:
                cursor.execute(sql.replace("?", "%s"), params)
                return cursor.fetchall() if cursor.description else []
        with sqlite3.connect(self.file, timeout=30) as db:
            return db.execute(sql.replace("`", '"'), params).fetchall()

    def scalar(self, sql, params=()):
        return self.query(sql, params)[0][0]

    def environment(self):
        return dict(os.environ, DATABASE_URL=self.url, DEBUG="1", CACHE_URL="locmemcache://", Q_WORKERS="1")

    def manage(self, *args, **popen):
        return subprocess.Popen(
            [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=self.environment(),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen,
        )

    def run(self, *args):
        process = self.manage(*args)
        out, err = process.communicate(timeout=WAIT_SECONDS)
        return process.returncode, out, err

    def rows(self):
        """Every snapshot and credit row without ids and created_at, sorted."""
        snapshots = self.query(
            "SELECT snapshot_id, model_id, user_id, scope_type, scope_id, date_hour, lookback_start, "
            "lookback_end, attributed_clicks, attributed_conversions, attributed_revenue, attributed_cost "
            "FROM `202_attribution_snapshots`"
        )
        by_id = {row[0]: row for row in snapshots}
        credits = self.query(
            "SELECT snapshot_id, conv_id, click_id, position, credit, weight "
            "FROM `202_attribution_touchpoints`"
        )
        snapshot_rows = sorted(_normal(row[1:]) for row in snapshots)
        credit_rows = sorted(
            (by_id[row[0]][1], by_id[row[0]][5], *_normal(row[1:])) for row in credits
        )
        return snapshot_rows, credit_rows


def _normal(values):
    return tuple(
        str(Decimal(str(value)).quantize(Decimal("0.00001"))) if isinstance(value, (float, Decimal)) else value
        for value in values
    )


@pytest.fixture
def external(tmp_path):
    return ExternalDatabase(tmp_path)


def seed_month(tracker):
    """One account, DAYS days of conversions with 3-touch journeys, one model of each type."""
    account = tracker.account("month")
    campaign = tracker.campaign(account)
    pages = [tracker.landing_page(account, campaign, name=f"L{n}").landing_page_id for n in range(3)]
    sources = [tracker.traffic_source(account, name=f"S{n}").ppc_account_id for n in range(3)]
    clicks, conversions, touches = [], [], []
    click_id, conv_id, number = 50_000_000, 0, 0
    for hour in range(H, H + DAYS * 86400, HOUR):
        for n in range(CONVERSIONS_PER_HOUR):
            number += 1
            journey = []
            for touch in range(3):
                click_id += 1
                journey.append(Click(
                    click_id=click_id, user_id=account.user_id, aff_campaign_id=campaign.aff_campaign_id,
                    landing_page_id=pages[(number + touch) % 3], ppc_account_id=sources[(number * touch) % 3],
                    click_cpc=Decimal("0.25"), click_time=hour - 2000 + 600 * touch + n,
                ))
            click_id += 1  # a click nobody converted from, for the Markov fit
            clicks.append(Click(
                click_id=click_id, user_id=account.user_id, aff_campaign_id=campaign.aff_campaign_id,
                landing_page_id=pages[number % 3], ppc_account_id=0, click_cpc=Decimal("0.10"),
                click_time=hour + n,
            ))
            clicks.extend(journey)
            conv_id += 1
            conversions.append(Conversion(
                conv_id=conv_id, click_id=journey[-1].click_id, click_time=journey[-1].click_time,
                campaign_id=campaign.aff_campaign_id, click_payout=Decimal(f"{5 + number % 7}.5"),
                user_id=account.user_id, conv_time=hour + 100 * n, time_difference="", pixel_type=1,
                user_agent="pytest", deleted=0,
            ))
            touches.extend(
                JourneyTouch(conv_id=conv_id, click_id=c.click_id, click_time=c.click_time, position=p,
                             created_at=0)
                for p, c in enumerate(journey)
            )
    Click.objects.bulk_create(clicks, batch_size=500)
    Conversion.objects.bulk_create(conversions, batch_size=500)
    JourneyTouch.objects.bulk_create(touches, batch_size=500)
    now = int(time.time())
    for model_type, config in MODEL_CONFIGS.items():
        AttributionModel.objects.create(
            user=account, model_name=model_type, model_slug=model_type, model_type=model_type,
            weighting_config=config, is_active=True, created_at=now, updated_at=now,
        )
    return account


def wait_for(condition, what):
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.005)


def uninterrupted_rows(external, account):
    external.query("DELETE FROM `202_attribution_touchpoints`")
    external.query("DELETE FROM `202_attribution_snapshots`")
    code, _, err = external.run("attribution_rebuild", *WINDOW_ARGS, "--user", str(account.user_id))
    assert code == 0, err
    return external.rows()


def test_sigkill_mid_run_leaves_whole_chunks_and_a_rerun_matches_an_uninterrupted_run(tracker, external):
    account = seed_month(tracker)
    external.publish()
    process = external.manage("attribution_rebuild", *WINDOW_ARGS, "--user", str(account.user_id))
    wait_for(lambda: external.scalar("SELECT COUNT(*) FROM `202_attribution_snapshots`") > 0
             or process.poll() is not None, "the first committed chunk")
    assert process.poll() is None, "the rebuild finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=WAIT_SECONDS)
    assert process.returncode == -signal.SIGKILL

    # Only whole chunks: every written hour has a global row per model and no duplicates;
    # the unfinished run wrote no audit row (those go with the last chunk).
    keys = external.query(
        "SELECT model_id, date_hour, scope_type, scope_id, COUNT(*) FROM `202_attribution_snapshots` "
        "GROUP BY model_id, date_hour, scope_type, scope_id"
    )
    assert keys and all(row[4] == 1 for row in keys)
    hours_by_model = {}
    for model_id, hour, scope_type, _, _ in keys:
        hours_by_model.setdefault(model_id, set()).add(hour)
    assert len({frozenset(hours) for hours in hours_by_model.values()}) == 1
    written_hours = next(iter(hours_by_model.values()))
    assert len(written_hours) < DAYS * 24
    assert external.scalar("SELECT COUNT(*) FROM `202_attribution_audit`") == 0

    code, _, err = external.run(
        "attribution_rebuild", *WINDOW_ARGS, "--user", str(account.user_id), "--lock-timeout", "30"
    )
    assert code == 0, err
    after_rerun = external.rows()
    assert len(after_rerun[0]) >= DAYS * 24 * len(MODEL_CONFIGS)
    assert after_rerun == uninterrupted_rows(external, account)


def test_concurrent_rebuilds_of_one_account_never_duplicate(tracker, external):
    account = seed_month(tracker)
    external.publish()
    arguments = ["attribution_rebuild", *WINDOW_ARGS, "--user", str(account.user_id)]
    for lock_timeout, allowed in (("0", {0, 3}), (str(WAIT_SECONDS), {0})):
        processes = [external.manage(*arguments, "--lock-timeout", lock_timeout) for _ in range(2)]
        results = [(process.communicate(timeout=WAIT_SECONDS), process.returncode) for process in processes]
        codes = [code for _, code in results]
        assert set(codes) <= allowed and 0 in codes, results
        for (out, err), code in results:
            if code == 3:
                assert f"User {account.user_id}: skipped, another rebuild holds its lock" in err
        duplicates = external.scalar(
            "SELECT COUNT(*) FROM (SELECT model_id, date_hour, scope_type, scope_id "
            "FROM `202_attribution_snapshots` GROUP BY model_id, date_hour, scope_type, scope_id "
            "HAVING COUNT(*) > 1) d"
        )
        assert duplicates == 0
    concurrent = external.rows()
    assert concurrent == uninterrupted_rows(external, account)


def test_async_enqueues_a_group_that_a_real_worker_runs(tracker, external):
    account = seed_month(tracker)
    external.publish()
    code, out, err = external.run("attribution_rebuild", *WINDOW_ARGS, "--user", str(account.user_id), "--async")
    assert code == 0, err
    assert out.startswith("Enqueued 1 rebuild task(s) in group rebuild-")
    group = out.split()[-1]
    worker = external.manage("qcluster", start_new_session=True)
    try:
        wait_for(
            lambda: external.scalar(
                "SELECT COUNT(*) FROM `django_q_task` WHERE `group` = ?", [group]
            ) == 1,
            "the worker to finish the rebuild task",
        )
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.communicate()
    assert external.scalar("SELECT success FROM `django_q_task` WHERE `group` = ?", [group]) in (1, True)
    audit = "SELECT COUNT(*) FROM `202_attribution_audit` WHERE action = ?"
    assert external.scalar(audit, ["snapshot_rebuild"]) == len(MODEL_CONFIGS)
    assert external.scalar(audit, ["rebuild_queued"]) == 1
    assert external.rows() == uninterrupted_rows(external, account)
