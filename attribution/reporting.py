"""Snapshot reports: KPI totals, time series and side-by-side model comparison (SPEC §7).

Totals and series aggregate in the database (SUM … GROUP BY) on `settings.HEAVY_READ_DATABASE`,
so a year-long range costs one grouped query, never rows in memory and never a truncation.
Results are cached under `snapshot_cache_key` of the model's account: every rebuild bumps that
account's version after commit, which retires all of its cached reports at once.

Hours: `start_hour` and `end_hour` are epoch seconds, each floored to its UTC hour, and the range
is inclusive at both ends (hour rows with start_hour <= date_hour <= end_hour). Day buckets are
UTC days (date_hour - date_hour mod 86400).

Position buckets of the comparison: a touch at index 0 of its journey is "first" (a one-touch
journey therefore counts entirely as first), the touch at index n-1 of an n-touch journey (n >= 2)
is "last", every other touch is "middle". Shares are credit-weighted: the sum of the credits in
the bucket divided by the sum of all credits.
"""
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db.models import F, Q, Sum
from django.db.models.functions import Mod

from attribution import credit
from attribution.credit import markov
from attribution.models import SCOPE_TYPES, AttributionModel, Snapshot, TouchCredit
from attribution.snapshot_cache import snapshot_cache_key
from journeys.models import Campaign, Click, Conversion, JourneyTouch
from journeys.rules import Touch, journey_from_stored
from tracker.cache import cache_get, cache_set

HOUR_SECONDS = 3600
DAY_SECONDS = 86_400
RESOLUTIONS = ("hour", "day")
SCOPE_TYPE_NAMES = tuple(name for name, _label in SCOPE_TYPES)
POSITION_BUCKETS = ("first", "middle", "last")
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

    `scope_id` None on a non-global scope means every value of that scope type.
    """
    rows = Snapshot.objects.using(settings.HEAVY_READ_DATABASE).filter(
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


def totals(*, account_ids, model_id, scope_type, scope_id, start_hour, end_hour):
    """Kpis summed over every snapshot row in range, aggregated in SQL (no row limit).

    `account_ids` is the caller's visible accounts (None = all, for superusers and tasks).
    """
    start_hour, end_hour = normalise_window(start_hour, end_hour)
    scope_id = check_scope(scope_type, scope_id)
    (model,) = _resolve_models([model_id], account_ids)

    def compute():
        rows = snapshot_rows(
            model_id=model.model_id, scope_type=scope_type, scope_id=scope_id,
            start_hour=start_hour, end_hour=end_hour, account_ids=account_ids,
        )
        return _kpis_from_sums(rows.aggregate(**_KPI_SUMS))

    parts = ("totals", model.model_id, scope_type, scope_id, start_hour, end_hour)
    return _cached(model.user_id, parts, compute)


def snapshot_series(*, account_ids, model_id, scope_type, scope_id, start_hour, end_hour,
                    resolution="hour"):
    """SeriesPoints per UTC hour or day that has snapshot rows, in time order (GROUP BY in SQL)."""
    if resolution not in RESOLUTIONS:
        raise ReportRequestError("resolution", f"{resolution!r} is not one of hour, day")
    start_hour, end_hour = normalise_window(start_hour, end_hour)
    scope_id = check_scope(scope_type, scope_id)
    (model,) = _resolve_models([model_id], account_ids)

    def compute():
        rows = snapshot_rows(
            model_id=model.model_id, scope_type=scope_type, scope_id=scope_id,
            start_hour=start_hour, end_hour=end_hour, account_ids=account_ids,
        )
        bucket = F("date_hour") if resolution == "hour" else F("date_hour") - Mod("date_hour", DAY_SECONDS)
        grouped = (
            rows.annotate(bucket=bucket).values("bucket").annotate(**_KPI_SUMS).order_by("bucket")
        )
        return [_kpis_from_sums(sums, SeriesPoint, bucket=int(sums["bucket"])) for sums in grouped]

    parts = ("series", model.model_id, scope_type, scope_id, start_hour, end_hour, resolution)
    return _cached(model.user_id, parts, compute)


def bucket_starts(start_hour, end_hour, resolution):
    """Every bucket start of the range, so charts show empty hours/days as zero."""
    step = HOUR_SECONDS if resolution == "hour" else DAY_SECONDS
    first = start_hour - start_hour % step
    return list(range(first, end_hour - end_hour % step + 1, step))


def position_bucket(position, touch_count):
    """"first", "middle" or "last" for a touch index in a journey of touch_count touches."""
    if position == 0:
        return "first"
    if position == touch_count - 1:
        return "last"
    return "middle"


def _shares(credit_by_bucket):
    total = sum(credit_by_bucket.values())
    if total <= 0:
        return {bucket: 0.0 for bucket in POSITION_BUCKETS}
    return {bucket: round(credit_by_bucket.get(bucket, 0.0) / total, 6) for bucket in POSITION_BUCKETS}


def compare_models(*, model_ids, scope_type, scope_id, start_hour, end_hour, account_ids=None):
    """Every model's KPIs and position-bucket credit shares for one window and scope.

    From snapshots when the model has any in the window, otherwise computed on the fly from the
    stored journeys with attribution.credit (conversions read in bounded keyset batches).
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
    has_snapshots = snapshot_rows(
        model_id=model.model_id, scope_type="global", scope_id=None,
        start_hour=start_hour, end_hour=end_hour,
    ).exists()
    identity = {
        "model_id": model.model_id, "model_name": model.model_name, "model_type": model.model_type,
        "account_id": model.user_id, "is_default": model.is_default, "is_active": model.is_active,
    }
    if has_snapshots:
        rows = snapshot_rows(
            model_id=model.model_id, scope_type=scope_type, scope_id=scope_id,
            start_hour=start_hour, end_hour=end_hour,
        )
        kpis = _kpis_from_sums(rows.aggregate(**_KPI_SUMS))
        shares = _shares(_snapshot_position_credit(model, scope_type, scope_id, start_hour, end_hour))
        return ModelComparison(**identity, source="snapshots", kpis=kpis, position_share=shares)
    try:
        config = credit.validate_config(model.model_type, model.weighting_config)
    except credit.InvalidModelConfig as error:
        return ModelComparison(
            **identity, source="journeys", kpis=Kpis(), position_share=_shares({}),
            error=f"{error.field}: {error.message}",
        )
    try:
        kpis, credit_by_bucket = _journey_comparison(
            model, config, scope_type, scope_id, start_hour, end_hour
        )
    except ComparisonTooLarge as error:
        return ModelComparison(
            **identity, source="journeys", kpis=Kpis(), position_share=_shares({}), error=str(error)
        )
    return ModelComparison(
        **identity, source="journeys", kpis=kpis, position_share=_shares(credit_by_bucket)
    )


