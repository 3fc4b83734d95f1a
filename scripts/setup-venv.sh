#!/usr/bin/env bash
# Creates .venv (once) and installs requirements.txt into it when it changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.requirements.sha256
wanted=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
  if ! command -v mysql_config >/dev/null 2>&1 && ! pkg-config --exists mariadb mysqlclient 2>/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "Installing MySQL client headers (needed to build mysqlclient)..."
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-libmysqlclient-dev pkg-config >/dev/null
    else
      echo "mysqlclient needs the MySQL/MariaDB client headers: install default-libmysqlclient-dev and pkg-config" >&2
      exit 1
    fi
  fi
  .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
  echo "$wanted" > "$stamp"
fi
