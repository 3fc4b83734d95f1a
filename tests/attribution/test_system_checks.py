"""System Checks (SPEC §10): every check in each of its states, and the admin page."""
import os
import socket
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Permission, User
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.models import Failure, Schedule
from django_q.status import Stat

from attribution import system_checks
from attribution.models import AttributionModel, CronjobLog, Snapshot
from attribution.system_checks import ERROR, OK, WARNING, overall_status, run_checks
from journeys.models import JourneyTouch
from tests.attribution.pipeline_state import index_dropped, make_pipeline_healthy
from tracker.models import AccountAccess

NOW = 1_750_000_000
PAGE = "/admin/attribution/system-checks/"
PYMEMCACHE = "django.core.cache.backends.memcached.PyMemcacheCache"


def _model(account, slug, model_type="last_touch", config=None, is_default=False, is_active=True):
    return AttributionModel.objects.create(
        user=account, model_name=slug, model_slug=slug, model_type=model_type, weighting_config=config,
        is_active=is_active, is_default=is_default, created_at=NOW, updated_at=NOW,
    )


def _memcached_settings(location):
    return {"default": {"BACKEND": PYMEMCACHE, "LOCATION": location, "KEY_PREFIX": "checks",
                        "OPTIONS": {"connect_timeout": 0.5, "timeout": 0.5, "ignore_exc": False,
                                    "retry_attempts": 1, "dead_timeout": 5}}}


def _closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _memcached_running():
    try:
        socket.create_connection(("127.0.0.1", 11211), timeout=0.5).close()
    except OSError:
        return False
    return True


# --- cron recency ------------------------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize(
    ("check", "log_id", "age_seconds", "status"),
    [
        (system_checks.check_rebuild_cron, CronjobLog.REBUILD, None, ERROR),
        (system_checks.check_rebuild_cron, CronjobLog.REBUILD, 600, OK),
        (system_checks.check_rebuild_cron, CronjobLog.REBUILD, 2 * 3600 + 1, WARNING),
        (system_checks.check_rebuild_cron, CronjobLog.REBUILD, 24 * 3600 + 1, ERROR),
        (system_checks.check_export_worker, CronjobLog.EXPORT, None, ERROR),
        (system_checks.check_export_worker, CronjobLog.EXPORT, 60, OK),
        (system_checks.check_export_worker, CronjobLog.EXPORT, 11 * 60, WARNING),
        (system_checks.check_export_worker, CronjobLog.EXPORT, 3600 + 1, ERROR),
    ],
)
def test_cron_recency(check, log_id, age_seconds, status):
    if age_seconds is not None:
        CronjobLog.objects.create(id=log_id, last_execution_time=NOW - age_seconds)
    result = check(now=NOW)
    assert result.status == status, result
    if age_seconds is None:
        assert "never completed" in result.detail
    else:
        assert f"epoch {NOW - age_seconds}" in result.detail


@pytest.mark.django_db
def test_rebuild_cron_hint_names_the_command_and_schedule():
    hint = system_checks.check_rebuild_cron(now=NOW).hint
    assert "manage.py attribution_rebuild" in hint and "15 * * * *" in hint and "setup_schedules" in hint


# --- django-q2 -------------------------------------------------------------------------------

@pytest.mark.django_db
def test_no_cluster_and_no_schedule_is_an_error():
    result = system_checks.check_task_cluster()
    assert result.status == ERROR
    assert "qcluster" in result.hint


@pytest.mark.django_db
def test_overdue_schedule_means_no_cluster():
    Schedule.objects.create(name="rebuild", func="attribution.tasks.rebuild_task", schedule_type=Schedule.HOURLY,
                            repeats=-1, next_run=timezone.now() - timedelta(minutes=30))
    result = system_checks.check_task_cluster()
    assert result.status == ERROR
    assert "overdue: rebuild" in result.detail


@pytest.mark.django_db
def test_schedules_on_time_are_the_heartbeat():
    make_pipeline_healthy()
    assert system_checks.check_task_cluster().status == OK


@pytest.mark.slow
@pytest.mark.django_db
def test_a_running_qcluster_is_seen_alive(settings):
    """A real `manage.py qcluster` publishes its stats to the shared memcached."""
    database = settings.DATABASES["default"]
    if not database["ENGINE"].endswith("mysql"):
        pytest.skip("needs a test database another process can open (run with DATABASE_URL=mysql://…)")
    if not _memcached_running():
        pytest.skip("needs memcached on 127.0.0.1:11211")
    settings.CACHES = _memcached_settings("127.0.0.1:11211")
    prefix = f"qcluster-{os.getpid()}-{time.monotonic_ns()}"
    settings.CACHES["default"]["KEY_PREFIX"] = prefix
    url = f"mysql://{database['USER'] or 'root'}@{database['HOST'] or '127.0.0.1'}:{database['PORT'] or 3306}/{database['NAME']}"
    environment = dict(os.environ, DATABASE_URL=url, CACHE_URL="pymemcache://127.0.0.1:11211",
                       CACHE_KEY_PREFIX=prefix, Q_WORKERS="1")
    worker = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=django_settings.BASE_DIR,
                              env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(120):
            if Stat.get_all():
                break
            time.sleep(0.5)
        result = system_checks.check_task_cluster()
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    assert result.status == OK, result
    assert result.detail.startswith("1 cluster(s) alive")