def _read(model_class):
    return model_class.objects.using(settings.HEAVY_READ_DATABASE)


def _campaign_networks(campaign_ids):
    return dict(
        _read(Campaign).filter(aff_campaign_id__in=campaign_ids).values_list(
            "aff_campaign_id", "aff_network_id"
        )
    )


def _touch_scope_value(scope_type, click_row):
    """The landing page or account id of a touch's click (0 when the click row is missing)."""
    if click_row is None:
        return 0
    return click_row["landing_page_id"] if scope_type == "landing_page" else click_row["ppc_account_id"]


def _conversion_in_scope(scope_type, scope_id, conversion, networks):
    if scope_type == "campaign" and scope_id is not None:
        return conversion["campaign_id"] == scope_id
    if scope_type == "advertiser" and scope_id is not None:
        return (networks.get(conversion["campaign_id"]) or 0) == scope_id
    return True


def _stored_journeys(conv_ids):
    """conv_id -> distinct stored (click_id, click_time) pairs, for one bounded batch."""
    journeys = defaultdict(dict)
    for conv_id, click_id, click_time in _read(JourneyTouch).filter(conv_id__in=conv_ids).values_list(
        "conv_id", "click_id", "click_time"
    ):
        journeys[conv_id].setdefault(click_id, click_time)
    return journeys


