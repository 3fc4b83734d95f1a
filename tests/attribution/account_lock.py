"""Hold an account's rebuild lock from outside the code under test, as a running rebuild would:
a second MariaDB connection's GET_LOCK, or on SQLite an flock of the lock file through another
open file (flock treats it as another holder, even in this process)."""
import fcntl
from contextlib import contextmanager

from django.db import connection

from attribution import store


@contextmanager
def holding_account_lock(account_id, sqlite_database=None):
    """`sqlite_database`: the database NAME the code under test uses (default: this process's)."""
    if connection.vendor == "mysql":
        import MySQLdb

        db = connection.settings_dict
        other = MySQLdb.connect(
            host=db["HOST"] or "127.0.0.1", port=int(db["PORT"] or 3306), user=db["USER"] or "root",
            password=db["PASSWORD"] or "", database=db["NAME"], autocommit=True,
        )
        try:
            cursor = other.cursor()
            cursor.execute("SELECT GET_LOCK(%s, 0)", [store._lock_name(account_id)])
            assert cursor.fetchone()[0] == 1, "the account's lock is already held"
            yield
        finally:
            other.close()  # the server releases the lock with the connection
        return
    path = store.lock_file_path(sqlite_database or connection.settings_dict["NAME"], account_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield
