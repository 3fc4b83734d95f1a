"""Queued work run by a real `qcluster` process (SPEC §6 step 10, §5.3): a queued rebuild whose
account lock is busy waits for it and then runs; with a short wait it fails, is retried within
the bounded attempts and is counted by System Checks; a multi-touch change's chain runs its
steps in order. The subprocesses use the test database as test_rebuild_processes.py explains.
"""
import base64
import os
import pickle
import signal
import subprocess
import sys

import pytest
from django.db import connection
from django.utils import timezone

from attribution import multi_touch, services
from journeys.models import JourneyTouch
from tests.attribution.account_lock import holding_account_lock
from tests.attribution.rebuild_fixtures import HOUR, H, build_scenario, make_model
from tests.attribution.test_rebuild_processes import BASE_DIR, WAIT_SECONDS, ExternalDatabase, wait_for
from tracker.audit import Actor

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ACTOR = Actor("admin", "ops")
TASK = "SELECT success, attempt_count, result FROM `django_q_task` WHERE `group` = ?"
# A short task timeout, lock wait and retry, so that three attempts fit in a test.
SHORT_WAIT = {"ATTRIBUTION_QUEUED_LOCK_WAIT_SECONDS": "1", "Q_TASK_TIMEOUT_SECONDS": "5", "Q_RETRY_SECONDS": "6"}


@pytest.fixture
def external(tmp_path):
    return ExternalDatabase(tmp_path)


class Cluster:
    """A `manage.py qcluster` subprocess on the external database, stopped with its workers."""

    def __init__(self, external, **environment):
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"], cwd=BASE_DIR,
            env={**external.environment(), **environment},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        # SIGTERM to the cluster's own process: it stops its workers; anything left is killed.
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        finally:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait()


def _queue_rebuild(tracker):
    scenario = build_scenario(tracker)
    make_model(scenario.account, "linear")
    work = services.enqueue_rebuilds(start=H, end=H + HOUR, user_ids=[scenario.account.user_id], actor=ACTOR)
    return scenario.account, work.group_id


def _sqlite_database(external):
    return None if external.file is None else str(external.file)


def _task(external, group_id):
    """(success, attempts, result) of the group's one task once a worker stored it, else None."""
    rows = external.query(TASK, [group_id])
    if not rows:
        return None
    success, attempts, result = rows[0]
    return bool(success), attempts, pickle.loads(base64.b64decode(result))  # django-q2's pickled field


def _leased(external):
    """A worker has taken the queued task (the ORM broker's lease is in the future)."""
    return external.scalar("SELECT COUNT(*) FROM `django_q_ormq` WHERE `lock` > ?", [_now_text(external)]) > 0


def _now_text(external):
    """Now as django-q2 stores its lease: naive UTC (a datetime for MariaDB, text in SQLite)."""
    now = timezone.now().replace(tzinfo=None)
    return now if external.vendor == "mysql" else now.isoformat(sep=" ")


def _waiting_on_the_lock(external):
    """MariaDB shows the worker's GET_LOCK in the process list; SQLite has only the lease."""
    if external.vendor != "mysql":
        return _leased(external)
    return external.scalar(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = DATABASE() "
        "AND INFO LIKE 'SELECT GET_LOCK%%' AND ID <> CONNECTION_ID()"
    ) > 0


def _failed_tasks_check(external):
    """System Checks' failed-tasks check as another process sees the external database."""
    process = external.manage(
        "shell", "--verbosity", "0", "-c",
        "from attribution.system_checks import check_failed_tasks; r = check_failed_tasks(); print(r.status); print(r.detail)",
    )
    out, err = process.communicate(timeout=WAIT_SECONDS)
    assert process.returncode == 0, err
    return out


def test_a_queued_rebuild_waits_for_a_busy_lock_then_runs(tracker, external):
    account, group_id = _queue_rebuild(tracker)
    external.publish()
    with Cluster(external):
        with holding_account_lock(account.user_id, _sqlite_database(external)):
            wait_for(lambda: _waiting_on_the_lock(external), "the worker to wait for the account's lock")
            assert _task(external, group_id) is None  # neither done nor failed while it waits
        wait_for(lambda: _task(external, group_id) is not None, "the rebuild to finish")
    success, attempts, _result = _task(external, group_id)
    assert (success, attempts) == (True, 1)
    audit = "SELECT COUNT(*) FROM `202_attribution_audit` WHERE action = 'snapshot_rebuild'"
    assert external.scalar(audit) == 1
    assert external.scalar("SELECT COUNT(*) FROM `202_attribution_snapshots` WHERE scope_type = 'global'") == 2


