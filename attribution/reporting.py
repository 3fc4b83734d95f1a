"""Snapshot reports: KPI totals, time series and side-by-side model comparison (SPEC §7).

Totals and series aggregate in the database (SUM … GROUP BY) on `settings.HEAVY_READ_DATABASE`,
so a year-long range costs one grouped query, never rows in memory and never a truncation.
Results are cached under `snapshot_cache_key` of the model's account: every rebuild bumps that
account's version after commit, which retires all of its cached reports at once.

Hours: `start_hour` and `end_hour` are epoch seconds, each floored to its UTC hour, and the range
is inclusive at both ends (hour rows with start_hour <= date_hour <= end_hour). Day buckets are
UTC days (date_hour - date_hour mod 86400).

Position buckets of the comparison (`crediting.position_bucket`): a touch at index 0 of its
journey is "first" (a one-touch journey therefore counts entirely as first), the touch at index
n-1 of an n-touch journey (n >= 2) is "last", every other touch is "middle". Shares are
credit-weighted from credits as stored (DECIMAL(10,5)): the sum of the credits in the bucket
divided by the sum of all credits.
"""
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, F, OuterRef, Q, Sum
from django.db.models.functions import Mod

from attribution import crediting
from attribution.models import SCOPE_TYPES, AttributionModel, Snapshot, TouchCredit
from attribution.snapshot_cache import snapshot_cache_key
from journeys import source
from journeys import store as journey_store
from tracker.cache import cache_get, cache_set

HOUR_SECONDS = 3600
DAY_SECONDS = 86_400
RESOLUTIONS = ("hour", "day")
SCOPE_TYPE_NAMES = tuple(name for name, _label in SCOPE_TYPES)
# Cached reports are retired by the version bump of every rebuild; the timeout only bounds memory.
REPORT_CACHE_SECONDS = 3600
# A comparison computed from journeys changes with backfills (which bump no version): keep it short.
COMPARISON_CACHE_SECONDS = 300
# Conversions (or credit rows) read per keyset batch while computing a comparison.
COMPARISON_BATCH_SIZE = 500
# An on-the-fly comparison runs inside a page request: beyond this many conversions the window
# must be rebuilt (then it is read from snapshots) instead of computed in the request.
COMPARISON_MAX_CONVERSIONS = 50_000
MONEY_QUANTUM = Decimal("0.0001")
PERCENT_QUANTUM = Decimal("0.01")


class ReportRequestError(ValueError):
    """A report parameter is invalid; `field` names it, `message` says what is allowed."""

    def __init__(self, field, message):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class UnknownModelError(ReportRequestError):
    """A model id that does not exist (the API answers 404)."""


class ComparisonTooLarge(Exception):
    """The window has too many conversions to credit on the fly within a request."""


def roi_percent(revenue, cost):
    """Profit / cost × 100, rounded to 0.01; None when the cost is zero (ROI undefined)."""
    if not cost:
        return None
    return ((Decimal(revenue) - Decimal(cost)) / Decimal(cost) * 100).quantize(PERCENT_QUANTUM)


@dataclass(frozen=True)
class Kpis:
    """The KPI figures of a range: attributed clicks, conversions, revenue and cost."""

    clicks: int = 0
    conversions: int = 0
    revenue: Decimal = Decimal("0.0000")
    cost: Decimal = Decimal("0.0000")

    @property
    def profit(self):
        return self.revenue - self.cost

    @property
    def roi_percent(self):
        return roi_percent(self.revenue, self.cost)

    def as_dict(self):
        """JSON-ready figures; money as strings so no precision is lost."""
        roi = self.roi_percent
        return {
            "attributed_clicks": self.clicks,
            "attributed_conversions": self.conversions,
            "attributed_revenue": str(self.revenue),
            "attributed_cost": str(self.cost),
            "profit": str(self.profit),
            "roi_percent": None if roi is None else str(roi),
        }


@dataclass(frozen=True)
class SeriesPoint(Kpis):
    """The KPIs of one hour or one UTC day; `bucket` is its first second (epoch)."""

    bucket: int = 0

    def as_dict(self):
        return {"bucket": self.bucket, **super().as_dict()}


@dataclass(frozen=True)
class ModelComparison:
    """One model's figures for the compared window and scope."""

    model_id: int
    model_name: str
    model_type: str
    account_id: int
    is_default: bool
    is_active: bool
    source: str  # "snapshots" (rebuilt hours) or "journeys" (computed on the fly)
    kpis: Kpis
    position_share: dict = field(default_factory=dict)  # bucket -> share of credit, 0..1
    error: str | None = None  # why the model could not be computed (invalid legacy row)

    def as_dict(self):
        return {
            "model_id": self.model_id,
            "model_name": self.model_name,
            "model_type": self.model_type,
            "account_id": self.account_id,
            "is_default": self.is_default,
            "is_active": self.is_active,
            "source": self.source,
            **self.kpis.as_dict(),
            "position_share": self.position_share,
            "error": self.error,
        }


