"""Production serving (SPEC §11): gunicorn with the repository's config, DEBUG off, static files
from WhiteNoise after `collectstatic`, exactly as README's production section runs it.

The server is a real subprocess on a free port. It uses the test database: MariaDB's test
database itself, or on SQLite the in-memory test database copied to a file (ExternalDatabase).
"""
import gzip
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from attribution.system_checks import CHECKS
from tests.attribution.test_rebuild_processes import ExternalDatabase

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

BASE_DIR = Path(settings.BASE_DIR)
START_SECONDS = 60


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def fetch(url, headers=None):
    """(status, headers, body bytes) of a GET, for any status; redirects are not followed."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with _opener.open(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def wait_until_listening(process, port):
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited with {process.returncode}: {process.stderr.read()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"gunicorn did not listen on port {port} within {START_SECONDS} s")


class Gunicorn:
    """gunicorn started as README's production section does: collectstatic, then the config."""

    def __init__(self, tmp_path, **environment):
        database = ExternalDatabase(tmp_path)
        database.publish()
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.environment = dict(
            os.environ, DEBUG="0", DATABASE_URL=database.url, STATIC_ROOT=str(tmp_path / "static"),
            SECURE_SSL_REDIRECT="0", GUNICORN_BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY="2",
        ) | environment
        collect = subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput"], cwd=BASE_DIR,
            env=self.environment, capture_output=True, text=True, timeout=120,
        )
        assert collect.returncode == 0, collect.stderr
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "attribution_site/gunicorn.conf.py"], cwd=BASE_DIR,
            env=self.environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        wait_until_listening(self.process, port)

    def stop(self):
        """Stop gracefully (SIGTERM); returns (exit code, stdout, stderr)."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        stdout, stderr = self.process.communicate(timeout=START_SECONDS)
        return self.process.returncode, stdout, stderr


@pytest.fixture
def start_gunicorn(tmp_path):
    servers = []

    def start(**environment):
        servers.append(Gunicorn(tmp_path, **environment))
        return servers[-1]

    yield start
    for server in servers:
        if server.process.returncode is None:
            server.stop()


def test_gunicorn_serves_healthz_the_admin_login_and_its_css(start_gunicorn):
    gunicorn = start_gunicorn()

    status, headers, body = fetch(f"{gunicorn.url}/healthz")
    health = json.loads(body)
    assert headers["Content-Type"] == "application/json"
    assert status == (503 if health["status"] == "error" else 200)
    assert [check["name"] for check in health["checks"]] == [name for name, _ in CHECKS]

    status, headers, body = fetch(f"{gunicorn.url}/admin/login/")
    page = body.decode()
    assert status == 200
    assert "Attribution Ops" in page and 'name="password"' in page
    stylesheets = re.findall(r'<link rel="stylesheet" href="([^"]+\.css)"', page)
    assert "/static/admin/css/base.css" in stylesheets
    for stylesheet in stylesheets:
        status, headers, css = fetch(gunicorn.url + stylesheet)
        assert (status, headers["Content-Type"].split(";")[0]) == (200, "text/css"), stylesheet
        assert css.strip()

    status, headers, plain = fetch(f"{gunicorn.url}/static/admin/css/base.css")
    assert b"body {" in plain
    assert "max-age=60" in headers["Cache-Control"]  # names carry no hash: short caching (docs/deploy.md §4)
    status, headers, compressed = fetch(f"{gunicorn.url}/static/admin/css/base.css", {"Accept-Encoding": "gzip"})
    assert (status, headers["Content-Encoding"]) == (200, "gzip")
    assert gzip.decompress(compressed) == plain

    status, _, body = fetch(f"{gunicorn.url}/no-such-page")
    assert status == 404
    assert b"URLconf" not in body  # DEBUG is off: no technical 404 page

    code, stdout, stderr = gunicorn.stop()
    assert code == 0, stderr
    assert re.search(r'"GET /healthz HTTP/1\.1" (200|503) ', stdout)  # the access log, on stdout
    assert '"GET /admin/login/ HTTP/1.1" 200 ' in stdout
    assert "Booting worker" in stderr and "Shutting down: Master" in stderr


def test_https_detection_is_left_to_django(start_gunicorn):
    """gunicorn would trust X-Forwarded-Proto from 127.0.0.1 by itself; the config turns that off,
    so without TRUST_X_FORWARDED_PROTO a plain-HTTP client claiming HTTPS is still redirected."""
    gunicorn = start_gunicorn(SECURE_SSL_REDIRECT="1", TRUST_X_FORWARDED_PROTO="0")

    status, headers, _ = fetch(f"{gunicorn.url}/admin/login/", {"X-Forwarded-Proto": "https"})
    assert status == 301
    assert headers["Location"].startswith("https://127.0.0.1:")
    status, _, body = fetch(f"{gunicorn.url}/healthz")  # probes stay on plain HTTP (SPEC §9)
    assert json.loads(body)["status"] in ("ok", "warning", "error")
