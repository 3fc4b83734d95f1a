"""The plain values credit maths works on: a touch and a conversion's sorted journey (SPEC §5.1)."""
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Touch:
    """One click of a journey, with the click columns the scopes and Markov channels need."""

    click_id: int
    click_time: int
    landing_page_id: int = 0
    ppc_account_id: int = 0


@dataclass(frozen=True, slots=True)
class Journey:
    """A conversion's touches: sorted by (click_time, click_id), distinct, converting click in.

    Build it with `journey_from_stored`, which enforces those invariants; the credit functions
    rely on them and do not re-check (they run for every conversion and model of a rebuild).
    """

    conv_id: int
    conv_time: int
    converting_click_id: int
    touches: tuple[Touch, ...]


def journey_from_stored(
    *,
    conv_id,
    conv_time,
    converting_click_id,
    converting_click_time,
    stored_touches,
    converting_landing_page_id=0,
    converting_ppc_account_id=0,
):
    """The journey SPEC §5.1 credits: stored touches de-duplicated by click id (first row wins),
    the converting click added when missing, sorted by time then click id.

    No stored touches gives the one-touch journey of the converting click. The two optional
    `converting_*` ids describe the converting click when it has to be added, so its landing page
    and account scopes are right; they are 0 when its `202_clicks` row is missing.
    """
    by_click_id = {}
    for touch in stored_touches:
        by_click_id.setdefault(touch.click_id, touch)
    if converting_click_id not in by_click_id:
        by_click_id[converting_click_id] = Touch(
            converting_click_id,
            converting_click_time,
            converting_landing_page_id,
            converting_ppc_account_id,
        )
    touches = tuple(sorted(by_click_id.values(), key=_chronological))
    return Journey(conv_id, conv_time, converting_click_id, touches)


def _chronological(touch):
    return (touch.click_time, touch.click_id)
