"""AccountAccess and AuditEntry now belong to the tracker app: state only, no table changes."""
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("attribution", "0002_groups"),
        ("tracker", "0001_initial"),
    ]

    operations = [
        # 202_attribution_audit is unmanaged: deleting the model never touches the table.
        migrations.DeleteModel(name="AuditEntry"),
        # attribution_accountaccess lives on as tracker.AccountAccess.
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="AccountAccess")],
        ),
    ]
