"""Admin forms for models, scope settings and rebuild windows.

The forms turn per-type inputs into a weighting config and ask the services to validate it;
the rules themselves live in attribution.credit and attribution.services, never here.
"""
import time
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from django import forms

from attribution import services
from attribution.credit import CONFIG_FIELDS as CONFIG_FIELD_DEFINITIONS
from attribution.credit import config_fields_by_type, stored_config_object
from attribution.credit.validation import CHANNEL_CHOICES
from attribution.models import (
    MODEL_TYPES,
    SETTING_SCOPE_TYPES,
    AttributionModel,
    AttributionSetting,
)

# The per-type inputs come from the validation's own definitions (attribution.credit).
CONFIG_FIELDS_BY_TYPE = config_fields_by_type()
CONFIG_FIELDS = tuple(field.key for field in CONFIG_FIELD_DEFINITIONS)
# Errors the services report under these names belong to these form fields.
FORM_FIELD_FOR = {"account_id": "user", "model_id": "model", "method": "channel"}


def _number(text):
    """'24' → 24, '0.4' → 0.4; anything else is passed on as given for validate_config to refuse."""
    text = text.strip()
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            continue
    return text


def config_from_inputs(model_type, inputs):
    """The raw weighting config of `model_type` built from the per-type inputs (text values)."""
    config = {}
    for field in CONFIG_FIELDS_BY_TYPE.get(model_type, ()):
        value = (inputs.get(field) or "").strip()
        if field == "channel":
            config["method"] = "markov"
            config["channel"] = value or CHANNEL_CHOICES[0][0]
        elif value:
            config[field] = _number(value)
    return config


def _config_form_field(definition):
    if definition.choices:
        return forms.ChoiceField(
            required=False, choices=definition.choices, initial=definition.choices[0][0],
            label=definition.label, help_text=definition.help_text,
        )
    return forms.CharField(
        required=False, label=definition.label, help_text=definition.help_text,
        widget=forms.TextInput(attrs={"inputmode": definition.input_mode, "size": 8}),
    )


# A form holding one input per config key, for the model form to inherit.
ConfigInputs = type("ConfigInputs", (forms.Form,), {
    definition.key: _config_form_field(definition) for definition in CONFIG_FIELD_DEFINITIONS
})


def stored_config_inputs(weighting_config):
    """Initial per-type inputs from a stored config column; unreadable legacy text gives none."""
    config = stored_config_object(weighting_config) or {}
    return {field: str(config[field]) for field in CONFIG_FIELDS if field in config}


RANGE_HOURS = {"24h": 24, "7d": 7 * 24, "30d": 30 * 24}
RANGE_CHOICES = (("24h", "Last 24 hours"), ("7d", "Last 7 days"), ("30d", "Last 30 days"),
                 ("custom", "Custom"))
MAX_CUSTOM_RANGE_DAYS = 366
HOUR_SECONDS = 3600


class HourWindowForm(forms.Form):
    """A report window of whole UTC hours: a recent range or a custom one (`window()`)."""

    range = forms.ChoiceField(choices=RANGE_CHOICES, initial="24h")
    start = forms.DateTimeField(required=False, help_text="UTC, e.g. 2024-05-01 00:00")
    end = forms.DateTimeField(required=False, help_text="UTC, inclusive hour")

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("range") == "custom":
            start, end = cleaned.get("start"), cleaned.get("end")
            if start is None:
                self.add_error("start", "A custom range needs a start (UTC).")
            if end is None:
                self.add_error("end", "A custom range needs an end (UTC).")
            if start and end:
                if start > end:
                    self.add_error("start", f"The start {start:%Y-%m-%d %H:%M} is after the end {end:%Y-%m-%d %H:%M}.")
                elif end - start > timedelta(days=MAX_CUSTOM_RANGE_DAYS):
                    self.add_error("end", f"A custom range is at most {MAX_CUSTOM_RANGE_DAYS} days.")
        return cleaned

    def window(self, now=None):
        """(start_hour, end_hour): inclusive whole UTC hours."""
        if self.cleaned_data["range"] == "custom":
            start, end = (int(self.cleaned_data[name].timestamp()) for name in ("start", "end"))
            return start - start % HOUR_SECONDS, end - end % HOUR_SECONDS
        now = int(time.time()) if now is None else now
        end_hour = now - now % HOUR_SECONDS
        return end_hour - (RANGE_HOURS[self.cleaned_data["range"]] - 1) * HOUR_SECONDS, end_hour


def add_service_errors(form, error):
    """Attach a ModelChangeError to the form fields it names (others become form errors)."""
    if not error.fields:
        form.add_error(None, error.message)
    for field, message in error.fields.items():
        target = FORM_FIELD_FOR.get(field, field)
        if target in form.fields and target not in form.errors:
            form.add_error(target, message)
        elif target not in form.fields:
            form.add_error(None, f"{field}: {message}")


