"""Which qcluster ran a task, and when it began. django-q2 saves only the cluster *name* on a
task (every qcluster sharing a queue has the same one) and, as `started`, the time the task was
queued; the group progress page (and the scale-out tests) need the host and process that ran
it and when the run began. Both are set on the task just before it runs, so they are saved
with its result (django_q_task.cluster and .started)."""
import os
import socket

from django.dispatch import receiver
from django.utils import timezone
from django_q.signals import pre_execute

CLUSTER_FIELD_LENGTH = 100  # django_q_task.cluster


def worker_label(cluster_name):
    """`<name>@<host>:<pid of the cluster's sentinel>`: the worker's parent is the sentinel,
    one per `manage.py qcluster`."""
    return f"{cluster_name}@{socket.gethostname()}:{os.getppid()}"[:CLUSTER_FIELD_LENGTH]


@receiver(pre_execute, dispatch_uid="tracker.worker_identity")
def label_the_run(sender, task, **kwargs):
    task["cluster"] = worker_label(task.get("cluster") or "")
    task["started"] = timezone.now()
