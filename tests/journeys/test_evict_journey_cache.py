"""`manage.py evict_journey_cache` (SPEC §4.5, runbook §3.3): exactly one selection, exit codes,
and against the configured cache (real memcached when CACHE_URL points at it)."""
import pytest

from journeys.cache import get_journey, journey_cache_version
from journeys.models import PendingJourneyEviction
from tests.journeys.journey_helpers import DAY, NOW, store_rows
from tests.journeys.test_cache import cached, memcached_blinks  # noqa: F401 (fixture)
from tests.journeys.test_commands import run

pytestmark = pytest.mark.django_db


@pytest.fixture
def book(tracker):
    """Two accounts' conversions, each with a cached one-touch journey: shop's on three days."""
    shop, other = tracker.account("shop"), tracker.account("other")
    conversions = {}
    for account, conv_time in ((shop, NOW - 2 * DAY), (shop, NOW - DAY), (shop, NOW), (other, NOW)):
        campaign = tracker.campaign(account)
        click = tracker.click(account, campaign, conv_time - 60)
        conversion = tracker.conversion(account, campaign, conv_time, click=click)
        store_rows(conversion.conv_id, (click.click_id, click.click_time, 0))
        get_journey(conversion.conv_id)
        conversions.setdefault(account.user_name, []).append(conversion.conv_id)
    return {"shop_account": shop, **conversions}


def still_cached(book):
    everything = book["shop"] + book["other"]
    return [conv_id for conv_id in everything if cached(conv_id) is not None]


def test_conv_ids_repeat_in_both_argument_forms(book):
    first, second, third = book["shop"]

    code, out, err = run("evict_journey_cache", f"--conv-id={first}", "--conv-id", str(third))

    assert code == 0, err
    assert out == "Evicted 2 journey cache key(s).\n"
    assert still_cached(book) == [second, *book["other"]]


def test_user_with_a_window_evicts_only_those_conversions(book):
    first, second, third = book["shop"]

    code, out, err = run("evict_journey_cache", f"--user={book['shop_account'].user_id}",
                         f"--start={NOW - DAY}", "--end", str(NOW - 1))

    assert code == 0, err
    assert out == "Evicted 1 journey cache key(s).\n"
    assert still_cached(book) == [first, third, *book["other"]]


def test_user_without_a_window_evicts_all_of_its_conversions(book):
    code, out, _ = run("evict_journey_cache", "--user", str(book["shop_account"].user_id))

    assert (code, out) == (0, "Evicted 3 journey cache key(s).\n")
    assert still_cached(book) == book["other"]


def test_all_evicts_every_journey_key_at_once(book):
    version = journey_cache_version()

    code, out, _ = run("evict_journey_cache", "--all")

    assert (code, out) == (0, "Evicted every journey cache key (namespace bumped).\n")
    assert journey_cache_version() == version + 1
    assert still_cached(book) == []


def test_a_deleted_user_is_skipped_with_a_warning(book, tracker):
    gone = tracker.account("gone", user_deleted=1)

    code, out, err = run("evict_journey_cache", f"--user={gone.user_id}")

    assert (code, out) == (0, "Evicted 0 journey cache key(s).\n")
    assert f"User {gone.user_id} is deleted (user_deleted=1): skipped." in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "--conv-id/--user/--all: 'none' is not valid; give exactly one of them."),
        (["--all", "--conv-id=1"], "--conv-id/--user/--all: '--conv-id --all' is not valid"),
        (["--conv-id=1", "--start=5"], "--start: '5' is not valid; only allowed with --user."),
        (["--conv-id=0"], "--conv-id: '0' is not valid"),
        (["--conv-id", "abc"], "--conv-id: 'abc' is not valid"),
        (["--user=999999"], "--user: 999999 is not valid; no such user_id in 202_users."),
        (["--user=USER", "--start=-1"], "--start: '-1' is not valid"),
        (["--user=USER", "--start", "4294967296"], "--start: '4294967296' is not valid"),
        (["--user=USER", f"--start={NOW}", f"--end={NOW - 1}"], f"--start: {NOW} is not valid; must not be after --end"),
    ],
)
def test_bad_arguments_exit_2_naming_the_argument_and_evict_nothing(book, args, message):
    args = [arg.replace("USER", str(book["shop_account"].user_id)) for arg in args]

    code, out, err = run("evict_journey_cache", *args)

    assert code == 2
    assert message in err
    assert out == ""
    assert len(still_cached(book)) == 4


def test_unreachable_cache_exits_1_and_queues_the_evictions(book, memcached_blinks):
    first = book["shop"][0]
    memcached_blinks()

    code, out, err = run("evict_journey_cache", f"--conv-id={first}")

    assert code == 1
    assert out == "Evicted 0 journey cache key(s).\n"
    assert "The cache could not be reached: 1 key(s) queued for retry" in err
    assert list(PendingJourneyEviction.objects.values_list("conv_id", flat=True)) == [first]

    code, out, err = run("evict_journey_cache", "--all")
    assert code == 1
    assert "The cache could not be reached: evicting every journey queued for retry" in err
