"""The write limit of a benchmark run, and the conditions every figure is taken under.

The write limit is how fast this server takes exactly the rows the run wrote: they are written
again into empty scratch copies of their tables (`CREATE TABLE ... LIKE`), grouped into the
run's own transactions, three ways, each twice in turns (the machine is shared, so every method
gets two chances at a quiet moment):

- `executemany`: mysqlclient's executemany of `INSERT ... VALUES (%s, ...)`, 2,000 rows a
  call (the driver escapes every value and rewrites the calls into multi-row statements);
- `formatted`: `tracker.sql.insert_numeric_rows` itself, multi-row INSERTs of pre-formatted
  numbers (a table whose rows hold text, such as journey summaries' paths, is written the way
  production writes it: `tracker.sql.insert_rows`, multi-row INSERTs with parameters);
- `load_data`: `tracker.sql.load_data_rows`, one `LOAD DATA LOCAL INFILE` of a tab-separated
  file per table and transaction (needs `local_infile` on the server and on the connection;
  reported as unavailable otherwise).

`insert_numeric_rows`, the writer of journeys and snapshots, is `load_data` from
`LOAD_DATA_MIN_ROWS` rows on (when allowed) and `formatted` below.

The limit is the best rate of the three; a run's ratio is its own rows/s over that limit. All
three use one MySQLdb connection of their own, opened with `local_infile=1`. Before each write,
InnoDB gets up to 30 s to flush the previous one's pages.
"""
import os
import sys
import tempfile
import time
from pathlib import Path

from tracker import sql

EXECUTEMANY_ROWS = 2000


def use_benchmark_settings():
    """Django settings of a benchmark process, unless the environment says otherwise: DEBUG off
    (as in production, and no query log), a throwaway key, the local-memory cache."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "attribution_site.settings")
    os.environ.setdefault("DEBUG", "0")
    os.environ.setdefault("SECRET_KEY", "benchmark-only-" + "x" * 50)
    os.environ["CACHE_URL"] = "locmemcache://"

METHODS = ("executemany", "formatted", "load_data")
ROUNDS = 2


def load_average():
    return "{:.1f} / {:.1f} / {:.1f}".format(*os.getloadavg())


def reset_peak_rss():
    """Forget this process's peak so far (Linux: writing 5 to clear_refs resets VmHWM)."""
    Path("/proc/self/clear_refs").write_text("5")


def peak_rss_mb():
    """Peak resident memory since reset_peak_rss (VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def buffer_pool_mb(cursor, size_mb=None):
    """The InnoDB buffer pool size in MiB; with `size_mb`, SET GLOBAL it first and wait (up to
    10 minutes) for the online resize to finish."""
    if size_mb is not None:
        cursor.execute(f"SET GLOBAL innodb_buffer_pool_size = {int(size_mb) * 1024 * 1024}")
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            cursor.execute("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_resize_status'")
            row = cursor.fetchone()
            if not row or not row[1] or "omplete" in row[1]:
                break
            time.sleep(1)
    cursor.execute("SELECT @@innodb_buffer_pool_size")
    return cursor.fetchone()[0] // (1024 * 1024)


def wait_for_quiet_innodb(cursor, *, dirty_share=0.1, timeout=30):
    """Wait (up to `timeout` s) until InnoDB has flushed all but `dirty_share` of its buffer pool,
    so that a measured write pays less for the previous one's pages (a 128 MiB pool fills fast;
    other databases on the server keep some pages dirty). Returns the seconds waited."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        cursor.execute("SHOW GLOBAL STATUS WHERE Variable_name IN "
                       "('Innodb_buffer_pool_pages_dirty', 'Innodb_buffer_pool_pages_total')")
        status = {name: int(value) for name, value in cursor.fetchall()}
        if status["Innodb_buffer_pool_pages_dirty"] <= dirty_share * status["Innodb_buffer_pool_pages_total"]:
            break
        time.sleep(1)
    return time.monotonic() - began


def ensure_database(database_url):
    """Create the benchmark database of `database_url` when it is missing (MySQL/MariaDB only;
    the benchmarks wipe its 202 tables, so its name must contain "bench")."""
    import environ
    import MySQLdb

    config = environ.Env.db_url_config(database_url)
    if not config["ENGINE"].endswith("mysql"):
        sys.exit("The benchmarks run on MySQL/MariaDB: set DATABASE_URL=mysql://.../bench_...")
    if "bench" not in config["NAME"]:
        sys.exit(f"Refusing to wipe database {config['NAME']!r}: its name must contain 'bench'.")
    server = MySQLdb.connect(
        host=config.get("HOST") or "127.0.0.1", port=int(config.get("PORT") or 3306),
        user=config.get("USER") or "root", password=config.get("PASSWORD") or "", autocommit=True,
    )
    server.cursor().execute(
        f"CREATE DATABASE IF NOT EXISTS `{config['NAME']}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
    )
    server.close()


