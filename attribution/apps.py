from django.apps import AppConfig


class AttributionConfig(AppConfig):
    name = "attribution"
    verbose_name = "Attribution"

    def ready(self):
        from attribution.journey_credits import credit_columns
        from journeys import admin_views

        admin_views.register_credit_columns(credit_columns)
