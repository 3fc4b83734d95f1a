"""Model management and scope settings services (SPEC §5.3): rules, audit rows, enqueues."""
import json

import pytest
from django.db import transaction
from django_q.models import OrmQ
from django_q.signing import SignedPackage

from attribution import services
from attribution.models import AttributionModel, AttributionSetting
from tracker.arguments import InvalidArgument
from tracker.audit import Actor
from tracker.models import AuditEntry

pytestmark = pytest.mark.django_db

ADMIN = Actor("admin", "ops")


@pytest.fixture
def account(tracker):
    return tracker.account("acme")


def _create(account, name="Linear", model_type="linear", **options):
    return services.create_model(
        account_id=account.user_id, model_name=name, model_type=model_type, actor=ADMIN, **options
    )


def _audit(action, account):
    return [
        {**json.loads(entry.metadata), "model_id": entry.model_id}
        for entry in AuditEntry.objects.filter(user_id=account.user_id, action=action).order_by("audit_id")
    ]


def _queued_tasks():
    """(func, kwargs) of every task waiting in django-q2's ORM broker."""
    tasks = [SignedPackage.loads(row.payload) for row in OrmQ.objects.order_by("id")]
    return [(task["func"], task["kwargs"]) for task in tasks]


# --- create ---------------------------------------------------------------------------------------

def test_create_stores_normalised_config_and_audits(account):
    model = _create(account, "Decay 1d", "time_decay", weighting_config={"half_life_hours": 24.0})

    row = AttributionModel.objects.get(pk=model.pk)
    assert (row.model_slug, row.model_type, row.weighting_config) == ("decay-1d", "time_decay", '{"half_life_hours":24}')
    assert row.is_active and not row.is_default
    assert row.created_at == row.updated_at > 0
    [entry] = _audit("model_create", account)
    assert entry["model_id"] == model.pk
    assert entry["model_slug"] == "decay-1d"
    assert entry["actor"] == {"type": "admin", "username": "ops"}


def test_empty_config_is_stored_as_null(account):
    model = _create(account, weighting_config="{}")
    assert AttributionModel.objects.get(pk=model.pk).weighting_config is None


def test_invalid_half_life_names_the_key_and_writes_nothing(account):
    with pytest.raises(services.ModelChangeError) as raised:
        _create(account, "Decay", "time_decay", weighting_config={"half_life_hours": 9000})

    assert set(raised.value.fields) == {"half_life_hours"}
    assert "9000" in raised.value.fields["half_life_hours"]
    assert not AttributionModel.objects.exists()
    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize(
    "options, field",
    [
        ({"model_name": "  "}, "model_name"),
        ({"model_name": "x" * 256}, "model_name"),
        ({"model_type": "u_shaped"}, "model_type"),
        ({"weighting_config": '{"half_life_hours": 5}'}, "weighting_config"),
        ({"model_slug": "has space"}, "model_slug"),
        ({"is_active": False, "is_default": True}, "is_active"),
    ],
)
def test_create_refuses_bad_input_with_the_field(account, options, field):
    arguments = {"model_name": "Linear", "model_type": "linear", **options}
    with pytest.raises(services.ModelChangeError) as raised:
        services.create_model(account_id=account.user_id, actor=ADMIN, **arguments)
    assert field in raised.value.fields


def test_create_refuses_unknown_account():
    with pytest.raises(services.ModelChangeError) as raised:
        services.create_model(account_id=999, model_name="X", model_type="linear", actor=ADMIN)
    assert "999" in raised.value.fields["account_id"]


# --- slugs ----------------------------------------------------------------------------------------

def test_slugs_get_numbered_suffixes_per_account(account, tracker):
    other = tracker.account("other")
    slugs = [_create(account, "Last Touch!").model_slug for _ in range(3)]
    assert slugs == ["last-touch", "last-touch-1", "last-touch-2"]
    assert _create(other, "Last Touch!").model_slug == "last-touch"