def _snapshot_position_credit(model, scope_type, scope_id, start_hour, end_hour):
    """Credit per position bucket from the model's stored per-touch credits (global snapshots).

    Walks each hour's global snapshot by keyset on (conv_id, touchpoint_id), the order of the
    `snapshot_conv` index, in bounded batches. The journey length (to tell "last" from "middle")
    follows SPEC §5.1: the distinct stored clicks plus the converting click when it is missing.
    """
    snapshot_ids = list(
        snapshot_rows(
            model_id=model.model_id, scope_type="global", scope_id=None,
            start_hour=start_hour, end_hour=end_hour,
        ).order_by("date_hour", "snapshot_id").values_list("snapshot_id", flat=True)
    )  # one global row per hour: bounded by the window's hours
    credit_by_bucket = defaultdict(float)
    for snapshot_id in snapshot_ids:
        rows = _read(TouchCredit).filter(snapshot_id=snapshot_id).order_by("conv_id", "touchpoint_id")
        after = None
        while True:
            page = rows
            if after is not None:
                page = rows.filter(Q(conv_id__gt=after[0]) | Q(conv_id=after[0], touchpoint_id__gt=after[1]))
            batch = list(page.values("touchpoint_id", "conv_id", "click_id", "position", "credit")[
                :COMPARISON_BATCH_SIZE
            ])
            if not batch:
                break
            after = (batch[-1]["conv_id"], batch[-1]["touchpoint_id"])
            _add_stored_credit(credit_by_bucket, batch, scope_type, scope_id)
    return credit_by_bucket


def _add_stored_credit(credit_by_bucket, batch, scope_type, scope_id):
    """Add one batch of touchpoint credit rows to the buckets, keeping only the scope's touches."""
    conv_ids = {row["conv_id"] for row in batch}
    conversions = {
        row["conv_id"]: row
        for row in _read(Conversion).filter(conv_id__in=conv_ids).values("conv_id", "click_id", "campaign_id")
    }
    networks = _campaign_networks({c["campaign_id"] for c in conversions.values()})
    stored = _stored_journeys(conv_ids)
    touch_filter = scope_type in ("landing_page", "account") and scope_id is not None
    clicks = {}
    if touch_filter:
        clicks = {
            row["click_id"]: row
            for row in _read(Click).filter(click_id__in={r["click_id"] for r in batch}).values(
                "click_id", "landing_page_id", "ppc_account_id"
            )
        }
    for row in batch:
        conversion = conversions.get(row["conv_id"])
        if conversion is None or not _conversion_in_scope(scope_type, scope_id, conversion, networks):
            continue
        if touch_filter and _touch_scope_value(scope_type, clicks.get(row["click_id"])) != scope_id:
            continue
        journey_clicks = set(stored.get(row["conv_id"], {})) | {conversion["click_id"]}
        credit_by_bucket[position_bucket(row["position"], len(journey_clicks))] += float(row["credit"])


def _journey_comparison(model, config, scope_type, scope_id, start_hour, end_hour):
    """KPIs and position credit computed from stored journeys, as a rebuild would (SPEC §5.1, §6.4)."""
    conv_start, conv_end = start_hour, end_hour + HOUR_SECONDS  # conv_time < conv_end
    removal_effects = None
    if model.model_type == "algorithmic":
        removal_effects = _fit_removal_effects(model, config, conv_start, conv_end)
    touch_scoped = scope_type in ("landing_page", "account")
    clicks = conversions = 0
    revenue = cost = 0.0
    credit_by_bucket = defaultdict(float)
    for batch, journeys, converting_clicks in _journey_batches(model.user_id, conv_start, conv_end):
        networks = _campaign_networks({c["campaign_id"] for c in batch})
        for conversion in batch:
            if not _conversion_in_scope(scope_type, scope_id, conversion, networks):
                continue
            journey = journeys[conversion["conv_id"]]
            credits = credit.credits_for(model.model_type, config, journey, removal_effects)
            converting_row = converting_clicks.get(conversion["click_id"])
            cpc = float(converting_row["click_cpc"]) if converting_row else 0.0
            payout = float(conversion["click_payout"])
            # Scope values the conversion took part in: summed over values, as scope snapshot rows are.
            scope_values = set()
            for index, (touch, touch_credit) in enumerate(zip(journey.touches, credits)):
                if touch_credit <= 0:
                    continue
                value = None
                if touch_scoped:
                    value = touch.landing_page_id if scope_type == "landing_page" else touch.ppc_account_id
                    if scope_id is not None and value != scope_id:
                        continue
                scope_values.add(value)
                clicks += 1
                revenue += payout * touch_credit
                cost += cpc * touch_credit
                credit_by_bucket[position_bucket(index, len(journey.touches))] += touch_credit
            conversions += len(scope_values)
    kpis = Kpis(
        clicks=clicks,
        conversions=conversions,
        revenue=Decimal(repr(revenue)).quantize(MONEY_QUANTUM),
        cost=Decimal(repr(cost)).quantize(MONEY_QUANTUM),
    )
    return kpis, credit_by_bucket


