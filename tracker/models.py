"""The rows every part of the console stands on: Prosper202 accounts (`202_users`, unmanaged),
which accounts a Django user may see (ours), and the audit log (`202_attribution_audit`).

Times are Unix epoch seconds, as in Prosper202. Table names and columns follow Prosper202's DDL
(`tracker/schema.py`).
"""
import json

from django.conf import settings
from django.db import models

AUDIT_ACTIONS = (
    "model_create",
    "model_update",
    "model_delete",
    "model_default_changed",
    "settings_update",
    "settings_delete",
    "settings_merge",
    "multi_touch_enable",
    "multi_touch_disable",
    "journey_purge",
    "journey_backfill",
    "export_scheduled",
    "snapshot_rebuild",
    # A deleted model's snapshots and credit rows, removed in the background after model_delete.
    "model_rows_deleted",
    # An optional key added by install_schema --recommended-indexes (user_id 0: the installation).
    "schema_change",
    # Work queued for django-q2 workers (rebuilds, backfills), recorded when it is enqueued.
    "rebuild_queued",
    "backfill_queued",
)


class TrackerIdField(models.AutoField):
    """An auto-increment id that may be referenced as 0: Prosper202 stores 0 for "none"
    (no landing page, no traffic source), which Django's MySQL backend refuses for AutoField."""

    def get_db_prep_value(self, value, connection, prepared=False):
        return value if prepared else self.get_prep_value(value)


class Account(models.Model):
    """A Prosper202 user (`202_users`): the tenant every other row belongs to."""

    user_id = TrackerIdField(primary_key=True)
    user_name = models.CharField(max_length=50)
    user_email = models.CharField(max_length=100)
    user_timezone = models.CharField(max_length=50, default="America/Los_Angeles")
    user_deleted = models.IntegerField(default=0)

    class Meta:
        managed = False
        db_table = "202_users"
        ordering = ["user_id"]

    def __str__(self):
        return f"{self.user_name} (#{self.user_id})"


class AccountAccess(models.Model):
    """Which Prosper202 account (`202_users.user_id`) a Django user may see (SPEC §9)."""

    django_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="account_access"
    )
    account_id = models.PositiveIntegerField(help_text="Prosper202 user_id")

    class Meta:
        # Created by the attribution app before this app existed; the table keeps its name.
        db_table = "attribution_accountaccess"
        constraints = [
            models.UniqueConstraint(fields=["django_user", "account_id"], name="unique_account_access")
        ]
        verbose_name = "account access"
        verbose_name_plural = "account access"

    def __str__(self):
        return f"{self.django_user} → account {self.account_id}"


class AuditEntry(models.Model):
    """`202_attribution_audit`: who changed what, written in the changing transaction."""

    audit_id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(
        Account, db_column="user_id", db_constraint=False, on_delete=models.DO_NOTHING,
        related_name="+",
    )
    model_id = models.PositiveBigIntegerField(null=True)
    action = models.CharField(max_length=50)
    metadata = models.TextField(null=True)
    created_at = models.PositiveIntegerField()

    class Meta:
        managed = False
        db_table = "202_attribution_audit"
        ordering = ["-audit_id"]
        verbose_name = "audit entry"
        verbose_name_plural = "audit log"

    @property
    def metadata_dict(self):
        try:
            return json.loads(self.metadata or "{}")
        except ValueError:
            return {"unparsed": self.metadata}
