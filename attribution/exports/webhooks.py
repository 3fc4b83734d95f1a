"""Export webhooks (SPEC §7, §9): URL and header rules, the private-address guard, signing and
guarded delivery with retries.

A URL or header that could not be sent is refused when the export is scheduled. When sending,
every address the host resolves to must be public (IPv6 transition addresses are judged by the
IPv4 address they embed) and the request connects to the checked address, so a second lookup
cannot rebind it. Delivery never raises: its outcome, good or bad, is recorded on the export and
the file is kept. What is recorded is safe to show; resolved addresses go to the server log only.
"""
import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import re
import socket
import time
from urllib.parse import urlsplit

from django.conf import settings

from attribution.exports import COMPLETED
from attribution.exports.files import download_url, normalise_format
from attribution.models import Export

logger = logging.getLogger("attribution.exports")

WEBHOOK_URL_MAX_LENGTH = 500
WEBHOOK_SECRET_MAX_LENGTH = 255
WEBHOOK_TIMEOUT_SECONDS = 15
WEBHOOK_MAX_ATTEMPTS = 3
# Sleep before retry n (1-based) is WEBHOOK_BACKOFF_BASE_SECONDS * 2**(n-1); tests shrink it.
WEBHOOK_BACKOFF_BASE_SECONDS = 2.0
WEBHOOK_BODY_MAX_CHARS = 4000
SIGNATURE_HEADER = "X-Prosper202-Signature"
USER_AGENT = "Prosper202-Attribution-Ops/1"
WEBHOOK_MAX_EXTRA_HEADERS = 20
WEBHOOK_HEADER_VALUE_MAX_LENGTH = 1000
_HEADER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")
# Headers the webhook sets itself; `webhook_headers` may not replace them.
_RESERVED_HEADERS = {
    "content-type", "content-length", "host", "connection", "transfer-encoding", "user-agent",
    SIGNATURE_HEADER.lower(),
}
# IPv6 ranges whose low 32 bits are an IPv4 address that the traffic really reaches.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


class WebhookRefused(Exception):
    """The webhook target or headers are not allowed; the message is safe to show."""


def webhook_url_problem(url):
    """Why `url` cannot be a webhook target (a sentence for people), or None when it can.

    Static checks for scheduling time; the addresses are checked when sending.
    """
    if len(url) > WEBHOOK_URL_MAX_LENGTH:
        return f"must be at most {WEBHOOK_URL_MAX_LENGTH} characters"
    if any(character <= " " or character == "\x7f" for character in url):
        return "must not contain spaces or control characters"
    try:
        parts = urlsplit(url)
        parts.port
    except ValueError as error:
        return f"{url!r} is not a valid URL ({error})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{url!r} is not an http(s) URL with a host"
    try:
        parts.hostname.encode("idna")
    except UnicodeError:
        return f"host {parts.hostname!r} is not a valid host name"
    if not (parts.path + parts.query).isascii():
        return "the path and query must be ASCII (percent-encode other characters)"
    return None


def masked_url(url):
    """The URL as people see it: no user-info, and '?…' in place of a query (tokens live there)."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(not a valid URL)"
    hidden = "?…" if parts.query else ""
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}{parts.path}{hidden}"


def _header_value_problem(value):
    if not isinstance(value, str) or len(value) > WEBHOOK_HEADER_VALUE_MAX_LENGTH or any(
        (character < " " and character != "\t") or character == "\x7f" for character in value
    ):
        return (f"needs a one-line string value of at most {WEBHOOK_HEADER_VALUE_MAX_LENGTH} "
                "characters")
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return "needs a Latin-1 value (HTTP header values cannot carry other characters)"
    return None


def parse_webhook_headers(raw):
    """Extra webhook request headers (e.g. the receiver's own Authorization) as a dict.

    `raw` is a dict, its JSON text (the `webhook_headers` column) or empty; raises ValueError
    naming the offending header.
    """
    if raw in (None, "", {}):
        return {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except (ValueError, RecursionError) as error:
            raise ValueError(f"must be a JSON object of header names to values ({error})")
    if not isinstance(raw, dict):
        raise ValueError(f"must be an object of header names to string values, got {type(raw).__name__}")
    if len(raw) > WEBHOOK_MAX_EXTRA_HEADERS:
        raise ValueError(f"at most {WEBHOOK_MAX_EXTRA_HEADERS} headers, got {len(raw)}")
    for name, value in raw.items():
        if not isinstance(name, str) or not _HEADER_NAME.match(name):
            raise ValueError(f"{name!r} is not a valid HTTP header name (letters, digits and '-')")
        if name.lower() in _RESERVED_HEADERS:
            raise ValueError(f"{name!r} is set by the webhook itself and cannot be replaced")
        problem = _header_value_problem(value)
        if problem:
            raise ValueError(f"header {name!r} {problem}")
    return dict(raw)


def judged_address(ip):
    """The address a target is judged by: the IPv4 address embedded in an IPv4-mapped,
    IPv4-compatible, NAT64 (64:ff9b::/96) or 6to4 (2002::/16) address, else `ip` itself."""
    if ip.version == 4:
        return ip
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if ip.sixtofour:
        return ip.sixtofour
    if ip in _NAT64 or ip in _IPV4_COMPATIBLE:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def address_allowed(address):
    """True for a public unicast address (a zone suffix such as %eth0 is ignored)."""
    ip = judged_address(ipaddress.ip_address(address.split("%", 1)[0]))
    return ip.is_global and not ip.is_multicast


def resolve_webhook_target(url):
    """(url parts, port, address) of an allowed target; raises WebhookRefused saying why.

    Every address the host resolves to must be public unless ATTRIBUTION_WEBHOOK_ALLOW_PRIVATE;
    the addresses themselves are logged, never put in the message.
    """
    problem = webhook_url_problem(url)
    if problem:
        raise WebhookRefused(problem)
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except OSError as error:
        logger.warning("webhook host %r does not resolve: %s", parts.hostname, error)
        raise WebhookRefused(f"host {parts.hostname!r} does not resolve")
    addresses = [info[4][0] for info in infos]
    if not settings.ATTRIBUTION_WEBHOOK_ALLOW_PRIVATE:
        refused = [address for address in addresses if not address_allowed(address)]
        if refused:
            logger.warning("webhook host %r resolves to non-public %s", parts.hostname, ", ".join(refused))
            raise WebhookRefused(
                f"host {parts.hostname!r} resolves to a non-public address "
                "(private, loopback, link-local, reserved or multicast targets are refused; "
                "see ATTRIBUTION_WEBHOOK_ALLOW_PRIVATE)"
            )
    return parts, port, addresses[0]


def webhook_payload(export):
    """The JSON body POSTed to the webhook, as bytes (the signature covers exactly these)."""
    body = {
        "export_id": export.export_id,
        "model_id": export.model_id,
        "status": export.status,
        "format": normalise_format(export.requested_format) or export.requested_format,
        "rows_exported": export.rows_exported,
        "download_url": download_url(export) if export.status == COMPLETED else None,
        "completed_at": export.completed_at,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def sign(body, secret):
    """Hex HMAC-SHA256 of the body with the export's secret (the X-Prosper202-Signature value)."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _post(parts, port, address, body, headers):
    """One POST to the pinned address; redirects are not followed. Returns (status, body text)."""
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(parts.hostname, port, timeout=WEBHOOK_TIMEOUT_SECONDS)
    connection._create_connection = lambda _address, timeout, source: socket.create_connection(
        (address, port), timeout, source
    )
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        text = response.read(WEBHOOK_BODY_MAX_CHARS * 4).decode("utf-8", errors="replace")
        return response.status, text
    finally:
        connection.close()


def _request_headers(export, body):
    """The row's extra headers plus the webhook's own; a row breaking the rules sends nothing."""
    try:
        extra = parse_webhook_headers(export.webhook_headers)
    except ValueError as problem:
        raise WebhookRefused(f"webhook_headers {problem}")
    return {
        **extra,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: sign(body, export.webhook_secret or ""),
    }


def _send(export, body):
    """(status code, response text, problem or None) after up to WEBHOOK_MAX_ATTEMPTS POSTs."""
    try:
        headers = _request_headers(export, body)
        parts, port, address = resolve_webhook_target(export.webhook_url)
    except WebhookRefused as refusal:
        return None, "", f"Webhook refused, no request sent: {refusal}"
    status_code, response_text = None, ""
    for attempt in range(1, WEBHOOK_MAX_ATTEMPTS + 1):
        if attempt > 1:
            time.sleep(WEBHOOK_BACKOFF_BASE_SECONDS * 2 ** (attempt - 2))
        try:
            status_code, response_text = _post(parts, port, address, body, headers)
        except (OSError, http.client.HTTPException) as error:
            status_code, response_text = None, f"{type(error).__name__}: {error}"
        if status_code is not None and 200 <= status_code < 300:
            return status_code, response_text, None
    outcome = f"HTTP {status_code}" if status_code is not None else response_text
    return status_code, response_text, f"Webhook failed after {WEBHOOK_MAX_ATTEMPTS} attempt(s): {outcome}"


def deliver_webhook(export):
    """POST the signed payload with retries and record the outcome on the export row.

    Never raises: an unexpected error is logged and recorded on this export, so one job cannot
    stop a worker pass. The status (and the file) stay as they are.
    """
    body = webhook_payload(export)
    try:
        status_code, response_text, problem = _send(export, body)
    except Exception:
        logger.exception("export %s: webhook delivery broke", export.export_id)
        status_code, response_text = None, ""
        problem = "Webhook failed: unexpected error, no request completed; details are in the server log"
    if problem:
        logger.warning("export %s: %s", export.export_id, problem)
    now = int(time.time())
    changes = {
        "webhook_attempted_at": now,
        "webhook_status_code": status_code,
        "webhook_response_body": response_text[:WEBHOOK_BODY_MAX_CHARS],
        "updated_at": now,
    }
    if problem:
        changes["last_error"] = "\n".join(filter(None, [export.last_error, problem]))
    Export.objects.filter(export_id=export.export_id).update(**changes)
    return status_code
