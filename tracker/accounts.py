"""Prosper202 accounts (`202_users`): which exist, which are deleted, and the `--user` rule every
command and API shares (an unknown id is a bad argument; a deleted one is skipped with a warning).
"""
from dataclasses import dataclass, field

from django.db import connections

from tracker import arguments, sql


def deleted_flags(account_ids, using="default"):
    """{user_id: is deleted} for the given accounts that exist."""
    statement = f"SELECT user_id, user_deleted FROM {sql.quote('202_users', using)} WHERE user_id IN ({{ids}})"
    rows = sql.rows_for_ids(connections[using], statement, account_ids)
    return {user_id: bool(deleted) for user_id, deleted in rows}


def live_account_ids(using="default"):
    """Every account that is not deleted, in id order."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            f"SELECT user_id FROM {sql.quote('202_users', using)} WHERE user_deleted = 0 ORDER BY user_id"
        )
        return [row[0] for row in cursor.fetchall()]


@dataclass(frozen=True)
class AccountSelection:
    """Accounts named by a repeated `--user`: the usable ones and the deleted ones skipped."""

    usable: list = field(default_factory=list)
    deleted: list = field(default_factory=list)

    @property
    def warnings(self):
        return [f"User {user_id} is deleted (user_deleted=1): skipped." for user_id in self.deleted]


def select_accounts(values, field="--user", using="default"):
    """Validate account ids; raises InvalidArgument naming the first unknown one."""
    ids = arguments.object_ids(field, values)
    flags = deleted_flags(ids, using)
    for user_id in ids:
        if user_id not in flags:
            raise arguments.InvalidArgument(field, user_id, "no such user_id in 202_users")
    return AccountSelection(
        usable=[user_id for user_id in ids if not flags[user_id]],
        deleted=[user_id for user_id in ids if flags[user_id]],
    )