@pytest.mark.django_db
def test_queue_depth():
    assert system_checks.check_task_queue().status == OK
    broker = get_broker()
    for number in range(system_checks.QUEUE_DEPTH_WARNING):
        broker.enqueue(f"task {number}")
    result = system_checks.check_task_queue()
    assert result.status == WARNING
    assert result.detail.startswith(f"{system_checks.QUEUE_DEPTH_WARNING} task(s) waiting")


@pytest.mark.django_db
def test_failed_tasks_in_the_last_day_warn():
    started = timezone.now() - timedelta(hours=30)
    Failure.objects.create(id="old", name="old-one", func="attribution.tasks.rebuild_task",
                           started=started, stopped=started, success=False, result="boom")
    assert system_checks.check_failed_tasks().status == OK
    recent = timezone.now() - timedelta(hours=1)
    Failure.objects.create(id="new", name="new-one", func="attribution.tasks.rebuild_task",
                           started=recent, stopped=recent, success=False, result="boom")
    result = system_checks.check_failed_tasks()
    assert result.status == WARNING
    assert result.detail == "1 failed task(s) in the last 24 h: attribution.tasks.rebuild_task (new-one)"
    assert "/admin/django_q/failure/" in result.hint


# --- cache -----------------------------------------------------------------------------------

LOCMEM = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "KEY_PREFIX": "checks"}}


def test_local_memory_cache_is_a_warning_in_production(settings):
    settings.CACHES = LOCMEM
    settings.DEBUG = False
    result = system_checks.check_cache()
    assert result.status == WARNING
    assert "local-memory" in result.detail


def test_local_memory_cache_is_fine_in_development(settings):
    settings.CACHES = LOCMEM
    settings.DEBUG = True
    assert system_checks.check_cache().status == OK


def test_memcached_down_is_an_error(settings):
    settings.CACHES = _memcached_settings(f"127.0.0.1:{_closed_port()}")
    result = system_checks.check_cache()
    assert result.status == ERROR
    assert result.detail.startswith("cache unreachable:")
    assert "CACHE_URL=pymemcache://" in result.hint


def test_memcached_up_is_ok(settings):
    if not _memcached_running():
        pytest.skip("needs memcached on 127.0.0.1:11211")
    settings.CACHES = _memcached_settings("127.0.0.1:11211")
    result = system_checks.check_cache()
    assert result.status == OK
    assert result.detail == "PyMemcacheCache: set/get round trip succeeded"


# --- models ----------------------------------------------------------------------------------

@pytest.mark.django_db
def test_invalid_model_rows_are_errors_and_filtered_by_tenant(tracker):
    mine, theirs = tracker.account("mine"), tracker.account("theirs")
    _model(mine, "ok", is_default=True)
    broken = _model(theirs, "broken", model_type="first_touch", config='{"half_life_hours": 3}')
    result = system_checks.check_model_rows()
    assert result.status == ERROR
    assert f"model {broken.model_id} (user {theirs.user_id})" in result.detail
    assert system_checks.check_model_rows(account_ids={mine.user_id}).status == OK


@pytest.mark.django_db
def test_default_models(tracker):
    account = tracker.account()
    assert system_checks.check_default_models().status == OK
    first = _model(account, "a")
    result = system_checks.check_default_models()
    assert result.status == WARNING
    assert f"user {account.user_id}" in result.detail
    AttributionModel.objects.filter(pk=first.pk).update(is_default=True)
    assert system_checks.check_default_models().status == OK
    _model(account, "b", is_default=True)
    result = system_checks.check_default_models()
    assert result.status == ERROR
    assert f"user {account.user_id} (2)" in result.detail


# --- journeys needing review ------------------------------------------------------------------

def _journey(conversion, click_times):
    JourneyTouch.objects.bulk_create(
        JourneyTouch(conv=conversion, click_id=9_000_000 + conversion.conv_id * 100 + position,
                     click_time=click_time, position=position, created_at=NOW)
        for position, click_time in enumerate(click_times)
    )


@pytest.mark.django_db
def test_journeys_needing_review(tracker, settings):
    account = tracker.account()
    campaign = tracker.campaign(account)
    clean = tracker.conversion(account, campaign, conv_time=NOW, click_id=1, click_time=NOW - 10)
    _journey(clean, [NOW - 100, NOW - 10])
    assert system_checks.check_journeys_review().status == OK

    capped = tracker.conversion(account, campaign, conv_time=NOW, click_id=2, click_time=NOW - 10)
    _journey(capped, [NOW - 1000 + i for i in range(settings.ATTRIBUTION_MAX_TOUCHES + 1)])
    old = tracker.conversion(account, campaign, conv_time=NOW, click_id=3, click_time=NOW - 10)
    _journey(old, [NOW - settings.ATTRIBUTION_LOOKBACK_SECONDS - 1, NOW - 10])
    result = system_checks.check_journeys_review()
    assert result.status == WARNING
    assert result.detail.startswith("2 journey(s) need review")
    assert "(1 outside window, 1 beyond cap)" in result.detail  # the rules' flag names
    assert "manage.py verify_journeys" in result.hint
    assert system_checks.check_journeys_review(account_ids=set()).status == OK


