"""position_based (SPEC §5.1): fixed shares for the first and last touch, the rest to the middle.

With f = first_touch_weight, l = last_touch_weight (validated: each in [0, 1], f + l ≤ 1):
n = 1 → 1.0; n = 2 → f/(f+l), l/(f+l) (0.5 each when both are 0: there is no middle to take
the remainder); n ≥ 3 → f, (1 − f − l)/(n − 2) for each middle touch, l.
"""

MIDDLE_NOISE = 1e-12


def position_based(config, journey, removal_effects):
    """U-shaped credits from the configured first and last weights."""
    count = len(journey.touches)
    if count == 1:
        return (1.0,)
    first = config["first_touch_weight"]
    last = config["last_touch_weight"]
    if count == 2:
        ends = first + last
        if ends == 0:
            return (0.5, 0.5)
        return (first / ends, last / ends)
    middle_total = 1.0 - (first + last)
    if middle_total < MIDDLE_NOISE:
        # Weights meant to sum to 1 (0.35 + 0.65) leave float noise, not a share worth a row.
        middle_total = 0.0
    middle = middle_total / (count - 2)
    return (first,) + (middle,) * (count - 2) + (last,)
