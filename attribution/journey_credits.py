"""The journey page's credit columns (SPEC §7 "Journey page"): one per active model of the
account, plus first touch / last touch / linear for reference, each from the crediting pass's
own `credits_of` over the journey `journeys.source` reads. Registered with the journeys admin by
`AttributionConfig.ready`; the API's journey credits use `model_credits` too.
"""
from dataclasses import dataclass

from attribution.crediting import RunnableModel, credits_of, runnable_models
from attribution.models import AttributionModel, Snapshot, TouchCredit

REFERENCE_MODEL_TYPES = ("first_touch", "last_touch", "linear")
HOUR_SECONDS = 3600
STORED_NOTE = "as stored by the last rebuild of this hour (rounded to 5 decimals)"
FALLBACK_NOTE = "no rebuild has credited this conversion yet: linear fallback"


@dataclass
class CreditColumn:
    """One model's credits over the journey (or why it cannot be shown)."""

    title: str
    model_type: str
    model_id: int | None = None
    is_default: bool = False
    reference: bool = False
    note: str = ""
    credits: tuple = ()

    @property
    def total(self):
        return sum(self.credits)


def model_credits(record):
    """(columns of the account's active models, [(model, reason)] of invalid ones)."""
    rows = list(
        AttributionModel.objects.filter(user_id=record.conversion.user_id, is_active=True)
        .order_by("-is_default", "model_name", "model_id")
    )
    models, skipped = runnable_models(rows)
    by_id = {row.model_id: row for row in rows}
    columns = []
    for model in models:
        row = by_id[model.model_id]
        column = CreditColumn(model.model_name, model.model_type, model.model_id, row.is_default)
        if model.channel_kind:
            column.credits, column.note = _algorithmic_credits(model, record)
        else:
            column.credits = credits_of(model, record)
        columns.append(column)
    return columns, [(by_id[skip.model_id], skip.reason) for skip in skipped]


def credit_columns(record):
    """The model columns, then the reference types no active model shows."""
    columns, invalid = model_credits(record)
    shown_types = {column.model_type for column in columns}
    for model_type in REFERENCE_MODEL_TYPES:
        if model_type not in shown_types:
            reference = RunnableModel(0, model_type.replace("_", " "), model_type, {})
            columns.append(CreditColumn(
                reference.model_name, model_type, reference=True, credits=credits_of(reference, record),
            ))
    return columns, invalid


def _algorithmic_credits(model, record):
    """Markov credits depend on the rebuild window's fit (SPEC §5.2): show the stored ones, else
    what the pass gives without a fit (linear)."""
    conv_time = record.conversion.conv_time
    snapshot_ids = Snapshot.objects.filter(
        model_id=model.model_id, date_hour=conv_time - conv_time % HOUR_SECONDS, scope_type="global",
        scope_id__isnull=True,
    ).values("snapshot_id")
    stored = dict(
        TouchCredit.objects.filter(snapshot_id__in=snapshot_ids, conv_id=record.conversion.conv_id)
        .values_list("position", "credit")
    )
    if stored:
        return tuple(float(stored.get(position, 0)) for position in range(len(record.journey.touches))), STORED_NOTE
    return credits_of(model, record), FALLBACK_NOTE
