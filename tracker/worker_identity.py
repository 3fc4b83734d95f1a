"""Which qcluster ran a task. django-q2 saves only the cluster *name* on a task, and every
qcluster sharing a queue has the same name; the group progress page (and the scale-out tests)
need the host and process. The name is extended before the task runs, so it is saved with the
task's result in django_q_task.cluster."""
import os
import socket

from django.dispatch import receiver
from django_q.signals import pre_execute

CLUSTER_FIELD_LENGTH = 100  # django_q_task.cluster


def worker_label(cluster_name):
    """`<name>@<host>:<pid of the cluster's sentinel>`: the worker's parent is the sentinel,
    one per `manage.py qcluster`."""
    return f"{cluster_name}@{socket.gethostname()}:{os.getppid()}"[:CLUSTER_FIELD_LENGTH]


@receiver(pre_execute, dispatch_uid="tracker.worker_identity")
def label_the_worker(sender, task, **kwargs):
    task["cluster"] = worker_label(task.get("cluster") or "")
