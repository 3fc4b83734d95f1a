"""Builders for the reporting tests: models, snapshot rows and staff users inserted directly,
so these tests do not depend on the rebuild."""
import time
from decimal import Decimal
from urllib.parse import urlencode

from django.contrib.auth.models import Permission, User
from django.urls import reverse

from attribution.models import AttributionModel, Snapshot, TouchCredit
from tracker.models import AccountAccess

# 2024-03-01 00:00:00 UTC: a whole day, so day buckets are easy to reason about.
BASE_HOUR = 1_709_251_200


def make_model(account, name="Linear", model_type="linear", weighting_config=None, is_default=False,
               is_active=True):
    now = int(time.time())
    return AttributionModel.objects.create(
        user_id=account.user_id, model_name=name, model_slug=name.lower().replace(" ", "-"),
        model_type=model_type, weighting_config=weighting_config, is_active=is_active,
        is_default=is_default, created_at=now, updated_at=now,
    )


def snapshot(model, date_hour, scope_type="global", scope_id=None, clicks=0, conversions=0,
             revenue="0", cost="0", save=True):
    row = Snapshot(
        model_id=model.model_id, user_id=model.user_id, scope_type=scope_type, scope_id=scope_id,
        date_hour=date_hour, lookback_start=date_hour, lookback_end=date_hour + 3599,
        attributed_clicks=clicks, attributed_conversions=conversions,
        attributed_revenue=Decimal(revenue), attributed_cost=Decimal(cost), created_at=int(time.time()),
    )
    if save:
        row.save()
    return row


def touch_credit(snapshot_row, conv_id, click_id, position, credit):
    return TouchCredit.objects.create(
        snapshot_id=snapshot_row.snapshot_id, conv_id=conv_id, click_id=click_id, position=position,
        credit=Decimal(credit), weight=Decimal(credit), created_at=int(time.time()),
    )


def staff_user(username, accounts=(), view=True, manage=False, superuser=False):
    """A staff Django user with the Prosper202 permissions asked for and access to `accounts`."""
    user = User.objects.create_user(username, is_staff=True, is_superuser=superuser)  # force_login only
    codenames = (["view_attribution_reports"] if view else []) + (["manage_attribution_models"] if manage else [])
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    for account in accounts:
        AccountAccess.objects.create(django_user=user, account_id=account.user_id)
    return User.objects.get(pk=user.pk)  # fresh instance: no stale permission cache


def dashboard_url(models, start="2024-03-01 00:00", end="2024-03-01 05:00", **params):
    query = [("models", m.model_id) for m in models]
    query += [("scope_type", "global"), ("range", "custom"), ("start", start), ("end", end),
              ("resolution", "hour")]
    query = [(k, v) for k, v in query if k not in params] + list(params.items())
    return reverse("attribution_dashboard") + "?" + urlencode(query)
