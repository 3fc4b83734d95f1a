"""The API's one error shape, `{"error": {"message": …, "fields": {…}}}`, and its one success shape."""
from django.http import JsonResponse


class ApiError(Exception):
    """Raised anywhere in a view to answer with the error shape and an HTTP status."""

    def __init__(self, status, message, fields=None, headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.fields = dict(fields or {})
        self.headers = dict(headers or {})

    def response(self):
        return error_response(self.status, self.message, self.fields, self.headers)


def error_response(status, message, fields=None, headers=None):
    response = JsonResponse({"error": {"message": message, "fields": dict(fields or {})}}, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def data_response(data, status=200, meta=None):
    body = {"data": data}
    if meta is not None:
        body["meta"] = meta
    return JsonResponse(body, status=status)


def bad_parameter(name, value, allowed):
    """400 for a query parameter or URL part: names it, echoes the value, says what is allowed."""
    return ApiError(400, f"Invalid parameter {name}={value!r}: {allowed}.", {name: allowed})


def invalid_field(name, value, allowed):
    """422 for a request-body field that has the wrong type or value."""
    return ApiError(422, f"Invalid {name}: {allowed} (got {value!r}).", {name: allowed})


def not_found(what, identifier):
    return ApiError(404, f"{what} {identifier} does not exist.")


def forbidden(message="You do not have permission to do this."):
    return ApiError(403, message)
