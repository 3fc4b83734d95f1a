"""Weighting-config validation (SPEC §5.1): the one set of rules for forms, API, commands, checks.

`validate_config` takes what a caller has — the column's JSON text (or NULL), a form's text, an
API's parsed object — and returns the normalised config with defaults filled (so no caller fills
them again) or raises `InvalidModelConfig` naming the field, what is allowed and what was given. It never raises anything else, so a Prosper202
row that breaks the rules (a `'{}'` on time_decay) is reported, not crashed on.
"""
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass

from .markov import CHANNEL_KINDS, DEFAULT_CHANNEL_KIND

MODEL_TYPES = (
    "last_touch",
    "first_touch",
    "linear",
    "time_decay",
    "position_based",
    "assisted",
    "algorithmic",
)
EMPTY_CONFIG_TYPES = frozenset({"last_touch", "first_touch", "linear", "assisted"})
ALLOWED_KEYS = {
    "time_decay": ("half_life_hours",),
    "position_based": ("first_touch_weight", "last_touch_weight"),
    "algorithmic": ("method", "channel"),
}
MIN_HALF_LIFE_HOURS = 1
MAX_HALF_LIFE_HOURS = 8760
CHANNEL_CHOICES = (("account", "Traffic-source account"), ("landing_page", "Landing page"))
# Weights like 0.7 + 0.3 may sum to a hair over 1 in binary floating point.
WEIGHT_SUM_TOLERANCE = 1e-9
CONFIG_FIELD = "weighting_config"


@dataclass(frozen=True)
class ConfigField:
    """One weighting-config input of a model type: what forms show and the page's script
    toggles (the `method` of algorithmic is fixed, so it has no input)."""

    key: str
    model_type: str
    label: str
    help_text: str
    choices: tuple = ()
    input_mode: str = "decimal"


CONFIG_FIELDS = (
    ConfigField("half_life_hours", "time_decay", "Half-life (hours)",
                f"time_decay: a whole number of hours, {MIN_HALF_LIFE_HOURS} to {MAX_HALF_LIFE_HOURS}.",
                input_mode="numeric"),
    ConfigField("first_touch_weight", "position_based", "First touch weight",
                "position_based: share of the first touch, 0 to 1."),
    ConfigField("last_touch_weight", "position_based", "Last touch weight",
                "position_based: share of the last touch, 0 to 1; first + last ≤ 1."),
    ConfigField("channel", "algorithmic", "Channel",
                "algorithmic (Markov removal effect): what a channel is.", choices=CHANNEL_CHOICES),
)


def config_fields_by_type():
    """{model_type: [input keys]} of the types that take a config."""
    by_type = {}
    for field in CONFIG_FIELDS:
        by_type.setdefault(field.model_type, []).append(field.key)
    return by_type


class InvalidModelConfig(ValueError):
    """A model type or weighting config that breaks §5.1.

    `field` is the config key at fault, "model_type", or "weighting_config" for the config as a
    whole (bad JSON, not an object, unknown keys, weights summing over 1).
    """

    def __init__(self, field, message):
        super().__init__(message)
        self.field = field
        self.message = message


def validate_config(model_type, raw):
    """The normalised config of a `model_type` from `raw` (None, JSON text or a dict)."""
    if model_type not in MODEL_TYPES:
        raise InvalidModelConfig(
            "model_type",
            f"model_type must be one of {', '.join(MODEL_TYPES)}; got {_shown(model_type)}",
        )
    config = _parse(raw)
    if model_type in EMPTY_CONFIG_TYPES:
        if config:
            raise InvalidModelConfig(
                CONFIG_FIELD,
                f"{model_type} takes no weighting config; remove {_key_list(config)}",
            )
        return {}
    unknown = [key for key in config if key not in ALLOWED_KEYS[model_type]]
    if unknown:
        raise InvalidModelConfig(
            CONFIG_FIELD,
            f"{model_type} does not accept {_key_list(unknown)}; "
            f"allowed keys: {', '.join(ALLOWED_KEYS[model_type])}",
        )
    return _VALIDATORS[model_type](config)


def config_to_column(model_type, raw):
    """The `weighting_config` column value of a config: validated and normalised, as compact
    JSON of the keys given (defaults stay implicit, so a row reads back as it was written);
    NULL when empty. Raises InvalidModelConfig like `validate_config`."""
    config = validate_config(model_type, raw)
    given = _parse(raw)
    stored = {key: value for key, value in config.items() if key in given}
    if not stored:
        return None
    return json.dumps(stored, separators=(",", ":"))


def describe_config(model_type, config):
    """A short human summary of a model's config for admin lists, e.g. "half-life 24 h".

    Accepts anything `validate_config` does; an invalid config is described as such.
    """
    try:
        config = validate_config(model_type, config)
    except InvalidModelConfig as error:
        return f"invalid: {error.message}"
    if model_type == "time_decay":
        return f"half-life {config['half_life_hours']} h"
    if model_type == "position_based":
        first = config["first_touch_weight"]
        last = config["last_touch_weight"]
        middle = max(0.0, 1 - first - last)
        return f"first {_percent(first)} / middle {_percent(middle)} / last {_percent(last)}"
    if model_type == "algorithmic":
        by = "landing page" if config["channel"] == "landing_page" else "traffic-source account"
        return f"Markov by {by}"
    return _FIXED_DESCRIPTIONS[model_type]


