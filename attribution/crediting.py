"""THE pass from journeys to credits and per-scope sums (SPEC §5, §6 step 4, §7): the rebuild
writes what it accumulates, the comparison computed on the fly reads the same sums without
writing, and the journey page and the API take their credits from `credits_of` — so every
surface credits the same journeys (read by `journeys.source`) with the same maths.

Money (SPEC §5.1) is exact: payouts and cpcs are DECIMAL(·,5), so they are summed as integers
of 0.00001. A conversion's credits sum to 1, so the conversion-level scopes (global, campaign,
advertiser) take the conversion's whole payout and cpc; touch-level scopes (landing page,
account) take payout × credit, a float share. Per hour and model the global row is the exact
sum rounded once, half-even, to 4 places; every scope type shares that rounded total out by
largest remainder (ties to the lower scope id), so each scope type sums exactly to the global
row and the hour's global money is the same for every model.

Credits are stored as DECIMAL(10,5): `credit_units` rounds once, and position-bucket shares of
the comparison are computed from those units on both paths (snapshots and on the fly).
"""
from collections import Counter
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal

from attribution import store
from attribution.credit import InvalidModelConfig, credits_for, validate_config
from attribution.credit.markov import fit_removal_effects
from journeys.rules import channel_of

HOUR_SECONDS = 3600
SCOPE_TYPES = ("global", "campaign", "advertiser", "landing_page", "account")
TOUCH_SCOPES = ("landing_page", "account")
POSITION_BUCKETS = ("first", "middle", "last")
E5_UNITS_PER_E4_UNIT = 10  # 0.00001 units (payout, cpc) per 0.0001 unit (snapshot columns)
CREDIT_SCALE = 100_000  # DECIMAL(10,5)
MONEY_QUANTUM = Decimal("0.0001")


def decimal5_units(value):
    """A DECIMAL(·,5) value (payout, cpc, a stored credit) as an integer of 0.00001 (None: 0)."""
    return int(Decimal(value or 0).scaleb(5).to_integral_value(rounding=ROUND_HALF_EVEN))


def credit_units(credit):
    """A credit as the integer of 0.00001 the DECIMAL(10,5) column stores."""
    return round(round(credit, 5) * CREDIT_SCALE)


def credit_decimal(units):
    return Decimal(units).scaleb(-5)


def _money(units_e4):
    return Decimal(units_e4).scaleb(-4)


# --- models ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunnableModel:
    """A model row whose config validated: what the pass needs to credit with it."""

    model_id: int
    model_name: str
    model_type: str
    config: dict  # normalised by validate_config, defaults filled

    @property
    def channel_kind(self):
        """The Markov channel kind of an algorithmic model, None for the others."""
        return self.config["channel"] if self.model_type == "algorithmic" else None


@dataclass(frozen=True)
class SkippedModel:
    model_id: int
    reason: str


def runnable_models(rows):
    """(runnable models, skipped models with the reason) from model rows (anything with
    model_id, model_name, model_type, weighting_config); invalid legacy rows never crash."""
    models, skipped = [], []
    for row in rows:
        try:
            config = validate_config(row.model_type, row.weighting_config)
        except InvalidModelConfig as error:
            skipped.append(SkippedModel(row.model_id, f"{error.field}: {error.message}"))
            continue
        models.append(RunnableModel(row.model_id, row.model_name, row.model_type, config))
    return models, skipped


# --- the Markov fit (SPEC §5.2) ------------------------------------------------------------------


class MarkovFit:
    """Counts converting channel paths of a run's journeys, then fits removal effects per channel
    kind with the window's non-converting clicks: the one fit of the rebuild and the comparison.

    Paths are counted, not kept, so memory grows with distinct paths, not with the window.
    """

    def __init__(self, channel_kinds):
        self.paths = {kind: Counter() for kind in channel_kinds}

    def add(self, records):
        for record in records:
            touches = record.journey.touches
            for kind, counter in self.paths.items():
                counter[tuple(channel_of(touch, kind) for touch in touches)] += 1

    def effects(self, account_id, start, end_exclusive, max_conv_id):
        """{channel kind: RemovalEffects} for the account's run over [start, end_exclusive)
        whose conversions are those up to `max_conv_id`."""
        effects = {}
        for kind, counter in self.paths.items():
            unused = store.non_converting_channel_counts(account_id, start, end_exclusive, max_conv_id, kind)
            effects[kind] = fit_removal_effects(_expand(counter), _expand(unused))
        return effects


