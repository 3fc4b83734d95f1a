"""verify_journeys and purge_journeys on a terminal: a tqdm counter (SPEC §11); their plain
output (not a terminal) and exit codes stay as SPEC §4.3 and §4.4 have them."""
import pytest

from tests.journeys.journey_helpers import store_rows
from tests.journeys.test_commands import Terminal, run, shop  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db


def _summary_lines(out):
    """The lines a terminal keeps once tqdm has drawn over its own line."""
    return [line.rsplit("\r", 1)[-1] for line in out.splitlines() if line.rsplit("\r", 1)[-1].strip()]


def test_verify_counts_conversions_on_a_terminal_and_prints_the_same_report(shop):
    broken = shop["conversions"][0]
    store_rows(broken.conv_id, (shop["click"].click_id, shop["click"].click_time, 3))
    arguments = ("verify_journeys", "--user", str(shop["account"].user_id))

    plain_code, plain, _ = run(*arguments)
    code, drawn, _ = run(*arguments, stdout=Terminal())

    assert (plain_code, code) == (1, 1)
    assert "\r" not in plain and "Progress" not in plain
    assert "\rVerify:3conv" in drawn.replace(" ", "") and "3 with errors, 0 needing review" in drawn
    assert [line for line in _summary_lines(drawn) if not line.startswith("Verify:")] == plain.splitlines()


def test_purge_counts_conversions_on_a_terminal(shop):
    for conversion in shop["conversions"]:
        store_rows(conversion.conv_id, (1, 10, 0), (2, 11, 1))
    arguments = ("purge_journeys", "--user", str(shop["account"].user_id))

    _, plain, _ = run(*arguments, "--dry-run")
    code, drawn, _ = run(*arguments, "--yes", stdout=Terminal())

    assert plain.strip() == "Dry run: would delete 6 touchpoint row(s) of 3 conversion(s)."
    assert code == 0
    assert "\rPurge:3conv" in drawn.replace(" ", "") and "6 touchpoint rows deleted" in drawn
    assert _summary_lines(drawn)[-1] == "Deleted 6 touchpoint row(s) of 3 conversion(s)."
