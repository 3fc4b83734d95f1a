"""Weighting-config validation of SPEC §5.1 (attribution/credit/validation.py)."""
import json

import pytest

from attribution.credit import (
    MODEL_TYPES,
    InvalidModelConfig,
    config_to_column,
    describe_config,
    stored_config_object,
    validate_config,
)

EMPTY_TYPES = ("last_touch", "first_touch", "linear", "assisted")


def rejection(model_type, raw):
    with pytest.raises(InvalidModelConfig) as caught:
        validate_config(model_type, raw)
    assert str(caught.value) == caught.value.message
    return caught.value.field, caught.value.message


def test_model_types_are_the_seven_of_the_spec():
    assert MODEL_TYPES == (
        "last_touch", "first_touch", "linear", "time_decay", "position_based", "assisted",
        "algorithmic",
    )


@pytest.mark.parametrize("model_type", EMPTY_TYPES)
@pytest.mark.parametrize("raw", [None, "", "  ", "{}", " { } ", {}])
def test_empty_config_is_accepted_and_stored_as_null(model_type, raw):
    assert validate_config(model_type, raw) == {}
    assert config_to_column(model_type, raw) is None


@pytest.mark.parametrize("model_type", EMPTY_TYPES)
def test_types_without_config_reject_any_key(model_type):
    assert rejection(model_type, '{"half_life_hours": 24}') == (
        "weighting_config", f'{model_type} takes no weighting config; remove "half_life_hours"'
    )


@pytest.mark.parametrize("model_type", [None, "", "shapley", "Linear", 3])
def test_unknown_type(model_type):
    field, message = rejection(model_type, None)
    assert field == "model_type"
    assert message.startswith(
        "model_type must be one of last_touch, first_touch, linear, time_decay, position_based, "
        "assisted, algorithmic; got "
    )
    assert message.endswith(json.dumps(model_type))


def test_invalid_json_names_the_problem_and_the_text():
    assert rejection("time_decay", '{"half_life_hours": 24,}') == (
        "weighting_config",
        "weighting_config is not valid JSON (Expecting property name enclosed in double quotes "
        'at line 1 column 24); got "{\\"half_life_hours\\": 24,}"',
    )


@pytest.mark.parametrize(
    "raw, described",
    [
        ("[24]", "an array [24]"),
        ("24", "a number 24"),
        ('"24"', 'a string "24"'),
        ("true", "a boolean true"),
        ("null", "null"),
        ([1, 2], "an array [1, 2]"),
    ],
)
def test_non_object_json(raw, described):
    assert rejection("time_decay", raw) == (
        "weighting_config",
        'weighting_config must be a JSON object such as {"half_life_hours": 24}; got ' + described,
    )


# --- time_decay ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        ('{"half_life_hours": 24}', {"half_life_hours": 24}),
        ({"half_life_hours": 1}, {"half_life_hours": 1}),
        ({"half_life_hours": 8760}, {"half_life_hours": 8760}),
        ('{"half_life_hours": 48.0}', {"half_life_hours": 48}),
    ],
)
def test_time_decay_accepts_whole_hours(raw, expected):
    config = validate_config("time_decay", raw)
    assert config == expected and type(config["half_life_hours"]) is int


@pytest.mark.parametrize(
    "value, shown",
    [(0, "0"), (8761, "8761"), (-3, "-3"), (1.5, "1.5"), ("2", '"2"'), (True, "true"),
     (None, "null"), ([24], "[24]"), (float("inf"), "Infinity")],
)
def test_time_decay_rejects_anything_but_a_whole_number_in_range(value, shown):
    assert rejection("time_decay", {"half_life_hours": value}) == (
        "half_life_hours", f"half_life_hours must be a whole number from 1 to 8760; got {shown}"
    )


def test_prosper202_empty_time_decay_row_is_invalid_not_a_crash():
    """Prosper202 wrote '{}' for time_decay rows; §5.1 requires half_life_hours."""
    assert rejection("time_decay", "{}") == (
        "half_life_hours",
        "half_life_hours is required for time_decay: a whole number of hours from 1 to 8760, "
        'e.g. {"half_life_hours": 24}',
    )
    assert rejection("time_decay", None)[0] == "half_life_hours"


def test_time_decay_rejects_unknown_keys():
    assert rejection("time_decay", {"half_life_hours": 24, "decay": 0.5, "floor": 1}) == (
        "weighting_config",
        'time_decay does not accept "decay", "floor"; allowed keys: half_life_hours',
    )


# --- position_based ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        '{"first_touch_weight": 0.4, "last_touch_weight": 0.4}',
        {"first_touch_weight": 0, "last_touch_weight": 1},
        {"first_touch_weight": 0.7, "last_touch_weight": 0.3},
        {"first_touch_weight": 0, "last_touch_weight": 0},
    ],
)
def test_position_based_accepts_weights_in_range(raw):
    config = validate_config("position_based", raw)
    expected = json.loads(raw) if isinstance(raw, str) else raw
    assert config == expected


@pytest.mark.parametrize(
    "value, shown",
    [(1.2, "1.2"), (-0.1, "-0.1"), (True, "true"), (False, "false"), ("0.4", '"0.4"'),
     (None, "null"), (float("nan"), "NaN"), (float("inf"), "Infinity")],
)
def test_position_based_rejects_bad_weights(value, shown):
    assert rejection("position_based", {"first_touch_weight": value, "last_touch_weight": 0}) == (
        "first_touch_weight", f"first_touch_weight must be a number from 0 to 1; got {shown}"
    )
    assert rejection("position_based", {"first_touch_weight": 0, "last_touch_weight": value}) == (
        "last_touch_weight", f"last_touch_weight must be a number from 0 to 1; got {shown}"
    )