def test_long_names_keep_the_suffix_within_191_characters(account):
    first = _create(account, "a" * 255)
    second = _create(account, "a" * 255)
    assert len(first.model_slug) == 191
    assert second.model_slug == "a" * 189 + "-1"


def test_name_without_slug_characters_gets_a_fallback_slug(account):
    assert _create(account, "€€€").model_slug == "model"


def test_given_slug_that_is_taken_is_refused(account):
    _create(account, "One", model_slug="shared")
    with pytest.raises(services.ModelChangeError) as raised:
        _create(account, "Two", model_slug="shared")
    assert "shared" in raised.value.fields["model_slug"]


def test_rename_keeps_the_slug_unless_a_new_one_is_given(account):
    model = _create(account, "Old name")
    renamed = services.update_model(model, changes={"model_name": "New name"}, actor=ADMIN)
    assert (renamed.model_name, renamed.model_slug) == ("New name", "old-name")

    reslugged = services.update_model(model, changes={"model_slug": "fresh"}, actor=ADMIN)
    assert reslugged.model_slug == "fresh"


def test_update_to_a_taken_slug_is_refused(account):
    _create(account, "One")
    two = _create(account, "Two")
    with pytest.raises(services.ModelChangeError) as raised:
        services.update_model(two, changes={"model_slug": "one"}, actor=ADMIN)
    assert "model_slug" in raised.value.fields


# --- update ---------------------------------------------------------------------------------------

def test_update_records_before_and_after_of_changed_fields_only(account):
    model = _create(account, "Decay", "time_decay", weighting_config={"half_life_hours": 24})

    services.update_model(
        model,
        changes={"model_name": "Decay", "weighting_config": {"half_life_hours": 48}},
        actor=ADMIN,
    )

    [entry] = _audit("model_update", account)
    assert entry["changes"] == {
        "weighting_config": {"before": '{"half_life_hours":24}', "after": '{"half_life_hours":48}'}
    }
    assert AttributionModel.objects.get(pk=model.pk).weighting_config == '{"half_life_hours":48}'


def test_update_without_real_changes_writes_no_audit(account):
    model = _create(account, "Same")
    services.update_model(model, changes={"model_name": "Same", "is_active": True}, actor=ADMIN)
    assert _audit("model_update", account) == []


def test_type_change_without_config_validates_an_empty_config(account):
    model = _create(account, "Decay", "time_decay", weighting_config={"half_life_hours": 24})

    services.update_model(model, changes={"model_type": "linear"}, actor=ADMIN)
    assert AttributionModel.objects.get(pk=model.pk).weighting_config is None

    with pytest.raises(services.ModelChangeError) as raised:
        services.update_model(model, changes={"model_type": "position_based"}, actor=ADMIN)
    assert "first_touch_weight" in raised.value.fields


def test_unknown_change_keys_are_refused(account):
    model = _create(account)
    with pytest.raises(services.ModelChangeError) as raised:
        services.update_model(model, changes={"user_id": 5}, actor=ADMIN)
    assert raised.value.fields == {"user_id": "unknown field"}


def test_invalid_legacy_row_cannot_be_activated_until_fixed(account):
    now = 1_700_000_000
    legacy = AttributionModel.objects.create(
        user_id=account.user_id, model_name="Legacy", model_slug="legacy", model_type="time_decay",
        weighting_config="{}", is_active=False, created_at=now, updated_at=now,
    )
    valid, reason = services.model_validity(legacy)
    assert not valid and reason.startswith("half_life_hours:")

    with pytest.raises(services.ModelChangeError) as raised:
        services.update_model(legacy, changes={"is_active": True}, actor=ADMIN)
    assert "weighting_config" in raised.value.fields

    services.update_model(
        legacy, changes={"is_active": True, "weighting_config": {"half_life_hours": 12}}, actor=ADMIN
    )
    assert AttributionModel.objects.get(pk=legacy.pk).is_active


