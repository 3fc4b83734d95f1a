"""Model management and scope settings (SPEC §5.3): every change validates, writes and records
its audit row in one transaction; cache eviction waits for the commit, and queued follow-up work
is enqueued as the transaction's last step (see tracker.queue).

Forms and the API call the `validate_*` helpers first for friendly errors, but the write
functions validate again under row locks: they are the authority.
"""
import re
import time
from typing import NamedTuple

from django.db import IntegrityError, transaction
from django.utils.text import slugify
from django_q.tasks import async_task

from attribution import model_rows, multi_touch, rebuild
from attribution.credit import InvalidModelConfig, config_to_column, validate_config
from attribution.models import SETTING_SCOPE_TYPES, AttributionModel, AttributionSetting
from attribution.snapshot_cache import invalidate_snapshots_on_commit
from journeys.models import Advertiser, Campaign
from journeys.services import multi_touch_policies
from tracker import audit
from tracker.models import Account
from tracker.queue import QueuedTask, queue_group

MODEL_NAME_MAX_LENGTH = 255
MODEL_SLUG_MAX_LENGTH = 191
EDITABLE_MODEL_FIELDS = (
    "model_name", "model_slug", "model_type", "weighting_config", "is_active", "is_default",
)
SCOPE_TYPE_NAMES = tuple(name for name, _label in SETTING_SCOPE_TYPES)
_SLUG_PATTERN = re.compile(r"^[-a-zA-Z0-9_]+$")


class ModelChangeError(Exception):
    """A refused change: `message` for people, `fields` maps each bad field to its reason."""

    def __init__(self, message, fields=None):
        super().__init__(message)
        self.message = message
        self.fields = dict(fields or {})


def _now():
    return int(time.time())


def _refuse(field, message):
    raise ModelChangeError(message, {field: message})


# --- validation -------------------------------------------------------------------------------

def _clean_name(model_name):
    if model_name is not None and not isinstance(model_name, str):
        _refuse("model_name", f"model_name must be text, got {model_name!r}.")
    name = (model_name or "").strip()
    if not name:
        _refuse("model_name", "model_name is required.")
    if len(name) > MODEL_NAME_MAX_LENGTH:
        _refuse(
            "model_name",
            f"model_name must be at most {MODEL_NAME_MAX_LENGTH} characters, got {len(name)}.",
        )
    return name


def _clean_config(model_type, weighting_config):
    """The normalised config dict, or ModelChangeError naming the offending key."""
    try:
        return validate_config(model_type, weighting_config)
    except InvalidModelConfig as error:
        raise ModelChangeError(error.message, {error.field: error.message}) from error


def _clean_flag(field, value):
    if isinstance(value, bool):
        return value
    if value in (0, 1):
        return bool(value)
    _refuse(field, f"{field} must be true or false, got {value!r}.")


def _slug_taken(account_id, slug, exclude_model_id=None):
    rows = AttributionModel.objects.filter(user_id=account_id, model_slug=slug)
    if exclude_model_id is not None:
        rows = rows.exclude(model_id=exclude_model_id)
    return rows.exists()


def _clean_given_slug(account_id, model_slug, exclude_model_id=None):
    if not isinstance(model_slug, str) or not _SLUG_PATTERN.match(model_slug):
        _refuse(
            "model_slug",
            f"model_slug may contain only letters, digits, hyphens and underscores, got {model_slug!r}.",
        )
    if len(model_slug) > MODEL_SLUG_MAX_LENGTH:
        _refuse(
            "model_slug",
            f"model_slug must be at most {MODEL_SLUG_MAX_LENGTH} characters, got {len(model_slug)}.",
        )
    if _slug_taken(account_id, model_slug, exclude_model_id):
        _refuse(
            "model_slug",
            f"model_slug {model_slug!r} is already used by another model of account {account_id}.",
        )
    return model_slug


def unique_slug(account_id, model_name, exclude_model_id=None):
    """slugify(name), then -1, -2, … until no other model of the account uses it."""
    base = slugify(model_name)[:MODEL_SLUG_MAX_LENGTH].strip("-") or "model"
    candidate, suffix = base, 0
    while _slug_taken(account_id, candidate, exclude_model_id):
        suffix += 1
        tail = f"-{suffix}"
        candidate = base[: MODEL_SLUG_MAX_LENGTH - len(tail)] + tail
    return candidate


def _existing_account(account_id, lock=False):
    """The 202_users row; locked, it serialises one account's model and settings changes."""
    if isinstance(account_id, bool) or not isinstance(account_id, int) or account_id < 1:
        _refuse("account_id", f"account_id must be a positive integer, got {account_id!r}.")
    rows = Account.objects.filter(user_id=account_id)
    if lock:
        rows = rows.select_for_update()
    account = rows.first()
    if account is None:
        _refuse("account_id", f"account_id {account_id} does not exist in 202_users.")
    return account


def _config_error(model):
    """The validation message of a stored row, or None when it is valid."""
    try:
        validate_config(model.model_type, model.weighting_config)
    except InvalidModelConfig as error:
        return f"{error.field}: {error.message}"
    return None


def _same_config(model, config):
    """Whether a stored valid config means the same as `config` (JSON spelling and implicit
    defaults aside)."""
    try:
        return validate_config(model.model_type, model.weighting_config) == config
    except InvalidModelConfig:
        return False


def model_validity(model):
    """(is_valid, reason) for a stored model row; legacy rows may break §5.1 rules."""
    reason = _config_error(model)
    return reason is None, reason or ""


def validate_new_model(*, account_id, model_name, model_type, weighting_config=None,
                       model_slug=None, is_active=True, is_default=False):
    """The column values of a new model, or ModelChangeError; writes nothing."""
    _existing_account(account_id)
    name = _clean_name(model_name)
    _clean_config(model_type, weighting_config)
    is_active = _clean_flag("is_active", is_active)
    is_default = _clean_flag("is_default", is_default)
    if is_default and not is_active:
        _refuse("is_active", "A default model must be active: leave is_active on or is_default off.")
    slug = (
        _clean_given_slug(account_id, model_slug) if model_slug
        else unique_slug(account_id, name)
    )
    return {
        "model_name": name,
        "model_slug": slug,
        "model_type": model_type,
        "weighting_config": config_to_column(model_type, weighting_config),
        "is_active": is_active,
        "is_default": is_default,
    }


def validate_model_changes(model, changes):
    """The columns that really change ({field: new value}), or ModelChangeError; writes nothing.

    `model` holds the current row. A rename keeps the slug unless a new one is given; a new type
    without a config validates against an empty config.
    """
    unknown = sorted(set(changes) - set(EDITABLE_MODEL_FIELDS))
    if unknown:
        message = f"Unknown field(s) {', '.join(unknown)}; allowed: {', '.join(EDITABLE_MODEL_FIELDS)}."
        raise ModelChangeError(message, {field: "unknown field" for field in unknown})
    new = {}
    if "model_name" in changes:
        new["model_name"] = _clean_name(changes["model_name"])
    if changes.get("model_slug") and changes["model_slug"] != model.model_slug:
        new["model_slug"] = _clean_given_slug(model.user_id, changes["model_slug"], model.model_id)
    model_type = changes.get("model_type", model.model_type)
    if "model_type" in changes or "weighting_config" in changes:
        if "weighting_config" in changes:
            raw_config = changes["weighting_config"]
        else:
            raw_config = model.weighting_config if model_type == model.model_type else None
        config = _clean_config(model_type, raw_config)
        if model_type != model.model_type or not _same_config(model, config):
            new["model_type"] = model_type
            new["weighting_config"] = config_to_column(model_type, raw_config)
    for flag in ("is_active", "is_default"):
        if flag in changes:
            new[flag] = _clean_flag(flag, changes[flag])
    new = {field: value for field, value in new.items() if getattr(model, field) != value}

    if new.get("is_active") is False and model.is_default:
        _refuse(
            "is_active",
            f"{model.model_name} is the default model of account {model.user_id}; "
            "promote another model to default before deactivating it.",
        )
    if new.get("is_default") is False:
        _refuse(
            "is_default",
            f"{model.model_name} is the default model of account {model.user_id}; "
            "promote another model to default instead of clearing it.",
        )
    if new.get("is_default") and new.get("is_active") is False:
        _refuse("is_active", "A default model must be active: leave is_active on or is_default off.")
    turning_on = new.get("is_active") or new.get("is_default")
    if turning_on and "weighting_config" not in new:
        reason = _config_error(model)
        if reason:
            _refuse("weighting_config", f"Fix the model's invalid config before activating it ({reason}).")
    return new


# --- models -----------------------------------------------------------------------------------

