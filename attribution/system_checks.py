"""System Checks (SPEC §10): is the attribution pipeline healthy, and if not, what fixes it.

Each check returns a `CheckResult(name, status, detail, hint)`: `status` is ok, warning or error,
`detail` says what was found, `hint` is the exact command or admin page that fixes it. The admin
page shows everything; `/healthz` shows only names and statuses. A check that itself fails (the
database is down, Redis refuses) reports an error instead of breaking the page.

Every query is bounded: point lookups, indexed aggregates, or a capped range of recent rows.
Per-account checks take `account_ids` (None = every account) so a tenant sees only its own rows.
"""
import logging
import time
from datetime import timedelta
from typing import NamedTuple

from django.conf import settings
from django.db.models import IntegerField, Max, Sum
from django.db.models.functions import Cast
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from attribution.models import AttributionModel, AttributionSetting, CronjobLog, Snapshot
from journeys import services as journey_services
from journeys.models import Conversion
from journeys.rules import FLAG_LABELS, REVIEW_FLAGS
from tracker.utc import MINUTES_PATTERN, utc_text

logger = logging.getLogger("attribution.system_checks")

OK, WARNING, ERROR = "ok", "warning", "error"
_SEVERITY = {OK: 0, WARNING: 1, ERROR: 2}

HOUR_SECONDS = 3600
REBUILD_WARNING_SECONDS = 2 * HOUR_SECONDS
REBUILD_ERROR_SECONDS = 24 * HOUR_SECONDS
# The export worker passes every minute; a few missed passes are a warning, an hour is an outage.
EXPORT_WARNING_SECONDS = 10 * 60
EXPORT_ERROR_SECONDS = HOUR_SECONDS
# A repeating schedule this late means no cluster is running the scheduler.
SCHEDULE_OVERDUE_SECONDS = 5 * 60
QUEUE_DEPTH_WARNING = 100
QUEUE_DEPTH_ERROR = 1000
FAILED_TASKS_WINDOW_SECONDS = 24 * HOUR_SECONDS
# Journeys needing review are counted over the most recent conversions only (by primary key).
REVIEW_RECENT_CONVERSIONS = 50_000
# Hours without conversions legitimately have no snapshot; two days without one deserves a look.
SNAPSHOT_STALE_SECONDS = 48 * HOUR_SECONDS
SNAPSHOT_MODELS_MAX = 500
# A journey eviction still waiting after this long means stale journeys are being served.
PENDING_EVICTION_ERROR_SECONDS = HOUR_SECONDS
# Duplicate snapshots are looked for in the last week on the page (check_schema scans all).
SCHEMA_SNAPSHOT_DAYS = 7
# Capture runs every minute: a conversion waiting 10 minutes is late, an hour is an outage.
CAPTURE_LAG_WARNING_SECONDS = 10 * 60
CAPTURE_LAG_ERROR_SECONDS = HOUR_SECONDS
CAPTURE_WINDOW_SECONDS = 24 * HOUR_SECONDS
# conv_time has no index: the capture checks read the most recent conversions by primary key.
CAPTURE_RECENT_CONVERSIONS = 200_000
LISTED_MAX = 5

TITLES = {
    "schema": "Schema (202 tables)",
    "rebuild_cron": "Rebuild cron (202_cronjob_logs id 2)",
    "export_worker": "Export worker (202_cronjob_logs id 3)",
    "task_cluster": "django-q2 cluster",
    "task_queue": "Task queue depth",
    "failed_tasks": "Failed tasks (24 h)",
    "cache": "Journey cache (memcached)",
    "journey_cache_evictions": "Journey cache evictions waiting",
    "model_rows": "Invalid model rows",
    "default_models": "Default model per account",
    "journeys_review": "Journeys needing review",
    "snapshot_freshness": "Latest snapshot per active model",
    "capture_lag": "Journey capture lag",
    "missing_journeys": "Missing journeys (24 h)",
    "settings_drift": "Scope settings drift",
    "deleted_model_rows": "Snapshot rows of deleted models",
}


class CheckResult(NamedTuple):
    name: str
    status: str
    detail: str
    hint: str

    @property
    def title(self):
        return TITLES.get(self.name, self.name)


