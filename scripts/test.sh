#!/usr/bin/env bash
# Sets up the virtualenv and runs the whole test suite. Extra arguments go to pytest.
# Uses SQLite and the local-memory cache unless DATABASE_URL / CACHE_URL are set.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-venv.sh
exec .venv/bin/pytest "$@"
