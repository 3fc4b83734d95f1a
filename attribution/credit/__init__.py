"""Pure credit maths (SPEC §5.1, §5.2): journeys in, one credit per touch out. No ORM, no Django.

Callers validate a model's config once (`validate_config`) and then call `credits_for` for every
conversion; `credits_for` trusts its config and journey, because it runs for every conversion of
every model in a rebuild.
"""
from .markov import algorithmic
from .position_based import position_based
from .rules import assisted, first_touch, last_touch, linear
from .time_decay import time_decay
from .validation import (
    CONFIG_FIELDS,
    MODEL_TYPES,
    InvalidModelConfig,
    config_fields_by_type,
    config_to_column,
    describe_config,
    stored_config_object,
    validate_config,
)

_CREDIT_FUNCTIONS = {
    "last_touch": last_touch,
    "first_touch": first_touch,
    "linear": linear,
    "time_decay": time_decay,
    "position_based": position_based,
    "assisted": assisted,
    "algorithmic": algorithmic,
}


def credits_for(model_type, config, journey, removal_effects=None):
    """One credit per touch of `journey` (same order), summing to 1; 0.0 means no touchpoint row.

    `config` must come from `validate_config`; `removal_effects` (from
    `markov.fit_removal_effects`) is used by the algorithmic type only, which is linear without it.
    """
    return _CREDIT_FUNCTIONS[model_type](config, journey, removal_effects)


__all__ = [
    "CONFIG_FIELDS",
    "MODEL_TYPES",
    "InvalidModelConfig",
    "config_fields_by_type",
    "config_to_column",
    "credits_for",
    "describe_config",
    "stored_config_object",
    "validate_config",
]