def test_a_rebuild_whose_lock_stays_busy_fails_is_retried_and_runs_once_the_lock_is_free(tracker, external):
    account, group_id = _queue_rebuild(tracker)
    external.publish()
    with Cluster(external, **SHORT_WAIT):
        with holding_account_lock(account.user_id, _sqlite_database(external)):
            wait_for(lambda: _task(external, group_id) is not None, "the first attempt to fail")
            success, attempts, result = _task(external, group_id)
            assert (success, attempts) == (False, 1)
            assert f'"users_locked": [{account.user_id}]' in str(result)
            check = _failed_tasks_check(external)
            assert check.startswith("warning") and "attribution.tasks.rebuild_task" in check
        wait_for(lambda: _task(external, group_id)[0], "a retry to run the rebuild")
    success, attempts, _result = _task(external, group_id)
    assert 2 <= attempts <= 3  # the second attempt may still have met the lock before it was freed
    assert external.scalar("SELECT COUNT(*) FROM `202_attribution_audit` WHERE action = 'snapshot_rebuild'") == 1
    assert _failed_tasks_check(external).startswith("ok")


def test_retries_stop_after_the_bounded_attempts(tracker, external):
    account, group_id = _queue_rebuild(tracker)
    external.publish()
    with Cluster(external, **SHORT_WAIT), holding_account_lock(account.user_id, _sqlite_database(external)):
        # Acknowledged after the last attempt: the task leaves the queue, so nothing retries it.
        wait_for(lambda: external.scalar("SELECT COUNT(*) FROM `django_q_ormq`") == 0, "the last attempt")
        success, attempts, _result = _task(external, group_id)
    assert (success, attempts) == (False, 3)
    assert external.scalar("SELECT COUNT(*) FROM `202_attribution_snapshots`") == 0
    check = _failed_tasks_check(external)
    assert check.startswith("warning") and "rebuild user" in check


def test_a_multi_touch_change_runs_its_chain_on_a_worker(tracker, external):
    """Disable a campaign: the worker purges its journeys, then rebuilds the hours they were in."""
    scenario = build_scenario(tracker)
    account, campaign = scenario.account, scenario.campaign
    model = services.create_model(account_id=account.user_id, model_name="Linear", model_type="linear",
                                  is_default=True, actor=ACTOR)
    from attribution.rebuild import run_rebuild

    assert run_rebuild(start=H, end=H + HOUR, user_ids=[account.user_id], actor=ACTOR).succeeded
    credits = "SELECT COUNT(*) FROM `202_attribution_touchpoints` WHERE conv_id = ?"
    conv_id = scenario.conversions[1].conv_id
    assert JourneyTouch.objects.filter(conv_id=conv_id).count() == 3
    saved = services.save_scope_setting(
        account_id=account.user_id, scope_type="campaign", scope_id=campaign.aff_campaign_id,
        model_id=model.pk, multi_touch_enabled=False, actor=ACTOR,
    )
    external.publish()
    assert external.scalar(credits, [conv_id]) == 3

    with Cluster(external):
        wait_for(lambda: external.scalar("SELECT COUNT(*) FROM `django_q_task` WHERE `group` = ? AND success = ?",
                                         [saved.chain_group_id, True]) == 2, "both steps of the chain")
    assert external.scalar("SELECT COUNT(*) FROM `202_conversion_touchpoints` WHERE conv_id = ?", [conv_id]) == 0
    assert external.scalar(credits, [conv_id]) == 1  # only the converting click is credited now
    funcs = [row[0] for row in external.query(
        "SELECT func FROM `django_q_task` WHERE `group` = ? ORDER BY started", [saved.chain_group_id])]
    assert funcs == ["journeys.tasks.purge_disabled_scopes_task", "attribution.tasks.multi_touch_rebuild_task"]
    if connection.vendor == "mysql":  # the test's own connection sees the worker's results
        steps = multi_touch.find_chain(saved.chain_group_id).steps
        assert [step.state for step in steps] == [multi_touch.STEP_SUCCEEDED] * 2