def _audit_snapshot(model):
    return {
        "model_name": model.model_name,
        "model_slug": model.model_slug,
        "model_type": model.model_type,
        "weighting_config": model.weighting_config,
        "is_active": model.is_active,
        "is_default": model.is_default,
    }


def _lock_account_models(account_id):
    """Lock the account row and all its model rows, in primary-key order (no deadlocks)."""
    _existing_account(account_id, lock=True)
    return list(
        AttributionModel.objects.select_for_update().filter(user_id=account_id).order_by("model_id")
    )


def _locked_model(model):
    """The current row of `model`, with its account's model rows locked."""
    for row in _lock_account_models(model.user_id):
        if row.model_id == model.model_id:
            return row
    _refuse("model_id", f"Model {model.model_id} no longer exists.")


def create_model(*, account_id, model_name, model_type, weighting_config=None, model_slug=None,
                 is_active=True, is_default=False, actor):
    """Create a model (promoting it to default when asked) and record model_create."""
    with transaction.atomic():
        _lock_account_models(account_id)
        values = validate_new_model(
            account_id=account_id, model_name=model_name, model_type=model_type,
            weighting_config=weighting_config, model_slug=model_slug, is_active=is_active,
            is_default=is_default,
        )
        make_it_default = values.pop("is_default")
        now = _now()
        try:
            with transaction.atomic():
                model = AttributionModel.objects.create(
                    user_id=account_id, is_default=False, created_at=now, updated_at=now, **values
                )
        except IntegrityError as error:
            raise ModelChangeError(
                f"model_slug {values['model_slug']!r} was taken meanwhile; try again.",
                {"model_slug": "already used by another model of this account"},
            ) from error
        audit.record(account_id, "model_create", actor, model_id=model.model_id, **_audit_snapshot(model))
        if make_it_default:
            _promote(model, actor)
        invalidate_snapshots_on_commit(account_id)
    return model


def update_model(model, *, changes, actor):
    """Apply `changes` (keys among EDITABLE_MODEL_FIELDS) and record model_update before/after."""
    with transaction.atomic():
        current = _locked_model(model)
        new = validate_model_changes(current, changes)
        # is_default true on the default model still repairs the account (a second default,
        # a global row naming another model): promoting is idempotent and audits only changes.
        new.pop("is_default", None)
        promote = "is_default" in changes and _clean_flag("is_default", changes["is_default"])
        if new:
            before = {field: getattr(current, field) for field in new}
            new["updated_at"] = _now()
            AttributionModel.objects.filter(model_id=current.model_id).update(**new)
            for field, value in new.items():
                setattr(current, field, value)
            audit.record(
                current.user_id, "model_update", actor, model_id=current.model_id,
                changes={field: {"before": before[field], "after": new[field]} for field in before},
            )
        if promote:
            _promote(current, actor)
        if new or promote:
            invalidate_snapshots_on_commit(current.user_id)
    return current


def _deciding_global_setting(account_id):
    """The global row that decides when duplicates exist: latest updated_at, then highest id."""
    return (
        AttributionSetting.objects.select_for_update()
        .filter(user_id=account_id, scope_type="global", scope_id__isnull=True)
        .order_by("-updated_at", "-setting_id")
        .first()
    )


def _promote(model, actor):
    """Make `model` the account's only default, active, and the global setting's model.

    Call inside a transaction holding the account's model locks; records model_default_changed
    when anything changed.
    """
    reason = _config_error(model)
    if reason:
        _refuse(
            "is_default",
            f"{model.model_name} has an invalid config ({reason}); fix it before promoting it.",
        )
    now = _now()
    previous_ids = list(
        AttributionModel.objects.filter(user_id=model.user_id, is_default=True)
        .exclude(model_id=model.model_id)
        .values_list("model_id", flat=True)
    )
    if previous_ids:
        AttributionModel.objects.filter(model_id__in=previous_ids).update(is_default=False, updated_at=now)
    activated = not model.is_active
    changed_row = activated or not model.is_default
    if changed_row:
        AttributionModel.objects.filter(model_id=model.model_id).update(
            is_default=True, is_active=True, updated_at=now
        )
        model.is_default, model.is_active, model.updated_at = True, True, now

    setting = _deciding_global_setting(model.user_id)
    setting_change = None
    if setting is None:
        setting = AttributionSetting.objects.create(
            user_id=model.user_id, scope_type="global", scope_id=None, model_id=model.model_id,
            multi_touch_enabled=True, multi_touch_enabled_at=now, effective_at=now,
            created_at=now, updated_at=now,
        )
        setting_change = {"setting_id": setting.setting_id, "created": True}
    elif setting.model_id != model.model_id:
        setting_change = {
            "setting_id": setting.setting_id, "before": setting.model_id, "after": model.model_id,
        }
        AttributionSetting.objects.filter(setting_id=setting.setting_id).update(
            model_id=model.model_id, effective_at=now, updated_at=now
        )

    if previous_ids or changed_row or setting_change:
        audit.record(
            model.user_id, "model_default_changed", actor, model_id=model.model_id,
            previous_default_ids=previous_ids, activated=activated, global_setting=setting_change,
        )


