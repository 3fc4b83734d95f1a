"""Small builders for Prosper202 rows, so each test states only what it is about."""
import itertools
from decimal import Decimal

from django.db import connection

from journeys.models import (
    Advertiser,
    Campaign,
    Click,
    ClickAdvance,
    Conversion,
    LandingPage,
    TrafficSourceAccount,
)
from tracker import schema
from tracker.models import Account

_click_ids = itertools.count(1_000_001)


def empty_202_tables():
    """Delete every 202 row: Django's flush after a committed test empties only its own tables."""
    with connection.cursor() as cursor:
        for table in schema.TABLES:
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(table.name)}")


class Tracker:
    """Creates tracker rows with sensible defaults; every keyword overrides a column."""

    def account(self, name="acme", **columns):
        return Account.objects.create(user_name=name, user_email=f"{name}@example.com", **columns)

    def advertiser(self, account, name="Network", **columns):
        return Advertiser.objects.create(user=account, aff_network_name=name, **columns)

    def campaign(self, account, advertiser=None, name="Campaign", payout="10.00", **columns):
        advertiser = advertiser or self.advertiser(account)
        return Campaign.objects.create(
            user=account, aff_network=advertiser, aff_campaign_name=name,
            aff_campaign_payout=Decimal(payout), **columns,
        )

    def landing_page(self, account, campaign, name="Lander", **columns):
        return LandingPage.objects.create(
            user=account, aff_campaign=campaign, landing_page_nickname=name,
            landing_page_url=f"https://example.com/{name.lower()}", **columns,
        )

    def traffic_source(self, account, name="Source", **columns):
        return TrafficSourceAccount.objects.create(
            user=account, ppc_network_id=1, ppc_account_name=name, **columns
        )

    def click(self, account, campaign, click_time, click_id=None, cpc="0.50000",
              landing_page_id=0, ppc_account_id=0, ip_id=None, **columns):
        click = Click.objects.create(
            click_id=click_id or next(_click_ids), user_id=account.user_id,
            aff_campaign_id=campaign.aff_campaign_id, landing_page_id=landing_page_id,
            ppc_account_id=ppc_account_id, click_cpc=Decimal(cpc), click_time=click_time,
            **columns,
        )
        if ip_id is not None:
            ClickAdvance.objects.create(click_id=click.click_id, ip_id=ip_id)
        return click

    def conversion(self, account, campaign, conv_time, click=None, click_id=None,
                   click_time=None, payout="10.00000", deleted=0, transaction_id=None, **columns):
        """A conversion of `click` (or of a bare click id/time whose click row may not exist)."""
        return Conversion.objects.create(
            click_id=click.click_id if click else click_id,
            click_time=click.click_time if click else click_time,
            transaction_id=transaction_id, campaign_id=campaign.aff_campaign_id,
            click_payout=Decimal(payout), user_id=account.user_id, conv_time=conv_time,
            time_difference="", pixel_type=1, user_agent="pytest", deleted=deleted, **columns,
        )
