"""Which Prosper202 accounts a Django user may see (SPEC §9): the one place that decides it.

Superusers see every account; everyone else sees the accounts assigned to them through
`AccountAccess`. Admin querysets, API views, exports and downloads all filter through here.
"""
from django.core.exceptions import PermissionDenied

from tracker.models import AccountAccess

VIEW_PERMISSION = "attribution.view_attribution_reports"
MANAGE_PERMISSION = "attribution.manage_attribution_models"


def can_view_reports(django_user):
    """Read access to attribution pages: the view permission, or the manage one that implies it.

    has_perm is already False for inactive and anonymous users and True for active superusers.
    """
    return django_user.has_perm(VIEW_PERMISSION) or django_user.has_perm(MANAGE_PERMISSION)


def can_manage_models(django_user):
    """Write access: create, change and delete models, settings, journeys and rebuilds."""
    return django_user.has_perm(MANAGE_PERMISSION)


def visible_account_ids(django_user):
    """The Prosper202 user ids this Django user may see, or None meaning all of them."""
    if django_user.is_superuser:
        return None
    if not django_user.is_authenticated or not django_user.is_active:
        return frozenset()
    cached = getattr(django_user, "_visible_account_ids", None)
    if cached is None:
        cached = frozenset(
            AccountAccess.objects.filter(django_user=django_user).values_list("account_id", flat=True)
        )
        django_user._visible_account_ids = cached
    return cached


def restrict_to_visible(queryset, django_user, account_field="user_id"):
    """Filter a queryset of any 202 table down to the rows of the user's accounts."""
    account_ids = visible_account_ids(django_user)
    if account_ids is None:
        return queryset
    return queryset.filter(**{f"{account_field}__in": account_ids})


def can_see_account(django_user, account_id):
    account_ids = visible_account_ids(django_user)
    return account_ids is None or account_id in account_ids


def require_account(django_user, account_id):
    """Raise PermissionDenied unless the user may see this Prosper202 account."""
    if not can_see_account(django_user, account_id):
        raise PermissionDenied("This object belongs to an account you cannot access.")