def _admin_url(view_name, fallback):
    try:
        return reverse(view_name)
    except NoReverseMatch:
        return fallback


def _age(seconds):
    if seconds < 2 * HOUR_SECONDS:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // HOUR_SECONDS} h"
    return f"{seconds // 86400} days"


def _listed(items):
    items = list(items)
    more = len(items) - LISTED_MAX
    return "; ".join(items[:LISTED_MAX]) + (f"; and {more} more" if more > 0 else "")


def _restrict(queryset, account_ids, field="user_id"):
    return queryset if account_ids is None else queryset.filter(**{f"{field}__in": account_ids})


# --- the checks ------------------------------------------------------------------------------

def check_schema_health(account_ids=None, now=None):
    """Structure for everyone; data problems (they name accounts) in detail only for viewers of
    every account, counted for the others."""
    from attribution.data_checks import check_schema

    now = now or int(time.time())
    report = check_schema(snapshot_since_hour=now - SCHEMA_SNAPSHOT_DAYS * 86400)
    hint = "Run `manage.py check_schema` for the full list; `manage.py install_schema` creates missing tables."

    def described(problems):
        shown = [str(p) for p in problems if account_ids is None or not p.about_data]
        hidden = len(problems) - len(shown)
        return _listed(shown + ([f"{hidden} data problem(s) (listed by manage.py check_schema)"] if hidden else []))

    if report.errors:
        return CheckResult("schema", ERROR, f"{len(report.errors)} error(s): " + described(report.errors), hint)
    if report.warnings:
        return CheckResult("schema", WARNING, f"{len(report.warnings)} warning(s): " + described(report.warnings), hint)
    return CheckResult("schema", OK, f"every 202 table, column and key matches ({report.vendor})", hint)


def _cron_recency(name, log_id, label, warning_after, error_after, hint, now):
    last = CronjobLog.objects.filter(id=log_id).values_list("last_execution_time", flat=True).first()
    if not last:
        return CheckResult(name, ERROR, f"{label} has never completed (no 202_cronjob_logs row id {log_id})", hint)
    age = max(0, now - last)
    detail = f"last completed {utc_text(last, MINUTES_PATTERN)} ({_age(age)} ago; epoch {last})"
    if age > error_after:
        return CheckResult(name, ERROR, detail, hint)
    if age > warning_after:
        return CheckResult(name, WARNING, detail, hint)
    return CheckResult(name, OK, detail, hint)


def check_rebuild_cron(account_ids=None, now=None):
    return _cron_recency(
        "rebuild_cron", CronjobLog.REBUILD, "the attribution rebuild",
        REBUILD_WARNING_SECONDS, REBUILD_ERROR_SECONDS,
        "Run `manage.py attribution_rebuild` now; schedule it with cron `15 * * * *` or "
        "`manage.py setup_schedules` plus a running `manage.py qcluster`.",
        now or int(time.time()),
    )


def check_export_worker(account_ids=None, now=None):
    return _cron_recency(
        "export_worker", CronjobLog.EXPORT, "the export worker",
        EXPORT_WARNING_SECONDS, EXPORT_ERROR_SECONDS,
        "Run `manage.py setup_schedules` and keep `manage.py qcluster` running (the export worker passes every minute).",
        now or int(time.time()),
    )


def check_task_cluster(account_ids=None, now=None):
    from django_q.models import Schedule
    from django_q.status import Stat

    hint = "Start workers with `manage.py qcluster` (one per host) and create the schedules with `manage.py setup_schedules`."
    clusters = Stat.get_all()
    cutoff = timezone.now() - timedelta(seconds=SCHEDULE_OVERDUE_SECONDS)
    repeating = Schedule.objects.exclude(repeats=0)
    overdue = list(repeating.filter(next_run__lt=cutoff).order_by("next_run").values_list("name", "func")[:LISTED_MAX])
    overdue_names = ", ".join(name or func for name, func in overdue)
    if clusters:
        workers = sum(len(getattr(stat, "workers", ()) or ()) for stat in clusters)
        detail = f"{len(clusters)} cluster(s) alive with {workers} worker(s)"
        if overdue:
            return CheckResult("task_cluster", WARNING, f"{detail}, but schedules are overdue: {overdue_names}", hint)
        return CheckResult("task_cluster", OK, detail, hint)
    if overdue:
        return CheckResult("task_cluster", ERROR, f"no cluster is running the schedules; overdue: {overdue_names}", hint)
    if repeating.exists():
        # With the ORM broker and a per-process cache, clusters cannot publish their stats here;
        # schedules being picked up on time is the heartbeat then.
        return CheckResult("task_cluster", OK, "schedules are being run on time (cluster stats not published to this cache)", hint)
    return CheckResult("task_cluster", ERROR, "no django-q2 cluster seen and no schedules exist", hint)