# --- defaults -------------------------------------------------------------------------------------

def test_first_model_becomes_default_only_when_asked(account):
    _create(account, "Plain")
    assert not AttributionModel.objects.filter(is_default=True).exists()
    assert not AttributionSetting.objects.exists()


def test_create_as_default_promotes_and_creates_the_global_setting(account):
    model = _create(account, "Main", is_default=True)

    assert AttributionModel.objects.get(pk=model.pk).is_default
    setting = AttributionSetting.objects.get(user_id=account.user_id)
    assert (setting.scope_type, setting.scope_id, setting.model_id) == ("global", None, model.pk)
    assert setting.multi_touch_enabled and setting.multi_touch_enabled_at
    [entry] = _audit("model_default_changed", account)
    assert entry["global_setting"] == {"setting_id": setting.setting_id, "created": True}


def test_make_default_clears_others_activates_and_repoints_global(account):
    first = _create(account, "First", is_default=True)
    second = _create(account, "Second", is_active=False)

    services.make_default(second, actor=ADMIN)

    rows = {row.model_name: row for row in AttributionModel.objects.filter(user_id=account.user_id)}
    assert (rows["First"].is_default, rows["Second"].is_default, rows["Second"].is_active) == (False, True, True)
    assert AttributionSetting.objects.get(user_id=account.user_id).model_id == second.pk
    entry = _audit("model_default_changed", account)[-1]
    assert entry["previous_default_ids"] == [first.pk]
    assert entry["activated"] is True


def test_make_default_repairs_several_defaults_and_updates_the_deciding_global_row(account):
    one, two, three = (_create(account, name) for name in ("One", "Two", "Three"))
    AttributionModel.objects.filter(pk__in=[one.pk, two.pk]).update(is_default=True)
    older = AttributionSetting.objects.create(
        user_id=account.user_id, scope_type="global", model_id=one.pk, effective_at=1, created_at=1, updated_at=100,
    )
    newer = AttributionSetting.objects.create(
        user_id=account.user_id, scope_type="global", model_id=two.pk, effective_at=1, created_at=1, updated_at=200,
    )

    services.make_default(three, actor=ADMIN)

    assert list(AttributionModel.objects.filter(is_default=True).values_list("pk", flat=True)) == [three.pk]
    assert AttributionSetting.objects.get(pk=newer.pk).model_id == three.pk
    assert AttributionSetting.objects.get(pk=older.pk).model_id == one.pk


def test_make_default_twice_records_one_change(account):
    model = _create(account, "Main")
    services.make_default(model, actor=ADMIN)
    services.make_default(model, actor=ADMIN)
    assert len(_audit("model_default_changed", account)) == 1


def test_update_is_default_true_promotes(account):
    first = _create(account, "First", is_default=True)
    second = _create(account, "Second")
    services.update_model(second, changes={"is_default": True}, actor=ADMIN)
    assert not AttributionModel.objects.get(pk=first.pk).is_default
    assert AttributionModel.objects.get(pk=second.pk).is_default


def test_default_cannot_be_deactivated_cleared_or_deleted(account):
    model = _create(account, "Main", is_default=True)

    for change in ({"is_active": False}, {"is_default": False}):
        with pytest.raises(services.ModelChangeError) as raised:
            services.update_model(model, changes=change, actor=ADMIN)
        assert "promote another model" in raised.value.message
    with pytest.raises(services.ModelChangeError) as raised:
        services.set_models_active([model], False, actor=ADMIN)
    assert "promote another model" in raised.value.message
    with pytest.raises(services.ModelChangeError) as raised:
        services.delete_model(model, actor=ADMIN)
    assert "promote another model" in raised.value.message

    row = AttributionModel.objects.get(pk=model.pk)
    assert row.is_active and row.is_default
    assert _audit("model_update", account) == [] and _audit("model_delete", account) == []


