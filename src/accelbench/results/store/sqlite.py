"""The SQLite engine of the results store (stdlib sqlite3). The SQL it shares with the other
engines lives in results/store/sql.py; what is SQLite's own is here.

Tables (schema version in ``meta``, history of applied migrations in ``store_migrations``):

* ``records``: one row per BenchRecord; indexed columns to query by (run_id, model, backend,
  precision, status, ...), the whole record as JSON (``record_json``, stored fields only) and
  ``seq``, the insertion sequence that breaks timestamp ties (never SQLite's rowid).
* ``samples``: the raw latencies of a record as a little-endian int64 blob (8 bytes per query).
* ``run_summaries``: one RunSummary per four-stage run, as JSON.
* ``layer_times``: a record's per-layer times (``bench --layers``) as JSON, one row per record that has them.
* ``sweeps``: the sweeps ledger (accelbench/sweep); ``records.config_hash`` ties a sweep's record
  to its configuration, unique per run (index ``records_run_config``).

Concurrency: several processes may write one file. Each write is one ``BEGIN IMMEDIATE``
transaction (the write lock is taken up front, so two writers never deadlock upgrading a read
lock); a writer waits up to ``BUSY_TIMEOUT_S`` for the lock, and a transaction that still meets
SQLITE_BUSY is rolled back and retried, ``WRITE_ATTEMPTS`` times at most, with a growing pause.

Read-only opening uses SQLite's ``mode=ro`` URI: the file is never written, and a store of an
older schema is read as it is (version 1 has no ``seq``: its rowid is the same insertion order,
and ``run_summaries`` may be absent; before version 3 there is no ``layer_times``, before version
4 no ``config_hash`` and no ``sweeps``). Writers migrate it.
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
from pathlib import Path
from typing import Callable, TypeVar

from accelbench.errors import UserError
from accelbench.results.store import Migration
from accelbench.results.store.sql import RECORD_COLUMNS, SqlStore, migrations

BUSY_TIMEOUT_S = 30.0
WRITE_ATTEMPTS = 6
_FIRST_PAUSE_S = 0.05
_LONGEST_PAUSE_S = 2.0

T = TypeVar("T")

MIGRATIONS = migrations(bytes_type="BLOB", seq_statements=(
    "ALTER TABLE records ADD COLUMN seq INTEGER",
    "UPDATE records SET seq = rowid",  # version 1 broke timestamp ties by rowid: the same order
))


def _primary_code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF  # extended codes carry the primary one in the low byte


def _is_busy(exc: sqlite3.Error) -> bool:
    return _primary_code(exc) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class SQLiteStore(SqlStore):
    """Records and run summaries in one SQLite file."""

    def __init__(self, path: str | os.PathLike, *, read_only: bool = False,
                 busy_timeout_s: float = BUSY_TIMEOUT_S):
        self.location = str(path)
        self.read_only = read_only
        self._busy_timeout_s = busy_timeout_s
        self._conn = self._connect()
        try:
            self._open_schema()
        except BaseException:
            self._conn.close()
            raise

    @property
    def _shown(self) -> str:
        return repr(self.location)

    def _migrations(self) -> tuple[Migration, ...]:
        return MIGRATIONS

    @property
    def _database_error(self) -> type[Exception]:
        return sqlite3.DatabaseError

    # -- opening -------------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        path = self.location
        if self.read_only:
            if not os.path.exists(path):
                raise UserError(f"db: {path!r} does not exist; give --db the file `accelbench run` or `bench` wrote")
            target, uri = Path(path).absolute().as_uri() + "?mode=ro", True
        else:
            parent = Path(path).parent
            if not parent.exists():
                raise UserError(f"db: directory {str(parent)!r} does not exist; give --db a path in an existing folder")
            target, uri = path, False
        try:
            # isolation_level=None: this class issues BEGIN/COMMIT itself (BEGIN IMMEDIATE for writes).
            conn = sqlite3.connect(target, uri=uri, timeout=self._busy_timeout_s, isolation_level=None)
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            raise UserError(f"db: {path!r} cannot be opened as a results store ({exc})") from None
        return conn

    def _tables(self) -> set[str]:
        try:
            return {name for (name,) in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as exc:
            if self.read_only and _primary_code(exc) == sqlite3.SQLITE_READONLY:
                # A hot journal: a writer stopped mid-transaction and only a writer may roll it back.
                raise UserError(f"db: {self.location!r} holds the unfinished write of a process that stopped;"
                                " run `accelbench bench` or `accelbench run` with this --db once to roll it back,"
                                " then read it") from None
            raise self._not_a_store(str(exc)) from None  # e.g. "file is not a database"

    def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` in one write transaction; retried from the start when the file stays locked.
        BEGIN IMMEDIATE takes the write lock up front, which also serializes migrations and sweep openings."""
        if self.read_only:
            raise RuntimeError(f"results store {self.location!r} was opened read-only")
        pause = _FIRST_PAUSE_S
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    result = work(self._conn)
                    self._conn.execute("COMMIT")
                except BaseException:
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
                    raise
                return result
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
            if attempt < WRITE_ATTEMPTS:
                time.sleep(pause * (1 + random.random()))  # jitter: writers that collided do not retry in step
                pause = min(pause * 2, _LONGEST_PAUSE_S)
        raise UserError(f"db: {self.location!r} stayed locked by other processes through {WRITE_ATTEMPTS} attempts"
                        f" of {self._busy_timeout_s:g} s each; try again when they have finished")

    def _insert_record_row(self, conn: sqlite3.Connection, row: tuple) -> None:
        try:
            # seq under the write lock: the next number, gapless
            conn.execute(f"INSERT INTO records ({', '.join(RECORD_COLUMNS)}, seq)"
                         f" VALUES ({', '.join('?' * len(row))}, (SELECT COALESCE(MAX(seq), 0) + 1 FROM records))",
                         row)
        except sqlite3.IntegrityError as exc:
            raise self._duplicate(row, str(exc)) from None


ENGINE = SQLiteStore
