"""Audit log admin: read-only, tenancy-filtered, with account / model / action / date filters."""
import json
import time

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse

from attribution import services
from tracker.audit import Actor
from tracker.models import AccountAccess, AuditEntry

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:tracker_auditentry_changelist"
OPS = Actor("admin", "ops")


@pytest.fixture
def models(tracker):
    acme, globex = tracker.account("acme"), tracker.account("globex")
    ours = services.create_model(account_id=acme.user_id, model_name="Ours", model_type="linear", actor=OPS)
    other = services.create_model(account_id=acme.user_id, model_name="Other", model_type="linear", actor=OPS)
    theirs = services.create_model(account_id=globex.user_id, model_name="Theirs", model_type="linear", actor=OPS)
    return acme, ours, other, theirs


@pytest.fixture
def viewer_client(client, models):
    user = User.objects.create_user("viewer", is_staff=True)
    user.groups.add(Group.objects.get(name="Attribution viewers"))
    AccountAccess.objects.create(django_user=user, account_id=models[0].user_id)
    client.force_login(user)
    return client


def _listed_ids(response):
    return sorted(entry.audit_id for entry in response.context["cl"].result_list)


def test_viewer_sees_only_their_accounts_rows(viewer_client, models):
    acme, ours, other, theirs = models
    response = viewer_client.get(reverse(CHANGELIST))
    expected = sorted(AuditEntry.objects.filter(user_id=acme.user_id).values_list("audit_id", flat=True))
    assert _listed_ids(response) == expected
    foreign = AuditEntry.objects.get(model_id=theirs.pk)
    assert viewer_client.get(reverse("admin:tracker_auditentry_change", args=[foreign.pk])).status_code == 404


def test_filters_by_model_action_and_date(viewer_client, models):
    acme, ours, other, theirs = models
    services.update_model(ours, changes={"model_name": "Ours 2"}, actor=OPS)
    old = AuditEntry.objects.get(model_id=other.pk)
    AuditEntry.objects.filter(pk=old.pk).update(created_at=int(time.time()) - 10 * 86400)
    url = reverse(CHANGELIST)

    by_model = viewer_client.get(url, {"model_id": ours.pk})
    assert _listed_ids(by_model) == sorted(AuditEntry.objects.filter(model_id=ours.pk).values_list("pk", flat=True))
    by_action = viewer_client.get(url, {"action": "model_update"})
    assert [entry.action for entry in by_action.context["cl"].result_list] == ["model_update"]
    week = viewer_client.get(url, {"within": "7d"})
    assert old.pk not in _listed_ids(week) and len(_listed_ids(week)) == 2
    month = viewer_client.get(url, {"within": "30d"})
    assert old.pk in _listed_ids(month)


def test_detail_is_read_only_with_pretty_metadata(client, models):
    client.force_login(User.objects.create_superuser("root", "root@example.com", None))
    entry = AuditEntry.objects.get(model_id=models[1].pk)
    url = reverse("admin:tracker_auditentry_change", args=[entry.pk])

    page = client.get(url).content.decode()
    assert '&quot;username&quot;: &quot;ops&quot;' in page and "<pre>" in page
    assert 'name="_save"' not in page
    assert client.post(url, {"action": "model_delete"}).status_code == 403
    assert client.get(reverse("admin:tracker_auditentry_add")).status_code == 403
    assert client.post(reverse("admin:tracker_auditentry_delete", args=[entry.pk]), {"post": "yes"}).status_code == 403
    assert json.loads(AuditEntry.objects.get(pk=entry.pk).metadata)["model_name"] == "Ours"


def test_unprivileged_staff_cannot_open_the_log(client, models):
    client.force_login(User.objects.create_user("nobody", is_staff=True))
    assert client.get(reverse(CHANGELIST)).status_code == 403
