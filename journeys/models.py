"""Prosper202's tracker tables (unmanaged) and the journey-capture watermark (ours).

Field names equal Prosper202's column names so that raw SQL in `store.py` and the ORM agree.
Foreign keys are declared only where the admin joins (`select_related`), always nullable and
without constraints: Prosper202 rows can point at rows that no longer exist.
"""
from django.db import models

from tracker.models import Account, TrackerIdField


def _reference(model, column, **options):
    """A join-only foreign key over an existing Prosper202 id column."""
    return models.ForeignKey(
        model,
        db_column=column,
        db_constraint=False,
        null=True,
        on_delete=models.DO_NOTHING,
        related_name="+",
        **options,
    )


class Advertiser(models.Model):
    """`202_aff_networks`, shown as "advertiser"."""

    aff_network_id = TrackerIdField(primary_key=True)
    user = _reference(Account, "user_id")
    aff_network_name = models.CharField(max_length=50)
    aff_network_deleted = models.BooleanField(default=False)

    class Meta:
        managed = False
        db_table = "202_aff_networks"
        ordering = ["aff_network_id"]

    def __str__(self):
        return f"{self.aff_network_name} (#{self.aff_network_id})"


class Campaign(models.Model):
    """`202_aff_campaigns`."""

    aff_campaign_id = TrackerIdField(primary_key=True)
    user = _reference(Account, "user_id")
    aff_network = _reference(Advertiser, "aff_network_id")
    aff_campaign_name = models.CharField(max_length=50)
    aff_campaign_payout = models.DecimalField(max_digits=8, decimal_places=2)
    aff_campaign_deleted = models.BooleanField(default=False)

    class Meta:
        managed = False
        db_table = "202_aff_campaigns"
        ordering = ["aff_campaign_id"]

    def __str__(self):
        return f"{self.aff_campaign_name} (#{self.aff_campaign_id})"


class LandingPage(models.Model):
    """`202_landing_pages`."""

    landing_page_id = TrackerIdField(primary_key=True)
    user = _reference(Account, "user_id")
    aff_campaign = _reference(Campaign, "aff_campaign_id")
    landing_page_nickname = models.CharField(max_length=50)
    landing_page_url = models.CharField(max_length=255)
    landing_page_deleted = models.BooleanField(default=False)

    class Meta:
        managed = False
        db_table = "202_landing_pages"
        ordering = ["landing_page_id"]

    def __str__(self):
        return f"{self.landing_page_nickname} (#{self.landing_page_id})"


class TrafficSourceAccount(models.Model):
    """`202_ppc_accounts`: the traffic-source account a click came from ("account" scope)."""

    ppc_account_id = TrackerIdField(primary_key=True)
    user = _reference(Account, "user_id")
    ppc_network_id = models.PositiveIntegerField()
    ppc_account_name = models.CharField(max_length=50)
    ppc_account_deleted = models.BooleanField(default=False)

    class Meta:
        managed = False
        db_table = "202_ppc_accounts"
        ordering = ["ppc_account_id"]

    def __str__(self):
        return f"{self.ppc_account_name} (#{self.ppc_account_id})"


class Click(models.Model):
    """`202_clicks`. Prosper202 gives it no primary key; click ids are unique in practice."""

    click_id = models.BigIntegerField(primary_key=True)
    user = _reference(Account, "user_id")
    aff_campaign = _reference(Campaign, "aff_campaign_id")
    landing_page = _reference(LandingPage, "landing_page_id")
    ppc_account = _reference(TrafficSourceAccount, "ppc_account_id")
    click_cpc = models.DecimalField(max_digits=7, decimal_places=5)
    click_payout = models.DecimalField(max_digits=11, decimal_places=5, default=0)
    click_lead = models.BooleanField(default=False)
    click_filtered = models.BooleanField(default=False)
    click_bot = models.BooleanField(default=False)
    click_alp = models.BooleanField(default=False)
    click_time = models.PositiveIntegerField()
    rotator_id = models.PositiveIntegerField(default=0)

    class Meta:
        managed = False
        db_table = "202_clicks"
        ordering = ["-click_time"]

    def __str__(self):
        return f"click {self.click_id}"


class ClickAdvance(models.Model):
    """`202_clicks_advance`: only the visitor (`ip_id`) is used, for visitor-matched journeys."""

    click_id = models.BigIntegerField(primary_key=True)
    ip_id = models.BigIntegerField()

    class Meta:
        managed = False
        db_table = "202_clicks_advance"


