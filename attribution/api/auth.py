"""API authentication: a Django session (CSRF checked on writes) or `Authorization: Bearer <token>`.

Tokens are random strings shown once; only their SHA-256 is stored, so a database leak does not
leak usable credentials. A revoked token stops working at once. Bearer requests carry no cookies
a browser could forge, so they are exempt from CSRF.
"""
import datetime
import hashlib
import secrets

from django.db.models import Q
from django.middleware.csrf import CsrfViewMiddleware
from django.utils import timezone

from attribution.api.errors import ApiError
from attribution.models import ApiToken

TOKEN_BYTES = 32
PREFIX_LENGTH = 8
# last_used_at is refreshed at most this often, so reads do not each cost a write.
LAST_USED_RESOLUTION_SECONDS = 60
SAFE_METHODS = ("GET", "HEAD", "OPTIONS", "TRACE")
CHALLENGE = 'Bearer realm="attribution"'


def hash_token(plaintext):
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def assign_new_secret(token):
    """Give an unsaved ApiToken a fresh secret; returns the plaintext (the only time it exists)."""
    plaintext = secrets.token_urlsafe(TOKEN_BYTES)
    token.token_prefix = plaintext[:PREFIX_LENGTH]
    token.token_hash = hash_token(plaintext)
    return plaintext


def issue_token(django_user, name):
    """Create a token for a Django user; returns (ApiToken, plaintext)."""
    token = ApiToken(django_user=django_user, name=name)
    plaintext = assign_new_secret(token)
    token.save()
    return token, plaintext


def revoke_tokens(tokens):
    """Revoke every not-yet-revoked token of a queryset; returns how many were revoked."""
    return tokens.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())


def user_for_token(plaintext):
    """The active Django user owning this unrevoked token, or None."""
    if not plaintext:
        return None
    token = (
        ApiToken.objects.select_related("django_user")
        .filter(token_hash=hash_token(plaintext), revoked_at__isnull=True)
        .first()
    )
    if token is None or not token.django_user.is_active:
        return None
    now = timezone.now()
    ApiToken.objects.filter(pk=token.pk).filter(
        Q(last_used_at__isnull=True)
        | Q(last_used_at__lt=now - datetime.timedelta(seconds=LAST_USED_RESOLUTION_SECONDS))
    ).update(last_used_at=now)
    return token.django_user


def _unauthorized(message, error=None):
    challenge = CHALLENGE if error is None else f'{CHALLENGE}, error="{error}"'
    return ApiError(401, message, headers={"WWW-Authenticate": challenge})


class _CsrfCheck(CsrfViewMiddleware):
    """Django's own CSRF check, returning the failure reason instead of a page."""

    def _reject(self, request, reason):
        return reason


def enforce_csrf(request):
    check = _CsrfCheck(lambda _request: None)
    check.process_request(request)
    reason = check.process_view(request, None, (), {})
    if reason:
        raise ApiError(403, f"CSRF check failed: {reason}. Send the X-CSRFToken header or use a Bearer token.")


def authenticate(request):
    """The Django user behind this request, or ApiError 401; a Bearer header wins over a session."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header:
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            raise _unauthorized(
                "The Authorization header must be 'Bearer <token>'.", error="invalid_request"
            )
        user = user_for_token(credentials.strip())
        if user is None:
            raise _unauthorized("The API token is invalid or has been revoked.", error="invalid_token")
        return user
    if request.user.is_authenticated and request.user.is_active:
        if request.method not in SAFE_METHODS:
            enforce_csrf(request)
        return request.user
    raise _unauthorized("Authentication required: send 'Authorization: Bearer <token>' or log in.")