class AttributionModelForm(ConfigInputs, forms.ModelForm):
    """Create/edit one model with per-type inputs; is_default only on create (then a button)."""

    class Meta:
        model = AttributionModel
        fields = ("user", "model_name", "model_slug", "model_type", "is_active", "is_default")
        labels = {"user": "Account", "model_slug": "Slug"}
        help_texts = {"model_slug": "Optional: generated from the name, unique per account."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model_slug"].required = False
        self.fields["model_type"].choices = MODEL_TYPES
        if self.instance.pk:
            for field, value in stored_config_inputs(self.instance.weighting_config).items():
                self.initial.setdefault(field, value)

    def clean(self):
        cleaned = super().clean()
        model_type = cleaned.get("model_type")
        if not model_type or self.errors:
            return cleaned
        config = config_from_inputs(model_type, cleaned)
        try:
            if self.instance.pk:
                changes = {field: cleaned[field] for field in ("model_name", "model_type", "is_active")
                           if field in cleaned}
                changes["weighting_config"] = config
                if cleaned.get("model_slug"):
                    changes["model_slug"] = cleaned["model_slug"]
                self.model_changes = changes
                services.validate_model_changes(self.instance, changes)
            else:
                self.new_model = {
                    "account_id": cleaned["user"].user_id,
                    "model_name": cleaned.get("model_name"),
                    "model_type": model_type,
                    "weighting_config": config,
                    "model_slug": cleaned.get("model_slug") or None,
                    "is_active": cleaned.get("is_active", True),
                    "is_default": cleaned.get("is_default", False),
                }
                services.validate_new_model(**self.new_model)
        except services.ModelChangeError as error:
            add_service_errors(self, error)
        return cleaned


class ScopeSettingForm(forms.ModelForm):
    """One scope's model and multi-touch flag; the scope itself is fixed once created."""

    scope_type = forms.ChoiceField(choices=SETTING_SCOPE_TYPES)
    scope_id = forms.IntegerField(
        required=False, min_value=1,
        help_text="Advertiser (aff_network_id) or campaign (aff_campaign_id) id; empty for global.",
    )

    class Meta:
        model = AttributionSetting
        fields = ("user", "scope_type", "scope_id", "model", "multi_touch_enabled")
        labels = {"user": "Account", "model": "Model"}
        help_texts = {
            "model": "A global row uses the account's default model (Make default on a model moves "
                     "it); an advertiser or campaign row uses an active model of the account.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and "model" in self.fields:
            # SPEC §5.3: offer only what this row may name.
            self.fields["model"].queryset = services.setting_model_choices(
                self.instance.user_id, self.instance.scope_type
            )

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        account_id = cleaned["user"].user_id if "user" in cleaned else self.instance.user_id
        scope_type = cleaned.get("scope_type", self.instance.scope_type)
        scope_id = cleaned.get("scope_id") if "scope_type" in cleaned else self.instance.scope_id
        try:
            self.setting_values = dict(
                zip(
                    ("scope_type", "scope_id", "model_id", "multi_touch_enabled"),
                    services.validate_scope_setting(
                        account_id=account_id, scope_type=scope_type, scope_id=scope_id,
                        model_id=cleaned["model"].model_id,
                        multi_touch_enabled=cleaned.get("multi_touch_enabled", False),
                    ),
                ),
                account_id=account_id,
            )
        except services.ModelChangeError as error:
            add_service_errors(self, error)
            return cleaned
        if not self.instance.pk:
            existing = services.scope_settings(
                account_id, self.setting_values["scope_type"], self.setting_values["scope_id"]
            ).first()
            if existing is not None:
                self.add_error(
                    "scope_id" if self.setting_values["scope_id"] else "scope_type",
                    f"Account {account_id} already has setting #{existing.setting_id} for this "
                    "scope; edit that one instead.",
                )
        return cleaned


def _utc_input(moment):
    return moment.astimezone(dt_timezone.utc).strftime("%Y-%m-%dT%H:%M")


class RebuildWindowForm(forms.Form):
    """The window an operator rebuilds after a change, in UTC (default: the last 24 hours)."""

    INPUT_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]

    start = forms.DateTimeField(
        input_formats=INPUT_FORMATS, label="Start (UTC)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    end = forms.DateTimeField(
        input_formats=INPUT_FORMATS, label="End (UTC)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )

    def __init__(self, *args, now=None, **kwargs):
        super().__init__(*args, **kwargs)
        now = now or datetime.now(dt_timezone.utc)
        self.fields["start"].initial = _utc_input(now - timedelta(hours=24))
        self.fields["end"].initial = _utc_input(now)

    def _epoch(self, field):
        # Inputs are UTC whatever the server's zone: read them as naive, then pin to UTC.
        moment = self.cleaned_data[field]
        return int(moment.replace(tzinfo=dt_timezone.utc).timestamp())

    def clean(self):
        cleaned = super().clean()
        if "start" in cleaned and "end" in cleaned:
            self.start_epoch, self.end_epoch = self._epoch("start"), self._epoch("end")
            if self.start_epoch > self.end_epoch:
                self.add_error("start", "Start must not be after end.")
        return cleaned
