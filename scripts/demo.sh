#!/usr/bin/env bash
# Quick start: sets up the virtualenv, creates the embedded SQLite database under var/ with
# Prosper202's tables and demo data, builds journeys and snapshots, then serves the admin
# (with a django-q2 worker) on http://127.0.0.1:8000/admin/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-venv.sh
export DEBUG=${DEBUG:-1}
PORT=${PORT:-8000}
manage() { .venv/bin/python manage.py "$@"; }

mkdir -p var
manage migrate --verbosity 0
manage install_schema
# Seed only an empty database (decided by exit code: `shell` also prints a banner).
if manage shell --no-imports -c "import sys; from journeys.models import Account; sys.exit(1 if Account.objects.exists() else 0)"; then
  manage seed_demo_data
  manage backfill_conversion_journeys --start 0
  manage attribution_rebuild --start "$(( $(date +%s) - 15 * 86400 ))" --end "$(date +%s)"
fi
manage setup_schedules
export DJANGO_SUPERUSER_PASSWORD=${DEMO_ADMIN_PASSWORD:-attribution-demo}
manage shell --no-imports -c "from django.contrib.auth import get_user_model; import sys; sys.exit(0 if get_user_model().objects.filter(username='admin').exists() else 1)" \
  || manage createsuperuser --noinput --username admin --email admin@example.com

manage qcluster >var/qcluster.log 2>&1 &
worker=$!
trap 'kill $worker 2>/dev/null' EXIT

cat <<TXT

  Attribution Ops is running on the demo data.
  Admin:    http://127.0.0.1:${PORT}/admin/
  Login:    admin / ${DJANGO_SUPERUSER_PASSWORD}
  Worker:   django-q2 cluster (log in var/qcluster.log)

TXT
manage runserver "127.0.0.1:${PORT}"