def check_task_queue(account_ids=None, now=None):
    from django_q.brokers import get_broker

    broker = get_broker()
    depth = broker.queue_size()
    hint = "Add workers (`manage.py qcluster` on another host, or raise Q_WORKERS); inspect queued tasks in the admin under Django Q → Queued tasks."
    detail = f"{depth} task(s) waiting on {broker.info()}"
    if depth >= QUEUE_DEPTH_ERROR:
        return CheckResult("task_queue", ERROR, detail, hint)
    if depth >= QUEUE_DEPTH_WARNING:
        return CheckResult("task_queue", WARNING, detail, hint)
    return CheckResult("task_queue", OK, detail, hint)


def check_failed_tasks(account_ids=None, now=None):
    from django_q.models import Failure

    since = timezone.now() - timedelta(seconds=FAILED_TASKS_WINDOW_SECONDS)
    failures = Failure.objects.filter(stopped__gte=since)
    hint = f"Read the tracebacks at {_admin_url('admin:django_q_failure_changelist', '/admin/django_q/failure/')} and rerun the task from its command."
    latest = list(failures.order_by("-stopped").values_list("name", "func")[: LISTED_MAX + 1])
    if not latest:
        return CheckResult("failed_tasks", OK, "no failed task in the last 24 h", hint)
    count = failures.count() if len(latest) > LISTED_MAX else len(latest)
    return CheckResult(
        "failed_tasks", WARNING,
        f"{count} failed task(s) in the last 24 h: " + _listed(f"{func} ({name})" for name, func in latest),
        hint,
    )


def check_cache(account_ids=None, now=None):
    from tracker.cache import cache_is_reachable

    backend = settings.CACHES["default"]["BACKEND"]
    hint = "Start memcached and point CACHE_URL at it, e.g. CACHE_URL=pymemcache://127.0.0.1:11211 (journeys keep working from the database meanwhile)."
    reachable, detail = cache_is_reachable()
    if not reachable:
        return CheckResult("cache", ERROR, f"cache unreachable: {detail}", hint)
    if backend.endswith("LocMemCache"):
        detail = "local-memory cache (the CACHE_URL default): each process caches on its own"
        return CheckResult("cache", OK if settings.DEBUG else WARNING, detail, hint)
    return CheckResult("cache", OK, f"{backend.rsplit('.', 1)[-1]}: {detail}", hint)


def check_journey_cache_evictions(account_ids=None, now=None):
    """SPEC §4.5: evictions that could not reach memcached. Retried first (idempotent), so only
    those the cache still refuses are reported."""
    from journeys.cache import pending_evictions, retry_pending_evictions

    retry_pending_evictions()
    rows, oldest, everything = pending_evictions()
    hint = ("Bring memcached back (CACHE_URL): waiting evictions are retried before cached journey "
            "reads and by this check; `manage.py evict_journey_cache --all` settles them all at once.")
    if not rows:
        return CheckResult("journey_cache_evictions", OK, "no eviction waiting for the cache", hint)
    now = now or int(time.time())
    queued_at = int(oldest.timestamp())
    age = max(0, now - queued_at)
    detail = (f"{rows} eviction(s) waiting since {utc_text(queued_at, MINUTES_PATTERN)} ({_age(age)} ago)"
              + (", one of them of every journey" if everything else "")
              + ": until then those journeys may be served stale from the cache")
    return CheckResult("journey_cache_evictions", ERROR if age > PENDING_EVICTION_ERROR_SECONDS else WARNING, detail, hint)


