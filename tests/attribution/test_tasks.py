"""attribution.tasks: the rebuild task's result, the --async group, and django-q2 settings."""
import io
import json

import pytest
from django.conf import settings
from django.core.management import call_command
from django_q.brokers import get_broker
from django_q.models import OrmQ
from django_q.signing import SignedPackage

from attribution import services, store
from attribution.models import Snapshot
from attribution.tasks import rebuild_task
from tests.attribution.rebuild_fixtures import HOUR, H, build_scenario, make_model
from tracker.arguments import InvalidArgument
from tracker.audit import Actor
from tracker.models import AuditEntry
from tracker.queue import QueuedWorkFailed

pytestmark = pytest.mark.django_db


def test_rebuild_task_returns_a_json_able_summary(tracker):
    scenario = build_scenario(tracker)
    model = make_model(scenario.account, "linear")
    result = rebuild_task(start=H, end=H + HOUR, user_ids=[scenario.account.user_id], username="ops")
    assert result["succeeded"] is True
    assert result["users_done"] == [scenario.account.user_id]
    (summary,) = result["models"]
    assert (summary["model_id"], summary["conversions"], summary["clicks"]) == (model.model_id, 3, 5)
    assert result["message"].startswith("Attribution rebuild complete for 1 user(s)")
    assert Snapshot.objects.filter(model_id=model.model_id).exists()


def test_rebuild_task_raises_on_bad_arguments_without_writing(tracker):
    with pytest.raises(InvalidArgument, match="--user: 424242 is not valid"):
        rebuild_task(user_ids=[424242])
    assert not Snapshot.objects.exists()


def test_rebuild_task_fails_when_a_user_failed(tracker, monkeypatch):
    """A queued rebuild never reports success without its work (SPEC §6 step 10)."""
    scenario = build_scenario(tracker)
    make_model(scenario.account, "linear")

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(store, "replace_snapshots", broken)
    with pytest.raises(QueuedWorkFailed) as failure:
        rebuild_task(start=H, end=H + HOUR, user_ids=[scenario.account.user_id])
    result = json.loads(str(failure.value))
    assert result["succeeded"] is False
    assert result["users_failed"] == {str(scenario.account.user_id): "RuntimeError: database went away"}


def test_async_enqueues_one_task_per_user_in_one_group_and_audits_it(tracker):
    first, second = build_scenario(tracker), build_scenario(tracker)
    make_model(first.account, "last_touch")
    make_model(second.account, "linear")
    work = services.enqueue_rebuilds(start=H + 1200, end=H + HOUR, actor=Actor.cli("ops"))
    group, task_ids = work.group_id, work.task_ids
    assert group.startswith("rebuild-") and len(task_ids) == 2
    payloads = [SignedPackage.loads(entry.payload) for entry in OrmQ.objects.order_by("id")]
    assert [p["group"] for p in payloads] == [group, group]
    queued = AuditEntry.objects.filter(action="rebuild_queued").order_by("user_id")
    assert [(row.user_id, row.metadata_dict["group_id"]) for row in queued] == [
        (first.account.user_id, group), (second.account.user_id, group)
    ]
    assert [p["kwargs"]["user_ids"] for p in payloads] == [[first.account.user_id], [second.account.user_id]]
    # The widened window is fixed at enqueue time, so every task covers the same hours.
    assert {(p["kwargs"]["start"], p["kwargs"]["end"]) for p in payloads} == {(H, H + HOUR)}


def test_async_command_prints_the_group_id(tracker):
    scenario = build_scenario(tracker)
    make_model(scenario.account, "last_touch")
    out = io.StringIO()
    call_command("attribution_rebuild", "--async", "--user", str(scenario.account.user_id), stdout=out)
    assert out.getvalue().startswith("Enqueued 1 rebuild task(s) in group rebuild-")
    assert get_broker().queue_size() == 1
    assert not Snapshot.objects.exists()


def test_q_cluster_retry_outlasts_the_task_timeout_with_bounded_attempts():
    q_cluster = settings.Q_CLUSTER
    assert q_cluster["retry"] > q_cluster["timeout"]
    assert 1 <= q_cluster["max_attempts"] <= 5
    assert q_cluster["catch_up"] is False