def test_invalid_model_cannot_be_made_default(account):
    legacy = AttributionModel.objects.create(
        user_id=account.user_id, model_name="Legacy", model_slug="legacy", model_type="first_touch",
        weighting_config='{"x": 1}', created_at=1, updated_at=1,
    )
    with pytest.raises(services.ModelChangeError):
        services.make_default(legacy, actor=ADMIN)
    assert not AttributionModel.objects.get(pk=legacy.pk).is_default


# --- delete and bulk activation -------------------------------------------------------------------

def test_delete_records_the_deleted_row(account):
    model = _create(account, "Gone", "position_based",
                    weighting_config={"first_touch_weight": 0.4, "last_touch_weight": 0.4})
    services.delete_model(model, actor=ADMIN)

    assert not AttributionModel.objects.filter(pk=model.pk).exists()
    [entry] = _audit("model_delete", account)
    assert (entry["model_id"], entry["model_name"]) == (model.pk, "Gone")


def test_delete_refuses_a_model_used_by_a_scope_setting(account, tracker):
    _create(account, "Main", is_default=True)
    side = _create(account, "Side")
    campaign = tracker.campaign(account)
    setting = services.save_scope_setting(
        account_id=account.user_id, scope_type="campaign", scope_id=campaign.aff_campaign_id,
        model_id=side.pk, multi_touch_enabled=True, actor=ADMIN,
    )
    with pytest.raises(services.ModelChangeError) as raised:
        services.delete_model(side, actor=ADMIN)
    assert str(setting.setting.setting_id) in raised.value.message


def test_set_models_active_counts_changes_and_is_all_or_nothing(account):
    main = _create(account, "Main", is_default=True)
    a = _create(account, "A", is_active=False)
    b = _create(account, "B", is_active=False)

    assert services.set_models_active([a, b, main], True, actor=ADMIN) == 2
    assert len(_audit("model_update", account)) == 2

    with pytest.raises(services.ModelChangeError):
        services.set_models_active([a, main], False, actor=ADMIN)
    assert AttributionModel.objects.get(pk=a.pk).is_active
    assert len(_audit("model_update", account)) == 2


def test_change_and_audit_roll_back_together(account):
    model = _create(account, "Before")
    with pytest.raises(RuntimeError), transaction.atomic():
        services.update_model(model, changes={"model_name": "After"}, actor=ADMIN)
        raise RuntimeError("failure after the change")

    assert AttributionModel.objects.get(pk=model.pk).model_name == "Before"
    assert _audit("model_update", account) == []


# --- scope settings -------------------------------------------------------------------------------

@pytest.fixture
def default_model(account):
    return _create(account, "Main", is_default=True)


def _save(account, model, scope_type="global", scope_id=None, enabled=True):
    return services.save_scope_setting(
        account_id=account.user_id, scope_type=scope_type, scope_id=scope_id, model_id=model.pk,
        multi_touch_enabled=enabled, actor=ADMIN,
    )


def _chain(group_id):
    """(func, kwargs without task_name) of the chain's first task and of the steps it carries."""
    [task] = [SignedPackage.loads(row.payload) for row in OrmQ.objects.order_by("id")]
    assert task["group"] == group_id
    steps = [(task["func"], task["kwargs"])] + [(func, kwargs) for func, _args, kwargs in task["chain"]]
    return [(func, {key: value for key, value in kwargs.items() if key != "task_name"}) for func, kwargs in steps]


def test_global_setting_is_updated_in_place_never_duplicated(account, default_model):
    saved = _save(account, default_model, enabled=False)

    assert AttributionSetting.objects.filter(user_id=account.user_id, scope_type="global").count() == 1
    assert (saved.setting.model_id, saved.setting.multi_touch_enabled) == (default_model.pk, False)
    [entry] = _audit("settings_update", account)
    assert entry["changes"] == {"multi_touch_enabled": {"before": True, "after": False}}