_FIXED_DESCRIPTIONS = {
    "last_touch": "converting click 100%",
    "first_touch": "first click 100%",
    "linear": "equal shares",
    "assisted": "equal shares except the last click",
}


def stored_config_object(text):
    """A stored config column as the object it holds, for display; None when it is empty, not
    JSON or not an object (legacy rows are shown, never crashed on)."""
    if text is None or not str(text).strip():
        return None
    try:
        return _parse(text)
    except InvalidModelConfig:
        return None


def _parse(raw):
    if raw is None:
        return {}
    if isinstance(raw, (bytes, bytearray)):
        raw = raw.decode("utf-8", errors="replace")
    if isinstance(raw, str):
        text = raw.strip()
        if not text:
            return {}
        try:
            raw = json.loads(text)
        except RecursionError:
            raise InvalidModelConfig(
                CONFIG_FIELD, f"weighting_config is nested too deeply to read; got {_shown(_clip(text))}"
            ) from None
        except ValueError as error:
            detail = error.msg if isinstance(error, json.JSONDecodeError) else str(error)
            where = (
                f" at line {error.lineno} column {error.colno}"
                if isinstance(error, json.JSONDecodeError) else ""
            )
            raise InvalidModelConfig(
                CONFIG_FIELD,
                f"weighting_config is not valid JSON ({detail}{where}); got {_shown(_clip(text))}",
            ) from None
    if not isinstance(raw, Mapping):
        raise InvalidModelConfig(
            CONFIG_FIELD,
            'weighting_config must be a JSON object such as {"half_life_hours": 24}; '
            f"got {_json_kind(raw)}",
        )
    return dict(raw)


def _time_decay(config):
    if "half_life_hours" not in config:
        raise InvalidModelConfig(
            "half_life_hours",
            "half_life_hours is required for time_decay: a whole number of hours from "
            f"{MIN_HALF_LIFE_HOURS} to {MAX_HALF_LIFE_HOURS}, e.g. {{\"half_life_hours\": 24}}",
        )
    value = config["half_life_hours"]
    hours = _whole_number(value)
    if hours is None or not MIN_HALF_LIFE_HOURS <= hours <= MAX_HALF_LIFE_HOURS:
        raise InvalidModelConfig(
            "half_life_hours",
            f"half_life_hours must be a whole number from {MIN_HALF_LIFE_HOURS} to "
            f"{MAX_HALF_LIFE_HOURS}; got {_shown(value)}",
        )
    return {"half_life_hours": hours}


def _position_based(config):
    normalised = {}
    for key in ALLOWED_KEYS["position_based"]:
        if key not in config:
            raise InvalidModelConfig(
                key, f"{key} is required for position_based: a number from 0 to 1, e.g. 0.4"
            )
        value = config[key]
        if not _is_number(value) or not 0 <= value <= 1:
            raise InvalidModelConfig(
                key, f"{key} must be a number from 0 to 1; got {_shown(value)}"
            )
        normalised[key] = value
    first, last = normalised["first_touch_weight"], normalised["last_touch_weight"]
    if first + last > 1 + WEIGHT_SUM_TOLERANCE:
        raise InvalidModelConfig(
            CONFIG_FIELD,
            "first_touch_weight + last_touch_weight must be at most 1 (the middle touches get "
            f"the rest); got {_shown(first)} + {_shown(last)} = {_shown(round(first + last, 9))}",
        )
    return normalised


def _algorithmic(config):
    if "method" not in config:
        raise InvalidModelConfig(
            "method", 'method is required for algorithmic: use {"method": "markov"}'
        )
    method = config["method"]
    if method != "markov":
        raise InvalidModelConfig(
            "method", f'method must be "markov" (the only algorithmic method); got {_shown(method)}'
        )
    channel = config.get("channel", DEFAULT_CHANNEL_KIND)
    if not isinstance(channel, str) or channel not in CHANNEL_KINDS:
        raise InvalidModelConfig(
            "channel",
            f'channel must be "account" (the default) or "landing_page"; got {_shown(channel)}',
        )
    return {"method": "markov", "channel": channel}


_VALIDATORS = {
    "time_decay": _time_decay,
    "position_based": _position_based,
    "algorithmic": _algorithmic,
}


def _is_number(value):
    """A real, finite JSON number (booleans are not numbers here, NaN and infinity are refused)."""
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def _whole_number(value):
    """`value` as an int if it is a whole JSON number (24 or 24.0), else None."""
    if not _is_number(value):
        return None
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    return value


def _shown(value):
    """A value as the user typed it: JSON spelling (true, null, "2"), repr for anything else."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def _percent(share):
    return f"{share * 100:.4g}%"


def _clip(text, limit=60):
    return text if len(text) <= limit else text[:limit] + "…"


def _json_kind(value):
    """What a non-object JSON value is, with the value itself (clipped): 'an array [1, 2]'."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        kind = "a boolean"
    elif isinstance(value, (int, float)):
        kind = "a number"
    elif isinstance(value, str):
        kind = "a string"
    elif isinstance(value, (list, tuple)):
        kind = "an array"
    else:
        kind = f"a {type(value).__name__}"
    return f"{kind} {_clip(_shown(value))}"


def _key_list(keys):
    return ", ".join(_shown(key) for key in keys)
