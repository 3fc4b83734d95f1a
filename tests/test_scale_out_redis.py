"""Scale-out on Redis (SPEC §11): two real `qcluster` processes share one queued backfill and one
queued rebuild; each slice runs once, both clusters do work, and the stored journeys and
snapshots equal a single-process run. A worker SIGKILLed mid-slice: the slice runs again (its
lease runs out) and the result is still equal.

Needs REDIS_URL (a Redis database the tests may empty, e.g. redis://127.0.0.1:6379/6) and
MariaDB/MySQL: the clusters are other processes, and SQLite's in-memory test database cannot
be shared with them. The data is committed in the test database (transaction=True).
"""
import contextlib
import os
import signal
import subprocess
import time
from decimal import Decimal
from pathlib import Path

import pytest
import redis
from django.db import connection
from django_q.models import Task

from attribution.models import AttributionModel
from journeys.models import Click, Conversion
from tests.attribution.test_rebuild_processes import ExternalDatabase
from tests.pytest_environment import REDIS_URL

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not REDIS_URL, reason="set REDIS_URL (a Redis database the tests may empty) to run the "
                                             "scale-out tests against Redis"),
]

HOUR, DAY = 3600, 86_400
H0 = 1_700_000_000 - 1_700_000_000 % HOUR
DAYS = 4
WINDOW = ["--start", str(H0), "--end", str(H0 + DAYS * DAY - 1)]
MODEL_TYPES = {"last_touch": None, "linear": None, "time_decay": '{"half_life_hours": 12}',
               "position_based": '{"first_touch_weight": 0.4, "last_touch_weight": 0.4}'}
WAIT_SECONDS = 240


@pytest.fixture(autouse=True)
def mariadb_only():
    if connection.vendor == "sqlite":
        pytest.skip("SQLite's in-memory test database cannot be shared with qcluster processes: run on MariaDB")


class Site(ExternalDatabase):
    """The test database, the Redis queue, and the qcluster processes started on them."""

    def __init__(self, tmp_path, **environment):
        super().__init__(tmp_path)
        self.extra = {"REDIS_URL": REDIS_URL, **environment}
        self.clusters = []
        redis.from_url(REDIS_URL).flushdb()

    def environment(self):
        return {**super().environment(), **self.extra}

    def start_cluster(self):
        cluster = self.manage("qcluster", start_new_session=True)
        self.clusters.append(cluster)
        return cluster

    def stop_clusters(self):
        """SIGTERM, as systemd stops a cluster; SIGKILL what is left of it after a while."""
        for cluster in self.clusters:
            if cluster.poll() is None:
                cluster.send_signal(signal.SIGTERM)
        for cluster in self.clusters:
            try:
                cluster.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                pass
            with contextlib.suppress(ProcessLookupError):  # the group may be gone already
                os.killpg(cluster.pid, signal.SIGKILL)
            cluster.communicate()

    def enqueue(self, *arguments):
        code, out, err = self.run(*arguments, "--async")
        assert code == 0, err
        return out.split()[-1]

    def tasks(self, group):
        """(id, name, success, attempt_count, cluster, started epoch) of the group's stored tasks."""
        return [(*row[:5], row[5].timestamp()) for row in Task.objects.filter(group=group).values_list(
            "id", "name", "success", "attempt_count", "cluster", "started")]

    def finish(self, group, count):
        """Wait until `count` tasks of the group succeeded; returns their rows."""
        deadline = time.monotonic() + WAIT_SECONDS
        while len([task for task in self.tasks(group) if task[2]]) < count:
            assert all(cluster.poll() is None for cluster in self.clusters), "a qcluster died"
            assert time.monotonic() < deadline, f"gave up waiting for group {group}: {self.tasks(group)}"
            time.sleep(0.2)
        return self.tasks(group)

    def journeys(self):
        return sorted(self.query(
            "SELECT conv_id, click_id, click_time, position FROM `202_conversion_touchpoints`"))

    def backfills(self):
        """(account, metadata) of the journey_backfill audit rows: one per slice run to its end."""
        return self.query("SELECT user_id, metadata FROM `202_attribution_audit` WHERE action = 'journey_backfill'")

    def wipe(self):
        for table in ("202_conversion_touchpoints", "202_attribution_touchpoints", "202_attribution_snapshots",
                      "202_attribution_audit", "django_q_task"):
            self.query(f"DELETE FROM `{table}`")


@pytest.fixture
def make_site(tmp_path):
    made = []

    def start(**environment):
        made.append(Site(tmp_path, **environment))
        return made[-1]

    yield start
    for each in made:
        each.stop_clusters()
    redis.from_url(REDIS_URL).flushdb()


