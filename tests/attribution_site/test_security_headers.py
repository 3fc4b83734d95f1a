"""Headers and proxies (SPEC §9): a Content-Security-Policy without inline script on every page,
X-Forwarded-Proto believed only with TRUST_X_FORWARDED_PROTO=1, /healthz exempt from the HTTPS
redirect."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db

TEMPLATES = Path(settings.BASE_DIR) / "templates"
# An executable <script> without src=, or an inline event handler attribute.
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>|\son[a-z]+\s*=", re.I)


def _directives(response):
    policy = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


@pytest.mark.parametrize("path", ["/admin/login/", "/healthz", "/api/v2/attribution/models"])
def test_every_response_carries_a_policy_without_inline_script(client, path):
    directives = _directives(client.get(path))

    assert directives["script-src"] == ["'self'"]
    assert directives["default-src"] == ["'self'"] and directives["object-src"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]


def test_no_template_carries_inline_script():
    offenders = [
        f"{path.relative_to(TEMPLATES)}: {match.group(0)}"
        for path in TEMPLATES.rglob("*.html")
        for match in INLINE_SCRIPT.finditer(path.read_text())
    ]
    assert offenders == []


def _settings_under(environment):
    """SECURE_PROXY_SSL_HEADER as a fresh process reads it from `environment`."""
    code = ("import django, json; django.setup(); from django.conf import settings; "
            "print(json.dumps(settings.SECURE_PROXY_SSL_HEADER))")
    env = {name: value for name, value in os.environ.items() if name != "TRUST_X_FORWARDED_PROTO"}
    env.update(DJANGO_SETTINGS_MODULE="attribution_site.settings", **environment)
    result = subprocess.run([sys.executable, "-c", code], env=env, cwd=settings.BASE_DIR,
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


@pytest.mark.slow
def test_x_forwarded_proto_is_believed_only_when_the_environment_says_so():
    assert _settings_under({}) is None
    assert _settings_under({"TRUST_X_FORWARDED_PROTO": "0"}) is None
    assert _settings_under({"TRUST_X_FORWARDED_PROTO": "1"}) == ["HTTP_X_FORWARDED_PROTO", "https"]


def test_a_plain_http_client_claiming_https_is_still_redirected(client, settings):
    settings.SECURE_SSL_REDIRECT = True

    response = client.get("/admin/", HTTP_X_FORWARDED_PROTO="https")

    assert response.status_code == 301 and response["Location"].startswith("https://")


def test_behind_the_trusted_proxy_its_header_marks_https(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")  # TRUST_X_FORWARDED_PROTO=1

    assert client.get("/admin/", HTTP_X_FORWARDED_PROTO="https").status_code == 302  # to the log-in
    assert client.get("/admin/", HTTP_X_FORWARDED_PROTO="http").status_code == 301


def test_healthz_answers_a_plain_http_probe(client, settings):
    settings.SECURE_SSL_REDIRECT = True

    probe = client.get("/healthz")

    assert probe.status_code in (200, 503) and set(probe.json()) == {"status", "checks"}
    assert client.get("/admin/").status_code == 301
