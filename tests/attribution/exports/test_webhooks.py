"""Export webhooks: signing and payload, extra headers, retries, the private-address guard (IPv6
transition addresses included), and what is shown of URLs and refusals."""
import hashlib
import hmac
import json
from pathlib import Path

import pytest

from attribution.exports import jobs, webhooks
from attribution.models import Export
from tests.attribution.exports.conftest import Receiver, schedule

pytestmark = pytest.mark.django_db


def test_webhook_is_signed_and_carries_the_payload(model_with_rows, settings, private_targets_allowed,
                                                   no_backoff):
    settings.ATTRIBUTION_BASE_URL = "https://ops.example.com"
    with Receiver() as receiver:
        export = schedule(model_with_rows, webhook_url=receiver.url, webhook_secret="top-secret")
        jobs.process_pending_exports()
    (request,) = receiver.requests
    assert request["path"] == "/hooks/export?token=t"
    expected = hmac.new(b"top-secret", request["body"], hashlib.sha256).hexdigest()
    assert request["headers"]["X-Prosper202-Signature"] == expected
    payload = json.loads(request["body"])
    export.refresh_from_db()
    assert payload == {
        "export_id": export.export_id, "model_id": model_with_rows.model_id, "status": "completed",
        "format": "csv", "rows_exported": 2,
        "download_url": f"https://ops.example.com/admin/attribution/exports/{export.export_id}/download/",
        "completed_at": export.completed_at,
    }
    assert export.webhook_status_code == 200 and export.webhook_response_body == "received"
    assert export.webhook_attempted_at and export.last_error is None


def test_webhook_sends_the_extra_headers_but_keeps_its_own(model_with_rows, private_targets_allowed, no_backoff):
    with Receiver() as receiver:
        export = schedule(
            model_with_rows, webhook_url=receiver.url, webhook_secret="s",
            webhook_headers='{"Authorization": "Bearer receiver-token", "X-Tenant": "acme"}',
        )
        jobs.process_pending_exports()
    (request,) = receiver.requests
    assert request["headers"]["Authorization"] == "Bearer receiver-token"
    assert request["headers"]["X-Tenant"] == "acme"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["X-Prosper202-Signature"] == hmac.new(
        b"s", request["body"], hashlib.sha256
    ).hexdigest()
    export.refresh_from_db()
    assert json.loads(export.webhook_headers) == {"Authorization": "Bearer receiver-token", "X-Tenant": "acme"}


def test_a_row_with_broken_headers_sends_nothing_and_keeps_the_file(model_with_rows, private_targets_allowed):
    with Receiver() as receiver:
        export = schedule(model_with_rows, webhook_url=receiver.url, webhook_secret="s")
        Export.objects.filter(pk=export.pk).update(webhook_headers="not json")
        jobs.process_pending_exports()
    assert receiver.requests == []
    export.refresh_from_db()
    assert export.status == "completed" and Path(export.file_path).is_file()
    assert "webhook_headers must be a JSON object" in export.last_error


def test_failing_receiver_gets_three_attempts_and_the_file_is_kept(model_with_rows, private_targets_allowed,
                                                                   no_backoff):
    with Receiver(status=500) as receiver:
        export = schedule(model_with_rows, webhook_url=receiver.url, webhook_secret="s")
        jobs.process_pending_exports()
    assert len(receiver.requests) == 3
    export.refresh_from_db()
    assert export.status == "completed" and Path(export.file_path).is_file()
    assert export.webhook_status_code == 500 and export.webhook_response_body == "receiver exploded"
    assert "failed after 3 attempt(s): HTTP 500" in export.last_error


def test_private_target_is_refused_without_a_request(model_with_rows, settings):
    settings.ATTRIBUTION_WEBHOOK_ALLOW_PRIVATE = False
    with Receiver() as receiver:
        export = schedule(model_with_rows, webhook_url=receiver.url, webhook_secret="s")
        jobs.process_pending_exports()
    assert receiver.requests == []
    export.refresh_from_db()
    assert export.status == "completed" and Path(export.file_path).is_file()
    assert export.webhook_attempted_at and export.webhook_status_code is None
    assert "refused" in export.last_error and "127.0.0.1" in export.last_error  # the host as given


def test_a_refusal_does_not_show_the_resolved_address(model_with_rows, settings, caplog):
    settings.ATTRIBUTION_WEBHOOK_ALLOW_PRIVATE = False
    with Receiver() as receiver:
        export = schedule(model_with_rows, webhook_url=f"http://localhost:{receiver.port}/hook",
                          webhook_secret="s")
        jobs.process_pending_exports()
    assert receiver.requests == []
    export.refresh_from_db()
    assert "'localhost' resolves to a non-public address" in export.last_error
    assert "127.0.0.1" not in export.last_error and "::1" not in export.last_error
    assert "127.0.0.1" in caplog.text or "::1" in caplog.text  # the details go to the server log


@pytest.mark.parametrize("address", [
    "10.1.2.3", "192.168.0.1", "169.254.169.254", "::1", "fe80::1", "fe80::1%eth0", "224.0.0.1", "0.0.0.0",
    "100.64.0.1", "::", "::ffff:127.0.0.1",
    # SPEC §9: IPv4-compatible, NAT64 and 6to4 addresses are judged by the IPv4 address they embed.
    "::127.0.0.1", "::10.0.0.1", "64:ff9b::a9fe:a9fe", "64:ff9b::7f00:1", "2002:a00:1::", "2002:7f00:1::",
])
def test_non_public_addresses_are_not_allowed(address):
    assert webhooks.address_allowed(address) is False


@pytest.mark.parametrize("address", [
    "93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "::ffff:93.184.216.34", "64:ff9b::5db8:d822",
    "2002:5db8:d822::1",
])
def test_public_addresses_are_allowed(address):
    assert webhooks.address_allowed(address) is True


@pytest.mark.parametrize("url, shown", [
    ("https://hooks.example.com/p202", "https://hooks.example.com/p202"),
    ("http://user:pa55@hooks.example.com:8080/x?token=abc", "http://hooks.example.com:8080/x?…"),
    ("http://[::1/", "(not a valid URL)"),
    (None, None),
])
def test_masked_url_hides_user_info_and_query(url, shown):
    assert webhooks.masked_url(url) == shown
