"""The journey page's credit columns (SPEC §7 "Journey page"): one per active model of the
account, plus first touch / last touch / linear for reference. Registered with the journeys
admin by `AttributionConfig.ready`.
"""
from dataclasses import dataclass

from attribution.credit import InvalidModelConfig, credits_for, validate_config
from attribution.models import AttributionModel, Snapshot, TouchCredit

REFERENCE_MODEL_TYPES = ("first_touch", "last_touch", "linear")
HOUR_SECONDS = 3600


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


def credit_columns(conversion, journey):
    """One column per active model of the account, then the reference types no active model has."""
    columns, invalid = [], []
    models = AttributionModel.objects.filter(user_id=conversion.user_id, is_active=True).order_by(
        "-is_default", "model_name", "model_id"
    )
    for model in models:
        try:
            config = validate_config(model.model_type, model.weighting_config)
        except InvalidModelConfig as error:
            invalid.append((model, f"{error.field}: {error.message}"))
            continue
        column = CreditColumn(model.model_name, model.model_type, model.model_id, model.is_default)
        if model.model_type == "algorithmic":
            column.credits, column.note = _algorithmic_credits(model, conversion, journey, config)
        else:
            column.credits = credits_for(model.model_type, config, journey)
        columns.append(column)
    shown_types = {column.model_type for column in columns}
    for model_type in REFERENCE_MODEL_TYPES:
        if model_type in shown_types:
            continue
        columns.append(CreditColumn(
            model_type.replace("_", " "), model_type, reference=True,
            credits=credits_for(model_type, {}, journey),
        ))
    return columns, invalid


def _algorithmic_credits(model, conversion, journey, config):
    """Markov credits depend on the rebuild window's fit (SPEC §5.2): show the stored ones."""
    hour = conversion.conv_time // HOUR_SECONDS * HOUR_SECONDS
    snapshot_ids = Snapshot.objects.filter(
        model_id=model.model_id, date_hour=hour, scope_type="global", scope_id__isnull=True
    ).values("snapshot_id")
    stored = dict(
        TouchCredit.objects.filter(snapshot_id__in=snapshot_ids, conv_id=conversion.conv_id)
        .values_list("click_id", "credit")
    )
    if stored:
        return (
            tuple(float(stored.get(touch.click_id, 0)) for touch in journey.touches),
            "as stored by the last rebuild of this hour (rounded to 5 decimals)",
        )
    return (
        credits_for(model.model_type, config, journey, None),
        "no rebuild has credited this conversion yet: linear fallback",
    )


