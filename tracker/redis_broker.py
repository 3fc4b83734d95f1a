"""django-q2's Redis broker with acknowledgements, so queued work survives a dead worker.

django-q2's own Redis broker pops a task (BLPOP) and forgets it: a worker killed mid-task loses
the task, and a task that failed is never retried. Here a task taken from the queue is leased
(moved to a processing list, with a deadline in a sorted set) until django-q2 acknowledges it
(its result saved as a success, or its last attempt failed); a lease that runs out (the
cluster's `retry` seconds, longer than the task timeout) puts the task back on the queue. That
is the ORM broker's contract, on Redis: retried within `max_attempts`, on any worker host.

Take and requeue are one Lua script each, so two clusters never take the same task.
"""
import time

from django_q.brokers.redis_broker import Redis
from django_q.conf import Conf
from django_q.signing import BadSignature, SignedPackage

# Requeue up to 100 expired leases, then move the oldest queued task to the processing list
# and lease it until now + ARGV[1] seconds (Redis server time, the same clock for every host).
_TAKE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
for _, package in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 100)) do
  redis.call('ZREM', KEYS[3], package)
  if redis.call('LREM', KEYS[2], 1, package) > 0 then
    redis.call('LPUSH', KEYS[1], package)
  end
end
local package = redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT')
if package then
  redis.call('ZADD', KEYS[3], now + tonumber(ARGV[1]), package)
end
return package
"""


class AcknowledgedRedis(Redis):
    """Queue `django_q:<name>:q`, processing list `…:processing`, leases `…:leases`."""

    def __init__(self, list_key=None):
        super().__init__(list_key=list_key)
        self.processing_key = f"{self.list_key}:processing"
        self.leases_key = f"{self.list_key}:leases"
        self._take = self.connection.register_script(_TAKE)

    def dequeue(self):
        """One task, leased for Conf.RETRY seconds; the package itself is its ack id."""
        package = self._take(keys=[self.list_key, self.processing_key, self.leases_key], args=[Conf.RETRY])
        if package is None:
            # Polling, as the ORM broker does: a blocking pop cannot be part of the atomic take.
            time.sleep(Conf.POLL)
            return None
        return [(package, package)]

    def acknowledge(self, task_id):
        with self.connection.pipeline() as pipe:
            pipe.lrem(self.processing_key, 1, task_id)
            pipe.zrem(self.leases_key, task_id)
            pipe.execute()

    def fail(self, task_id):
        """A package that cannot be read (bad signature) is dropped, not retried forever."""
        self.acknowledge(task_id)

    def lock_size(self):
        return self.connection.zcard(self.leases_key)

    def delete_queue(self):
        return self.connection.delete(self.list_key, self.processing_key, self.leases_key)

    def leases(self):
        """{task id: lease deadline (epoch seconds)} of the tasks taken by a worker and not
        yet acknowledged: running, waiting in a cluster, or failed and waiting for a retry."""
        leased = self.connection.zrange(self.leases_key, 0, -1, withscores=True)
        return {task_id: deadline for package, deadline in leased if (task_id := package_task_id(package))}

    def queued_task_ids(self):
        """Ids of the tasks waiting in the queue (reads the whole queue: for status pages)."""
        return {task_id for package in self.connection.lrange(self.list_key, 0, -1)
                if (task_id := package_task_id(package))}


def package_task_id(package):
    """The task id inside a signed django-q2 package; None when it cannot be read."""
    try:
        return SignedPackage.loads(package)["id"]
    except (BadSignature, KeyError, TypeError):
        return None
