"""Helpers shared by the journey service, store, cache and command tests."""
import json

from django.db import connection

from attribution.models import AttributionSetting
from journeys.models import JourneyTouch
from tracker.models import AuditEntry

DAY = 86_400
NOW = 1_800_000_000  # a fixed "now" well inside the epoch range of the tests


def stored(conv_id):
    """[(click_id, click_time, position)] of one conversion, in position order."""
    return list(
        JourneyTouch.objects.filter(conv_id=conv_id).order_by("position").values_list("click_id", "click_time", "position")
    )


def store_rows(conv_id, *touches, created_at=1):
    """Write touchpoint rows directly (to tamper or to have old rows): (click_id, click_time, position)."""
    JourneyTouch.objects.bulk_create(
        JourneyTouch(conv_id=conv_id, click_id=click_id, click_time=click_time, position=position,
                     created_at=created_at)
        for click_id, click_time, position in touches
    )


def setting(account, scope_type, scope_id, enabled, updated_at=100, model_id=1):
    return AttributionSetting.objects.create(
        user_id=account.user_id, scope_type=scope_type, scope_id=scope_id, model_id=model_id,
        multi_touch_enabled=enabled, effective_at=updated_at, created_at=updated_at, updated_at=updated_at,
    )


def audits(action):
    return [(entry.user_id, json.loads(entry.metadata)) for entry in AuditEntry.objects.filter(action=action).order_by("audit_id")]


class RefuseTouchpointsOf:
    """A real database trigger that makes INSERTs of one conversion's touchpoints fail."""

    NAME = "test_refuse_touchpoints"

    def __init__(self, conv_id):
        self.conv_id = int(conv_id)

    def __enter__(self):
        table = connection.ops.quote_name("202_conversion_touchpoints")
        with connection.cursor() as cursor:
            if connection.vendor == "mysql":
                cursor.execute(
                    f"CREATE TRIGGER {self.NAME} BEFORE INSERT ON {table} FOR EACH ROW BEGIN "
                    f"IF NEW.conv_id = {self.conv_id} THEN "
                    "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused by test trigger'; END IF; END"
                )
            else:
                cursor.execute(
                    f"CREATE TRIGGER {self.NAME} BEFORE INSERT ON {table} "
                    f"WHEN NEW.conv_id = {self.conv_id} BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); END"
                )
        return self

    def __exit__(self, *exc_info):
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TRIGGER {self.NAME}")