def _journey_batches(account_id, conv_start, conv_end):
    """Yield (conversions, journeys by conv_id, converting click rows) in keyset batches on conv_id."""
    last_conv_id = 0
    conversions_read = 0
    while True:
        batch = list(
            _read(Conversion)
            .filter(
                user_id=account_id, deleted=0, conv_time__gte=conv_start, conv_time__lt=conv_end,
                conv_id__gt=last_conv_id,
            )
            .order_by("conv_id")
            .values("conv_id", "click_id", "click_time", "conv_time", "campaign_id", "click_payout")[
                :COMPARISON_BATCH_SIZE
            ]
        )
        if not batch:
            return
        conversions_read += len(batch)
        if conversions_read > COMPARISON_MAX_CONVERSIONS:
            raise ComparisonTooLarge(
                f"more than {COMPARISON_MAX_CONVERSIONS} conversions in the window: rebuild it "
                "(attribution_rebuild) to compare from snapshots"
            )
        last_conv_id = batch[-1]["conv_id"]
        stored = _stored_journeys([c["conv_id"] for c in batch])
        click_ids = {c["click_id"] for c in batch}
        for touches in stored.values():
            click_ids.update(touches)
        click_rows = {}
        for row in _read(Click).filter(click_id__in=click_ids).values(
            "click_id", "landing_page_id", "ppc_account_id", "click_cpc"
        ):
            click_rows.setdefault(row["click_id"], row)  # duplicate click rows count once

        def touch(click_id, click_time):
            row = click_rows.get(click_id)
            return Touch(
                click_id=click_id, click_time=click_time,
                landing_page_id=row["landing_page_id"] if row else 0,
                ppc_account_id=row["ppc_account_id"] if row else 0,
            )

        journeys = {}
        for c in batch:
            converting = touch(c["click_id"], c["click_time"])
            journeys[c["conv_id"]] = journey_from_stored(
                conv_id=c["conv_id"], conv_time=c["conv_time"], converting_touch=converting,
                stored_touches=[touch(k, t) for k, t in stored.get(c["conv_id"], {}).items()],
            )
        yield batch, journeys, click_rows


def _fit_removal_effects(model, config, conv_start, conv_end):
    """Markov removal effects over the window, from the same paths a rebuild uses (SPEC §5.2).

    Holds one channel path per conversion of the window and the set of journey click ids, as
    the rebuild does for one user and run; the non-converting clicks are streamed by keyset.
    """
    channel_kind = config.get("channel", "account")
    paths = []
    journey_click_ids = set()
    converting_campaigns = set()
    for batch, journeys, _click_rows in _journey_batches(model.user_id, conv_start, conv_end):
        converting_campaigns.update(c["campaign_id"] for c in batch)
        for journey in journeys.values():
            journey_click_ids.update(t.click_id for t in journey.touches)
            paths.append(tuple(markov.channel_of(t, channel_kind) for t in journey.touches))

    def non_converting_channels():
        last_click_id = 0
        while converting_campaigns:
            batch = list(
                _read(Click)
                .filter(
                    user_id=model.user_id, click_time__gte=conv_start, click_time__lt=conv_end,
                    aff_campaign_id__in=converting_campaigns, click_id__gt=last_click_id,
                )
                .order_by("click_id")
                .values("click_id", "click_time", "landing_page_id", "ppc_account_id")[
                    :COMPARISON_BATCH_SIZE
                ]
            )
            if not batch:
                return
            last_click_id = batch[-1]["click_id"]
            seen = set()
            for row in batch:
                if row["click_id"] in journey_click_ids or row["click_id"] in seen:
                    continue
                seen.add(row["click_id"])
                yield markov.channel_of(Touch(**row), channel_kind)

    return markov.fit_removal_effects(paths, non_converting_channels())
