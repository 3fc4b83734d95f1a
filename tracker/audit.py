"""Audit rows for `202_attribution_audit` and the actor who caused them (SPEC §5.3).

`record` must be called inside the transaction that makes the change, so the change and its
audit row commit or roll back together.
"""
import getpass
import json
import time
from dataclasses import asdict, dataclass

from django.db import connection

from tracker.models import AUDIT_ACTIONS, AuditEntry


@dataclass(frozen=True)
class Actor:
    """Who made a change: `type` is admin, api, cli or task."""

    type: str
    username: str

    @classmethod
    def from_request(cls, request, via="admin"):
        return cls(via, request.user.get_username() if request.user.is_authenticated else "anonymous")

    @classmethod
    def cli(cls, username=None):
        """A management command, named after the OS user who ran it (cron's user for cron)."""
        return cls("cli", username or _os_user())

    @classmethod
    def task(cls, name):
        return cls("task", name)

    def as_dict(self):
        return asdict(self)


def _os_user():
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER (some containers)
        return "cli"


def record(account_id, action, actor, model_id=None, **metadata):
    """Write one audit row; call inside the changing transaction."""
    if action not in AUDIT_ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    if not connection.in_atomic_block:
        raise RuntimeError(f"audit action {action} must be recorded inside the changing transaction")
    metadata["actor"] = actor.as_dict()
    return AuditEntry.objects.create(
        user_id=account_id,
        model_id=model_id,
        action=action,
        metadata=json.dumps(metadata, sort_keys=True, default=str),
        created_at=int(time.time()),
    )