# --- snapshots -------------------------------------------------------------------------------

@pytest.mark.django_db
def test_snapshot_freshness(tracker):
    account = tracker.account()
    model = _model(account, "a", is_default=True)
    _model(account, "inactive", is_active=False)
    result = system_checks.check_snapshot_freshness(now=NOW)
    assert result.status == WARNING
    assert f"model {model.model_id} 'a' (user {account.user_id}): no snapshot yet" in result.detail

    def snapshot(hour):
        Snapshot.objects.create(model=model, user=account, scope_type="global", date_hour=hour,
                                lookback_start=hour, lookback_end=hour + 3599, created_at=NOW)

    snapshot(NOW // 3600 * 3600 - 3 * 86400)
    assert system_checks.check_snapshot_freshness(now=NOW).status == WARNING
    snapshot(NOW // 3600 * 3600 - 3600)
    result = system_checks.check_snapshot_freshness(now=NOW)
    assert result.status == OK
    assert result.detail.startswith("1 active model(s) have snapshots")


# --- schema and the whole run ----------------------------------------------------------------

@pytest.mark.django_db
def test_schema_check_ok_on_the_installed_schema():
    assert system_checks.check_schema_health().status == OK


@pytest.mark.django_db(transaction=True)
def test_missing_index_turns_the_schema_check_red():
    with index_dropped("202_conversion_touchpoints", "conv_id"):
        result = system_checks.check_schema_health()
    assert result.status == ERROR
    assert "key conv_id (conv_id) is missing" in result.detail
    assert "manage.py check_schema" in result.hint


@pytest.mark.django_db
def test_a_check_that_raises_is_reported_not_raised(monkeypatch):
    def broken(account_ids=None, now=None):
        raise ConnectionError("broker refused")

    monkeypatch.setattr(system_checks, "CHECKS", (("task_queue", broken),))
    (result,) = run_checks()
    assert result == ("task_queue", ERROR, "the check could not run: ConnectionError: broker refused", result.hint)


def test_overall_status_is_the_worst():
    assert overall_status([]) == OK
    assert overall_status([("a", OK, "", ""), ("b", WARNING, "", "")]) == WARNING
    assert overall_status([("a", ERROR, "", ""), ("b", WARNING, "", "")]) == ERROR


@pytest.mark.django_db
def test_every_check_has_a_concrete_hint():
    results = run_checks()
    assert [r.name for r in results] == [name for name, _ in system_checks.CHECKS]
    for result in results:
        assert "manage.py" in result.hint or "/admin/" in result.hint or "CACHE_URL=" in result.hint, result


# --- the admin page --------------------------------------------------------------------------

@pytest.fixture
def viewer(tracker):
    """A staff user allowed to view reports for one account only."""
    account = tracker.account("viewer-account")
    user = User.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_attribution_reports"))
    AccountAccess.objects.create(django_user=user, account_id=account.user_id)
    return user, account


@pytest.mark.django_db
def test_page_shows_every_check_with_status_and_hint(admin_client):
    make_pipeline_healthy()
    response = admin_client.get(PAGE)
    assert response.status_code == 200
    html = response.content.decode()
    for name, _ in system_checks.CHECKS:
        assert f'data-check="{name}"' in html
    assert 'data-check="rebuild_cron" data-status="ok"' in html
    assert "manage.py attribution_rebuild" in html


@pytest.mark.django_db
def test_page_turns_red_when_the_rebuild_never_ran(admin_client):
    response = admin_client.get(PAGE)
    html = response.content.decode()
    assert 'data-check="rebuild_cron" data-status="error"' in html
    assert 'id="checks-overall" data-status="error"' in html


@pytest.mark.django_db
def test_page_turns_red_when_memcached_is_down(admin_client, settings):
    make_pipeline_healthy()
    settings.CACHES = _memcached_settings(f"127.0.0.1:{_closed_port()}")
    html = admin_client.get(PAGE).content.decode()
    assert 'data-check="cache" data-status="error"' in html


@pytest.mark.django_db
def test_page_hides_other_tenants_rows(client, viewer, tracker):
    user, account = viewer
    other = tracker.account("other")
    broken = _model(other, "broken", model_type="time_decay", config="{}")
    client.force_login(user)
    html = client.get(PAGE).content.decode()
    assert 'data-check="model_rows" data-status="ok"' in html
    assert f"model {broken.model_id}" not in html


@pytest.mark.django_db
def test_page_needs_login_and_permission(client):
    response = client.get(PAGE)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    client.force_login(User.objects.create_user("staff", is_staff=True))
    assert client.get(PAGE).status_code == 403


def test_page_url_name():
    from django.urls import reverse

    assert reverse("attribution-system-checks") == PAGE
