"""tracker.redis_broker.AcknowledgedRedis on a real Redis: a taken task stays leased until it is
acknowledged, an expired lease puts it back, two clusters never take the same task, and
tracker.queue_status reads queued and running tasks from it. Needs REDIS_URL (a Redis database
the tests may use; only this test's keys are touched)."""
import time
import uuid

import pytest
from django_q.conf import Conf
from django_q.signing import SignedPackage

from tests.pytest_environment import REDIS_URL
from tracker import queue_status
from tracker.redis_broker import AcknowledgedRedis

pytestmark = pytest.mark.skipif(not REDIS_URL, reason="set REDIS_URL to test the Redis broker")


@pytest.fixture
def queue_name(monkeypatch):
    monkeypatch.setattr(Conf, "REDIS", REDIS_URL)
    monkeypatch.setattr(Conf, "POLL", 0.01)
    return f"test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def broker(queue_name):
    made = AcknowledgedRedis(list_key=queue_name)
    yield made
    made.delete_queue()


def _enqueue(broker, count=1):
    ids = [uuid.uuid4().hex for _ in range(count)]
    for task_id in ids:
        broker.enqueue(SignedPackage.dumps({"id": task_id, "name": task_id, "func": "math.floor", "args": (1.5,),
                                            "kwargs": {}}))
    return ids


def test_a_taken_task_is_leased_until_acknowledged(broker):
    (task_id,) = _enqueue(broker)
    assert broker.queued_task_ids() == {task_id}

    ((ack_id, package),) = broker.dequeue()
    assert (broker.queue_size(), broker.lock_size(), set(broker.leases())) == (0, 1, {task_id})
    assert broker.dequeue() is None  # nothing else to take, and the lease has not run out

    broker.acknowledge(ack_id)
    assert (broker.queue_size(), broker.lock_size()) == (0, 0)


def test_an_expired_lease_hands_the_task_out_again(broker, monkeypatch):
    monkeypatch.setattr(Conf, "RETRY", 0.2)
    (task_id,) = _enqueue(broker)
    ((_, first),) = broker.dequeue()  # its worker dies: never acknowledged

    time.sleep(0.3)
    ((ack_id, again),) = broker.dequeue()
    assert again == first
    broker.acknowledge(ack_id)
    assert (broker.queue_size(), broker.lock_size()) == (0, 0)


def test_two_clusters_never_take_the_same_task(broker, queue_name):
    ids = _enqueue(broker, 40)
    other = AcknowledgedRedis(list_key=queue_name)
    taken = []
    for turn in range(40):
        taken += (broker if turn % 2 else other).dequeue() or []
    assert sorted(SignedPackage.loads(package)["id"] for _, package in taken) == sorted(ids)


@pytest.mark.django_db
def test_queue_status_reads_queued_and_running_tasks_from_redis(broker, monkeypatch):
    monkeypatch.setattr(queue_status, "get_broker", lambda: broker)
    running, queued = _enqueue(broker, 2)
    broker.dequeue()

    states = queue_status.task_states({running: 1, queued: 1})
    assert [status.state for status in states] == ["running", "queued"]