def raw_connection(settings_dict):
    """A MySQLdb connection to the benchmark database that may use LOAD DATA LOCAL INFILE."""
    import MySQLdb

    return MySQLdb.connect(
        host=settings_dict.get("HOST") or "127.0.0.1", port=int(settings_dict.get("PORT") or 3306),
        user=settings_dict.get("USER") or "root", password=settings_dict.get("PASSWORD") or "",
        database=settings_dict["NAME"], charset="utf8mb4", local_infile=1, autocommit=False,
    )


def _executemany(cursor, table, columns, rows):
    statement = f"INSERT INTO `{table}` ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
    for chunk in sql.chunks(rows, EXECUTEMANY_ROWS):
        cursor.executemany(statement, chunk)


def _formatted(cursor, table, columns, rows):
    """Production's INSERT path (it quotes the name through Django's MySQL connection)."""
    sql.insert_formatted_rows(cursor, table, columns, rows)


def _needs_no_escaping(row):
    try:
        return all(map(sql._literal, row))
    except TypeError:
        return False


def _load_data(cursor, table, columns, rows):
    """Production's LOAD DATA path."""
    if not sql.load_data_rows(cursor, table, columns, rows):
        raise RuntimeError("LOAD DATA LOCAL INFILE refused (local_infile off)")


WRITERS = {"executemany": _executemany, "formatted": _formatted, "load_data": _load_data}


def _parameters(cursor, table, columns, rows):
    """Production's writer of rows holding text (journey summaries' paths)."""
    sql.insert_rows(cursor, table, columns, rows)


def _escaped(value):
    if value is None:
        return "\\N"
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def _load_text_data(cursor, table, columns, rows):
    """LOAD DATA of rows holding text, escaped as LOAD DATA's defaults expect."""
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".tsv") as handle:
        handle.write("".join("\t".join(map(_escaped, row)) + "\n" for row in rows))
        handle.flush()
        cursor.execute(f"LOAD DATA LOCAL INFILE %s INTO TABLE `{table}` CHARACTER SET utf8mb4 ({', '.join(columns)})",
                       [handle.name])


# How tables whose rows hold text are written by each method.
TEXT_WRITERS = {"executemany": _executemany, "formatted": _parameters, "load_data": _load_text_data}


def measure(settings_dict, tables, transactions):
    """{method: best seconds, or None when unavailable} for writing `transactions` into scratch
    copies of `tables` ((table, columns) pairs); a transaction holds one list of rows per table."""
    connection = raw_connection(settings_dict)
    cursor = connection.cursor()
    scratch = {table: f"bench_scratch_{table}"[:64] for table, _ in tables}
    text_tables = {
        table for index, (table, _) in enumerate(tables)
        if not all(_needs_no_escaping(row) for transaction in transactions for row in transaction[index])
    }
    best = dict.fromkeys(METHODS)
    try:
        for _ in range(ROUNDS):
            for method in METHODS:
                for table, copy in scratch.items():
                    cursor.execute(f"DROP TABLE IF EXISTS `{copy}`")
                    cursor.execute(f"CREATE TABLE `{copy}` LIKE `{table}`")
                wait_for_quiet_innodb(cursor)
                began = time.perf_counter()
                try:
                    for transaction in transactions:
                        for (table, columns), rows in zip(tables, transaction):
                            writers = TEXT_WRITERS if table in text_tables else WRITERS
                            writers[method](cursor, scratch[table], columns, rows)
                        connection.commit()
                except Exception as error:  # only LOAD DATA may be refused (local_infile off)
                    if method != "load_data":
                        raise
                    connection.rollback()
                    print(f"load_data unavailable: {error}")
                    continue
                seconds = time.perf_counter() - began
                if best[method] is None or seconds < best[method]:
                    best[method] = seconds
    finally:
        for copy in scratch.values():
            cursor.execute(f"DROP TABLE IF EXISTS `{copy}`")
        connection.close()
    return best


def rates(best, rows):
    """({method: rows/s} of the available methods, the limit: the best of them)."""
    per_method = {method: rows / seconds for method, seconds in best.items() if seconds}
    return per_method, max(per_method.values())
