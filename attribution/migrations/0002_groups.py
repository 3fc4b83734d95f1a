"""Create the two Prosper202 permissions and the viewer / manager groups (SPEC §9)."""
from django.db import migrations

VIEW = ("view_attribution_reports", "Can view attribution reports and journeys")
MANAGE = ("manage_attribution_models", "Can manage attribution models, settings and rebuilds")
GROUPS = {"Attribution viewers": [VIEW], "Attribution managers": [VIEW, MANAGE]}


def create_groups(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    content_type, _ = ContentType.objects.get_or_create(
        app_label="attribution", model="attributionpermissions"
    )
    for group_name, permissions in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        for codename, name in permissions:
            permission, _ = Permission.objects.get_or_create(
                content_type=content_type, codename=codename, defaults={"name": name}
            )
            group.permissions.add(permission)


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("attribution", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(create_groups, remove_groups)]
