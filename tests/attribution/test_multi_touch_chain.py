"""A multi-touch flag change and its chain (SPEC §5.3): purge or hydrate, then a rebuild of the
affected hours. The chain's steps run here in order, as a worker runs them (the worker itself:
test_queued_work_processes.py)."""
import json
import time

import pytest
from django.utils.module_loading import import_string
from django_q.models import OrmQ
from django_q.signing import SignedPackage

from attribution import multi_touch, services
from attribution.models import Snapshot, TouchCredit
from attribution.rebuild import run_rebuild
from journeys.models import JourneyTouch
from tracker.audit import Actor
from tracker.queue import QueuedWorkFailed

pytestmark = pytest.mark.django_db

ACTOR = Actor("admin", "ops")
DAY = 86_400
HOURS = 4


@pytest.fixture
def history(tracker, settings):
    """Conversions three days ago, one an hour, each with a stored three-touch journey, and the
    hours rebuilt with a linear default model; a second campaign's hour too."""
    settings.ATTRIBUTION_LOOKBACK_SECONDS = 10 * DAY
    account = tracker.account("acme")
    campaign = tracker.campaign(account, name="Purged")
    kept = tracker.campaign(account, name="Kept")
    model = services.create_model(account_id=account.user_id, model_name="Linear", model_type="linear",
                                  is_default=True, actor=ACTOR)
    first_hour = (int(time.time()) - 3 * DAY) // 3600 * 3600
    conversions = []
    for hour in range(HOURS):
        for target in (campaign, kept):
            conv_time = first_hour + hour * 3600 + 600
            clicks = [tracker.click(account, target, conv_time - 3000 + 1000 * n) for n in range(3)]
            conversion = tracker.conversion(account, target, conv_time, click=clicks[-1])
            JourneyTouch.objects.bulk_create(
                JourneyTouch(conv_id=conversion.conv_id, click_id=click.click_id, click_time=click.click_time,
                             position=position, created_at=1)
                for position, click in enumerate(clicks)
            )
            conversions.append((target, conversion))
    window = (first_hour, first_hour + HOURS * 3600 - 1)
    assert run_rebuild(start=window[0], end=window[1], user_ids=[account.user_id], actor=ACTOR).succeeded
    return account, campaign, model, conversions, window


def _run_chain(group_id):
    """Run the chain's steps in order as django-q2 workers would; returns their results."""
    [package] = [SignedPackage.loads(row.payload) for row in OrmQ.objects.order_by("id")]
    assert package["group"] == group_id
    steps = [(package["func"], package["kwargs"])] + [(func, kwargs) for func, _args, kwargs in package["chain"]]
    return [import_string(func)(**{k: v for k, v in kwargs.items() if k != "task_name"}) for func, kwargs in steps]


def _credited_clicks(model, conversions):
    credited = dict.fromkeys((conversion.conv_id for _, conversion in conversions), 0)
    for conv_id in TouchCredit.objects.filter(conv_id__in=list(credited)).values_list("conv_id", flat=True):
        credited[conv_id] += 1
    return credited


def test_after_a_purge_the_older_hours_no_longer_credit_the_purged_journeys(history):
    account, campaign, model, conversions, window = history
    assert set(_credited_clicks(model, conversions).values()) == {3}
    global_clicks = Snapshot.objects.filter(model_id=model.pk, scope_type="global").values_list("attributed_clicks", flat=True)
    assert sum(global_clicks) == 3 * 2 * HOURS

    saved = services.save_scope_setting(
        account_id=account.user_id, scope_type="campaign", scope_id=campaign.aff_campaign_id,
        model_id=model.pk, multi_touch_enabled=False, actor=ACTOR,
    )
    purge, rebuild = _run_chain(saved.chain_group_id)

    assert purge["rows_deleted"] == 3 * HOURS
    assert rebuild["succeeded"] and (rebuild["window_start"], rebuild["window_end"]) == window
    credited = _credited_clicks(model, conversions)
    for target, conversion in conversions:
        assert credited[conversion.conv_id] == (1 if target == campaign else 3), conversion.conv_id
    campaign_rows = Snapshot.objects.filter(model_id=model.pk, scope_type="campaign", scope_id=campaign.aff_campaign_id)
    assert sorted(campaign_rows.values_list("attributed_clicks", flat=True)) == [1] * HOURS
    assert sum(Snapshot.objects.filter(model_id=model.pk, scope_type="global")
               .values_list("attributed_clicks", flat=True)) == (3 + 1) * HOURS
    chain = multi_touch.find_chain(saved.chain_group_id)
    assert (chain.account_id, chain.enabled, chain.scope_id) == (account.user_id, False, campaign.aff_campaign_id)


def test_enabling_again_hydrates_and_the_rebuild_credits_the_journeys_again(history):
    account, campaign, model, conversions, window = history
    disable = services.save_scope_setting(
        account_id=account.user_id, scope_type="campaign", scope_id=campaign.aff_campaign_id,
        model_id=model.pk, multi_touch_enabled=False, actor=ACTOR,
    )
    _run_chain(disable.chain_group_id)
    OrmQ.objects.all().delete()

    enable = services.save_scope_setting(
        account_id=account.user_id, scope_type="campaign", scope_id=campaign.aff_campaign_id,
        model_id=model.pk, multi_touch_enabled=True, actor=ACTOR,
    )
    hydrate, rebuild = _run_chain(enable.chain_group_id)

    assert hydrate["written"] == HOURS
    assert rebuild["succeeded"] and rebuild["window_start"] == window[0]
    # Campaign-matched journeys (Prosper202's rule): each takes the campaign's earlier clicks too.
    credited = _credited_clicks(model, conversions)
    for target, conversion in conversions:
        touches = JourneyTouch.objects.filter(conv_id=conversion.conv_id).count()
        assert credited[conversion.conv_id] == touches >= 3
    assert sorted(credited[c.conv_id] for t, c in conversions if t == campaign) == [3, 6, 9, 12]


def test_nothing_to_rebuild_when_the_account_has_no_snapshots_yet(tracker):
    account = tracker.account("fresh")
    campaign = tracker.campaign(account)
    model = services.create_model(account_id=account.user_id, model_name="Main", model_type="linear",
                                  is_default=True, actor=ACTOR)
    saved = services.save_scope_setting(
        account_id=account.user_id, scope_type="campaign", scope_id=campaign.aff_campaign_id,
        model_id=model.pk, multi_touch_enabled=False, actor=ACTOR,
    )
    _purge, rebuild = _run_chain(saved.chain_group_id)
    assert rebuild == {"succeeded": True, "message": "no rebuilt hour holds a conversion of the scope: nothing to rebuild"}
    assert not Snapshot.objects.exists()


def test_the_rebuild_step_fails_when_the_rebuild_fails(history, monkeypatch):
    """A failing rebuild makes the chain's last task fail, so django-q2 records and retries it."""
    from attribution import store

    account, campaign, model, _conversions, _window = history
    saved = services.save_scope_setting(
        account_id=account.user_id, scope_type="campaign", scope_id=campaign.aff_campaign_id,
        model_id=model.pk, multi_touch_enabled=False, actor=ACTOR,
    )

    def refused(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(store, "replace_snapshots", refused)
    with pytest.raises(QueuedWorkFailed) as failure:
        _run_chain(saved.chain_group_id)
    assert json.loads(str(failure.value))["users_failed"] == {str(account.user_id): "RuntimeError: disk full"}
