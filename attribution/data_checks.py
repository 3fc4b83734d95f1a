"""Data problems of the attribution tables that the schema cannot prevent (SPEC §3.2), and the
full `check_schema` report: tracker's structural comparison plus these checks.

Each query is an indexed GROUP BY or a keyset walk of the small models table.
"""
from django.db.models import Count

from attribution.credit import InvalidModelConfig, validate_config
from attribution.models import AttributionModel, AttributionSetting, Snapshot
from tracker import schema
from tracker.schema_check import ERROR, Problem, check_structure

# How many offending ids a data problem lists before it says "and N more".
LISTED_IDS_MAX = 10


def check_schema(using="default", *, snapshot_since_hour=None):
    """Every structural and data problem of the 202 tables on database `using`."""
    report = check_structure(using)
    report.problems.extend(
        data_problems(using, report.present_tables, snapshot_since_hour=snapshot_since_hour)
    )
    return report


def _id_list(values):
    values = list(values)
    shown = ", ".join(str(v) for v in values[:LISTED_IDS_MAX])
    more = len(values) - LISTED_IDS_MAX
    return shown + (f" and {more} more" if more > 0 else "")


def _data_problem(table, message):
    return Problem(ERROR, table, message, about_data=True)


def data_problems(using="default", present_tables=None, *, snapshot_since_hour=None):
    """Problems the schema cannot prevent (SPEC §3.2). Each query is an indexed GROUP BY or a
    walk of the small models table; `snapshot_since_hour` bounds the snapshot scan."""
    present = set(present_tables) if present_tables is not None else {t.name for t in schema.TABLES}
    problems = []
    if "202_attribution_models" in present:
        models = AttributionModel.objects.using(using)
        several = list(
            models.filter(is_default=True).values("user_id").annotate(n=Count("model_id"))
            .filter(n__gt=1).order_by("user_id").values_list("user_id", "n")
        )
        if several:
            problems.append(_data_problem(
                "202_attribution_models",
                f"{len(several)} account(s) have more than one default model (user_id: "
                f"{_id_list(f'{u} ({n})' for u, n in several)}); promote one with Make default",
            ))
        invalid = invalid_model_rows(using)
        if invalid:
            problems.append(_data_problem(
                "202_attribution_models",
                f"{len(invalid)} model row(s) fail validation: "
                + "; ".join(f"model {m} (user {u}): {reason}" for m, u, reason in invalid[:LISTED_IDS_MAX])
                + (f"; and {len(invalid) - LISTED_IDS_MAX} more" if len(invalid) > LISTED_IDS_MAX else ""),
            ))
    if "202_attribution_settings" in present:
        duplicated = list(
            AttributionSetting.objects.using(using)
            .filter(scope_type="global", scope_id__isnull=True)
            .values("user_id").annotate(n=Count("setting_id")).filter(n__gt=1)
            .order_by("user_id").values_list("user_id", flat=True)
        )
        if duplicated:
            problems.append(_data_problem(
                "202_attribution_settings",
                f"duplicate global settings rows for user_id {_id_list(duplicated)} "
                "(a NULL scope_id defeats the unique key); select them in the scope settings admin and run "
                "\"Merge duplicate global rows\" (keeps the row that decides)",
            ))
    if "202_attribution_snapshots" in present:
        snapshots = Snapshot.objects.using(using)
        if snapshot_since_hour is not None:
            snapshots = snapshots.filter(date_hour__gte=snapshot_since_hour)
        duplicated = list(
            snapshots.values("model_id", "scope_type", "scope_id", "date_hour")
            .annotate(n=Count("snapshot_id")).filter(n__gt=1)
            .order_by("model_id", "date_hour")[: LISTED_IDS_MAX + 1]
            .values_list("model_id", "scope_type", "scope_id", "date_hour")
        )
        if duplicated:
            listed = "; ".join(f"model {m} {s} {i if i is not None else 'NULL'} hour {h}" for m, s, i, h in duplicated[:LISTED_IDS_MAX])
            problems.append(_data_problem(
                "202_attribution_snapshots",
                f"duplicate snapshots for one (model, scope, hour): {listed}"
                + (" and more" if len(duplicated) > LISTED_IDS_MAX else "")
                + "; rerun manage.py attribution_rebuild --start/--end over those hours",
            ))
    return problems


def invalid_model_rows(using="default"):
    """[(model_id, user_id, reason)] for model rows failing SPEC §5.1 validation."""
    invalid = []
    last_id = 0
    while True:
        batch = list(
            AttributionModel.objects.using(using).filter(model_id__gt=last_id).order_by("model_id")
            .values_list("model_id", "user_id", "model_type", "weighting_config")[:500]
        )
        if not batch:
            return invalid
        for model_id, user_id, model_type, config in batch:
            try:
                validate_config(model_type, config)
            except InvalidModelConfig as error:
                invalid.append((model_id, user_id, f"{error.field}: {error.message}"))
        last_id = batch[-1][0]
