"""Queued work: a group's tasks as queued / running / succeeded / failed (with retries), its totals
and errors, tenancy, the group page and the backfill form (SPEC §4.2).

Tasks run through django-q2's own worker and monitor on the ORM broker (tests/queue_worker.py).
"""
import json

import pytest
from django.contrib.auth.models import Group, User
from django_q.models import Task

from attribution import queued_work
from journeys import services
from journeys.models import JourneyTouch
from tests.journeys.journey_helpers import DAY, NOW
from tests.queue_worker import orm_worker  # noqa: F401  (fixture)
from tracker import queue_status
from tracker.audit import Actor
from tracker.models import AccountAccess
from tracker.queue import QueuedTask, queue_group
from tracker.utc import utc_text

pytestmark = pytest.mark.django_db

START, END = NOW - 5 * DAY, NOW


@pytest.fixture
def accounts(tracker, settings):
    """acme and globex, each with two conversions a day on three days (one click each)."""
    settings.ATTRIBUTION_LOOKBACK_SECONDS = 10 * DAY
    made = []
    for name in ("acme", "globex"):
        account = tracker.account(name)
        campaign = tracker.campaign(account)
        for day in (1, 2, 3):
            for minute in (0, 30):
                moment = NOW - day * DAY + minute * 60
                tracker.conversion(account, campaign, moment, click=tracker.click(account, campaign, moment - 600))
        made.append(account)
    return made


def _backfill(user_ids=None):
    work, slices, _warnings = services.enqueue_backfill(
        start=START, end=END, user_ids=user_ids, slice_hours=24, actor=Actor.cli("pytest"),
    )
    return work, slices


