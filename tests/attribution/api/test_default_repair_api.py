"""PATCH {"is_default": true} on the model already flagged default repairs its account (SPEC §5.3):
System Checks recommends exactly this for a second default or a global row naming another model."""
import pytest

from attribution.models import AttributionModel, AttributionSetting
from attribution.system_checks import OK, check_default_models, check_settings_drift
from tracker.models import AuditEntry

pytestmark = pytest.mark.django_db


def test_patch_is_default_on_the_default_repairs_the_account(api, models):
    default, linear = models["acme_default"], models["acme_linear"]
    AttributionModel.objects.filter(pk=linear.pk).update(is_default=True, is_active=True)
    AttributionSetting.objects.filter(user_id=default.user_id, scope_type="global").update(model_id=linear.pk)

    response = api("manager").patch(f"/models/{default.model_id}", {"is_default": True})

    assert response.status_code == 200 and response.json()["data"]["is_default"] is True
    assert list(AttributionModel.objects.filter(user_id=default.user_id, is_default=True)) == [default]
    assert AttributionSetting.objects.get(user_id=default.user_id, scope_type="global").model_id == default.pk
    entry = AuditEntry.objects.get(action="model_default_changed", model_id=default.pk,
                                   metadata__contains='"previous_default_ids": [%d]' % linear.pk)
    assert entry.metadata_dict["actor"]["type"] == "api"
    assert check_default_models().status == OK and check_settings_drift().status == OK


def test_patch_is_default_on_a_healthy_default_changes_nothing(api, models):
    default = models["acme_default"]
    audit_rows = AuditEntry.objects.count()
    response = api("manager").patch(f"/models/{default.model_id}", {"is_default": True})
    assert response.status_code == 200
    assert AuditEntry.objects.count() == audit_rows


def test_another_tenants_model_or_a_bad_flag_is_refused_and_writes_nothing(api, models):
    theirs, own = models["globex_default"], models["acme_default"]
    audit_rows = AuditEntry.objects.count()
    assert api("manager").patch(f"/models/{theirs.model_id}", {"is_default": True}).status_code == 403
    refused = api("manager").patch(f"/models/{own.model_id}", {"is_default": "yes"})
    assert refused.status_code in (400, 422) and "is_default" in refused.json()["error"]["fields"]
    assert AuditEntry.objects.count() == audit_rows