def make_default(model, *, actor):
    """Promote `model` to its account's single default (SPEC §5.3)."""
    with transaction.atomic():
        current = _locked_model(model)
        _promote(current, actor)
        invalidate_snapshots_on_commit(current.user_id)
    return current


def delete_model(model, *, actor):
    """Delete a non-default model that no scope setting uses; records model_delete and queues the
    deletion of its snapshots and credit rows (reports stop showing them at once)."""
    with transaction.atomic():
        current = _locked_model(model)
        if current.is_default:
            _refuse(
                "is_default",
                f"{current.model_name} is the default model of account {current.user_id}; "
                "promote another model to default before deleting it.",
            )
        used_by = list(
            AttributionSetting.objects.filter(model_id=current.model_id)
            .values_list("setting_id", flat=True)[:10]
        )
        if used_by:
            _refuse(
                "model_id",
                f"{current.model_name} is the model of scope setting(s) "
                f"{', '.join(map(str, used_by))}; point them at another model first.",
            )
        AttributionModel.objects.filter(model_id=current.model_id).delete()
        invalidate_snapshots_on_commit(current.user_id)
        # With Redis the enqueue is immediate; should this transaction still roll back, the task
        # finds the model row and deletes nothing.
        task_id = async_task(
            model_rows.DELETION_TASK, model_id=current.model_id, account_id=current.user_id,
            username=actor.username, task_name=f"delete rows of model {current.model_id}",
        )
        audit.record(
            current.user_id, "model_delete", actor, model_id=current.model_id,
            rows_deletion_task_id=task_id, **_audit_snapshot(current),
        )


def set_models_active(models, active, *, actor):
    """Activate or deactivate several models, all or nothing; returns how many changed."""
    active = _clean_flag("is_active", active)
    changed = 0
    with transaction.atomic():
        for model in sorted(models, key=lambda row: row.model_id):
            current = _locked_model(model)
            if current.is_active != active:
                update_model(current, changes={"is_active": active}, actor=actor)
                changed += 1
    return changed


# --- scope settings ---------------------------------------------------------------------------

def _clean_scope(account_id, scope_type, scope_id):
    """(scope_type, scope_id) after checking the scope exists and belongs to the account."""
    if scope_type not in SCOPE_TYPE_NAMES:
        _refuse("scope_type", f"scope_type must be one of {', '.join(SCOPE_TYPE_NAMES)}, got {scope_type!r}.")
    if scope_type == "global":
        if scope_id not in (None, ""):
            _refuse("scope_id", f"The global scope takes no scope_id, got {scope_id!r}.")
        return scope_type, None
    if isinstance(scope_id, bool) or not isinstance(scope_id, int) or scope_id < 1:
        _refuse("scope_id", f"scope_id of a {scope_type} scope must be a positive integer, got {scope_id!r}.")
    if scope_type == "advertiser":
        exists = Advertiser.objects.filter(aff_network_id=scope_id, user_id=account_id).exists()
    else:
        exists = Campaign.objects.filter(aff_campaign_id=scope_id, user_id=account_id).exists()
    if not exists:
        _refuse("scope_id", f"{scope_type} {scope_id} does not exist for account {account_id}.")
    return scope_type, scope_id


