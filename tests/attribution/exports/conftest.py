"""Export fixtures: a temporary export directory, a model with snapshot rows, a scheduling
shortcut and a loopback webhook receiver started by the test itself."""
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from attribution.exports import jobs, webhooks
from tests.attribution.reporting_fixtures import BASE_HOUR, make_model, snapshot
from tracker.audit import Actor

ACTOR = Actor.cli("pytest")


@pytest.fixture(autouse=True)
def export_dir(settings, tmp_path):
    settings.ATTRIBUTION_EXPORT_DIR = tmp_path / "exports"
    return settings.ATTRIBUTION_EXPORT_DIR


@pytest.fixture
def model_with_rows(tracker):
    """Two global hours (one with zero cost) and two campaign rows sharing an hour."""
    account = tracker.account()
    model = make_model(account, "Linear Model")
    snapshot(model, BASE_HOUR, clicks=3, conversions=2, revenue="20.5", cost="4")
    snapshot(model, BASE_HOUR + 3600, clicks=1, conversions=1, revenue="5", cost="0")
    snapshot(model, BASE_HOUR, "campaign", 9, clicks=2, conversions=1, revenue="12.25", cost="3")
    snapshot(model, BASE_HOUR, "campaign", 4, clicks=1, conversions=1, revenue="8.25", cost="1")
    snapshot(model, BASE_HOUR + 7200, revenue="77", cost="1")  # after the window
    snapshot(make_model(account, "Other"), BASE_HOUR, revenue="66", cost="1")  # another model
    return model


def schedule(model, **overrides):
    """schedule_export with a valid one-hour global CSV request, overridden by `overrides`."""
    arguments = dict(model=model, scope_type="global", scope_id=None, start_hour=BASE_HOUR,
                     end_hour=BASE_HOUR + 3600, requested_format="csv", actor=ACTOR)
    return jobs.schedule_export(**{**arguments, **overrides})


class Receiver:
    """A webhook receiver on 127.0.0.1 recording each request; answers with `status`."""

    def __init__(self, status=200):
        self.requests = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"received" if status < 300 else b"receiver exploded")

            def log_message(self, *args):
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks/export?token=t"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def no_backoff(monkeypatch):
    monkeypatch.setattr(webhooks, "WEBHOOK_BACKOFF_BASE_SECONDS", 0)


@pytest.fixture
def private_targets_allowed(settings):
    """Loopback receivers are reachable only in the tests that ask for this."""
    settings.ATTRIBUTION_WEBHOOK_ALLOW_PRIVATE = True
