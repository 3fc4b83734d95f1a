"""`manage.py check_schema` (SPEC §3.2): structural differences on a scratch database built from
the raw DDL, data problems on the test database."""
import io
import json
import time

import pytest
from django.core.management import call_command
from django.db import connection

from attribution.data_checks import check_schema
from attribution.models import AttributionModel, AttributionSetting, Snapshot
from tests.scratch_database import ScratchDatabase
from tracker import schema, schema_check
from tracker.schema_check import ERROR, WARNING, ColumnType, _mysql_type_difference, check_structure


@pytest.fixture
def scratch(tmp_path):
    database = ScratchDatabase(tmp_path)
    database.install_ddl()
    yield database
    database.drop()


def run_check(scratch):
    result = scratch.manage("check_schema")
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, result.stdout


# --- structure, on a scratch database ------------------------------------------------------

@pytest.mark.slow
def test_clean_database_passes(scratch):
    code, out = run_check(scratch)
    assert code == 0, out
    assert "0 error(s), 0 warning(s)" in out


@pytest.mark.slow
def test_missing_index_is_an_error(scratch):
    if scratch.vendor == "mysql":
        scratch.execute("ALTER TABLE `202_conversion_touchpoints` DROP KEY `click_lookup`")
    else:
        scratch.execute('DROP INDEX "202_conversion_touchpoints__click_lookup"')
    code, out = run_check(scratch)
    assert code == 1
    assert "ERROR: 202_conversion_touchpoints: key click_lookup (click_id) is missing" in out


@pytest.mark.slow
def test_missing_column_is_an_error(scratch):
    scratch.execute("ALTER TABLE `202_attribution_snapshots` DROP COLUMN `attributed_cost`"
                    if scratch.vendor == "mysql"
                    else 'ALTER TABLE "202_attribution_snapshots" DROP COLUMN "attributed_cost"')
    code, out = run_check(scratch)
    assert code == 1
    assert "ERROR: 202_attribution_snapshots: column attributed_cost is missing" in out


@pytest.mark.slow
def test_missing_table_is_an_error(scratch):
    scratch.execute("DROP TABLE `202_cronjob_logs`" if scratch.vendor == "mysql" else 'DROP TABLE "202_cronjob_logs"')
    code, out = run_check(scratch)
    assert code == 1
    assert "ERROR: 202_cronjob_logs: table is missing" in out


@pytest.mark.slow
def test_extra_column_and_key_are_fine(scratch):
    if scratch.vendor == "mysql":
        scratch.execute("ALTER TABLE `202_clicks` ADD COLUMN `rule_id` int(10) unsigned NOT NULL DEFAULT 0,"
                        " ADD KEY `rule_id` (`rule_id`)")
    else:
        scratch.execute('ALTER TABLE "202_clicks" ADD COLUMN "rule_id" INTEGER NOT NULL DEFAULT 0')
        scratch.execute('CREATE INDEX "202_clicks__rule_id" ON "202_clicks" ("rule_id")')
    code, out = run_check(scratch)
    assert code == 0, out
    assert "0 error(s), 0 warning(s)" in out


@pytest.mark.slow
def test_narrower_column_on_a_written_table_is_an_error(scratch):
    if scratch.vendor != "mysql":
        pytest.skip("SQLite does not enforce declared column types, so nothing can be narrower there")
    scratch.execute("ALTER TABLE `202_attribution_touchpoints` MODIFY `credit` DECIMAL(6,2) NOT NULL DEFAULT 0")
    code, out = run_check(scratch)
    assert code == 1
    assert ("ERROR: 202_attribution_touchpoints: column credit is decimal(6,2), expected decimal(10,5)"
            " (can lose data this project writes)") in out


@pytest.mark.slow
def test_signed_where_unsigned_on_a_written_table_is_an_error(scratch):
    if scratch.vendor != "mysql":
        pytest.skip("SQLite has no unsigned integers")
    scratch.execute("ALTER TABLE `202_attribution_snapshots` MODIFY `date_hour` int(10) NOT NULL")
    code, out = run_check(scratch)
    assert code == 1
    assert "ERROR: 202_attribution_snapshots: column date_hour is int(10), expected int(10) unsigned" in out


@pytest.mark.slow
def test_narrower_column_on_a_read_only_table_is_a_warning(scratch):
    if scratch.vendor != "mysql":
        pytest.skip("SQLite does not enforce declared column types")
    scratch.execute("ALTER TABLE `202_users` MODIFY `user_name` varchar(40) NOT NULL")
    code, out = run_check(scratch)
    assert code == 0, out
    assert "WARNING: 202_users: column user_name is varchar(40), expected varchar(50)" in out


@pytest.mark.slow
def test_default_difference_is_a_warning(scratch):
    if scratch.vendor == "mysql":
        scratch.execute("ALTER TABLE `202_attribution_exports` ALTER `requested_format` SET DEFAULT 'xlsx'")
    else:
        # SQLite cannot alter a default: recreate the table with another one.
        (ddl,) = scratch.execute("SELECT sql FROM sqlite_master WHERE name = '202_attribution_exports'")[0]
        scratch.execute('DROP TABLE "202_attribution_exports"')
        scratch.execute(ddl.replace("DEFAULT 'csv'", "DEFAULT 'xlsx'"))
        for statement in schema.create_statements("sqlite"):
            if "202_attribution_exports__" in statement:
                scratch.execute(statement)
    code, out = run_check(scratch)
    assert code == 0, out
    assert "WARNING: 202_attribution_exports: column requested_format default is 'xlsx', expected 'csv'" in out
    assert "0 error(s), 1 warning(s)" in out


