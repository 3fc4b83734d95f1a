"""Prosper202's attribution tables (unmanaged) and this project's own tables (managed).

The 202 tables keep Prosper202's column names; see `journeys/schema.py` for their DDL.
Times are Unix epoch seconds, as in Prosper202.
"""

from django.conf import settings
from django.db import models

from tracker.models import Account

MODEL_TYPES = (
    ("last_touch", "Last touch"),
    ("first_touch", "First touch"),
    ("linear", "Linear"),
    ("time_decay", "Time decay"),
    ("position_based", "Position based"),
    ("assisted", "Assisted"),
    ("algorithmic", "Algorithmic (Markov)"),
)

SCOPE_TYPES = (
    ("global", "Global"),
    ("campaign", "Campaign"),
    ("advertiser", "Advertiser"),
    ("landing_page", "Landing page"),
    ("account", "Traffic-source account"),
)

# Scopes a settings row can have (SPEC §5.3); snapshots use all of SCOPE_TYPES.
SETTING_SCOPE_TYPES = SCOPE_TYPES[:3]

class AttributionModel(models.Model):
    """`202_attribution_models`: one weighting model of one Prosper202 user."""

    model_id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(
        Account, db_column="user_id", db_constraint=False, on_delete=models.DO_NOTHING,
        related_name="+",
    )
    model_name = models.CharField(max_length=255)
    model_slug = models.CharField(max_length=191)
    model_type = models.CharField(max_length=50, choices=MODEL_TYPES)
    weighting_config = models.TextField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    is_default = models.BooleanField(default=False)
    created_at = models.PositiveIntegerField()
    updated_at = models.PositiveIntegerField()

    class Meta:
        managed = False
        db_table = "202_attribution_models"
        ordering = ["user_id", "model_name"]
        verbose_name = "attribution model"

    def __str__(self):
        return f"{self.model_name} ({self.model_type}, #{self.model_id})"

    @property
    def config_text(self):
        return self.weighting_config or ""


class AttributionSetting(models.Model):
    """`202_attribution_settings`: default model and multi-touch flag of one scope."""

    setting_id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(
        Account, db_column="user_id", db_constraint=False, on_delete=models.DO_NOTHING,
        related_name="+",
    )
    scope_type = models.CharField(max_length=50, choices=SETTING_SCOPE_TYPES)
    scope_id = models.PositiveBigIntegerField(null=True, blank=True)
    model = models.ForeignKey(
        AttributionModel, db_column="model_id", db_constraint=False, on_delete=models.DO_NOTHING,
        related_name="+",
    )
    multi_touch_enabled = models.BooleanField(default=True)
    multi_touch_enabled_at = models.PositiveIntegerField(null=True, blank=True)
    multi_touch_disabled_at = models.PositiveIntegerField(null=True, blank=True)
    effective_at = models.PositiveIntegerField()
    created_at = models.PositiveIntegerField()
    updated_at = models.PositiveIntegerField()

    class Meta:
        managed = False
        db_table = "202_attribution_settings"
        ordering = ["user_id", "scope_type", "scope_id"]
        verbose_name = "scope setting"

    def __str__(self):
        scope = self.scope_type if self.scope_id is None else f"{self.scope_type} {self.scope_id}"
        return f"user {self.user_id}: {scope}"


class Snapshot(models.Model):
    """`202_attribution_snapshots`: one model's totals for one scope value and hour."""

    snapshot_id = models.BigAutoField(primary_key=True)
    model = models.ForeignKey(
        AttributionModel, db_column="model_id", db_constraint=False, on_delete=models.DO_NOTHING,
        related_name="+",
    )
    user = models.ForeignKey(
        Account, db_column="user_id", db_constraint=False, on_delete=models.DO_NOTHING,
        related_name="+",
    )
    scope_type = models.CharField(max_length=50, choices=SCOPE_TYPES)
    scope_id = models.PositiveBigIntegerField(null=True)
    date_hour = models.PositiveIntegerField()
    lookback_start = models.PositiveIntegerField()
    lookback_end = models.PositiveIntegerField()
    attributed_clicks = models.PositiveIntegerField(default=0)
    attributed_conversions = models.PositiveIntegerField(default=0)
    attributed_revenue = models.DecimalField(max_digits=12, decimal_places=4, default=0)
    attributed_cost = models.DecimalField(max_digits=12, decimal_places=4, default=0)
    created_at = models.PositiveIntegerField()

    class Meta:
        managed = False
        db_table = "202_attribution_snapshots"
        ordering = ["-date_hour"]


