"""install_schema creates Prosper202's tables and, on request, the recommended key; migrate
never touches them."""
import io
import json

import pytest
from django.core.management import call_command
from django.db import connection

from tests.scratch_database import ScratchDatabase
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


@pytest.mark.slow
def test_recommended_indexes_adds_the_key_online_once_and_audits_it(tmp_path):
    scratch = ScratchDatabase(tmp_path)
    try:
        scratch.install_ddl()
        first = scratch.manage("install_schema", "--recommended-indexes")
        second = scratch.manage("install_schema", "--recommended-indexes")
        definition = scratch.snapshot_202()
        audit_rows = scratch.execute(
            'SELECT user_id, action, metadata FROM "202_attribution_audit"' if scratch.vendor == "sqlite"
            else "SELECT user_id, action, metadata FROM `202_attribution_audit`"
        )
    finally:
        scratch.drop()
    assert first.returncode == 0, first.stderr
    assert "202_clicks: adding key attribution_campaign_time (aff_campaign_id, click_time) online" in first.stdout
    assert "202_clicks: key attribution_campaign_time added in" in first.stdout
    assert second.returncode == 0, second.stderr
    assert "key attribution_campaign_time (aff_campaign_id, click_time) already present, nothing to do" in second.stdout
    if scratch.vendor == "mysql":
        assert "KEY `attribution_campaign_time` (`aff_campaign_id`,`click_time`)" in definition["202_clicks"]
    else:
        assert "index 202_clicks__attribution_campaign_time" in definition
    [(user_id, action, metadata)] = audit_rows
    assert (user_id, action) == (0, "schema_change")
    details = json.loads(metadata)
    assert details["key"] == "attribution_campaign_time" and details["table"] == "202_clicks"
    assert ("ALGORITHM=INPLACE, LOCK=NONE" in details["statement"]) == (scratch.vendor == "mysql")
    assert details["actor"]["type"] == "cli"


def test_add_key_statement_is_online_on_mysql_and_idempotent_on_sqlite():
    mysql = schema.add_key_statement("mysql", "202_clicks", schema.CAMPAIGN_TIME_KEY)
    assert mysql == ("ALTER TABLE `202_clicks` ADD KEY `attribution_campaign_time` (`aff_campaign_id`, "
                     "`click_time`), ALGORITHM=INPLACE, LOCK=NONE")
    assert schema.add_key_statement("sqlite", "202_clicks", schema.CAMPAIGN_TIME_KEY).startswith(
        'CREATE INDEX IF NOT EXISTS "202_clicks__attribution_campaign_time"'
    )