def check_model_rows(account_ids=None, now=None):
    from attribution.data_checks import invalid_model_rows

    invalid = invalid_model_rows()
    if account_ids is not None:
        invalid = [row for row in invalid if row[1] in account_ids]
    hint = f"Fix or deactivate each model at {_admin_url('admin:attribution_attributionmodel_changelist', '/admin/attribution/attributionmodel/')}; rebuilds skip invalid rows meanwhile."
    if not invalid:
        return CheckResult("model_rows", OK, "every model row passes validation", hint)
    return CheckResult(
        "model_rows", ERROR,
        f"{len(invalid)} invalid model row(s): " + _listed(f"model {m} (user {u}): {reason}" for m, u, reason in invalid),
        hint,
    )


def check_default_models(account_ids=None, now=None):
    from journeys.models import Account

    live_accounts = Account.objects.filter(user_deleted=0).values("user_id")
    per_account = (
        _restrict(AttributionModel.objects.filter(user_id__in=live_accounts), account_ids)
        .values("user_id")
        .annotate(defaults=Sum(Cast("is_default", IntegerField())))
        .order_by("user_id")
    )
    none = [row["user_id"] for row in per_account.filter(defaults=0)[: LISTED_MAX + 1]]
    several = [(row["user_id"], row["defaults"]) for row in per_account.filter(defaults__gt=1)[: LISTED_MAX + 1]]
    hint = (f"Use Make default on one model per account at "
            f"{_admin_url('admin:attribution_attributionmodel_changelist', '/admin/attribution/attributionmodel/')} "
            "(or PATCH /api/v2/attribution/models/<id> with {\"is_default\": true}).")
    if several:
        return CheckResult("default_models", ERROR, "accounts with several default models: "
                           + _listed(f"user {u} ({n})" for u, n in several), hint)
    if none:
        return CheckResult("default_models", WARNING, "accounts with models but no default: "
                           + _listed(f"user {u}" for u in none), hint)
    return CheckResult("default_models", OK, "every account with models has exactly one default", hint)


def check_journeys_review(account_ids=None, now=None):
    """SPEC §4.3 "needs manual review" warnings (the one review query), over the most recent
    conversions only."""
    newest = Conversion.objects.aggregate(newest=Max("conv_id"))["newest"] or 0
    flags = journey_services.needs_review(
        min_conv_id=max(0, newest - REVIEW_RECENT_CONVERSIONS),
        account_ids=None if account_ids is None else list(account_ids),
    )
    hint = ("Review them with `manage.py verify_journeys --start <epoch>` (listed as warnings) and on the "
            f"conversions page {_admin_url('admin:journeys_conversion_changelist', '/admin/journeys/conversion/')}.")
    scope = f"among the latest {REVIEW_RECENT_CONVERSIONS:,} conversions"
    if not flags:
        return CheckResult("journeys_review", OK, f"no journey needs review {scope}", hint)
    counts = {flag: sum(1 for found in flags.values() if flag in found) for flag in REVIEW_FLAGS}
    parts = [f"{counts[flag]} {FLAG_LABELS[flag]}" for flag in REVIEW_FLAGS if counts[flag]]
    return CheckResult(
        "journeys_review", WARNING,
        f"{len(flags)} journey(s) need review {scope} ({', '.join(parts)}); e.g. conv_id "
        + ", ".join(str(c) for c in sorted(flags, reverse=True)[:LISTED_MAX]),
        hint,
    )


def check_snapshot_freshness(account_ids=None, now=None):
    now = now or int(time.time())
    models = list(
        _restrict(AttributionModel.objects.filter(is_active=True), account_ids)
        .order_by("model_id").values_list("model_id", "user_id", "model_name")[:SNAPSHOT_MODELS_MAX]
    )
    hint = "Rebuild the missing hours: `manage.py attribution_rebuild --start <epoch> --end <epoch> --model <model_id>`."
    if not models:
        return CheckResult("snapshot_freshness", OK, "no active model", hint)
    stale, newest_hour = [], None
    for model_id, user_id, model_name in models:
        # One indexed lookup per model: model_hour_scope (model_id, date_hour, …).
        latest = Snapshot.objects.filter(model_id=model_id).aggregate(latest=Max("date_hour"))["latest"]
        if latest is not None:
            newest_hour = max(newest_hour or 0, latest)
        if latest is None:
            stale.append(f"model {model_id} {model_name!r} (user {user_id}): no snapshot yet")
        elif now - latest > SNAPSHOT_STALE_SECONDS:
            stale.append(f"model {model_id} {model_name!r} (user {user_id}): latest hour {utc_text(latest, MINUTES_PATTERN)} ({_age(now - latest)} ago)")
    if stale:
        return CheckResult("snapshot_freshness", WARNING, f"{len(stale)} of {len(models)} active model(s) stale: " + _listed(stale), hint)
    return CheckResult(
        "snapshot_freshness", OK,
        f"{len(models)} active model(s) have snapshots; newest hour {utc_text(newest_hour, MINUTES_PATTERN)} ({_age(max(0, now - newest_hour))} ago)",
        hint,
    )


