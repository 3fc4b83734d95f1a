"""Argument validation shared by commands, tasks, the API and forms: one error type, one set of
ranges, messages that name the argument, the value given and what is allowed.

Commands turn `InvalidArgument` into exit code 2 before anything is written (not even an audit
row); the API into a 400 naming the parameter; forms into a field error.
"""
EPOCH_MAX = 2**32 - 1  # 202 time columns are INT UNSIGNED
ID_MAX = 2**63 - 1  # BIGINT
EPOCH_ALLOWED = f"expected a whole number of epoch seconds from 0 to {EPOCH_MAX}"


class InvalidArgument(ValueError):
    """A bad argument: `field` names it, `value` is what was given, `allowed` says what is."""

    def __init__(self, field, value, allowed):
        self.field, self.value, self.allowed = field, value, allowed
        super().__init__(f"{field}: {value!r} is not valid; {allowed}.")

    @property
    def message(self):
        return str(self)


def whole_number(field, value, *, minimum, maximum, allowed=None):
    """`value` (an int, or text of one) as an int in [minimum, maximum]."""
    allowed = allowed or f"expected a whole number from {minimum} to {maximum}"
    if isinstance(value, bool):
        raise InvalidArgument(field, value, allowed)
    if isinstance(value, int):
        number = value
    else:
        text = str(value).strip() if value is not None else ""
        if not (text.isascii() and text.lstrip("-").isdigit()) or len(text) > 40:
            raise InvalidArgument(field, value, allowed)
        number = int(text)
    if not minimum <= number <= maximum:
        raise InvalidArgument(field, value, allowed)
    return number


def epoch(field, value):
    """Epoch seconds in the range of the 202 tables' INT UNSIGNED time columns."""
    return whole_number(field, value, minimum=0, maximum=EPOCH_MAX, allowed=EPOCH_ALLOWED)


def optional_epoch(field, value):
    return None if value is None or value == "" else epoch(field, value)


def object_id(field, value):
    """A positive database id within BIGINT."""
    return whole_number(field, value, minimum=1, maximum=ID_MAX,
                        allowed=f"expected a positive whole number up to {ID_MAX}")


def object_ids(field, values):
    """Positive ids from a repeated argument, duplicates dropped, order kept."""
    return list(dict.fromkeys(object_id(field, value) for value in values or ()))


def window(start, end, *, now, default_seconds, start_field="--start", end_field="--end"):
    """(start, end) epochs with defaults end = now and start = end − default_seconds (not
    below 0); start must not be after end."""
    given_start = optional_epoch(start_field, start)
    end = now if end is None or end == "" else epoch(end_field, end)
    start = max(0, end - default_seconds) if given_start is None else given_start
    if start > end:
        raise InvalidArgument(start_field, start, f"must not be after {end_field} ({end})")
    return start, end


def optional_window(start, end, *, start_field="--start", end_field="--end"):
    """(start, end) where either may be None (no bound); start must not be after end."""
    start, end = optional_epoch(start_field, start), optional_epoch(end_field, end)
    if start is not None and end is not None and start > end:
        raise InvalidArgument(start_field, start, f"must not be after {end_field} ({end})")
    return start, end