def test_global_row_names_only_the_default_model(account, default_model):
    other = _create(account, "Other")
    with pytest.raises(services.ModelChangeError) as raised:
        _save(account, other)
    message = raised.value.fields["model_id"]
    assert f"default model (Main (#{default_model.pk}))" in message and "make it the default" in message
    assert AttributionSetting.objects.get(user_id=account.user_id).model_id == default_model.pk
    assert _audit("settings_update", account) == []


def test_scope_row_names_only_an_active_model(account, default_model, tracker):
    campaign = tracker.campaign(account)
    idle = _create(account, "Idle", is_active=False)
    with pytest.raises(services.ModelChangeError) as raised:
        _save(account, idle, "campaign", campaign.aff_campaign_id)
    assert "Idle (#%d) is inactive" % idle.pk in raised.value.fields["model_id"]
    assert not AttributionSetting.objects.filter(scope_type="campaign").exists()
    active = _create(account, "Side")
    assert _save(account, active, "campaign", campaign.aff_campaign_id).setting.model_id == active.pk
    assert list(services.setting_model_choices(account.user_id, "global")) == [default_model]
    assert set(services.setting_model_choices(account.user_id, "campaign")) == {default_model, active}


def test_campaign_and_advertiser_scopes_must_belong_to_the_account(account, default_model, tracker):
    stranger = tracker.account("stranger")
    foreign_campaign = tracker.campaign(stranger)
    own_campaign = tracker.campaign(account)

    with pytest.raises(services.ModelChangeError) as raised:
        _save(account, default_model, "campaign", foreign_campaign.aff_campaign_id)
    assert "scope_id" in raised.value.fields
    with pytest.raises(services.ModelChangeError) as raised:
        _save(account, default_model, "advertiser", 424242)
    assert "424242" in raised.value.fields["scope_id"]
    with pytest.raises(services.ModelChangeError) as raised:
        _save(account, default_model, "global", 5)
    assert "scope_id" in raised.value.fields
    with pytest.raises(services.ModelChangeError) as raised:
        _save(account, default_model, "landing_page", 5)
    assert "scope_type" in raised.value.fields

    setting = _save(account, default_model, "campaign", own_campaign.aff_campaign_id).setting
    assert (setting.scope_type, setting.scope_id) == ("campaign", own_campaign.aff_campaign_id)


def test_model_of_another_account_is_refused(account, default_model, tracker):
    stranger = tracker.account("stranger")
    foreign = _create(stranger, "Theirs")
    with pytest.raises(services.ModelChangeError) as raised:
        _save(account, foreign)
    assert str(stranger.user_id) in raised.value.fields["model_id"]


def test_disabling_queues_purge_then_rebuild_as_one_chain_with_the_change(account, default_model):
    saved = _save(account, default_model, enabled=False)

    assert saved.chain_group_id.startswith("multitouch-")
    assert _chain(saved.chain_group_id) == [
        ("journeys.tasks.purge_disabled_scopes_task", {"user_ids": [account.user_id], "username": "ops"}),
        ("attribution.tasks.multi_touch_rebuild_task",
         {"account_id": account.user_id, "scope_type": "global", "scope_id": None, "since": None, "username": "ops"}),
    ]
    row = AttributionSetting.objects.get(pk=saved.setting.pk)
    assert not row.multi_touch_enabled and row.multi_touch_disabled_at == row.effective_at == row.updated_at
    [entry] = _audit("multi_touch_disable", account)
    assert (entry["setting_id"], entry["chain_group_id"]) == (saved.setting.pk, saved.chain_group_id)
    assert entry["chain_steps"] == [
        "journeys.tasks.purge_disabled_scopes_task", "attribution.tasks.multi_touch_rebuild_task",
    ]


def test_a_change_rolled_back_queues_nothing(account, default_model):
    with pytest.raises(RuntimeError), transaction.atomic():
        _save(account, default_model, enabled=False)
        raise RuntimeError("failure after the change")
    assert _queued_tasks() == []
    assert AttributionSetting.objects.get(user_id=account.user_id).multi_touch_enabled


