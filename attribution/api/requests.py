"""How an API request is taken apart (SPEC §8): the endpoint wrapper (body size, credentials,
method, permission, error shape), the JSON body, query parameters, paging, scope and hour
windows, and the accounts queued work covers. Every API view module uses these.
"""
import json
import re
import time

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.views.decorators.csrf import csrf_exempt

from attribution.api import serializers
from attribution.api.auth import authenticate
from attribution.api.errors import ApiError, bad_parameter, forbidden
from attribution.models import SCOPE_TYPES
from tracker import tenancy
from tracker.audit import Actor
from tracker.models import Account

MAX_BODY_BYTES = 1024 * 1024
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
DEFAULT_WINDOW_HOURS = 24
HOUR_SECONDS = 3600
SCOPE_NAMES = tuple(name for name, _label in SCOPE_TYPES)
_TRUE_VALUES = ("true", "1")
_FALSE_VALUES = ("false", "0")
_BODY_METHODS = ("POST", "PUT", "PATCH")
_INTEGER = re.compile(r"^-?[0-9]{1,20}$")


def api_endpoint(**handlers):
    """One URL's view: `handlers` maps an HTTP method to (permission, function(request, **kwargs)).

    Order of checks: body size (413), credentials (401, CSRF 403), method (405), permission (403);
    then the handler, whose ApiError or service error becomes the error shape.
    """

    @csrf_exempt
    def view(request, **kwargs):
        try:
            if request.method in _BODY_METHODS:
                refuse_large_body(request)
            request.user = authenticate(request)
            if request.method not in handlers:
                allowed = ", ".join(handlers)
                raise ApiError(
                    405, f"Method {request.method} is not allowed here; use {allowed}.",
                    headers={"Allow": allowed},
                )
            permission, handler = handlers[request.method]
            if not request.user.has_perm(permission):
                raise forbidden(f"This needs the {permission} permission.")
            return handler(request, **kwargs)
        except ApiError as error:
            return error.response()
        except PermissionDenied as error:
            return forbidden(str(error) or "You do not have permission to do this.").response()
        except RequestDataTooBig:
            return too_large().response()

    return view


def too_large():
    return ApiError(413, f"The request body exceeds the limit of {MAX_BODY_BYTES} bytes.")


def refuse_large_body(request):
    """Refuse by Content-Length before anything reads the body."""
    declared = request.META.get("CONTENT_LENGTH") or "0"
    try:
        declared = int(declared)
    except ValueError:
        raise bad_parameter("Content-Length", declared, "must be a number of bytes")
    if declared > MAX_BODY_BYTES:
        raise too_large()


def json_body(request):
    """The request body as a JSON object, or 400 naming what is wrong with it."""
    body = request.body
    if len(body) > MAX_BODY_BYTES:
        raise too_large()
    try:
        parsed = json.loads(body or b"null")
    except (ValueError, RecursionError) as error:  # RecursionError: nested deeper than Python parses
        raise ApiError(400, f"The request body is not valid JSON: {error}.")
    if not isinstance(parsed, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    return parsed


def actor_of(request):
    return Actor("api", request.user.get_username())


# --- query parameters -------------------------------------------------------------------------

def int_param(request, name, *, default=None, minimum=0, maximum=serializers.MAX_ID):
    raw = request.GET.get(name)
    if raw is None or raw == "":
        return default
    value = int(raw) if _INTEGER.match(raw) else None
    if value is None or not minimum <= value <= maximum:
        raise bad_parameter(name, raw, f"must be a whole number from {minimum} to {maximum}")
    return value


def choice_param(request, name, choices, default=None):
    raw = request.GET.get(name)
    if raw is None or raw == "":
        return default
    if raw not in choices:
        raise bad_parameter(name, raw, f"must be one of {', '.join(choices)}")
    return raw


def bool_param(request, name):
    raw = request.GET.get(name)
    if raw is None or raw == "":
        return None
    if raw.lower() in _TRUE_VALUES:
        return True
    if raw.lower() in _FALSE_VALUES:
        return False
    raise bad_parameter(name, raw, "must be true or false")


def id_list_param(request, name, maximum_count):
    """Distinct ids from a comma-separated parameter, 1 to `maximum_count` of them."""
    raw = request.GET.get(name, "")
    parts = [part.strip() for part in raw.split(",") if part.strip()]
    if not parts or len(parts) > maximum_count or not all(_INTEGER.match(part) for part in parts):
        raise bad_parameter(name, raw, f"must be 1 to {maximum_count} comma-separated model ids")
    return list(dict.fromkeys(int(part) for part in parts))


def page_params(request):
    limit = int_param(request, "limit", default=DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
    offset = int_param(request, "offset", default=0, minimum=0, maximum=serializers.MAX_ID)
    return limit, offset


def paged(rows, limit, offset):
    """Data and meta for a slice fetched with one extra row, to tell whether more follow."""
    rows = list(rows)
    more = len(rows) > limit
    meta = {"limit": limit, "offset": offset, "next_offset": offset + limit if more else None}
    return rows[:limit], meta


def scope_params(request):
    """(scope_type, scope_id) from `scope` (default global) and `scope_id`."""
    scope_type = choice_param(request, "scope", SCOPE_NAMES, default="global")
    scope_id = int_param(request, "scope_id")
    if scope_type == "global" and scope_id is not None:
        raise bad_parameter("scope_id", request.GET["scope_id"], "must be omitted for scope=global")
    return scope_type, scope_id


def hour_window(request):
    """(start_hour, end_hour) floored to whole hours; defaults to the last 24 hours."""
    end_hour = int_param(request, "end_hour", maximum=serializers.MAX_EPOCH)
    if end_hour is None:
        end_hour = int(time.time())
    end_hour -= end_hour % HOUR_SECONDS
    start_hour = int_param(request, "start_hour", maximum=serializers.MAX_EPOCH)
    if start_hour is None:
        start_hour = max(0, end_hour - (DEFAULT_WINDOW_HOURS - 1) * HOUR_SECONDS)
    start_hour -= start_hour % HOUR_SECONDS
    if start_hour > end_hour:
        raise bad_parameter("start_hour", request.GET["start_hour"], f"must not be after end_hour ({end_hour})")
    return start_hour, end_hour


def requested_accounts(request, body):
    """The account ids queued work (a rebuild, a backfill) covers: `user_id`, else every account
    the caller sees (None = all accounts, for superusers only)."""
    account_id = body.get("user_id")
    if account_id is not None:
        tenancy.require_account(request.user, account_id)
        if not Account.objects.filter(user_id=account_id).exists():
            raise ApiError(422, f"user_id {account_id} does not exist in 202_users.",
                           {"user_id": "no such Prosper202 account"})
        return [account_id]
    visible = tenancy.visible_account_ids(request.user)
    if visible is not None and not visible:
        raise forbidden("No Prosper202 account is assigned to you, so there is nothing to queue.")
    return None if visible is None else sorted(visible)