def _expand(counts):
    """Each key repeated by its count, lazily."""
    for value, count in counts.items():
        for _ in range(count):
            yield value


def credits_of(model, record, effects=None):
    """One credit per touch of the record's journey under `model` (0.0: no row)."""
    return credits_for(
        model.model_type, model.config, record.journey,
        effects.get(model.channel_kind) if effects and model.channel_kind else None,
    )


# --- the pass ------------------------------------------------------------------------------------


@dataclass
class ModelTotals:
    """What one model credited over a run, for its output line and audit row."""

    conversions: int = 0
    clicks: int = 0
    revenue_units: int = 0  # 0.00001
    cost_units: int = 0
    hours: set = field(default_factory=set)

    @property
    def revenue(self):
        return Decimal(self.revenue_units).scaleb(-5).quantize(MONEY_QUANTUM, ROUND_HALF_EVEN)

    @property
    def cost(self):
        return Decimal(self.cost_units).scaleb(-5).quantize(MONEY_QUANTUM, ROUND_HALF_EVEN)


@dataclass(frozen=True, slots=True)
class CreditRow:
    """One per-touch credit row of a global snapshot."""

    model_id: int
    hour: int
    conv_id: int
    click_id: int
    position: int
    units: int  # credit in 0.00001


@dataclass(frozen=True)
class SnapshotRow:
    """One snapshot row as `202_attribution_snapshots` stores it (money rounded)."""

    model_id: int
    scope_type: str
    scope_id: int | None
    hour: int
    clicks: int
    conversions: int
    revenue: Decimal
    cost: Decimal


class CreditPass:
    """Credits conversions under every model and accumulates, per (model, hour), the sums of each
    scope value and (optionally) the per-touch credit rows.

    Sums per (model, hour) live in one dict per scope type keyed by scope id:
    [clicks, conversions, revenue, cost], money in 0.00001 (ints for conversion scopes, floats
    for touch scopes).
    """

    def __init__(self, models, effects=None, *, totals=None):
        self.models = list(models)
        self.effects = effects or {}
        self.groups = {}
        self.credit_rows = []
        # Run-wide totals may be shared by the passes of several chunks.
        self.totals = totals if totals is not None else {model.model_id: ModelTotals() for model in self.models}

    def add(self, records):
        """Credit each JourneyRecord under every model (each journey is read and built once,
        then all models run over it)."""
        for record in records:
            conversion = record.conversion
            money = (decimal5_units(conversion.revenue), decimal5_units(record.cpc))
            hour = conversion.conv_time - conversion.conv_time % HOUR_SECONDS
            for model in self.models:
                self._accumulate(model.model_id, hour, record, credits_of(model, record, self.effects), money)

    def _accumulate(self, model_id, hour, record, credits, money):
        conversion = record.conversion
        group = self.groups.get((model_id, hour))
        if group is None:
            group = self.groups[(model_id, hour)] = {scope_type: {} for scope_type in SCOPE_TYPES}
        payout, cpc = money
        touches = record.journey.touches
        clicks = 0
        touch_sums = ({}, {})  # landing_page, account: {scope_id: [clicks, revenue, cost]}
        for position, credit in enumerate(credits):
            if credit <= 0.0:
                continue
            touch = touches[position]
            clicks += 1
            self.credit_rows.append(CreditRow(
                model_id, hour, conversion.conv_id, touch.click_id, position, credit_units(credit)
            ))
            revenue, cost = payout * credit, cpc * credit
            for sums, scope_id in zip(touch_sums, (touch.landing_page_id, touch.ppc_account_id)):
                entry = sums.get(scope_id)
                if entry is None:
                    sums[scope_id] = [1, revenue, cost]
                else:
                    entry[0] += 1
                    entry[1] += revenue
                    entry[2] += cost
        for scope_type, scope_id in (("global", None), ("campaign", conversion.campaign_id),
                                     ("advertiser", record.advertiser_id)):
            _add(group[scope_type], scope_id, clicks, payout, cpc)
        for scope_type, sums in zip(TOUCH_SCOPES, touch_sums):
            for scope_id, (scope_clicks, revenue, cost) in sums.items():
                _add(group[scope_type], scope_id, scope_clicks, revenue, cost)
        totals = self.totals[model_id]
        totals.conversions += 1
        totals.clicks += clicks
        totals.revenue_units += payout
        totals.cost_units += cpc
        totals.hours.add(hour)

    def snapshot_rows(self):
        """Every snapshot row of the accumulated hours, money rounded as SPEC §5.1 says, in
        (model, hour, scope type, scope id) order."""
        rows = []
        for (model_id, hour), by_scope in sorted(self.groups.items()):
            _clicks, _conversions, revenue_e5, cost_e5 = by_scope["global"][None]
            revenue_e4 = _round_half_even_tenth(revenue_e5)
            cost_e4 = _round_half_even_tenth(cost_e5)
            for scope_type in SCOPE_TYPES:
                entries = sorted(by_scope[scope_type].items(), key=lambda item: item[0] or 0)
                revenues = apportion([sums[2] for _, sums in entries], revenue_e4)
                costs = apportion([sums[3] for _, sums in entries], cost_e4)
                for (scope_id, sums), revenue, cost in zip(entries, revenues, costs):
                    rows.append(SnapshotRow(
                        model_id, scope_type, scope_id, hour, sums[0], sums[1], _money(revenue), _money(cost)
                    ))
        return rows