def test_enabling_a_campaign_under_a_disabled_global_hydrates_then_rebuilds(account, default_model, tracker, settings):
    settings.ATTRIBUTION_LOOKBACK_SECONDS = 86_400
    campaign = tracker.campaign(account)
    _save(account, default_model, enabled=False)
    OrmQ.objects.all().delete()

    saved = _save(account, default_model, "campaign", campaign.aff_campaign_id, enabled=True)

    (hydrate, hydrate_kwargs), (rebuild, rebuild_kwargs) = _chain(saved.chain_group_id)
    assert (hydrate, hydrate_kwargs) == (
        "journeys.tasks.hydrate_scope_task",
        {"account_id": account.user_id, "scope_type": "campaign", "scope_id": campaign.aff_campaign_id,
         "username": "ops"},
    )
    assert rebuild == "attribution.tasks.multi_touch_rebuild_task"
    assert rebuild_kwargs["scope_id"] == campaign.aff_campaign_id
    assert abs(rebuild_kwargs["since"] - (saved.setting.created_at - 86_400)) <= 2
    assert saved.setting.multi_touch_enabled_at == saved.setting.created_at
    assert len(_audit("multi_touch_enable", account)) == 1


def test_new_row_with_the_inherited_flag_queues_nothing(account, default_model, tracker):
    campaign = tracker.campaign(account)
    saved = _save(account, default_model, "campaign", campaign.aff_campaign_id, enabled=True)
    assert saved.chain_group_id is None and _queued_tasks() == []
    assert _audit("multi_touch_enable", account) == []
    assert len(_audit("settings_update", account)) == 1


def test_unchanged_setting_writes_nothing(account, default_model):
    before = AttributionSetting.objects.get(user_id=account.user_id)
    _save(account, default_model, enabled=True)
    assert AttributionSetting.objects.get(pk=before.pk).updated_at == before.updated_at
    assert _audit("settings_update", account) == []
    assert _queued_tasks() == []


# --- deleting and merging settings rows ------------------------------------------------------------

def test_deleting_a_disabled_campaign_row_lets_precedence_decide_and_hydrates(account, default_model, tracker):
    campaign = tracker.campaign(account)
    row = _save(account, default_model, "campaign", campaign.aff_campaign_id, enabled=False).setting
    OrmQ.objects.all().delete()

    chain_group_id = services.delete_scope_setting(row, actor=ADMIN)

    assert not AttributionSetting.objects.filter(pk=row.pk).exists()
    [deleted] = _audit("settings_delete", account)
    assert (deleted["setting_id"], deleted["scope_type"], deleted["scope_id"], deleted["multi_touch_enabled"]) == (
        row.pk, "campaign", campaign.aff_campaign_id, False,
    )
    assert [func for func, _ in _chain(chain_group_id)] == [
        "journeys.tasks.hydrate_scope_task", "attribution.tasks.multi_touch_rebuild_task",
    ]
    assert _audit("multi_touch_enable", account)[-1]["chain_group_id"] == chain_group_id


def test_deleting_a_row_that_changes_no_flag_queues_nothing(account, default_model, tracker):
    campaign = tracker.campaign(account)
    row = _save(account, default_model, "campaign", campaign.aff_campaign_id, enabled=True).setting
    assert services.delete_scope_setting(row, actor=ADMIN) is None
    assert _queued_tasks() == [] and len(_audit("settings_delete", account)) == 1
    with pytest.raises(services.ModelChangeError, match="no longer exists"):
        services.delete_scope_setting(row, actor=ADMIN)
    assert len(_audit("settings_delete", account)) == 1


def _global_row(account, model, updated_at, enabled=True):
    return AttributionSetting.objects.create(
        user_id=account.user_id, scope_type="global", scope_id=None, model_id=model.pk,
        multi_touch_enabled=enabled, effective_at=updated_at, created_at=updated_at, updated_at=updated_at,
    )


