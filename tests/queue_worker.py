"""Run tasks queued on django-q2's ORM broker inside a test, as a cluster does, in two steps so a
test can look in between: `take()` leases queued tasks (they are running), `run(taken)` executes
them with django-q2's own worker and monitor functions (result saved, acknowledged on success,
a failure left leased for a retry).
"""
from datetime import timedelta
from multiprocessing import Queue, Value

import django_q.monitor
import django_q.worker
import pytest
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.models import OrmQ
from django_q.monitor import monitor
from django_q.signing import SignedPackage
from django_q.worker import worker


class OrmWorker:
    def __init__(self, monkeypatch):
        self.monkeypatch = monkeypatch
        self.broker = get_broker()

    def take(self):
        """Every queued task, leased as a cluster's pusher leases it: [(ack id, task)]."""
        taken = []
        while batch := self.broker.dequeue():
            for ack_id, package in batch:
                task = SignedPackage.loads(package)
                task.update(ack_id=ack_id, cluster=Conf.CLUSTER_NAME)
                taken.append((ack_id, task))
        return taken

    def run(self, taken):
        # django-q2 closes "old" connections around a task unless SYNC is on; in a test that
        # would close the connection holding the test's transaction. And it retitles its
        # processes (setproctitle): not the test process.
        self.monkeypatch.setattr(Conf, "SYNC", True)
        self.monkeypatch.setattr(django_q.worker, "setproctitle", None)
        self.monkeypatch.setattr(django_q.monitor, "setproctitle", None)
        tasks, results = Queue(), Queue()
        for _ack_id, task in taken:
            tasks.put(task)
        tasks.put("STOP")
        worker(tasks, results, Value("f", -1))
        results.put("STOP")
        monitor(results, self.broker)
        self.monkeypatch.setattr(Conf, "SYNC", False)

    def run_all(self):
        self.run(self.take())

    def expire_leases(self):
        """What the passing of Q_CLUSTER's `retry` seconds does: leased tasks can be taken again."""
        OrmQ.objects.update(lock=timezone.now() - timedelta(seconds=1))


@pytest.fixture
def orm_worker(monkeypatch):
    return OrmWorker(monkeypatch)
