"""time_decay (SPEC §5.1): a touch's weight halves every `half_life_hours` before the conversion.

raw_i = 0.5 ** (age_i / H), age_i = max(0, conv_time − click_time_i) / 3600 hours (a click
stamped after its conversion counts as age 0); credit_i = raw_i / Σ raw. When every raw weight
underflows to 0.0 (touches thousands of half-lives old) the credits are 1/n each, as the spec
says; a single underflowed touch next to recent ones simply gets 0 (no row).
"""
SECONDS_PER_HOUR = 3600


def time_decay(config, journey, removal_effects):
    """Credits by exponential decay of each touch's age at conversion."""
    half_life_seconds = config["half_life_hours"] * SECONDS_PER_HOUR
    conv_time = journey.conv_time
    raw = [
        0.5 ** (max(0, conv_time - touch.click_time) / half_life_seconds)
        for touch in journey.touches
    ]
    total = sum(raw)
    if total == 0.0:
        count = len(raw)
        return (1.0 / count,) * count
    return tuple(weight / total for weight in raw)