def _clean_setting_model(account_id, model_id, scope_type):
    """SPEC §5.3: the global row names the account's default model (make-default moves it); a
    scope row names an active model of the same account."""
    if isinstance(model_id, bool) or not isinstance(model_id, int):
        _refuse("model_id", f"model_id must be an integer, got {model_id!r}.")
    model = AttributionModel.objects.filter(model_id=model_id).first()
    if model is None:
        _refuse("model_id", f"model_id {model_id} does not exist.")
    if model.user_id != account_id:
        _refuse("model_id", f"model_id {model_id} belongs to account {model.user_id}, not account {account_id}.")
    if scope_type == "global" and not model.is_default:
        default = AttributionModel.objects.filter(user_id=account_id, is_default=True).order_by("model_id").first()
        named = f"{default.model_name} (#{default.model_id})" if default else "none yet"
        _refuse(
            "model_id",
            f"The global scope always uses account {account_id}'s default model ({named}); to use "
            f"{model.model_name} (#{model_id}) there, make it the default model, which re-points the global row.",
        )
    if not model.is_active:
        _refuse(
            "model_id",
            f"{model.model_name} (#{model_id}) is inactive; a scope may only use an active model of "
            f"account {account_id}: activate it first or pick another.",
        )
    return model_id


def setting_model_choices(account_id, scope_type):
    """The models a settings row of this scope may name (the form offers only these)."""
    models = AttributionModel.objects.filter(user_id=account_id, is_active=True)
    return models.filter(is_default=True) if scope_type == "global" else models


def validate_scope_setting(*, account_id, scope_type, scope_id, model_id, multi_touch_enabled):
    """Cleaned (scope_type, scope_id, model_id, multi_touch_enabled), or ModelChangeError."""
    _existing_account(account_id)
    scope_type, scope_id = _clean_scope(account_id, scope_type, scope_id)
    model_id = _clean_setting_model(account_id, model_id, scope_type)
    return scope_type, scope_id, model_id, _clean_flag("multi_touch_enabled", multi_touch_enabled)


def scope_settings(account_id, scope_type, scope_id):
    """The rows of one scope, deciding row first (latest updated_at, then highest setting_id)."""
    rows = AttributionSetting.objects.filter(user_id=account_id, scope_type=scope_type)
    rows = rows.filter(scope_id__isnull=True) if scope_id is None else rows.filter(scope_id=scope_id)
    return rows.order_by("-updated_at", "-setting_id")


def _effective_flag(account_id, scope_type, scope_id):
    """The multi-touch flag the current rows give a scope (SPEC §4.1 precedence): its own row's,
    else the one it inherits."""
    policy = multi_touch_policies([account_id])[account_id]
    if scope_type == "campaign":
        advertiser_id = (
            Campaign.objects.filter(aff_campaign_id=scope_id).values_list("aff_network_id", flat=True).first()
        )
        return policy.enabled(scope_id, advertiser_id)
    return policy.enabled(None, scope_id if scope_type == "advertiser" else None)


class SavedScopeSetting(NamedTuple):
    setting: AttributionSetting
    chain_group_id: str | None  # the queued purge/hydrate + rebuild chain, when the flag flipped


def save_scope_setting(*, account_id, scope_type, scope_id, model_id, multi_touch_enabled, actor):
    """Create or update the one row of a scope; a flipped flag queues the multi-touch chain."""
    with transaction.atomic():
        _existing_account(account_id, lock=True)
        scope_type, scope_id, model_id, enabled = validate_scope_setting(
            account_id=account_id, scope_type=scope_type, scope_id=scope_id, model_id=model_id,
            multi_touch_enabled=multi_touch_enabled,
        )
        now = _now()
        setting = scope_settings(account_id, scope_type, scope_id).select_for_update().first()
        if setting is None:
            was_enabled = _effective_flag(account_id, scope_type, scope_id)
            setting = AttributionSetting.objects.create(
                user_id=account_id, scope_type=scope_type, scope_id=scope_id, model_id=model_id,
                multi_touch_enabled=enabled,
                multi_touch_enabled_at=now if enabled else None,
                multi_touch_disabled_at=None if enabled else now,
                effective_at=now, created_at=now, updated_at=now,
            )
            changes = {"model_id": {"before": None, "after": model_id},
                       "multi_touch_enabled": {"before": None, "after": enabled}}
        else:
            was_enabled = bool(setting.multi_touch_enabled)
            changes = {}
            if setting.model_id != model_id:
                changes["model_id"] = {"before": setting.model_id, "after": model_id}
                setting.model_id = model_id
            if was_enabled != enabled:
                changes["multi_touch_enabled"] = {"before": was_enabled, "after": enabled}
                setting.multi_touch_enabled = enabled
                if enabled:
                    setting.multi_touch_enabled_at = now
                else:
                    setting.multi_touch_disabled_at = now
            if not changes:
                return SavedScopeSetting(setting, None)
            setting.effective_at = setting.updated_at = now
            setting.save(update_fields=[
                "model_id", "multi_touch_enabled", "multi_touch_enabled_at",
                "multi_touch_disabled_at", "effective_at", "updated_at",
            ])
        scope = {"setting_id": setting.setting_id, "scope_type": scope_type, "scope_id": scope_id}
        audit.record(account_id, "settings_update", actor, model_id=model_id, changes=changes, **scope)
        chain_group_id = None
        if was_enabled != enabled:
            chain_group_id = multi_touch.queue_chain(account_id, scope_type, scope_id, enabled, actor,
                                                  setting_id=setting.setting_id, model_id=model_id)
    return SavedScopeSetting(setting, chain_group_id)