@pytest.mark.slow
def test_nullability_difference_is_a_warning(scratch):
    if scratch.vendor != "mysql":
        pytest.skip("SQLite cannot alter a column's nullability in place")
    scratch.execute("ALTER TABLE `202_conversion_logs` MODIFY `ip` varchar(45) NULL DEFAULT ''")
    code, out = run_check(scratch)
    assert code == 0, out
    assert "WARNING: 202_conversion_logs: column ip is NULL, expected NOT NULL" in out


@pytest.mark.parametrize(
    ("expected", "actual", "loses", "differs"),
    [
        ("int(10) unsigned", "int unsigned", False, False),  # MySQL 8 drops display widths
        ("int(10) unsigned", "bigint(20) unsigned", False, True),
        ("bigint(20) unsigned", "int(10) unsigned", True, True),
        ("mediumint(8) unsigned", "mediumint(9)", True, True),
        ("decimal(12,4)", "decimal(14,4)", False, True),
        ("decimal(12,4)", "decimal(12,2)", True, True),
        ("varchar(255)", "text", False, True),
        ("longtext", "text", True, True),
        ("varchar(50)", "int(11)", True, True),
    ],
)
def test_mysql_type_rules(expected, actual, loses, differs):
    assert _mysql_type_difference(ColumnType.parse(expected), ColumnType.parse(actual)) == (loses, differs)


# --- data problems, on the test database ---------------------------------------------------

def _model(account, slug, model_type="last_touch", config=None, is_default=False):
    now = int(time.time())
    return AttributionModel.objects.create(
        user=account, model_name=slug, model_slug=slug, model_type=model_type,
        weighting_config=config, is_active=True, is_default=is_default, created_at=now, updated_at=now,
    )


def call_check_schema():
    out = io.StringIO()
    try:
        call_command("check_schema", stdout=out)
    except SystemExit as exit_:
        return exit_.code, out.getvalue()
    return 0, out.getvalue()


@pytest.mark.django_db
def test_test_database_is_clean():
    code, out = call_check_schema()
    assert code == 0, out


@pytest.mark.django_db
def test_two_default_models_is_an_error(tracker):
    account = tracker.account()
    _model(account, "a", is_default=True)
    _model(account, "b", is_default=True)
    code, out = call_check_schema()
    assert code == 1
    assert f"1 account(s) have more than one default model (user_id: {account.user_id} (2))" in out


@pytest.mark.django_db
def test_duplicate_global_settings_is_an_error(tracker):
    account = tracker.account()
    model = _model(account, "a", is_default=True)
    now = int(time.time())
    for enabled in (True, False):  # distinct flags get past user_scope_multi_touch too
        AttributionSetting.objects.create(
            user=account, scope_type="global", scope_id=None, model=model, multi_touch_enabled=enabled,
            effective_at=now, created_at=now, updated_at=now,
        )
    code, out = call_check_schema()
    assert code == 1
    assert f"duplicate global settings rows for user_id {account.user_id}" in out


@pytest.mark.django_db
def test_duplicate_snapshots_is_an_error(tracker):
    account = tracker.account()
    model = _model(account, "a", is_default=True)
    for _ in range(2):
        Snapshot.objects.create(
            model=model, user=account, scope_type="campaign", scope_id=7, date_hour=1_700_000_000 // 3600 * 3600,
            lookback_start=0, lookback_end=0, created_at=0,
        )
    code, out = call_check_schema()
    assert code == 1
    assert f"duplicate snapshots for one (model, scope, hour): model {model.model_id} campaign 7 hour 1699999200" in out


@pytest.mark.django_db
def test_invalid_model_row_is_an_error(tracker):
    account = tracker.account()
    _model(account, "a", is_default=True)
    broken = _model(account, "decay", model_type="time_decay", config=json.dumps({}))
    code, out = call_check_schema()
    assert code == 1
    assert f"model {broken.model_id} (user {account.user_id}):" in out
    report = check_schema()
    assert [p.severity for p in report.problems] == [ERROR]


@pytest.mark.django_db
def test_valid_models_pass(tracker):
    account = tracker.account()
    _model(account, "a", is_default=True)
    _model(account, "decay", model_type="time_decay", config=json.dumps({"half_life_hours": 24}))
    report = check_schema()
    assert report.ok, report.problems
    assert WARNING not in {p.severity for p in report.problems}


@pytest.mark.django_db
def test_a_large_clicks_table_without_the_optional_key_gets_a_recommendation_not_a_problem(monkeypatch):
    monkeypatch.setattr(schema_check, "LARGE_TABLE_ROWS", -1)  # any table counts as large
    code, out = call_check_schema()
    assert code == 0, out
    assert ("RECOMMENDATION: 202_clicks holds over -1 rows: `manage.py install_schema --recommended-indexes` "
            "adds KEY attribution_campaign_time (aff_campaign_id, click_time) online") in out
    assert "0 error(s), 0 warning(s)" in out
    monkeypatch.setattr(schema_check, "LARGE_TABLE_ROWS", 10**12)
    assert check_structure().recommendations == []


@pytest.mark.django_db
def test_no_recommendation_once_a_key_on_those_columns_exists(monkeypatch):
    monkeypatch.setattr(schema_check, "LARGE_TABLE_ROWS", -1)
    live = schema_check._introspect(connection, "202_clicks")
    keys = {**live.keys, "campaign_then_time": (("aff_campaign_id", "click_time"), False)}
    with_key = schema_check.LiveTable(live.columns, live.primary_key, keys)
    assert schema_check._recommendations(connection, {"202_clicks": with_key}) == []
    assert len(schema_check._recommendations(connection, {"202_clicks": live})) == 1
