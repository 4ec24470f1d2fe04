"""SQLite results store (stdlib sqlite3). Default ``./accelbench.db``; ``--db`` or ACCELBENCH_DB override.

Tables (schema version in ``meta``):

* ``records``: one row per BenchRecord; indexed columns to query by (run_id, model, backend,
  precision, status, ...) and the whole record as JSON (``record_json``, stored fields only).
* ``samples``: the raw latencies of a record as a little-endian int64 blob (8 bytes per query).

``save`` writes a record's two rows in one transaction: an interrupted or failing write leaves
neither row. A failed configuration is just a record with status "failed".
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import numpy as np

from accelbench.errors import UserError
from accelbench.results.records import SCHEMA_VERSION, BenchRecord

DEFAULT_DB = "accelbench.db"
DB_ENV = "ACCELBENCH_DB"
STORE_SCHEMA_VERSION = 1

_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
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
);
CREATE INDEX IF NOT EXISTS records_run ON records(run_id);
CREATE INDEX IF NOT EXISTS records_model ON records(model, backend, precision_requested);
CREATE TABLE IF NOT EXISTS samples (
    record_id TEXT PRIMARY KEY REFERENCES records(record_id) ON DELETE CASCADE,
    latency_ns BLOB NOT NULL
);
"""


def default_db_path() -> str:
    return os.environ.get(DB_ENV) or DEFAULT_DB


def samples_to_blob(latency_ns) -> bytes:
    """int64 little-endian; raises OverflowError for a value beyond int64 (never silently wraps)."""
    return np.asarray(list(latency_ns), dtype="<i8").tobytes()


def blob_to_samples(blob: bytes) -> tuple[int, ...]:
    return tuple(int(x) for x in np.frombuffer(blob, dtype="<i8"))


class ResultStore:
    """Records in one SQLite file. Use as a context manager or call close()."""

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = str(path or default_db_path())
        parent = Path(self.path).parent
        if not parent.exists():
            raise UserError(f"db: directory {str(parent)!r} does not exist; give --db a path in an existing folder")
        try:
            self._conn = sqlite3.connect(self.path, timeout=30)
            self._conn.execute("PRAGMA foreign_keys = ON")
            with self._conn:
                self._conn.executescript(_DDL)
                row = self._conn.execute("SELECT value FROM meta WHERE key = 'store_schema_version'").fetchone()
                if row is None:
                    self._conn.execute("INSERT INTO meta VALUES ('store_schema_version', ?)", (str(STORE_SCHEMA_VERSION),))
                elif int(row[0]) != STORE_SCHEMA_VERSION:
                    raise UserError(
                        f"db: {self.path!r} has store schema {row[0]}; this accelbench reads {STORE_SCHEMA_VERSION}"
                    )
        except sqlite3.DatabaseError as exc:
            raise UserError(f"db: {self.path!r} is not a usable SQLite database ({exc})") from None

    def __enter__(self) -> "ResultStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._conn.close()

    def save(self, record: BenchRecord) -> None:
        """Write the record and its samples in one transaction (all or nothing)."""
        cfg = record.config
        stored = record.to_dict(include_samples=False)
        derived_keys = set(stored) - set(BenchRecord.STORED) - {"config", "power_w", "power_source",
                                                                "idle_power_w", "power_detail"}
        for key in derived_keys:
            stored.pop(key, None)
        with self._conn:  # BEGIN ... COMMIT, or ROLLBACK on any exception
            self._conn.execute(
                "INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (record.record_id, record.run_id, record.timestamp, record.schema_version, record.status,
                 cfg.model, cfg.resolution, cfg.batch, cfg.backend, cfg.device, cfg.precision,
                 record.precision_executed, cfg.scenario, cfg.mode, json.dumps(stored)),
            )
            self._conn.execute("INSERT INTO samples VALUES (?, ?)",
                               (record.record_id, samples_to_blob(record.latency_ns)))

    def query(self, *, run_id: str | None = None, model: str | None = None, backend: str | None = None,
              precision: str | None = None, status: str | None = None) -> list[BenchRecord]:
        """Records matching every given filter, oldest first."""
        where, args = [], []
        for column, value in (("r.run_id", run_id), ("r.model", model), ("r.backend", backend),
                              ("r.precision_requested", precision), ("r.status", status)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        sql = ("SELECT r.record_json, r.record_schema_version, s.latency_ns FROM records r "
               "LEFT JOIN samples s ON s.record_id = r.record_id")
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY r.timestamp, r.rowid"
        out = []
        for record_json, version, blob in self._conn.execute(sql, args):
            if version != SCHEMA_VERSION:
                raise UserError(f"db: record schema {version} is not readable by this accelbench (reads {SCHEMA_VERSION})")
            data = json.loads(record_json)
            data["latency_ns"] = blob_to_samples(blob) if blob is not None else ()
            out.append(BenchRecord.from_dict(data))
        return out

    def run_ids(self) -> list[str]:
        return [r[0] for r in self._conn.execute(
            "SELECT run_id FROM records GROUP BY run_id ORDER BY MIN(timestamp), MIN(rowid)")]

    def count(self) -> int:
        return self._conn.execute("SELECT COUNT(*) FROM records").fetchone()[0]
