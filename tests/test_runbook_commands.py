"""docs/runbook.md cannot rot: every command line of its ```bash blocks runs against the demo data.

`python manage.py …` lines run through call_command; `curl …` lines go through Django's test
client with the same method, headers and body (curl -f turns HTTP >= 400 into exit 22).
Placeholders (<user_id>, <conv_id>, <model_id>, <start>, …) become real demo values. A line may
state its allowed exit codes with a trailing `# exit 0|1`; otherwise it must exit 0. Lines marked
`# long-running` (qcluster) are only checked to exist.
"""
import io
import re
import shlex
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command, get_commands
from django.core.management.base import CommandError

from attribution.models import AttributionModel
from journeys.models import Conversion, JourneyTouch
from tests.factories import empty_202_tables
from tracker.models import Account

RUNBOOK = Path(__file__).resolve().parent.parent / "docs" / "runbook.md"
ONCALL_USERNAME = "oncall"
SPEC_COMMANDS = ("install_schema", "check_schema", "verify_journeys", "backfill_conversion_journeys",
                 "purge_journeys", "capture_journeys", "attribution_rebuild", "setup_schedules",
                 "qcluster", "create_api_token", "process_exports")


def runbook_lines():
    """(line number, command, allowed exit codes, long_running) for each line of the bash blocks."""
    lines, in_bash = [], False
    for number, raw in enumerate(RUNBOOK.read_text().splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("```"):
            in_bash = stripped == "```bash"
            continue
        if not in_bash or not stripped or stripped.startswith("#"):
            continue
        command, _, comment = stripped.partition("   #")
        allowed = {0}
        match = re.search(r"exit ([\d|]+)", comment)
        if match:
            allowed = {int(code) for code in match.group(1).split("|")}
        lines.append((number, command.strip(), allowed, "long-running" in comment))
    return lines


def substitute(command, values):
    for placeholder, value in values.items():
        command = command.replace(f"<{placeholder}>", str(value))
    leftover = re.findall(r"<[a-z_]+>", command)
    assert not leftover, f"runbook placeholder(s) {leftover} have no demo value in this test"
    return command


def run_manage(argv):
    name, args = argv[0], argv[1:]
    if name not in get_commands():
        pytest.fail(f"runbook command `manage.py {name}` does not exist (yet): implement it or fix docs/runbook.md")
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(name, *args, stdout=out, stderr=err)
    except SystemExit as exit_:
        return int(exit_.code or 0), out.getvalue() + err.getvalue()
    except CommandError as error:
        return error.returncode, out.getvalue() + err.getvalue() + str(error)
    return 0, out.getvalue() + err.getvalue()


def run_curl(argv, client):
    method, headers, body, url = "GET", {}, None, None
    words = iter(argv[1:])
    for word in words:
        if word == "-X":
            method = next(words)
        elif word == "-H":
            key, _, value = next(words).partition(": ")
            headers[key] = value
        elif word in ("-d", "--data"):
            body = next(words)
        elif not word.startswith("-"):
            url = word
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    content_type = headers.pop("Content-Type", "application/json")
    extra = {"HTTP_" + key.upper().replace("-", "_"): value for key, value in headers.items()}
    response = client.generic(method, path, body or "", content_type=content_type, **extra)
    return (0 if response.status_code < 400 else 22), f"HTTP {response.status_code} {response.content[:300]!r}"


@pytest.fixture
def demo(transactional_db, settings, tmp_path):
    """The demo dataset with journeys built, an on-call superuser and the values for placeholders.
    Committed, as the commands commit their own work; the 202 rows are removed afterwards."""
    settings.ATTRIBUTION_EXPORT_DIR = tmp_path
    now = int(time.time())
    call_command("seed_demo_data", clicks=400, seed=7, now=now, stdout=io.StringIO())
    call_command("backfill_conversion_journeys", start="0", end=str(now), stdout=io.StringIO(), stderr=io.StringIO())
    get_user_model().objects.create_superuser(ONCALL_USERNAME, "oncall@example.com", "pw")
    decay = AttributionModel.objects.filter(model_type="time_decay", user__user_deleted=0).order_by("model_id").first()
    account = Account.objects.get(user_id=decay.user_id)
    conversion = (
        Conversion.objects.filter(user_id=account.user_id, deleted=0,
                                  conv_id__in=JourneyTouch.objects.values("conv_id"))
        .order_by("-conv_id").first()
    )
    yield {
        "user_id": account.user_id, "conv_id": conversion.conv_id, "model_id": decay.model_id,
        "username": ONCALL_USERNAME, "start": now - 3 * 86400, "end": now, "epoch": now - 86400,
        "good_start": now - 2 * 86400, "good_end": now - 86400,
    }
    empty_202_tables()


def test_runbook_has_commands_for_every_spec_command():
    text = RUNBOOK.read_text()
    for name in SPEC_COMMANDS:
        assert f"manage.py {name}" in text, name
    for flag in ("--start", "--end", "--user", "--model", "--force", "--lock-timeout", "--conv-id",
                 "--orphans", "--disabled-scopes", "--batch-size", "--dry-run"):
        assert flag in text, flag
    for page in ("/admin/attribution/system-checks/", "/admin/tracker/auditentry/", "/healthz",
                 "-X PATCH", "-X POST"):
        assert page in text, page
    assert len(runbook_lines()) >= 25


def test_runbook_admin_pages_exist(admin_client):
    """Every /admin/… path of the page table answers (placeholders aside)."""
    paths = set(re.findall(r"`(/admin/[a-z_/\-]+)`", RUNBOOK.read_text()))
    assert paths
    for path in sorted(paths):
        response = admin_client.get(path)
        assert response.status_code in (200, 302), f"{path}: HTTP {response.status_code}"


@pytest.mark.slow
def test_every_runbook_command_runs_on_the_demo_data(demo, client):
    values = dict(demo)
    failures = []
    for number, line, allowed, long_running in runbook_lines():
        argv = shlex.split(substitute(line, values))
        if argv[:2] == ["python", "manage.py"]:
            if long_running:
                assert argv[2] in get_commands(), f"line {number}: manage.py {argv[2]} does not exist"
                continue
            code, output = run_manage(argv[2:])
            if argv[2] == "create_api_token" and code == 0:
                values["token"] = output.splitlines()[0].strip()
        elif argv[0] == "curl":
            code, output = run_curl(argv, client)
        else:
            pytest.fail(f"docs/runbook.md line {number}: neither manage.py nor curl: {line}")
        if code not in allowed:
            failures.append(f"line {number}: `{line}` exited {code} (allowed {sorted(allowed)}):\n{output[-1500:]}")
    assert not failures, "\n\n".join(failures)
