"""202_users is now tracker.Account: state only (the model is unmanaged)."""
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("journeys", "0001_initial"),
        ("tracker", "0001_initial"),
    ]

    operations = [migrations.DeleteModel(name="Account")]
