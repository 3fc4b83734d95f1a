"""Admin for who may do what (SPEC §8, §9): API tokens and Prosper202 account assignments.

A new token's secret is shown once, in the message after saving (messages live in the
server-side session, never in a cookie: settings.MESSAGE_STORAGE); only its SHA-256 is stored.
Everyone with attribution access manages their own tokens; superusers see all tokens and are the
only ones who assign accounts (a user who could assign accounts could see every tenant).
"""
from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import OuterRef, Subquery

from attribution.api.auth import assign_new_secret, revoke_tokens
from attribution.models import ApiToken
from tracker.models import Account, AccountAccess
from tracker.tenancy import can_view_reports


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "django_user", "token_prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    list_select_related = ("django_user",)
    search_fields = ("name", "token_prefix", "django_user__username")
    ordering = ("-created_at",)
    actions = ["revoke_selected"]
    show_full_result_count = False

    def get_queryset(self, request):
        tokens = super().get_queryset(request)
        return tokens if request.user.is_superuser else tokens.filter(django_user=request.user)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("django_user", "name") if request.user.is_superuser else ("name",)
        return ("django_user", "name", "token_prefix", "created_at", "last_used_at", "revoked_at")

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return ("django_user", "token_prefix", "created_at", "last_used_at", "revoked_at")

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        if not request.user.is_superuser:
            obj.django_user = request.user
        plaintext = assign_new_secret(obj)
        super().save_model(request, obj, form, change)
        messages.warning(
            request,
            f"API token for {obj.django_user.get_username()}: {plaintext} — copy it now; "
            "it is stored hashed and will not be shown again.",
        )

    @admin.action(description="Revoke selected tokens")
    def revoke_selected(self, request, queryset):
        revoked = revoke_tokens(queryset)
        self.message_user(request, f"Revoked {revoked} token(s).", messages.SUCCESS)

    def has_module_permission(self, request):
        return can_view_reports(request.user)

    def has_view_permission(self, request, obj=None):
        return self._owns(request, obj)

    def has_add_permission(self, request):
        return can_view_reports(request.user)

    def has_change_permission(self, request, obj=None):
        return self._owns(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._owns(request, obj)

    def _owns(self, request, obj):
        if not can_view_reports(request.user):
            return False
        return obj is None or request.user.is_superuser or obj.django_user_id == request.user.pk


class AccountAccessForm(forms.ModelForm):
    """Checks the Prosper202 account exists, so a typo cannot grant nothing silently."""

    class Meta:
        model = AccountAccess
        fields = ("django_user", "account_id")

    def clean_account_id(self):
        account_id = self.cleaned_data["account_id"]
        if not Account.objects.filter(user_id=account_id).exists():
            raise forms.ValidationError(
                f"No Prosper202 account has user_id {account_id}; pick an id from 202_users."
            )
        return account_id


class _SuperuserOnly:
    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_add_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_change_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_delete_permission(self, request, obj=None):
        return self.has_module_permission(request)


@admin.register(AccountAccess)
class AccountAccessAdmin(_SuperuserOnly, admin.ModelAdmin):
    form = AccountAccessForm
    list_display = ("django_user", "account_id", "account_name")
    list_select_related = ("django_user",)
    list_filter = ("account_id",)
    search_fields = ("django_user__username", "account_id")
    ordering = ("django_user__username", "account_id")

    def get_queryset(self, request):
        account_name = Account.objects.filter(user_id=OuterRef("account_id")).values("user_name")[:1]
        return super().get_queryset(request).annotate(account_name=Subquery(account_name))

    @admin.display(description="Prosper202 account")
    def account_name(self, access):
        return access.account_name or "(missing account)"


class AccountAccessInline(_SuperuserOnly, admin.TabularInline):
    model = AccountAccess
    form = AccountAccessForm
    fk_name = "django_user"
    extra = 1
    verbose_name = "Prosper202 account this user may see"
    verbose_name_plural = "Prosper202 accounts this user may see"


User = get_user_model()
if admin.site.is_registered(User):
    admin.site.unregister(User)


@admin.register(User)
class UserWithAccountsAdmin(UserAdmin):
    """Django's user admin plus the Prosper202 accounts assigned to the user."""

    inlines = [*UserAdmin.inlines, AccountAccessInline]