def test_position_based_rejects_nan_from_json_text():
    """Python's json module accepts NaN literals; the validator must not."""
    field, message = rejection(
        "position_based", '{"first_touch_weight": NaN, "last_touch_weight": 0.4}'
    )
    assert (field, message) == (
        "first_touch_weight", "first_touch_weight must be a number from 0 to 1; got NaN"
    )


def test_position_based_rejects_weights_summing_over_one():
    assert rejection("position_based", {"first_touch_weight": 0.7, "last_touch_weight": 0.5}) == (
        "weighting_config",
        "first_touch_weight + last_touch_weight must be at most 1 (the middle touches get the "
        "rest); got 0.7 + 0.5 = 1.2",
    )


def test_position_based_requires_both_weights():
    assert rejection("position_based", {"first_touch_weight": 0.4}) == (
        "last_touch_weight",
        "last_touch_weight is required for position_based: a number from 0 to 1, e.g. 0.4",
    )


def test_position_based_rejects_unknown_keys():
    field, message = rejection(
        "position_based",
        {"first_touch_weight": 0.4, "last_touch_weight": 0.4, "middle_touch_weight": 0.2},
    )
    assert (field, message) == (
        "weighting_config",
        'position_based does not accept "middle_touch_weight"; '
        "allowed keys: first_touch_weight, last_touch_weight",
    )


# --- algorithmic ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        ('{"method": "markov"}', {"method": "markov", "channel": "account"}),
        ({"method": "markov", "channel": "account"}, {"method": "markov", "channel": "account"}),
        ({"channel": "landing_page", "method": "markov"},
         {"method": "markov", "channel": "landing_page"}),
    ],
)
def test_algorithmic_accepts_markov_with_an_optional_channel(raw, expected):
    assert validate_config("algorithmic", raw) == expected


def test_algorithmic_requires_the_method():
    for raw in (None, "{}", {"channel": "account"}):
        assert rejection("algorithmic", raw) == (
            "method", 'method is required for algorithmic: use {"method": "markov"}'
        )


@pytest.mark.parametrize("method, shown", [("shapley", '"shapley"'), ("Markov", '"Markov"'),
                                           (1, "1")])
def test_algorithmic_rejects_other_methods(method, shown):
    assert rejection("algorithmic", {"method": method}) == (
        "method", f'method must be "markov" (the only algorithmic method); got {shown}'
    )


@pytest.mark.parametrize("channel, shown", [("campaign", '"campaign"'), ("", '""'),
                                            (["account"], '["account"]'), (None, "null")])
def test_algorithmic_rejects_other_channels(channel, shown):
    assert rejection("algorithmic", {"method": "markov", "channel": channel}) == (
        "channel", f'channel must be "account" (the default) or "landing_page"; got {shown}'
    )


def test_algorithmic_rejects_unknown_keys():
    assert rejection("algorithmic", {"method": "markov", "iterations": 1000}) == (
        "weighting_config",
        'algorithmic does not accept "iterations"; allowed keys: method, channel',
    )


# --- column and description ----------------------------------------------------------------------


def test_config_to_column_writes_compact_json_that_validates_back():
    for model_type, raw in [
        ("time_decay", {"half_life_hours": 24}),
        ("position_based", {"first_touch_weight": 0.3, "last_touch_weight": 0.5}),
        ("algorithmic", {"method": "markov", "channel": "landing_page"}),
    ]:
        column = config_to_column(model_type, raw)
        assert column == json.dumps(raw, separators=(",", ":"))
        assert validate_config(model_type, column) == raw
    assert config_to_column("linear", {}) is None


def test_defaults_are_filled_when_validated_but_stay_implicit_in_the_column():
    assert validate_config("algorithmic", {"method": "markov"}) == {"method": "markov", "channel": "account"}
    assert config_to_column("algorithmic", '{"method":"markov"}') == '{"method":"markov"}'


@pytest.mark.parametrize(
    "model_type, raw, description",
    [
        ("last_touch", None, "converting click 100%"),
        ("first_touch", "{}", "first click 100%"),
        ("linear", None, "equal shares"),
        ("assisted", None, "equal shares except the last click"),
        ("time_decay", '{"half_life_hours":24}', "half-life 24 h"),
        ("position_based", {"first_touch_weight": 0.4, "last_touch_weight": 0.4},
         "first 40% / middle 20% / last 40%"),
        ("position_based", {"first_touch_weight": 0.25, "last_touch_weight": 0.5},
         "first 25% / middle 25% / last 50%"),
        ("algorithmic", {"method": "markov"}, "Markov by traffic-source account"),
        ("algorithmic", {"method": "markov", "channel": "landing_page"}, "Markov by landing page"),
        ("time_decay", "{}", "invalid: half_life_hours is required for time_decay: a whole number "
                             'of hours from 1 to 8760, e.g. {"half_life_hours": 24}'),
        ("linear", "{oops", "invalid: weighting_config is not valid JSON (Expecting property name "
                            'enclosed in double quotes at line 1 column 2); got "{oops"'),
    ],
)
def test_describe_config(model_type, raw, description):
    assert describe_config(model_type, raw) == description


def test_stored_config_object_shows_legacy_rows_without_crashing():
    assert stored_config_object(None) is None and stored_config_object("  ") is None
    assert stored_config_object("{}") == {}
    assert stored_config_object('{"half_life_hours": 24}') == {"half_life_hours": 24}
    for unreadable in ("[1, 2]", "{oops", "[" * 3000):
        assert stored_config_object(unreadable) is None


def test_deeply_nested_json_is_invalid_not_a_crash():
    field, message = rejection("time_decay", "[" * 3000)
    assert field == "weighting_config" and message.startswith("weighting_config is nested too deeply to read")
