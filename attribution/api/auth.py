"""API authentication: a Django session (CSRF checked on writes) or `Authorization: Bearer <token>`.

Tokens are random strings shown once; only their SHA-256 is stored, so a database leak does not
leak usable credentials. A revoked token stops working at once. Bearer requests carry no cookies
a browser could forge, so they are exempt from CSRF. Failed tokens are counted per client
address (django-ratelimit, in the shared cache); past the limit that address gets 429 (SPEC §9).
"""
import datetime
import hashlib
import logging
import secrets

from django.conf import settings
from django.db.models import Q
from django.middleware.csrf import CsrfViewMiddleware
from django.utils import timezone
from django_ratelimit.core import get_usage

from attribution.api.errors import ApiError
from attribution.models import ApiToken

TOKEN_BYTES = 32
PREFIX_LENGTH = 8
# last_used_at is refreshed at most this often, so reads do not each cost a write.
LAST_USED_RESOLUTION_SECONDS = 60
SAFE_METHODS = ("GET", "HEAD", "OPTIONS", "TRACE")
CHALLENGE = 'Bearer realm="attribution"'
FAILED_TOKENS_PER_ADDRESS = 20
FAILED_TOKEN_WINDOW = "5m"
_FAILED_TOKEN_GROUP = "attribution.api.failed-tokens"

logger = logging.getLogger("attribution.api")


def client_address(request):
    """The client's IP address: REMOTE_ADDR, or behind the trusted proxy of
    TRUST_X_FORWARDED_PROTO the last X-Forwarded-For entry (the one that proxy appended).

    Shared by the API's failed-token limit and django-axes' log-in lockout.
    """
    if settings.TRUST_X_FORWARDED_PROTO:
        appended = request.META.get("HTTP_X_FORWARDED_FOR", "").rsplit(",", 1)[-1].strip()
        if appended:
            return appended
    return request.META.get("REMOTE_ADDR", "")


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


def _failed_tokens(request, count_this_one=False):
    """This address's failed tokens in the current window, as django-ratelimit counts them
    ({'count', 'limit', 'time_left'}); None when the cache cannot say (the token check stays)."""
    try:
        return get_usage(
            request, group=_FAILED_TOKEN_GROUP, key=lambda _group, request: client_address(request),
            rate=f"{FAILED_TOKENS_PER_ADDRESS}/{FAILED_TOKEN_WINDOW}", increment=count_this_one,
        )
    except Exception as error:  # a dead cache must not take the API down with it
        logger.warning("failed-token count unavailable, not throttling: %s", error)
        return None


def _refuse_throttled_address(request):
    usage = _failed_tokens(request)
    if usage is not None and usage["count"] >= usage["limit"]:
        wait_seconds = max(1, usage["time_left"])
        raise ApiError(
            429, f"Too many invalid API tokens from your address; try again in {wait_seconds} seconds.",
            headers={"Retry-After": str(wait_seconds)},
        )


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
        _refuse_throttled_address(request)
        user = user_for_token(credentials.strip())
        if user is None:
            _failed_tokens(request, count_this_one=True)
            raise _unauthorized("The API token is invalid or has been revoked.", error="invalid_token")
        return user
    if request.user.is_authenticated and request.user.is_active:
        if request.method not in SAFE_METHODS:
            enforce_csrf(request)
        return request.user
    raise _unauthorized("Authentication required: send 'Authorization: Bearer <token>' or log in.")