def _add(sums, scope_id, clicks, revenue, cost):
    entry = sums.get(scope_id)
    if entry is None:
        sums[scope_id] = [clicks, 1, revenue, cost]
    else:
        entry[0] += clicks
        entry[1] += 1
        entry[2] += revenue
        entry[3] += cost


def _round_half_even_tenth(units_e5):
    """0.00001 units to 0.0001 units, rounded half to even (exact on integers)."""
    quotient, remainder = divmod(units_e5, E5_UNITS_PER_E4_UNIT)
    if remainder > 5 or (remainder == 5 and quotient % 2):
        quotient += 1
    return quotient


def apportion(values_e5, target_e4):
    """Round `values_e5` (0.00001 units, ints or floats) to 0.0001 units summing exactly to
    `target_e4` by largest remainder; ties go to the earlier value. Returns ints."""
    floors, remainders = [], []
    for value in values_e5:
        quotient, remainder = divmod(value, E5_UNITS_PER_E4_UNIT)
        floors.append(int(quotient))
        remainders.append(remainder)
    shortfall = target_e4 - sum(floors)
    if shortfall >= 0:
        order = sorted(range(len(floors)), key=lambda i: (-remainders[i], i))
        step = 1
    else:
        order = sorted(range(len(floors)), key=lambda i: (remainders[i], -i))
        step = -1
    for i in order[:abs(shortfall)]:
        floors[i] += step
    return floors


# --- position-bucket shares of the comparison (SPEC §7) -----------------------------------------


def position_bucket(position, touch_count):
    """"first" (index 0; a one-touch journey is all first), "last" (index n−1 of n ≥ 2), else
    "middle"."""
    if position == 0:
        return "first"
    if position == touch_count - 1:
        return "last"
    return "middle"


def touch_in_scope(record, touch, scope_type, scope_id):
    """Whether a touch of a record belongs to the scope (scope_id None: every value)."""
    if scope_type == "global" or scope_id is None:
        return True
    if scope_type == "campaign":
        return record.conversion.campaign_id == scope_id
    if scope_type == "advertiser":
        return record.advertiser_id == scope_id
    value = touch.landing_page_id if scope_type == "landing_page" else touch.ppc_account_id
    return value == scope_id


class PositionShares:
    """Credit units per position bucket, from credits as stored (DECIMAL(10,5))."""

    def __init__(self, scope_type, scope_id):
        self.scope_type, self.scope_id = scope_type, scope_id
        self.units = dict.fromkeys(POSITION_BUCKETS, 0)

    def add(self, record, position, units):
        touches = record.journey.touches
        if position >= len(touches) or not touch_in_scope(record, touches[position], self.scope_type, self.scope_id):
            return
        self.units[position_bucket(position, len(touches))] += units

    def shares(self):
        total = sum(self.units.values())
        if total <= 0:
            return dict.fromkeys(POSITION_BUCKETS, 0.0)
        return {bucket: round(units / total, 6) for bucket, units in self.units.items()}
