"""The rule-based credit types of SPEC §5.1: last_touch, first_touch, linear, assisted.

Each function takes the validated config, the journey and the (unused) removal effects, and
returns one credit per touch of the sorted journey, summing to 1. 0.0 means "no row".
"""


def last_touch(config, journey, removal_effects):
    """The converting click gets everything, wherever it sits in the journey (ties on time
    can put another click after it)."""
    converting_click_id = journey.converting_click_id
    credits = [0.0] * len(journey.touches)
    for index, touch in enumerate(journey.touches):
        if touch.click_id == converting_click_id:
            credits[index] = 1.0
            return tuple(credits)
    raise ValueError(
        f"journey of conversion {journey.conv_id} lacks its converting click "
        f"{converting_click_id}; build it with journey_from_stored"
    )


def first_touch(config, journey, removal_effects):
    """Position 0 gets everything."""
    return (1.0,) + (0.0,) * (len(journey.touches) - 1)


def linear(config, journey, removal_effects):
    """1/n to each of the n touches."""
    count = len(journey.touches)
    return (1.0 / count,) * count


def assisted(config, journey, removal_effects):
    """Credit to the clicks that assisted: all but the chronologically last share equally.

    A one-touch journey has no assist, so its only touch gets 1.0.
    """
    count = len(journey.touches)
    if count == 1:
        return (1.0,)
    return (1.0 / (count - 1),) * (count - 1) + (0.0,)
