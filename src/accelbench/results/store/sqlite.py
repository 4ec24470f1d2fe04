"""The SQLite engine of the results store (stdlib sqlite3): the only SQL in accelbench.

Tables (schema version in ``meta``, history of applied migrations in ``store_migrations``):

* ``records``: one row per BenchRecord; indexed columns to query by (run_id, model, backend,
  precision, status, ...), the whole record as JSON (``record_json``, stored fields only) and
  ``seq``, the insertion sequence that breaks timestamp ties (never SQLite's rowid).
* ``samples``: the raw latencies of a record as a little-endian int64 blob (8 bytes per query).
* ``run_summaries``: one RunSummary per four-stage run, as JSON.
* ``layer_times``: a record's per-layer times (``bench --layers``) as JSON, one row per record that has them.

Concurrency: several processes may write one file. Each write is one ``BEGIN IMMEDIATE``
transaction (the write lock is taken up front, so two writers never deadlock upgrading a read
lock); a writer waits up to ``BUSY_TIMEOUT_S`` for the lock, and a transaction that still meets
SQLITE_BUSY is rolled back and retried, ``WRITE_ATTEMPTS`` times at most, with a growing pause.

Read-only opening uses SQLite's ``mode=ro`` URI: the file is never written, and a store of an
older schema is read as it is (version 1 has no ``seq``: its rowid is the same insertion order,
and ``run_summaries`` may be absent; before version 3 there is no ``layer_times``). Writers migrate it.
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
from pathlib import Path
from typing import Callable, TypeVar

from accelbench.errors import UserError, one_line
from accelbench.results.records import BenchRecord, utc_now
from accelbench.results.store import (
    STORE_SCHEMA_VERSION,
    Migration,
    ResultStore,
    layer_times_to_json,
    record_to_json,
    records_from_rows,
    samples_to_blob,
    summary_or_none,
    summary_to_json,
)
from accelbench.results.summary import RunSummary

BUSY_TIMEOUT_S = 30.0
WRITE_ATTEMPTS = 6
_FIRST_PAUSE_S = 0.05
_LONGEST_PAUSE_S = 2.0

T = TypeVar("T")

MIGRATIONS = (
    Migration(1, "records, samples and meta", (
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        """CREATE TABLE records (
            record_id TEXT PRIMARY KEY,
            run_id TEXT NOT NULL,
            timestamp TEXT NOT NULL,
            record_schema_version INTEGER NOT NULL,
            status TEXT NOT NULL,
            model TEXT NOT NULL,
            resolution TEXT,
            batch INTEGER NOT NULL,
            backend TEXT NOT NULL,
            device TEXT NOT NULL,
            precision_requested TEXT NOT NULL,
            precision_executed TEXT,
            scenario TEXT NOT NULL,
            mode TEXT NOT NULL,
            record_json TEXT NOT NULL
        )""",
        "CREATE INDEX records_run ON records(run_id)",
        "CREATE INDEX records_model ON records(model, backend, precision_requested)",
        """CREATE TABLE samples (
            record_id TEXT PRIMARY KEY REFERENCES records(record_id) ON DELETE CASCADE,
            latency_ns BLOB NOT NULL
        )""",
    )),
    Migration(2, "run_summaries table; records.seq insertion order; migration history", (
        # Version-1 stores got this table lazily, on their first summary: it may exist already.
        """CREATE TABLE IF NOT EXISTS run_summaries (
            run_id TEXT PRIMARY KEY,
            created TEXT NOT NULL,
            schema_version INTEGER NOT NULL,
            summary_json TEXT NOT NULL
        )""",
        "CREATE INDEX run_summaries_created ON run_summaries(created)",
        "ALTER TABLE records ADD COLUMN seq INTEGER",
        "UPDATE records SET seq = rowid",  # version 1 broke timestamp ties by rowid: the same order
        "CREATE UNIQUE INDEX records_seq ON records(seq)",
        """CREATE TABLE store_migrations (
            version INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            applied_at TEXT NOT NULL
        )""",
    )),
    # A step of its own: the lead may renumber it against other branches' migrations.
    Migration(3, "layer_times table: per-layer times of records measured with --layers", (
        """CREATE TABLE layer_times (
            record_id TEXT PRIMARY KEY REFERENCES records(record_id) ON DELETE CASCADE,
            layer_times_json TEXT NOT NULL
        )""",
    )),
)

_RECORD_COLUMNS = ("record_id", "run_id", "timestamp", "record_schema_version", "status", "model", "resolution",
                   "batch", "backend", "device", "precision_requested", "precision_executed", "scenario", "mode",
                   "record_json")


def _primary_code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF  # extended codes carry the primary one in the low byte


def _is_busy(exc: sqlite3.Error) -> bool:
    return _primary_code(exc) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class SQLiteStore(ResultStore):
    """Records and run summaries in one SQLite file."""

    def __init__(self, path: str | os.PathLike, *, read_only: bool = False,
                 busy_timeout_s: float = BUSY_TIMEOUT_S):
        self.location = str(path)
        self.read_only = read_only
        self._busy_timeout_s = busy_timeout_s
        self._conn = self._connect()
        try:
            version = self._known_version(self._stored_version())
            if not read_only and version < STORE_SCHEMA_VERSION:
                self._write(self._migrate)
                version = STORE_SCHEMA_VERSION
            if version == 0:  # an empty file opened read-only (a writer has created the tables by now)
                raise self._not_a_store("it has no tables")
            # Readers of a version-1 store: rowid is its insertion order; run_summaries may be absent.
            self._order_column = "seq" if version >= 2 else "rowid"
            self._has_summaries = version >= 2 or "run_summaries" in self._tables()
            self._has_layer_times = version >= 3
        except BaseException:
            self._conn.close()
            raise

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

    def _not_a_store(self, why: str) -> UserError:
        return UserError(f"db: {self.location!r} is not an accelbench results store ({why});"
                         " give --db the file `accelbench run` or `bench` wrote, or a new file name")

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

    def _stored_version(self) -> int | None:
        """0 for a file with no tables (new or empty), None for a database that is not an accelbench store."""
        tables = self._tables()
        if not tables:
            return 0
        if "meta" not in tables:
            return None
        try:
            row = self._conn.execute("SELECT value FROM meta WHERE key = 'store_schema_version'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise self._not_a_store(f"its meta table cannot be read: {one_line(exc, 120)}") from None
        if row is None:
            return None
        if not str(row[0]).strip().isdigit():
            raise UserError(f"db: {self.location!r} holds an unreadable store schema version ({str(row[0])[:40]!r});"
                            " it is damaged or was not written by accelbench")
        return int(str(row[0]).strip())

    def _known_version(self, version: int | None) -> int:
        if version is None:
            shown = ", ".join(sorted(self._tables())[:5])
            raise self._not_a_store(f"it holds other tables: {shown}")
        if version > STORE_SCHEMA_VERSION:
            raise UserError(f"db: {self.location!r} has store schema {version}, newer than this accelbench"
                            f" knows ({STORE_SCHEMA_VERSION}); upgrade accelbench to use it")
        return version

    def _migrate(self, conn: sqlite3.Connection) -> None:
        # Read again under the write lock: another writer may have migrated since we looked.
        version = self._known_version(self._stored_version())
        pending = [m for m in MIGRATIONS if m.version > version]
        for migration in pending:
            for statement in migration.statements:
                conn.execute(statement)
        if pending:
            conn.execute("INSERT INTO meta (key, value) VALUES ('store_schema_version', ?)"
                         " ON CONFLICT (key) DO UPDATE SET value = excluded.value", (str(STORE_SCHEMA_VERSION),))
            applied_at = utc_now()
            conn.executemany("INSERT INTO store_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                             [(m.version, m.name, applied_at) for m in pending])

    def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` in one write transaction; retried from the start when the file stays locked."""
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

    def _read(self, sql: str, args: tuple | list = ()) -> list[tuple]:
        """A read's rows; a damaged file (a missing table or column, malformed pages) is a one-line UserError."""
        try:
            return self._conn.execute(sql, args).fetchall()
        except sqlite3.DatabaseError as exc:
            raise UserError(f"db: {self.location!r} cannot be read ({one_line(exc, 160)}); the file is damaged or"
                            " was changed by another program") from None

    def close(self) -> None:
        self._conn.close()

    # -- writing -------------------------------------------------------------------------------
    def save(self, record: BenchRecord) -> None:
        cfg = record.config
        row = (record.record_id, record.run_id, record.timestamp, record.schema_version, record.status,
               cfg.model, cfg.resolution, cfg.batch, cfg.backend, cfg.device, cfg.precision,
               record.precision_executed, cfg.scenario, cfg.mode, record_to_json(record))
        layers_json = layer_times_to_json(record)

        def insert(conn: sqlite3.Connection) -> None:
            conn.execute(f"INSERT INTO records ({', '.join(_RECORD_COLUMNS)}, seq)"
                         f" VALUES ({', '.join('?' * len(row))}, (SELECT COALESCE(MAX(seq), 0) + 1 FROM records))",
                         row)
            conn.execute("INSERT INTO samples (record_id, latency_ns) VALUES (?, ?)",
                         (record.record_id, samples_to_blob(record.latency_ns)))
            if layers_json is not None:
                conn.execute("INSERT INTO layer_times (record_id, layer_times_json) VALUES (?, ?)",
                             (record.record_id, layers_json))

        self._write(insert)

    def save_summary(self, summary: RunSummary) -> None:
        row = (summary.run_id, summary.created, summary.schema_version, summary_to_json(summary))
        self._write(lambda conn: conn.execute(
            "INSERT INTO run_summaries (run_id, created, schema_version, summary_json) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (run_id) DO UPDATE SET created = excluded.created,"
            " schema_version = excluded.schema_version, summary_json = excluded.summary_json", row))

    # -- reading -------------------------------------------------------------------------------
    def query(self, *, run_id: str | None = None, model: str | None = None, backend: str | None = None,
              precision: str | None = None, status: str | None = None,
              record_id: str | None = None) -> list[BenchRecord]:
        where, args = [], []
        for column, value in (("r.run_id", run_id), ("r.model", model), ("r.backend", backend),
                              ("r.precision_requested", precision), ("r.status", status),
                              ("r.record_id", record_id)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        sql = ("SELECT r.record_id, r.record_json, r.record_schema_version, s.latency_ns"
               + (", l.layer_times_json" if self._has_layer_times else ", NULL")
               + " FROM records r LEFT JOIN samples s ON s.record_id = r.record_id"
               + (" LEFT JOIN layer_times l ON l.record_id = r.record_id" if self._has_layer_times else ""))
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY r.timestamp, r.{self._order_column}"
        return records_from_rows(self._read(sql, args), self.location)

    def record_ids(self, id_or_prefix: str) -> tuple[str, ...]:
        exact = self._read("SELECT record_id FROM records WHERE record_id = ?", (id_or_prefix,))
        if exact:
            return (exact[0][0],)
        rows = self._read("SELECT record_id FROM records WHERE substr(record_id, 1, ?) = ?"
                          f" ORDER BY timestamp, {self._order_column}", (len(id_or_prefix), id_or_prefix))
        return tuple(r[0] for r in rows)

    def run_ids(self) -> list[str]:
        return [r[0] for r in self._read(
            f"SELECT run_id FROM records GROUP BY run_id ORDER BY MIN(timestamp), MIN({self._order_column})")]

    def load_summary(self, run_id: str) -> RunSummary | None:
        if not self._has_summaries:
            return None
        rows = self._read("SELECT summary_json FROM run_summaries WHERE run_id = ?", (run_id,))
        return summary_or_none(rows[0][0], run_id, self.location) if rows else None

    def newest_summary(self) -> tuple[str, str] | None:
        if not self._has_summaries:
            return None
        rows = self._read("SELECT created, run_id FROM run_summaries ORDER BY created DESC, run_id DESC LIMIT 1")
        return (rows[0][0], rows[0][1]) if rows else None

    def newest_record_run(self) -> tuple[str, str] | None:
        rows = self._read(f"SELECT MAX(timestamp) AS newest, run_id FROM records GROUP BY run_id"
                          f" ORDER BY newest DESC, MAX({self._order_column}) DESC LIMIT 1")
        return (rows[0][0], rows[0][1]) if rows else None

    def count(self) -> int:
        return self._read("SELECT COUNT(*) FROM records")[0][0]


ENGINE = SQLiteStore