def _staff(username, group, account_ids):
    user = User.objects.create_user(username, is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    for account_id in account_ids:
        AccountAccess.objects.create(django_user=user, account_id=account_id)
    return user


def test_a_backfill_group_goes_from_queued_to_running_to_succeeded(accounts, orm_worker):
    work, slices = _backfill()
    assert len(slices) == 6 and {piece.conversions for piece in slices} == {2}

    group = queue_status.find_group(work.group_id)
    assert (group.kind, group.state, group.account_ids) == ("backfill", "queued", tuple(a.user_id for a in accounts))
    assert group.counts == {"queued": 6, "running": 0, "succeeded": 0, "failed": 0, "retrying": 0}
    assert group.queued_by == {"type": "cli", "username": "pytest"}
    assert group.parameters["slice_hours"] == 24

    taken = orm_worker.take()
    assert queue_status.find_group(work.group_id).counts["running"] == 6
    orm_worker.run(taken[:4])
    group = queue_status.find_group(work.group_id)
    assert (group.state, group.counts["succeeded"], group.counts["running"]) == ("running", 4, 2)
    orm_worker.run(taken[4:])

    group = queue_status.find_group(work.group_id)
    assert group.state == "succeeded"
    assert all(task.attempts == 1 and task.worker.startswith("attribution@") for task in group.tasks)
    summary = queued_work.summary(group)
    assert summary["totals"]["conversions"] == summary["totals"]["written"] == 12
    assert summary["error_count"] == 0
    assert JourneyTouch.objects.values("conv_id").distinct().count() == 12


def test_a_task_id_finds_its_group_and_a_pruned_result_counts_as_succeeded(accounts, orm_worker):
    work, _ = _backfill()
    orm_worker.run_all()
    Task.objects.filter(id=work.task_ids[0]).delete()  # django-q2's save_limit pruned it

    group = queue_status.find_group(work.task_ids[1])
    assert group.group_id == work.group_id
    pruned = group.task(work.task_ids[0])
    assert (pruned.state, pruned.result_pruned) == ("succeeded", True)
    assert group.state == "succeeded"
    assert queue_status.find_group("0" * 32) is None
    assert queue_status.find_group("backfill-000000000000") is None
    assert queue_status.find_group("'; DROP TABLE x") is None


def test_a_failed_task_is_retried_within_max_attempts_then_fails_the_group(accounts, orm_worker):
    # batch_size 0 is refused by the slice, so the task raises every time it runs.
    work = queue_group("backfill", [QueuedTask(
        services.BACKFILL_SLICE_TASK, accounts[0].user_id, "bad slice",
        {"start": START, "end": END, "user_ids": [accounts[0].user_id], "batch_size": 0},
    )], actor=Actor.cli("pytest"), audit_action="backfill_queued")

    orm_worker.run_all()
    task = queue_status.find_group(work.group_id).tasks[0]
    assert (task.state, task.retrying, task.attempts) == ("failed", True, 1)
    assert "--batch-size" in task.error and "Traceback" not in task.error
    assert queue_status.find_group(work.group_id).state == "queued"
    assert orm_worker.take() == []  # leased until Q_CLUSTER's retry has passed

    orm_worker.expire_leases()
    retry = orm_worker.take()
    assert len(retry) == 1
    assert queue_status.find_group(work.group_id).tasks[0].state == "running"
    orm_worker.run(retry)
    orm_worker.expire_leases()
    orm_worker.run_all()

    group = queue_status.find_group(work.group_id)
    task = group.tasks[0]
    assert (task.state, task.retrying, task.attempts) == ("failed", False, 3)
    assert group.state == "failed"
    assert orm_worker.take() == []  # acknowledged after the last attempt
    assert queued_work.summary(group)["error_count"] == 1


def test_errors_read_as_the_commands_write_them():
    backfill = queue_status.TaskStatus("a" * 32, 1, "succeeded", result={"failed": {"7": "no click"}})
    rebuild = queue_status.TaskStatus("b" * 32, 2, "failed", result={"users_failed": {"2": "boom"}, "users_locked": [3]})

    assert queued_work.task_errors(backfill) == ["Conversion 7 failed: no click"]
    assert queued_work.task_errors(rebuild) == ["User 2: boom", "User 3: skipped, another rebuild held its lock"]
    assert queued_work.task_errors(queue_status.TaskStatus("c" * 32, 1, "failed", error="x")) == ["x"]


def test_a_rebuild_group_totals_its_models(accounts, orm_worker):
    from attribution import services as attribution_services

    attribution_services.create_model(account_id=accounts[0].user_id, model_name="Last", model_type="last_touch",
                                      is_default=True, actor=Actor.cli("pytest"))
    work = attribution_services.enqueue_rebuilds(start=START, end=END, user_ids=[accounts[0].user_id],
                                                 actor=Actor.cli("pytest"), now=NOW)
    orm_worker.run_all()

    group = queue_status.find_group(work.group_id)
    assert (group.kind, group.state) == ("rebuild", "succeeded")
    assert queued_work.summary(group)["totals"] == {"models": 1, "conversions": 6, "clicks": 6, "hours_processed": 3}


def test_tenancy_a_task_by_its_account_a_group_by_all_of_them(accounts):
    acme, globex = accounts
    manager = _staff("manager", "Attribution managers", [acme.user_id])
    everyone, _ = _backfill()
    acme_task = next(task for task in queue_status.find_group(everyone.group_id).tasks if task.account_id == acme.user_id)
    theirs, _ = _backfill([globex.user_id])

    with pytest.raises(queued_work.WorkNotFound):
        queued_work.visible_work(manager, everyone.group_id)
    with pytest.raises(queued_work.WorkNotFound):
        queued_work.visible_work(manager, theirs.task_ids[0])
    group, task = queued_work.visible_work(manager, acme_task.task_id)
    assert (group.group_id, task.task_id) == (everyone.group_id, acme_task.task_id)


# --- admin pages --------------------------------------------------------------------------------

def test_group_page_shows_progress_and_is_404_for_another_tenant(client, accounts, orm_worker):
    acme, globex = accounts
    work, _ = _backfill([acme.user_id])
    theirs, _ = _backfill([globex.user_id])
    orm_worker.run(orm_worker.take()[:1])
    client.force_login(_staff("viewer", "Attribution viewers", [acme.user_id]))

    page = client.get(f"/admin/attribution/queued/{work.group_id}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-state="queued"' in html or 'data-state="running"' in html
    assert '<span data-count="succeeded">1</span>' in html
    assert '<td data-total="written">2</td>' in html
    assert 'http-equiv="refresh"' in html  # not finished yet
    assert client.get(f"/admin/attribution/queued/{theirs.group_id}/").status_code == 404
    assert client.get(f"/admin/attribution/queued/{theirs.task_ids[0]}/").status_code == 404
    assert client.get("/admin/attribution/queued/nonsense/").status_code == 404


def test_backfill_form_counts_then_queues_and_audits(client, accounts):
    acme, globex = accounts
    client.force_login(_staff("manager", "Attribution managers", [acme.user_id]))
    form = {"start": utc_text(START, "%Y-%m-%dT%H:%M"), "end": utc_text(END, "%Y-%m-%dT%H:%M"),
            "batch_size": "100", "slice_hours": "24"}

    page = client.get("/admin/attribution/backfill/")
    assert page.status_code == 200
    assert f'value="{acme.user_id}"' in page.content.decode()
    assert f'value="{globex.user_id}"' not in page.content.decode()  # not theirs to offer

    plan = client.post("/admin/attribution/backfill/", {**form, "plan": "1"})
    html = plan.content.decode()
    assert '<strong id="backfill-conversions">6</strong>' in html
    assert '<strong id="backfill-slices">3</strong>' in html
    assert not Task.objects.exists() and not queue_status.find_group("backfill-000000000000")

    queued = client.post("/admin/attribution/backfill/", {**form, "users": [str(acme.user_id)], "confirm": "1"})
    assert queued.status_code == 302
    group_id = queued.url.rstrip("/").rsplit("/", 1)[-1]
    group = queue_status.find_group(group_id)
    assert (group.account_ids, len(group.tasks)) == ((acme.user_id,), 3)
    assert group.queued_by == {"type": "admin", "username": "manager"}
    assert group.parameters["batch_size"] == 100
    assert client.get(queued.url).status_code == 200

    foreign = client.post("/admin/attribution/backfill/", {**form, "users": [str(globex.user_id)], "plan": "1"})
    assert "Select a valid choice" in foreign.content.decode()


def test_backfill_form_is_for_managers_only(client, accounts):
    client.force_login(_staff("viewer", "Attribution viewers", [accounts[0].user_id]))

    assert client.get("/admin/attribution/backfill/").status_code == 403
    assert client.post("/admin/attribution/backfill/", {"confirm": "1"}).status_code == 403


def test_index_links_the_backfill_form_for_managers(client, accounts):
    client.force_login(_staff("manager", "Attribution managers", [accounts[0].user_id]))
    assert 'href="/admin/attribution/backfill/"' in client.get("/admin/").content.decode()


def test_audit_row_of_the_queued_backfill_names_the_group_and_its_tasks(accounts):
    work, _ = _backfill([accounts[0].user_id])
    from tracker.models import AuditEntry

    (entry,) = AuditEntry.objects.filter(action="backfill_queued")
    assert json.loads(entry.metadata)["task_ids"] == list(work.task_ids)