def test_merge_keeps_the_deciding_global_row(account, default_model):
    AttributionSetting.objects.filter(user_id=account.user_id).delete()
    older = _global_row(account, default_model, 100, enabled=False)
    deciding = _global_row(account, default_model, 200)
    tie_loser = _global_row(account, default_model, 150)

    kept, removed = services.merge_global_settings(account.user_id, actor=ADMIN)

    assert kept.pk == deciding.pk and removed == [tie_loser.pk, older.pk]
    assert list(AttributionSetting.objects.filter(user_id=account.user_id).values_list("pk", flat=True)) == [deciding.pk]
    [entry] = _audit("settings_merge", account)
    assert entry["kept_setting_id"] == deciding.pk
    assert [row["setting_id"] for row in entry["deleted"]] == [tie_loser.pk, older.pk]
    assert services.merge_global_settings(account.user_id, actor=ADMIN) == (kept, [])
    assert len(_audit("settings_merge", account)) == 1


# --- repairing the default ------------------------------------------------------------------------

def test_is_default_true_on_the_default_repairs_a_second_default_and_the_global_row(account, default_model):
    other = _create(account, "Other")
    # Drift written behind the console's back: a second default and a global row naming it.
    AttributionModel.objects.filter(pk=other.pk).update(is_default=True)
    AttributionSetting.objects.filter(user_id=account.user_id).update(model_id=other.pk)

    services.update_model(default_model, changes={"is_default": True}, actor=ADMIN)

    assert list(AttributionModel.objects.filter(user_id=account.user_id, is_default=True)) == [default_model]
    assert AttributionSetting.objects.get(user_id=account.user_id).model_id == default_model.pk
    [entry] = _audit("model_default_changed", account)[-1:]
    assert entry["previous_default_ids"] == [other.pk]
    assert entry["global_setting"]["before"] == other.pk
    count = len(_audit("model_default_changed", account))
    services.update_model(default_model, changes={"is_default": True}, actor=ADMIN)
    assert len(_audit("model_default_changed", account)) == count  # nothing left to repair


# --- rebuild enqueue ------------------------------------------------------------------------------

def test_enqueue_rebuilds_queues_one_task_per_account_and_audits_it(account, default_model):
    work = services.enqueue_rebuilds(
        start=1_700_000_000, end=1_700_086_400, user_ids=[account.user_id],
        model_ids=[default_model.pk], actor=ADMIN,
    )
    [package] = [SignedPackage.loads(row.payload) for row in OrmQ.objects.all()]
    assert (package["id"], package["group"]) == (work.reference, work.group_id)
    assert package["func"] == "attribution.tasks.rebuild_task"
    assert package["kwargs"] == {
        "start": 1_699_999_200, "end": 1_700_085_600, "user_ids": [account.user_id],
        "model_ids": [default_model.pk], "username": "ops",
    }
    [audit_row] = _audit("rebuild_queued", account)
    assert audit_row["task_ids"] == [work.reference]
    assert audit_row["actor"] == {"type": "admin", "username": "ops"}


def test_enqueue_rebuilds_refuses_bad_windows_and_foreign_models(account, default_model, tracker):
    foreign = _create(tracker.account("stranger"), "Theirs")
    for arguments, field in (
        ({"start": 10, "end": 5}, "--start"),
        ({"start": -1, "end": 5}, "--start"),
        ({"start": 1, "end": 2**32}, "--end"),
        ({"start": 1, "end": 5, "model_ids": [foreign.pk]}, "--model"),
    ):
        with pytest.raises(InvalidArgument) as raised:
            services.enqueue_rebuilds(user_ids=[account.user_id], actor=ADMIN, **arguments)
        assert raised.value.field == field
    assert not OrmQ.objects.exists()
    assert _audit("rebuild_queued", account) == []
