"""`manage.py setup_schedules`: create or update the django-q2 schedules (SPEC §11), idempotently."""
from django.core.management.base import BaseCommand
from django_q.models import Schedule

# name -> (function, schedule fields). Names identify the rows, so reruns update, never duplicate.
SCHEDULES = {
    "Capture new conversion journeys": (
        "journeys.tasks.capture_journeys_task",
        {"schedule_type": Schedule.MINUTES, "minutes": 1, "cron": None},
    ),
    "Hourly attribution rebuild": (
        # No arguments: a scheduled run (last 24 h, 202_cronjobs marker), like cron's 15 * * * *.
        "attribution.tasks.rebuild_task",
        {"schedule_type": Schedule.CRON, "cron": "15 * * * *", "minutes": None},
    ),
    "Attribution export worker": (
        "attribution.tasks.process_exports_task",
        {"schedule_type": Schedule.MINUTES, "minutes": 1, "cron": None},
    ),
}


def install_schedules():
    """Create or update every schedule; returns {name: "created" | "updated" | "unchanged"}."""
    results = {}
    for name, (func, fields) in SCHEDULES.items():
        wanted = {"func": func, "args": None, "kwargs": None, "repeats": -1, **fields}
        schedule = Schedule.objects.filter(name=name).order_by("id").first()
        if schedule is None:
            schedule = Schedule(name=name, **wanted)
            if schedule.schedule_type == Schedule.CRON:
                schedule.next_run = schedule.calculate_next_run()
            schedule.save()
            results[name] = "created"
            continue
        Schedule.objects.filter(name=name).exclude(pk=schedule.pk).delete()
        changed = {key: value for key, value in wanted.items() if getattr(schedule, key) != value}
        if changed:
            for key, value in changed.items():
                setattr(schedule, key, value)
            if schedule.schedule_type == Schedule.CRON and changed.keys() & {"cron", "schedule_type"}:
                schedule.next_run = schedule.calculate_next_run()
            schedule.save()
        results[name] = "updated" if changed else "unchanged"
    return results


class Command(BaseCommand):
    help = "Create or update the django-q2 schedules: journey capture, hourly rebuild, export worker."

    def handle(self, *args, **options):
        for name, result in install_schedules().items():
            func, fields = SCHEDULES[name]
            when = fields["cron"] or f"every {fields['minutes']} minute(s)"
            self.stdout.write(f"{name}: {result} ({func}, {when})")
