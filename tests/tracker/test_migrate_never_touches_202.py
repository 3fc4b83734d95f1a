"""SPEC §3.2: Django migrations never create, alter or drop a 202 table.

A scratch database gets the raw Prosper202 DDL first (as a real installation has it), then
`migrate`, `migrate attribution zero`, `migrate journeys zero` and `migrate` again run against it
in subprocesses; every 202 table definition must come out byte for byte identical.
"""
import pytest

from tests.scratch_database import ScratchDatabase
from tracker import schema


@pytest.fixture
def scratch(tmp_path):
    database = ScratchDatabase(tmp_path)
    yield database
    database.drop()


def migrate(scratch, *args):
    result = scratch.manage("migrate", *args, "--no-input", "-v", "1")
    assert result.returncode == 0, f"migrate {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.mark.slow
def test_migrate_forward_and_back_leaves_the_202_tables_identical(scratch):
    scratch.install_ddl()
    before = scratch.snapshot_202()
    assert len([name for name in before if "CREATE TABLE" in before[name].upper()]) == len(schema.TABLES)

    migrate(scratch)
    assert scratch.snapshot_202() == before, "migrate changed a 202 table"

    for app in ("attribution", "journeys"):
        migrate(scratch, app, "zero")
        assert scratch.snapshot_202() == before, f"migrate {app} zero changed a 202 table"

    migrate(scratch)
    assert scratch.snapshot_202() == before, "migrating forward again changed a 202 table"


@pytest.mark.slow
def test_migrate_on_an_empty_database_creates_no_202_table(scratch):
    migrate(scratch)
    assert scratch.snapshot_202() == {}