def normalise_window(start_hour, end_hour):
    """(start, end) floored to whole hours; raises ReportRequestError naming the bad bound."""
    bounds = {}
    for name, value in (("start_hour", start_hour), ("end_hour", end_hour)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ReportRequestError(name, f"must be a non-negative epoch in seconds, got {value!r}")
        bounds[name] = value - value % HOUR_SECONDS
    if bounds["start_hour"] > bounds["end_hour"]:
        raise ReportRequestError(
            "start_hour", f"{start_hour} is after end_hour {end_hour}; the start must come first"
        )
    return bounds["start_hour"], bounds["end_hour"]


def check_scope(scope_type, scope_id):
    """The scope id to filter on (None = global, or every value); ReportRequestError if invalid."""
    if scope_type not in SCOPE_TYPE_NAMES:
        raise ReportRequestError(
            "scope_type", f"{scope_type!r} is not one of {', '.join(SCOPE_TYPE_NAMES)}"
        )
    if scope_type == "global":
        return None
    if scope_id is None:
        return None  # every value of the scope type
    if isinstance(scope_id, bool) or not isinstance(scope_id, int) or scope_id < 0:
        raise ReportRequestError("scope_id", f"must be a non-negative integer, got {scope_id!r}")
    return scope_id


def _resolve_models(model_ids, account_ids):
    """The models in id order; unknown ids and other tenants' models are refused."""
    wanted = []
    for model_id in model_ids:
        if isinstance(model_id, bool) or not isinstance(model_id, int):
            raise ReportRequestError("model_id", f"must be an integer model id, got {model_id!r}")
        if model_id not in wanted:
            wanted.append(model_id)
    found = {m.model_id: m for m in AttributionModel.objects.filter(model_id__in=wanted)}
    for model_id in wanted:
        if model_id not in found:
            raise UnknownModelError("model_id", f"no attribution model has id {model_id}")
        if account_ids is not None and found[model_id].user_id not in account_ids:
            raise PermissionDenied(f"Model {model_id} belongs to an account you cannot access.")
    return [found[model_id] for model_id in wanted]


def snapshot_rows(*, model_id, scope_type, scope_id, start_hour, end_hour, account_ids=None):
    """The snapshot rows of one model, scope and inclusive hour range (a lazy queryset).

    `scope_id` None on a non-global scope means every value of that scope type. A deleted
    model's rows are never shown, though they remain until its background deletion ends.
    """
    database = settings.HEAVY_READ_DATABASE
    rows = Snapshot.objects.using(database).filter(
        Exists(AttributionModel.objects.using(database).filter(model_id=OuterRef("model_id"))),
        model_id=model_id, scope_type=scope_type,
        date_hour__gte=start_hour, date_hour__lte=end_hour,
    )
    if scope_type == "global":
        rows = rows.filter(scope_id__isnull=True)
    elif scope_id is not None:
        rows = rows.filter(scope_id=scope_id)
    if account_ids is not None:
        rows = rows.filter(user_id__in=account_ids)
    return rows


_KPI_SUMS = {
    "clicks": Sum("attributed_clicks"),
    "conversions": Sum("attributed_conversions"),
    "revenue": Sum("attributed_revenue"),
    "cost": Sum("attributed_cost"),
}


def _kpis_from_sums(sums, kind=Kpis, **extra):
    """Database sums (None for no rows, Decimal or int by backend) to a Kpis value."""
    return kind(
        clicks=int(sums["clicks"] or 0),
        conversions=int(sums["conversions"] or 0),
        revenue=Decimal(sums["revenue"] or 0).quantize(MONEY_QUANTUM),
        cost=Decimal(sums["cost"] or 0).quantize(MONEY_QUANTUM),
        **extra,
    )


def _cached(account_id, key_parts, compute, timeout=REPORT_CACHE_SECONDS):
    key = snapshot_cache_key(account_id, *key_parts)
    value = cache_get(key)
    if value is None:
        value = compute()
        cache_set(key, value, timeout)
    return value


def _cached_model_report(kind, aggregate, *, account_ids, model_id, scope_type, scope_id, start_hour,
                         end_hour, extra=()):
    """`aggregate(rows)` over one model's snapshot rows of a scope and window, validated, tenancy
    checked and cached under the account's snapshot version."""
    start_hour, end_hour = normalise_window(start_hour, end_hour)
    scope_id = check_scope(scope_type, scope_id)
    (model,) = _resolve_models([model_id], account_ids)

    def compute():
        return aggregate(snapshot_rows(
            model_id=model.model_id, scope_type=scope_type, scope_id=scope_id,
            start_hour=start_hour, end_hour=end_hour, account_ids=account_ids,
        ))

    parts = (kind, model.model_id, scope_type, scope_id, start_hour, end_hour, *extra)
    return _cached(model.user_id, parts, compute)


def totals(*, account_ids, model_id, scope_type, scope_id, start_hour, end_hour):
    """Kpis summed over every snapshot row in range, aggregated in SQL (no row limit).

    `account_ids` is the caller's visible accounts (None = all, for superusers and tasks).
    """
    return _cached_model_report(
        "totals", lambda rows: _kpis_from_sums(rows.aggregate(**_KPI_SUMS)), account_ids=account_ids,
        model_id=model_id, scope_type=scope_type, scope_id=scope_id, start_hour=start_hour, end_hour=end_hour,
    )


def snapshot_series(*, account_ids, model_id, scope_type, scope_id, start_hour, end_hour,
                    resolution="hour"):
    """SeriesPoints per UTC hour or day that has snapshot rows, in time order (GROUP BY in SQL)."""
    if resolution not in RESOLUTIONS:
        raise ReportRequestError("resolution", f"{resolution!r} is not one of hour, day")
    bucket = F("date_hour") if resolution == "hour" else F("date_hour") - Mod("date_hour", DAY_SECONDS)

    def series(rows):
        grouped = rows.annotate(bucket=bucket).values("bucket").annotate(**_KPI_SUMS).order_by("bucket")
        return [_kpis_from_sums(sums, SeriesPoint, bucket=int(sums["bucket"])) for sums in grouped]

    return _cached_model_report(
        "series", series, account_ids=account_ids, model_id=model_id, scope_type=scope_type,
        scope_id=scope_id, start_hour=start_hour, end_hour=end_hour, extra=(resolution,),
    )


def bucket_starts(start_hour, end_hour, resolution):
    """Every bucket start of the range, so charts show empty hours/days as zero."""
    step = HOUR_SECONDS if resolution == "hour" else DAY_SECONDS
    first = start_hour - start_hour % step
    return list(range(first, end_hour - end_hour % step + 1, step))


def compare_models(*, model_ids, scope_type, scope_id, start_hour, end_hour, account_ids=None):
    """Every model's KPIs and position-bucket credit shares for one window and scope.

    From snapshots when the model has any in the window, otherwise computed on the fly by the
    rebuild's own crediting pass (same journeys, Markov fit and rounding), without writing.
    """
    start_hour, end_hour = normalise_window(start_hour, end_hour)
    scope_id = check_scope(scope_type, scope_id)
    models = _resolve_models(list(model_ids), account_ids)

    def compare_one(model):
        return lambda: _compare_one(model, scope_type, scope_id, start_hour, end_hour)

    return [
        _cached(
            model.user_id,
            ("compare", model.model_id, model.updated_at, scope_type, scope_id, start_hour, end_hour),
            compare_one(model),
            COMPARISON_CACHE_SECONDS,
        )
        for model in models
    ]


def _compare_one(model, scope_type, scope_id, start_hour, end_hour):
    identity = {
        "model_id": model.model_id, "model_name": model.model_name, "model_type": model.model_type,
        "account_id": model.user_id, "is_default": model.is_default, "is_active": model.is_active,
    }
    has_snapshots = snapshot_rows(
        model_id=model.model_id, scope_type="global", scope_id=None,
        start_hour=start_hour, end_hour=end_hour,
    ).exists()
    if has_snapshots:
        rows = snapshot_rows(
            model_id=model.model_id, scope_type=scope_type, scope_id=scope_id,
            start_hour=start_hour, end_hour=end_hour,
        )
        kpis = _kpis_from_sums(rows.aggregate(**_KPI_SUMS))
        shares = _stored_position_shares(model, scope_type, scope_id, start_hour, end_hour)
        return ModelComparison(**identity, source="snapshots", kpis=kpis, position_share=shares.shares())
    runnable, skipped = crediting.runnable_models([model])
    empty = crediting.PositionShares(scope_type, scope_id).shares()
    if skipped:
        return ModelComparison(**identity, source="journeys", kpis=Kpis(), position_share=empty,
                               error=skipped[0].reason)
    try:
        kpis, shares = _credit_on_the_fly(runnable[0], model.user_id, scope_type, scope_id, start_hour, end_hour)
    except ComparisonTooLarge as error:
        return ModelComparison(**identity, source="journeys", kpis=Kpis(), position_share=empty, error=str(error))
    return ModelComparison(**identity, source="journeys", kpis=kpis, position_share=shares.shares())


def _window_journeys(account_id, start_hour, end_hour, max_conv_id=None):
    """The window's journey batches as a rebuild of [start_hour, end_hour] reads them; refuses
    windows too large to credit inside a request."""
    read = 0
    for records in source.journey_batches(
        start=start_hour, end=end_hour + HOUR_SECONDS - 1, account_ids=[account_id],
        max_conv_id=max_conv_id, batch_size=COMPARISON_BATCH_SIZE, using=settings.HEAVY_READ_DATABASE,
    ):
        read += len(records)
        if read > COMPARISON_MAX_CONVERSIONS:
            raise ComparisonTooLarge(
                f"more than {COMPARISON_MAX_CONVERSIONS} conversions in the window: rebuild it "
                "(attribution_rebuild) to compare from snapshots"
            )
        yield records


def _credit_on_the_fly(model, account_id, scope_type, scope_id, start_hour, end_hour):
    """(Kpis, PositionShares) of one model over the window: the rebuild's pass, not written.

    KPIs are the sums of the snapshot rows the rebuild would write (money rounded per hour and
    scope exactly as it rounds), so they equal what a rebuild of the window stores.
    """
    effects, max_conv_id = {}, None
    if model.channel_kind:
        fit = crediting.MarkovFit([model.channel_kind])
        max_conv_id = 0
        for records in _window_journeys(account_id, start_hour, end_hour):
            fit.add(records)
            max_conv_id = max([max_conv_id] + [record.conversion.conv_id for record in records])
        effects = fit.effects(account_id, start_hour, end_hour + HOUR_SECONDS, max_conv_id)
    credit_pass = crediting.CreditPass([model], effects)
    shares = crediting.PositionShares(scope_type, scope_id)
    for records in _window_journeys(account_id, start_hour, end_hour, max_conv_id):
        credit_pass.add(records)
        by_conv_id = {record.conversion.conv_id: record for record in records}
        for row in credit_pass.credit_rows:
            shares.add(by_conv_id[row.conv_id], row.position, row.units)
        credit_pass.credit_rows.clear()  # bounded memory: only the sums are kept
    rows = [
        row for row in credit_pass.snapshot_rows()
        if row.scope_type == scope_type and (scope_id is None or row.scope_id == scope_id)
    ]
    kpis = Kpis(
        clicks=sum(row.clicks for row in rows),
        conversions=sum(row.conversions for row in rows),
        revenue=sum((row.revenue for row in rows), Decimal("0.0000")),
        cost=sum((row.cost for row in rows), Decimal("0.0000")),
    )
    return kpis, shares


def _stored_position_shares(model, scope_type, scope_id, start_hour, end_hour):
    """Position shares from the model's stored per-touch credits (its global snapshots).

    Walks each hour's global snapshot by keyset on (conv_id, touchpoint_id), the order of the
    `snapshot_conv` index, in bounded batches; each batch's journeys come from the journey source
    (for the journey length that tells "last" from "middle", and the touch's scope values).
    """
    snapshot_ids = list(
        snapshot_rows(
            model_id=model.model_id, scope_type="global", scope_id=None,
            start_hour=start_hour, end_hour=end_hour,
        ).order_by("date_hour", "snapshot_id").values_list("snapshot_id", flat=True)
    )  # one global row per hour: bounded by the window's hours
    shares = crediting.PositionShares(scope_type, scope_id)
    database = settings.HEAVY_READ_DATABASE
    for snapshot_id in snapshot_ids:
        rows = TouchCredit.objects.using(database).filter(snapshot_id=snapshot_id).order_by("conv_id", "touchpoint_id")
        after = None
        while True:
            page = rows
            if after is not None:
                page = rows.filter(Q(conv_id__gt=after[0]) | Q(conv_id=after[0], touchpoint_id__gt=after[1]))
            batch = list(page.values_list("touchpoint_id", "conv_id", "position", "credit")[:COMPARISON_BATCH_SIZE])
            if not batch:
                break
            after = (batch[-1][1], batch[-1][0])
            conv_ids = sorted({conv_id for _, conv_id, _, _ in batch})
            conversions = journey_store.conversion_batch(
                after_conv_id=0, limit=len(conv_ids), conv_ids=conv_ids, using=database
            )
            records = {record.conversion.conv_id: record for record in source.read_journeys(conversions, using=database)}
            for _, conv_id, position, credit in batch:
                if conv_id in records:
                    shares.add(records[conv_id], position, crediting.decimal5_units(credit))
    return shares
