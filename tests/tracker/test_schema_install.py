"""install_schema creates Prosper202's tables; migrate never touches them."""
import io

import pytest
from django.core.management import call_command
from django.db import connection

from tracker import schema


@pytest.mark.django_db
def test_install_schema_is_idempotent_and_creates_every_table():
    out = io.StringIO()
    call_command("install_schema", stdout=out)
    assert "0 table(s) created, 17 already present" in out.getvalue()
    tables = set(connection.introspection.table_names())
    assert {t.name for t in schema.TABLES} <= tables


@pytest.mark.django_db
def test_factories_write_rows_the_orm_reads_back(tracker):
    account = tracker.account()
    campaign = tracker.campaign(account)
    click = tracker.click(account, campaign, click_time=1_700_000_000)
    conversion = tracker.conversion(account, campaign, conv_time=1_700_000_100, click=click)
    assert conversion.campaign.aff_network.user_id == account.user_id
    assert conversion.click_id == click.click_id