def _capture_backlog(account_ids, now):
    from journeys.services import capture_backlog

    return capture_backlog(
        since=now - CAPTURE_WINDOW_SECONDS, account_ids=None if account_ids is None else sorted(account_ids),
        recent_conversions=CAPTURE_RECENT_CONVERSIONS,
    )


def _scanned(backlog):
    return f"live conversions of the last 24 h in multi-touch scopes (conv_id above {backlog.lowest_conv_id_read})"


def check_capture_lag(account_ids=None, now=None):
    """SPEC §10: age of the oldest conversion capture still has to write a journey for."""
    now = now or int(time.time())
    backlog = _capture_backlog(account_ids, now)
    hint = ("Capture runs every minute: keep `manage.py qcluster` running with the schedules of "
            "`manage.py setup_schedules`, or run `manage.py capture_journeys`; its failures are listed "
            f"under Failed tasks ({_admin_url('admin:django_q_failure_changelist', '/admin/django_q/failure/')}).")
    if not backlog.pending:
        return CheckResult("capture_lag", OK, f"every one of the {_scanned(backlog)} is captured", hint)
    age = max(0, now - backlog.oldest_pending_conv_time)
    detail = (f"{backlog.pending} conversion(s) waiting for capture; the oldest converted "
              f"{utc_text(backlog.oldest_pending_conv_time, MINUTES_PATTERN)} ({_age(age)} ago)")
    if age > CAPTURE_LAG_ERROR_SECONDS:
        return CheckResult("capture_lag", ERROR, detail, hint)
    if age > CAPTURE_LAG_WARNING_SECONDS:
        return CheckResult("capture_lag", WARNING, detail, hint)
    return CheckResult("capture_lag", OK, detail, hint)


def check_missing_journeys(account_ids=None, now=None):
    """SPEC §4.3, §10: conversions capture passed for good without writing their journey (they
    committed later than the grace period, or predate capture): only a backfill writes them."""
    now = now or int(time.time())
    backlog = _capture_backlog(account_ids, now)
    hint = ("Backfill them: `manage.py backfill_conversion_journeys --start <epoch> --end <epoch>` "
            f"or the backfill form ({_admin_url('attribution_backfill', '/admin/attribution/backfill/')}); "
            "`manage.py verify_journeys --conv-id <id>` lists each as \"missing journey\".")
    if not backlog.missing:
        return CheckResult("missing_journeys", OK, f"none of the {_scanned(backlog)} lacks its journey", hint)
    return CheckResult(
        "missing_journeys", ERROR,
        f"{backlog.missing} live conversion(s) of the last 24 h in multi-touch scopes have no journey "
        "and capture will not write them; e.g. conv_id " + ", ".join(map(str, backlog.missing_conv_ids[:LISTED_MAX])),
        hint,
    )