def seed(tracker, accounts=6, per_hour=1, big_account_conversions=0):
    """`accounts` accounts with `per_hour` conversions every hour for DAYS days, each after
    three clicks; optionally one more account with `big_account_conversions` on the first day;
    a model of each of MODEL_TYPES per account. Returns the accounts."""
    made, clicks, conversions = [], [], []
    ids = iter(range(70_000_000, 80_000_000))
    plan = [(tracker.account(f"scale{n}"), DAYS * 24 * per_hour, HOUR // per_hour) for n in range(accounts)]
    if big_account_conversions:
        plan.append((tracker.account("big"), big_account_conversions, DAY // big_account_conversions))
    for account, count, spacing in plan:
        campaign = tracker.campaign(account)
        pages = [tracker.landing_page(account, campaign, name=f"L{n}").landing_page_id for n in range(3)]
        for number in range(count):
            conv_time = H0 + number * spacing + 30
            journey = [Click(click_id=next(ids), user_id=account.user_id, aff_campaign_id=campaign.aff_campaign_id,
                             landing_page_id=pages[(number + touch) % 3], ppc_account_id=0,
                             click_cpc=Decimal("0.20"), click_time=conv_time - 900 + 300 * touch)
                       for touch in range(3)]
            clicks.extend(journey)
            conversions.append(Conversion(
                click_id=journey[-1].click_id, click_time=journey[-1].click_time, campaign_id=campaign.aff_campaign_id,
                click_payout=Decimal(f"{5 + number % 4}.5"), user_id=account.user_id, conv_time=conv_time,
                time_difference="", pixel_type=1, user_agent="pytest", deleted=0,
            ))
        now = int(time.time())
        for model_type, config in MODEL_TYPES.items():
            AttributionModel.objects.create(user=account, model_name=model_type, model_slug=model_type,
                                            model_type=model_type, weighting_config=config, is_active=True,
                                            created_at=now, updated_at=now)
        made.append(account)
    Click.objects.bulk_create(clicks, batch_size=1000)
    Conversion.objects.bulk_create(conversions, batch_size=1000)
    return made


def single_process_result(site):
    """Journeys and snapshots of the same backfill and rebuild run by one process, then wiped."""
    for command in ("backfill_conversion_journeys", "attribution_rebuild"):
        code, _, err = site.run(command, *WINDOW)
        assert code == 0, err
    result = site.journeys(), site.rows()
    site.wipe()
    return result


def test_two_clusters_share_a_backfill_and_a_rebuild_and_match_one_process(tracker, make_site):
    accounts = seed(tracker)
    site = make_site()
    expected_journeys, expected_snapshots = single_process_result(site)
    assert len({row[0] for row in expected_journeys}) == len(accounts) * DAYS * 24  # every conversion
    site.start_cluster()
    site.start_cluster()

    backfill = site.enqueue("backfill_conversion_journeys", *WINDOW, "--slice-hours", "6")
    slices = site.finish(backfill, len(accounts) * DAYS * 4)
    assert site.journeys() == expected_journeys
    rebuild = site.enqueue("attribution_rebuild", *WINDOW)
    rebuilds = site.finish(rebuild, len(accounts))
    assert site.rows() == expected_snapshots

    for tasks in (slices, rebuilds):
        assert all(attempts == 1 for _, _, _, attempts, _, _ in tasks)  # each ran once…
        assert len({worker for *_, worker, _ in tasks}) == 2, tasks  # …and both clusters did work
    assert len(site.backfills()) == len(slices)  # one audit row per slice run: none ran twice
    snapshot_rebuilds = site.scalar("SELECT COUNT(*) FROM `202_attribution_audit` WHERE action = 'snapshot_rebuild'")
    assert snapshot_rebuilds == len(accounts) * len(MODEL_TYPES)


def _worker_processing(task_name):
    """Pid of the qcluster worker whose title (setproctitle) says it processes `task_name`."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if "qcluster" in title and f"processing {task_name} " in title:
                return int(entry.name)
    return None


def test_a_worker_killed_mid_slice_is_retried_and_the_result_matches(tracker, make_site):
    accounts = seed(tracker, accounts=2, big_account_conversions=1500)
    big = accounts[-1]
    # Short timeout and lease, so the dead worker's slice is handed out again within seconds.
    site = make_site(Q_TASK_TIMEOUT_SECONDS="30", Q_RETRY_SECONDS="35")
    expected_journeys, _ = single_process_result(site)
    site.start_cluster()
    site.start_cluster()

    group = site.enqueue("backfill_conversion_journeys", *WINDOW, "--slice-hours", "24", "--batch-size", "10")
    big_slice = f"backfill user {big.user_id} {H0}..{H0 + DAY - 1}"
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        assert time.monotonic() < deadline, "the big slice never started"
        pid = _worker_processing(big_slice)
        written = site.scalar(
            "SELECT COUNT(DISTINCT t.conv_id) FROM `202_conversion_touchpoints` t "
            "JOIN `202_conversion_logs` c ON c.conv_id = t.conv_id WHERE c.user_id = ?", [big.user_id])
        if pid and written:
            break
        time.sleep(0.005)
    os.kill(pid, signal.SIGKILL)
    killed_at = time.time()
    assert not [task for task in site.tasks(group) if task[1] == big_slice], "the slice finished before the kill"
    assert written < 1500  # killed mid-slice

    tasks = site.finish(group, 2 * DAYS + 1)
    (rerun,) = [task for task in tasks if task[1] == big_slice]
    assert rerun[5] > killed_at  # the run that succeeded began after the kill: a retry
    assert site.journeys() == expected_journeys
    big_runs = [row for row in site.backfills() if row[0] == big.user_id]
    assert len(big_runs) == 1  # the killed run wrote no audit row; the retry one