class TouchCredit(models.Model):
    """`202_attribution_touchpoints`: the credit one touch received under a global snapshot."""

    touchpoint_id = models.BigAutoField(primary_key=True)
    snapshot = models.ForeignKey(
        Snapshot, db_column="snapshot_id", db_constraint=False, on_delete=models.DO_NOTHING,
        related_name="credits",
    )
    conv_id = models.PositiveIntegerField()
    click_id = models.BigIntegerField()
    position = models.PositiveSmallIntegerField(default=0)
    credit = models.DecimalField(max_digits=10, decimal_places=5, default=0)
    weight = models.DecimalField(max_digits=10, decimal_places=5, default=0)
    created_at = models.PositiveIntegerField()

    class Meta:
        managed = False
        db_table = "202_attribution_touchpoints"


class Export(models.Model):
    """`202_attribution_exports`: a scheduled snapshot export and its webhook result."""

    export_id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(
        Account, db_column="user_id", db_constraint=False, on_delete=models.DO_NOTHING,
        related_name="+",
    )
    model = models.ForeignKey(
        AttributionModel, db_column="model_id", db_constraint=False, on_delete=models.DO_NOTHING,
        related_name="+",
    )
    scope_type = models.CharField(max_length=32, choices=SCOPE_TYPES)
    scope_id = models.PositiveBigIntegerField(null=True, blank=True)
    start_hour = models.PositiveIntegerField()
    end_hour = models.PositiveIntegerField()
    requested_format = models.CharField(max_length=16, default="csv")
    status = models.CharField(max_length=20, default="pending")
    options = models.TextField(null=True, blank=True)
    webhook_url = models.CharField(max_length=500, null=True, blank=True)
    webhook_secret = models.CharField(max_length=255, null=True, blank=True)
    webhook_headers = models.TextField(null=True, blank=True)
    file_path = models.CharField(max_length=500, null=True, blank=True)
    rows_exported = models.PositiveIntegerField(null=True)
    queued_at = models.PositiveIntegerField()
    started_at = models.PositiveIntegerField(null=True)
    completed_at = models.PositiveIntegerField(null=True)
    failed_at = models.PositiveIntegerField(null=True)
    last_error = models.TextField(null=True)
    webhook_attempted_at = models.PositiveIntegerField(null=True)
    webhook_status_code = models.IntegerField(null=True)
    webhook_response_body = models.TextField(null=True)
    created_at = models.PositiveIntegerField()
    updated_at = models.PositiveIntegerField()

    class Meta:
        managed = False
        db_table = "202_attribution_exports"
        ordering = ["-export_id"]


class Cronjob(models.Model):
    """`202_cronjobs`: hours already handled by a scheduled run (type `attr` for rebuilds)."""

    pk = models.CompositePrimaryKey("cronjob_type", "cronjob_time")
    cronjob_type = models.CharField(max_length=5)
    cronjob_time = models.IntegerField()

    class Meta:
        managed = False
        db_table = "202_cronjobs"


class CronjobLog(models.Model):
    """`202_cronjob_logs`: id 2 = last successful rebuild, id 3 = last export worker pass."""

    REBUILD = 2
    EXPORT = 3

    id = models.AutoField(primary_key=True)
    last_execution_time = models.PositiveIntegerField()

    class Meta:
        managed = False
        db_table = "202_cronjob_logs"


class AttributionPermissions(models.Model):
    """Holds the two Prosper202 permission codenames; it has no table."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("view_attribution_reports", "Can view attribution reports and journeys"),
            ("manage_attribution_models", "Can manage attribution models, settings and rebuilds"),
        ]


class ApiToken(models.Model):
    """A bearer token for the JSON API; only its SHA-256 is stored."""

    django_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    token_prefix = models.CharField(max_length=8, help_text="First characters, to recognise it")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API token"

    def __str__(self):
        return f"{self.name} ({self.token_prefix}…)"
