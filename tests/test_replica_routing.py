"""DATABASE_REPLICA_URL (SPEC §2, §11): heavy reads (journey candidates, reports, analysis,
exports) go to the replica; writes, and reads that must see this process's own writes (the
rebuild's reads and read-back, capture's watermark) stay on the primary.

The settings gain a `replica` alias exactly as DATABASE_REPLICA_URL adds one (a test mirror of
`default`, so it reads the test database through a second connection). It is registered when
this module is collected, before the test databases are set up; other tests never query it
(Django refuses queries to aliases a test did not ask for). Each read is attributed to its
alias with CaptureQueriesContext per connection; the tests commit (transaction=True) so the
replica connection sees the data.
"""
import copy
import re
from contextlib import ExitStack, contextmanager
from decimal import Decimal

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connections
from django.db.backends.signals import connection_created

from attribution import analysis_reader, reporting, services
from attribution.exports import files
from attribution.models import Export
from attribution.rebuild import run_rebuild
from journeys import services as journey_services
from tests.journeys.journey_helpers import DAY, NOW
from tracker.audit import Actor


def _register_replica_alias():
    if "replica" in connections.settings:
        return
    replica = {**copy.deepcopy(settings.DATABASES["default"]), "TEST": {"MIRROR": "default"}}
    settings.DATABASES["replica"] = replica
    configured = connections.configure_settings({"default": copy.deepcopy(settings.DATABASES["default"]),
                                                 "replica": replica})
    connections.settings["replica"] = configured["replica"]


_register_replica_alias()

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "replica"])
ACTOR = Actor.cli("pytest")
_WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER)\b", re.IGNORECASE)


@pytest.fixture(autouse=True)
def replica_configured(settings):
    """What settings.py derives from DATABASE_REPLICA_URL."""
    settings.HEAVY_READ_DATABASE = "replica"


@contextmanager
def queries():
    """{alias: [SQL]} of the statements each alias ran inside the block, on this thread's
    connections and on those a reader thread opens meanwhile (tracker.read_ahead). Recorded with
    execute_wrapper rather than CaptureQueriesContext: the rebuild clears Django's query log
    after every chunk (reset_queries), which would empty the captured list."""
    ran = {"default": [], "replica": []}

    def recorder(alias):
        def record(execute, sql, params, many, context):
            ran[alias].append(sql)
            return execute(sql, params, many, context)
        return record

    def record_new_connection(sender, connection, **kwargs):
        if connection.alias in ran:
            connection.execute_wrappers.append(recorder(connection.alias))

    with ExitStack() as stack:
        for alias in ran:
            stack.enter_context(connections[alias].execute_wrapper(recorder(alias)))
        connection_created.connect(record_new_connection)
        stack.callback(connection_created.disconnect, record_new_connection)
        yield ran


def reads_of(statements, table):
    return [sql for sql in statements if not _WRITE.match(sql) and table in sql]


@pytest.fixture
def shop(tracker, settings):
    """One account, a campaign with two landing pages, three conversions with three clicks each."""
    settings.ATTRIBUTION_LOOKBACK_SECONDS = 10 * DAY
    account = tracker.account("shop")
    campaign = tracker.campaign(account)
    pages = [tracker.landing_page(account, campaign, name=f"L{n}").landing_page_id for n in range(2)]
    for number in range(3):
        conv_time = NOW - DAY + number * 3600
        clicks = [tracker.click(account, campaign, conv_time - 900 + 300 * touch, landing_page_id=pages[touch % 2],
                                cpc="0.25") for touch in range(3)]
        tracker.conversion(account, campaign, conv_time, click=clicks[-1])
    model = services.create_model(account_id=account.user_id, model_name="Linear", model_type="linear",
                                  is_default=True, actor=ACTOR)
    return account, model


def test_backfill_reads_candidate_clicks_on_the_replica_and_writes_on_the_primary(shop):
    with queries() as ran:
        result = journey_services.backfill_journeys(start=NOW - 2 * DAY, end=NOW, actor=ACTOR)

    assert result.written == 3
    assert reads_of(ran["replica"], "202_clicks")  # the journey candidates
    assert not reads_of(ran["default"], "202_clicks")
    assert not [sql for sql in ran["replica"] if _WRITE.match(sql)]
    assert [sql for sql in ran["default"] if _WRITE.match(sql) and "202_conversion_touchpoints" in sql]


def test_capture_keeps_its_watermark_on_the_primary(shop):
    journey_services.capture_new_conversions(actor=ACTOR)  # first run: sets the watermark

    with queries() as ran:
        journey_services.capture_new_conversions(actor=ACTOR)

    assert [sql for sql in ran["default"] if "watermark" in sql]
    assert not [sql for sql in ran["replica"] if "watermark" in sql or _WRITE.match(sql)]


def test_the_rebuild_reads_and_reads_back_only_on_the_primary(shop):
    account, _model = shop
    journey_services.backfill_journeys(start=NOW - 2 * DAY, end=NOW, actor=ACTOR)

    with queries() as ran:
        outcome = run_rebuild(start=NOW - 2 * DAY, end=NOW, user_ids=[account.user_id], actor=ACTOR)

    assert outcome.succeeded
    assert ran["replica"] == []
    assert reads_of(ran["default"], "202_conversion_touchpoints")


def test_reports_analysis_and_exports_read_on_the_replica(shop):
    account, model = shop
    journey_services.backfill_journeys(start=NOW - 2 * DAY, end=NOW, actor=ACTOR)
    run_rebuild(start=NOW - 2 * DAY, end=NOW, user_ids=[account.user_id], actor=ACTOR)
    window = {"start_hour": NOW - 2 * DAY, "end_hour": NOW}
    root = User.objects.create_superuser("root", None, None)

    with queries() as ran:
        kpis = reporting.totals(account_ids=None, model_id=model.model_id, scope_type="global", scope_id=None, **window)
        scope = analysis_reader.resolve_scope(root, account=account.user_id)
        paths = analysis_reader.run_report("paths", scope, channel="landing_page", collapse_repeats=False, **window)
        export = Export(model_id=model.model_id, user_id=account.user_id, scope_type="global", scope_id=None,
                        requested_format="csv", **window)
        exported = list(files.export_rows(export))

    assert kpis.conversions == 3 and kpis.revenue == Decimal("30.00000")
    assert paths.report == "paths" and len(exported) == 3
    assert len(reads_of(ran["replica"], "202_attribution_snapshots")) >= 2  # the report and the export
    assert reads_of(ran["replica"], "summar")  # the analysis reads journey summaries
    assert not reads_of(ran["default"], "202_attribution_snapshots")
    assert not [sql for sql in ran["replica"] if _WRITE.match(sql)]