def check_settings_drift(account_ids=None, now=None):
    """SPEC §5.3 rules the stored rows may break (rows written by Prosper202 or by hand)."""
    settings_url = _admin_url("admin:attribution_attributionsetting_changelist", "/admin/attribution/attributionsetting/")
    models_url = _admin_url("admin:attribution_attributionmodel_changelist", "/admin/attribution/attributionmodel/")
    hint = (f"Duplicate global rows: select them at {settings_url} and run \"Merge duplicate global rows\". "
            f"A global row not naming the default: Make default on the default model at {models_url} "
            "(or PATCH /api/v2/attribution/models/<id> with {\"is_default\": true}) re-points it. "
            f"A scope naming an inactive or deleted model: pick an active model in that row, or delete the row, at {settings_url}.")
    rows = list(_restrict(AttributionSetting.objects.all(), account_ids).order_by("user_id", "setting_id")
                .values_list("setting_id", "user_id", "scope_type", "scope_id", "model_id"))
    models = {
        model_id: (user_id, is_active, is_default)
        for model_id, user_id, is_active, is_default in AttributionModel.objects.filter(
            model_id__in={row[4] for row in rows}
        ).values_list("model_id", "user_id", "is_active", "is_default")
    }
    problems, globals_per_account = [], {}
    for setting_id, user_id, scope_type, scope_id, model_id in rows:
        model = models.get(model_id)
        label = f"setting #{setting_id} (user {user_id}, {scope_type}{'' if scope_id is None else f' {scope_id}'})"
        if scope_type == "global":
            globals_per_account.setdefault(user_id, []).append(setting_id)
        if model is None:
            problems.append(f"{label} names model {model_id}, which is deleted")
        elif model[0] != user_id:
            problems.append(f"{label} names model {model_id} of user {model[0]}")
        elif scope_type == "global" and not model[2]:
            problems.append(f"{label} names model {model_id}, not the account's default")
        elif not model[1]:
            problems.append(f"{label} names model {model_id}, which is inactive")
    duplicates = [f"user {user_id} has {len(ids)} global rows (#{', #'.join(map(str, ids))})"
                  for user_id, ids in globals_per_account.items() if len(ids) > 1]
    if duplicates:
        return CheckResult("settings_drift", ERROR, _listed(duplicates + problems), hint)
    if problems:
        return CheckResult("settings_drift", WARNING, _listed(problems), hint)
    return CheckResult("settings_drift", OK, f"{len(rows)} settings row(s) follow the rules", hint)


def check_deleted_model_rows(account_ids=None, now=None):
    """SPEC §5.3: a deleted model's rows are removed in the background; leftovers are listed."""
    from attribution.model_rows import leftovers as model_leftovers

    leftovers = model_leftovers(None if account_ids is None else set(account_ids))
    hint = ("Reports already hide them. Deleting a model queues attribution.tasks.delete_model_rows_task "
            "(needs `manage.py qcluster`); rows still here after it ran are removed by "
            "`manage.py delete_model_rows` (audited model_rows_deleted).")
    if not leftovers:
        return CheckResult("deleted_model_rows", OK, "no snapshot row of a deleted model", hint)
    return CheckResult(
        "deleted_model_rows", WARNING,
        f"{sum(row.snapshots for row in leftovers)} snapshot row(s) of {len(leftovers)} deleted model(s): "
        + _listed(f"model {row.model_id} (user {row.account_id}): {row.snapshots}" for row in leftovers),
        hint,
    )


CHECKS = (
    ("schema", check_schema_health),
    ("rebuild_cron", check_rebuild_cron),
    ("export_worker", check_export_worker),
    ("task_cluster", check_task_cluster),
    ("task_queue", check_task_queue),
    ("failed_tasks", check_failed_tasks),
    ("cache", check_cache),
    ("journey_cache_evictions", check_journey_cache_evictions),
    ("model_rows", check_model_rows),
    ("default_models", check_default_models),
    ("journeys_review", check_journeys_review),
    ("snapshot_freshness", check_snapshot_freshness),
    ("capture_lag", check_capture_lag),
    ("missing_journeys", check_missing_journeys),
    ("settings_drift", check_settings_drift),
    ("deleted_model_rows", check_deleted_model_rows),
)


def run_checks(account_ids=None, now=None):
    """Every check, in page order; a check that raises is reported as an error, never re-raised."""
    now = now or int(time.time())
    results = []
    for name, check in CHECKS:
        try:
            results.append(check(account_ids=account_ids, now=now))
        except Exception as error:  # a down database or broker is exactly what this page reports
            logger.warning("system check %s failed: %s", check.__name__, error, exc_info=True)
            results.append(CheckResult(
                name, ERROR, f"the check could not run: {type(error).__name__}: {error}",
                "Check the database, cache and broker connections (DATABASE_URL, CACHE_URL, REDIS_URL).",
            ))
    return results


def overall_status(results):
    """The worst status among the results."""
    return max((r[1] for r in results), key=_SEVERITY.__getitem__, default=OK)
