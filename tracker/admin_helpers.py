"""Admin building blocks both apps use: a paginator that never counts a whole table, query-string
id parsing, read-only admins and the account filter (tenancy-aware).
"""
from functools import cached_property

from django.contrib import admin
from django.core.paginator import Paginator

from tracker import tenancy
from tracker.arguments import ID_MAX
from tracker.models import Account

# How many rows a changelist counts before it says "more than"; keeps COUNT(*) bounded.
COUNT_CAP = 10_000
# The account filter lists at most this many accounts; any id still works in the URL.
ACCOUNT_FILTER_CHOICES = 500


class CappedCountPaginator(Paginator):
    """Counts at most COUNT_CAP + 1 rows (`SELECT COUNT(*) FROM (… LIMIT n)`), never the table."""

    @cached_property
    def count(self):
        return self.object_list.values("pk")[: COUNT_CAP + 1].count()

    @property
    def is_capped(self):
        return self.count > COUNT_CAP

    @property
    def count_cap(self):
        return COUNT_CAP


def parse_id(value):
    """A database id from a query-string value, or None when it is not a whole number in range."""
    return int(value) if value is not None and str(value).isdigit() and int(value) <= ID_MAX else None


class ReadOnlyAdminMixin:
    """For rows written elsewhere (Prosper202, the rebuild, the services): the admin only shows them."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def visible_accounts(request):
    return tenancy.restrict_to_visible(Account.objects.all(), request.user)


class IdFilter(admin.SimpleListFilter):
    """A list filter on one id from the query string; an id that is not one shows nothing."""

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        chosen = parse_id(self.value())
        return queryset.none() if chosen is None else self.filter_by(queryset, chosen)

    def filter_by(self, queryset, chosen):
        raise NotImplementedError


class AccountFilter(IdFilter):
    """Filter by Prosper202 account, listing only the accounts the user may see."""

    title = "account"
    parameter_name = "account"

    def lookups(self, request, model_admin):
        return [(a.user_id, str(a)) for a in visible_accounts(request)[:ACCOUNT_FILTER_CHOICES]]

    def filter_by(self, queryset, chosen):
        return queryset.filter(user_id=chosen)


class TenantRowFilter(IdFilter):
    """Filter by a row of an account-owned table (`choice_model`), listing the visible accounts'
    rows, or the chosen account's once one is chosen."""

    choice_model = None
    choice_id = ""

    def lookups(self, request, model_admin):
        rows = tenancy.restrict_to_visible(self.choice_model.objects.all(), request.user)
        account_id = parse_id(request.GET.get(AccountFilter.parameter_name))
        if account_id is not None:
            rows = rows.filter(user_id=account_id)
        return [(getattr(row, self.choice_id), str(row)) for row in rows]