def delete_scope_setting(setting, *, actor):
    """Delete one settings row, audited `settings_delete`; SPEC §4.1 precedence then decides the
    scope. A multi-touch flag that flips with it queues the same chain as a change of the flag.
    Returns the chain's group id, or None."""
    with transaction.atomic():
        _existing_account(setting.user_id, lock=True)
        row = AttributionSetting.objects.select_for_update().filter(setting_id=setting.setting_id).first()
        if row is None:
            _refuse("setting_id", f"Setting #{setting.setting_id} no longer exists.")
        scope = {"setting_id": row.setting_id, "scope_type": row.scope_type, "scope_id": row.scope_id}
        was_enabled = _effective_flag(row.user_id, row.scope_type, row.scope_id)
        audit.record(row.user_id, "settings_delete", actor, model_id=row.model_id,
                     multi_touch_enabled=bool(row.multi_touch_enabled), **scope)
        AttributionSetting.objects.filter(setting_id=row.setting_id).delete()
        enabled = _effective_flag(row.user_id, row.scope_type, row.scope_id)
        if was_enabled == enabled:
            return None
        return multi_touch.queue_chain(row.user_id, row.scope_type, row.scope_id, enabled, actor,
                                    setting_id=row.setting_id, model_id=row.model_id)


def merge_global_settings(account_id, *, actor):
    """Keep the account's deciding `global` row (latest updated_at, then highest setting_id) and
    delete the duplicates, audited `settings_merge`; nothing flips, since the kept row already
    decides. Returns (kept row, deleted setting ids)."""
    with transaction.atomic():
        _existing_account(account_id, lock=True)
        rows = list(scope_settings(account_id, "global", None).select_for_update())
        if len(rows) < 2:
            return (rows[0] if rows else None), []
        kept, duplicates = rows[0], rows[1:]
        removed = [row.setting_id for row in duplicates]
        audit.record(
            account_id, "settings_merge", actor, model_id=kept.model_id, kept_setting_id=kept.setting_id,
            deleted=[{"setting_id": row.setting_id, "model_id": row.model_id,
                      "multi_touch_enabled": bool(row.multi_touch_enabled), "updated_at": row.updated_at}
                     for row in duplicates],
        )
        AttributionSetting.objects.filter(setting_id__in=removed).delete()
    return kept, removed


# --- rebuilds ---------------------------------------------------------------------------------

REBUILD_TASK = "attribution.tasks.rebuild_task"


def enqueue_rebuilds(*, start=None, end=None, user_ids=(), model_ids=(), actor, now=None):
    """THE way a rebuild is queued (admin, API, `--async`, scope-toggle chains): validated like
    the command (InvalidArgument, nothing queued), one task per account over the same whole-hour
    window as one django-q2 group, audited `rebuild_queued`. Returns tracker.queue.QueuedWork."""
    plan = rebuild.plan_rebuild(
        start=start, end=end, user_ids=user_ids, model_ids=model_ids, now=now or int(time.time()),
    )
    window = plan.window
    tasks = [
        QueuedTask(
            REBUILD_TASK, account_id, f"rebuild user {account_id} {window.iso_start}..{window.iso_end}",
            {"start": window.start_hour, "end": window.end_hour, "user_ids": [account_id],
             "model_ids": None if rows is None else [row.model_id for row in rows],
             "username": actor.username},
        )
        for account_id, rows in plan.accounts.items()
        if rows != []  # named by --user, but none of the --model ids is its
    ]
    return queue_group(
        "rebuild", tasks, actor=actor, audit_action="rebuild_queued",
        lookback_start=window.start_hour, lookback_end=window.lookback_end,
        model_ids=sorted(set(model_ids)) or None,
    )
