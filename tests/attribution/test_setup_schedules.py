"""manage.py setup_schedules: the three django-q2 schedules, created once and kept up to date."""
import io

import pytest
from django.core.management import call_command
from django_q.models import Schedule

pytestmark = pytest.mark.django_db


def schedules():
    return {
        s.func: (s.schedule_type, s.cron, s.minutes, s.repeats)
        for s in Schedule.objects.all()
    }


def test_creates_capture_rebuild_and_export_schedules_idempotently():
    out = io.StringIO()
    call_command("setup_schedules", stdout=out)
    expected = {
        "journeys.tasks.capture_journeys_task": (Schedule.MINUTES, None, 1, -1),
        "attribution.tasks.rebuild_task": (Schedule.CRON, "15 * * * *", None, -1),
        "attribution.tasks.process_exports_task": (Schedule.MINUTES, None, 1, -1),
    }
    assert schedules() == expected
    rebuild = Schedule.objects.get(func="attribution.tasks.rebuild_task")
    assert rebuild.next_run.minute == 15 and rebuild.args is None and rebuild.kwargs is None
    assert out.getvalue().count(": created") == 3
    out = io.StringIO()
    call_command("setup_schedules", stdout=out)
    assert Schedule.objects.count() == 3 and schedules() == expected
    assert out.getvalue().count(": unchanged") == 3


def test_repairs_an_edited_schedule_and_removes_duplicates():
    call_command("setup_schedules", stdout=io.StringIO())
    Schedule.objects.filter(func="attribution.tasks.rebuild_task").update(cron="0 3 * * *")
    Schedule.objects.create(name="Hourly attribution rebuild", func="attribution.tasks.rebuild_task",
                            schedule_type=Schedule.HOURLY)
    out = io.StringIO()
    call_command("setup_schedules", stdout=out)
    rebuilds = Schedule.objects.filter(name="Hourly attribution rebuild")
    assert rebuilds.count() == 1 and rebuilds.get().cron == "15 * * * *"
    assert "Hourly attribution rebuild: updated" in out.getvalue()
