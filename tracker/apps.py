from django.apps import AppConfig


class TrackerConfig(AppConfig):
    """What both apps stand on: Prosper202 accounts, account access, audit, shared helpers."""

    name = "tracker"
    verbose_name = "Prosper202 accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from tracker import worker_identity  # noqa: F401  (connects the django-q2 signal)