class Conversion(models.Model):
    """`202_conversion_logs`: one conversion; `click_payout` is its revenue."""

    conv_id = TrackerIdField(primary_key=True)
    click_id = models.BigIntegerField()
    transaction_id = models.CharField(max_length=255, null=True, blank=True)
    campaign = _reference(Campaign, "campaign_id")
    click_payout = models.DecimalField(max_digits=11, decimal_places=5)
    user = _reference(Account, "user_id")
    click_time = models.IntegerField()
    conv_time = models.IntegerField()
    time_difference = models.TextField(default="")
    ip = models.CharField(max_length=45, default="")
    pixel_type = models.PositiveIntegerField(default=0)
    user_agent = models.TextField(default="")
    deleted = models.SmallIntegerField(default=0)

    class Meta:
        managed = False
        db_table = "202_conversion_logs"
        ordering = ["-conv_id"]

    def __str__(self):
        return f"conversion {self.conv_id}"


class JourneyTouch(models.Model):
    """`202_conversion_touchpoints`: one click of a conversion's stored journey."""

    touchpoint_id = models.BigAutoField(primary_key=True)
    conv = models.ForeignKey(
        Conversion,
        db_column="conv_id",
        db_constraint=False,
        on_delete=models.DO_NOTHING,
        related_name="journey_touches",
    )
    click_id = models.BigIntegerField()
    click_time = models.PositiveIntegerField()
    position = models.PositiveSmallIntegerField(default=0)
    created_at = models.PositiveIntegerField()

    class Meta:
        managed = False
        db_table = "202_conversion_touchpoints"
        ordering = ["conv_id", "position"]


class CaptureWatermark(models.Model):
    """The highest `conv_id` whose journey capture has committed, one row per database, and when
    the latest capture run started (epoch; it bounds the re-scan of late commits, SPEC §4.2)."""

    name = models.CharField(max_length=50, primary_key=True)
    last_conv_id = models.PositiveBigIntegerField()
    updated_at = models.DateTimeField(auto_now=True)
    run_started_at = models.PositiveIntegerField(null=True)

    class Meta:
        verbose_name = "journey capture watermark"

    def __str__(self):
        return f"{self.name}: conv_id {self.last_conv_id}"


class CapturePass(models.Model):
    """One capture batch that moved the watermark past conv_ids (`passed_from`, watermark] at
    `passed_at` (epoch). A conv_id passed before it committed is re-scanned by later runs while
    its pass is recent enough (`journeys.services.capture_rescan_floor`); older passes are pruned."""

    passed_from = models.PositiveBigIntegerField()
    passed_at = models.PositiveIntegerField(db_index=True)

    class Meta:
        verbose_name = "journey capture pass"
        verbose_name_plural = "journey capture passes"

    def __str__(self):
        return f"passed conv_ids above {self.passed_from} at epoch {self.passed_at}"


class PendingJourneyEviction(models.Model):
    """A journey cache eviction that could not reach the cache, kept until a retry succeeds
    (SPEC §4.5). `conv_id` NULL stands for every journey key: the namespace is bumped instead."""

    conv_id = models.PositiveBigIntegerField(null=True)
    queued_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "pending journey cache eviction"

    def __str__(self):
        what = f"conv_id {self.conv_id}" if self.conv_id is not None else "every journey"
        return f"evict {what} (queued {self.queued_at:%Y-%m-%d %H:%M:%S} UTC)"


class JourneySummary(models.Model):
    """A live conversion's journey as the analysis reports aggregate it (SPEC §7.1; ours): the
    first touch's time and one channel path per channel kind (`journeys.summaries`), written by
    the rebuild with the snapshots. Paths are channel ids separated by spaces, one per touch."""

    conv_id = models.PositiveIntegerField(primary_key=True)
    user_id = models.PositiveIntegerField()
    campaign_id = models.PositiveIntegerField()
    conv_time = models.PositiveIntegerField()
    revenue = models.DecimalField(max_digits=11, decimal_places=5)
    first_touch_time = models.PositiveIntegerField()
    account_path = models.TextField()
    campaign_path = models.TextField()
    landing_page_path = models.TextField()
    built_at = models.PositiveIntegerField()

    class Meta:
        verbose_name = "journey summary"
        verbose_name_plural = "journey summaries"
        # Windows are found by time (the replacement of an account's hours, the conv_id range a
        # report then reads by primary key); no index starts with user_id, so that a report's
        # read stays on the primary key instead of the index of one account's rows.
        indexes = [models.Index(fields=["conv_time", "user_id"], name="journey_summary_time_account")]

    def __str__(self):
        return f"journey summary of conversion {self.conv_id}"
