"""A throwaway database of the test run's vendor, outside Django's connections.

Tests that alter DDL or run `migrate` work here, through subprocesses and a raw DB-API
connection, so the shared test database (and the other tests using it) are never touched.
"""
import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import quote

from django.conf import settings

from tracker import schema

BASE_DIR = Path(settings.BASE_DIR)


class ScratchDatabase:
    def __init__(self, tmp_path):
        default = settings.DATABASES["default"]
        self.vendor = "mysql" if default["ENGINE"].endswith("mysql") else "sqlite"
        if self.vendor == "mysql":
            self.server = {
                "host": default.get("HOST") or "127.0.0.1",
                "port": int(default.get("PORT") or 3306),
                "user": default.get("USER") or "root",
                "password": default.get("PASSWORD") or "",
            }
            # Named after the test database so parallel runs of different teams never clash.
            self.name = f"{default['NAME']}_scratch_{uuid.uuid4().hex[:8]}"[:64]
            self._server_connection().cursor().execute(
                f"CREATE DATABASE `{self.name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            )
            credentials = quote(self.server["user"]) + (
                ":" + quote(self.server["password"]) if self.server["password"] else ""
            )
            self.url = f"mysql://{credentials}@{self.server['host']}:{self.server['port']}/{self.name}"
        else:
            self.path = tmp_path / "scratch.sqlite3"
            self.url = f"sqlite:///{self.path}"
        self._connection = None

    def _server_connection(self, database=None):
        import MySQLdb

        options = dict(self.server, charset="utf8mb4", autocommit=True)
        if database:
            options["database"] = database
        return MySQLdb.connect(**options)

    @property
    def connection(self):
        if self._connection is None:
            if self.vendor == "mysql":
                self._connection = self._server_connection(self.name)
            else:
                self._connection = sqlite3.connect(self.path, isolation_level=None)
        return self._connection

    def execute(self, sql, params=()):
        cursor = self.connection.cursor()
        cursor.execute(sql, params)
        return cursor.fetchall()

    def install_ddl(self):
        """Apply the raw DDL text of journeys.schema (not the install_schema command)."""
        for statement in schema.create_statements(self.vendor):
            self.execute(statement)

    def snapshot_202(self):
        """The exact definition of every 202 table (and, on SQLite, its indexes)."""
        if self.vendor == "mysql":
            tables = [row[0] for row in self.execute("SHOW TABLES LIKE '202\\_%%'")]
            return {name: self.execute(f"SHOW CREATE TABLE `{name}`")[0][1] for name in tables}
        rows = self.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE tbl_name LIKE '202%' ORDER BY type, name"
        )
        return {f"{kind} {name}": sql for kind, name, sql in rows}

    def manage(self, *args, env=None):
        """Run manage.py against this database in a subprocess; returns CompletedProcess."""
        environment = dict(os.environ, DATABASE_URL=self.url, DEBUG="1", CACHE_URL="locmemcache://")
        environment.update(env or {})
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=BASE_DIR, env=environment, capture_output=True, text=True, timeout=300,
        )

    def drop(self):
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        if self.vendor == "mysql":
            self._server_connection().cursor().execute(f"DROP DATABASE IF EXISTS `{self.name}`")
