"""What the SQL engines share: the numbered migrations (built from each engine's dialect: the
samples' byte type and how ``records.seq`` is numbered), the queries, the inserts (a record's
samples and per-layer times beside it) and the sweeps ledger, written once with ``?`` placeholders that an engine rewrites to its own paramstyle.

An engine (sqlite.py, postgres.py) supplies only what differs: connecting, listing tables, the
write transaction (locking, retries), the records insert (how seq is numbered) and which
constraint a duplicate broke. Everything else here is portable SQL that both SQLite (3.24+) and
PostgreSQL run as it is.
"""

from __future__ import annotations

from abc import abstractmethod
from datetime import datetime, timezone
from typing import Callable, Iterable, Sequence, TypeVar

from accelbench.errors import UserError, one_line
from accelbench.results.records import BenchRecord, new_run_id, utc_now
from accelbench.results.store import (
    STORE_SCHEMA_VERSION,
    ConfigOutcome,
    DuplicateRecord,
    Migration,
    ResultStore,
    SweepEntry,
    layer_times_to_json,
    record_to_json,
    records_from_rows,
    samples_to_blob,
    summary_or_none,
    summary_to_json,
)
from accelbench.results.summary import RunSummary

T = TypeVar("T")

# The indexed columns of the records table, in the order record_row gives them (every engine).
RECORD_COLUMNS = ("record_id", "run_id", "timestamp", "record_schema_version", "status", "model", "resolution",
                  "batch", "backend", "device", "precision_requested", "precision_executed", "scenario", "mode",
                  "record_json", "config_hash")
SUMMARY_COLUMNS = ("run_id", "created", "schema_version", "summary_json")
SWEEP_COLUMNS = ("sweep_id", "plan_key", "name", "configs", "created", "finished")  # SweepEntry's fields, in order


def ledger_time() -> str:
    """UTC now to the microsecond: sweeps opened within one second still sort in opening order."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def record_row(record: BenchRecord, config_hash: str | None) -> tuple:
    """The values of RECORD_COLUMNS for one record."""
    cfg = record.config
    return (record.record_id, record.run_id, record.timestamp, record.schema_version, record.status,
            cfg.model, cfg.resolution, cfg.batch, cfg.backend, cfg.device, cfg.precision,
            record.precision_executed, cfg.scenario, cfg.mode, record_to_json(record), config_hash)


def summary_row(summary: RunSummary) -> tuple:
    """The values of SUMMARY_COLUMNS for one run summary."""
    return (summary.run_id, summary.created, summary.schema_version, summary_to_json(summary))


IN_BATCH = 500  # hashes per IN (...) list: SQLite caps the number of parameters of one statement


def migrations(*, bytes_type: str, seq_statements: tuple[str, ...]) -> tuple[Migration, ...]:
    """The numbered migrations of the store in one engine's dialect: ``bytes_type`` for the raw
    samples (BLOB, BYTEA), ``seq_statements`` to add the records.seq insertion order."""
    return (
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
            f"""CREATE TABLE samples (
                record_id TEXT PRIMARY KEY REFERENCES records(record_id) ON DELETE CASCADE,
                latency_ns {bytes_type} NOT NULL
            )""",
        )),
        Migration(2, "run_summaries table; records.seq insertion order; migration history", (
            # Version-1 SQLite stores got this table lazily, on their first summary: it may exist already.
            """CREATE TABLE IF NOT EXISTS run_summaries (
                run_id TEXT PRIMARY KEY,
                created TEXT NOT NULL,
                schema_version INTEGER NOT NULL,
                summary_json TEXT NOT NULL
            )""",
            "CREATE INDEX run_summaries_created ON run_summaries(created)",
            *seq_statements,
            "CREATE UNIQUE INDEX records_seq ON records(seq)",
            """CREATE TABLE store_migrations (
                version INTEGER PRIMARY KEY,
                name TEXT NOT NULL,
                applied_at TEXT NOT NULL
            )""",
        )),
        Migration(3, "layer_times table: per-layer times of records measured with --layers", (
            """CREATE TABLE layer_times (
                record_id TEXT PRIMARY KEY REFERENCES records(record_id) ON DELETE CASCADE,
                layer_times_json TEXT NOT NULL
            )""",
        )),
        Migration(4, "records.config_hash, unique per run; the sweeps ledger", (
            "ALTER TABLE records ADD COLUMN config_hash TEXT",
            # NULLs are distinct in a unique index: records without a hash (bench, run) never collide.
            "CREATE UNIQUE INDEX records_run_config ON records(run_id, config_hash)",
            "CREATE INDEX records_config_hash ON records(config_hash)",
            """CREATE TABLE sweeps (
                sweep_id TEXT PRIMARY KEY,
                plan_key TEXT NOT NULL,
                name TEXT NOT NULL,
                configs INTEGER NOT NULL,
                created TEXT NOT NULL,
                finished TEXT
            )""",
            "CREATE UNIQUE INDEX sweeps_unfinished ON sweeps(plan_key) WHERE finished IS NULL",
        )),
    )


UPSERT_SUMMARY = (f"INSERT INTO run_summaries ({', '.join(SUMMARY_COLUMNS)}) VALUES ({', '.join('?' * 4)})"
                  " ON CONFLICT (run_id) DO UPDATE SET created = excluded.created,"
                  " schema_version = excluded.schema_version, summary_json = excluded.summary_json")
INSERT_SUMMARY = UPSERT_SUMMARY.partition(" ON CONFLICT")[0]


class SqlStore(ResultStore):
    """The shared part of the SQL engines. Subclasses set ``_conn`` and call ``_open_schema``."""

    placeholder = "?"  # the engine's paramstyle for one parameter
    order_column = "seq"  # what breaks timestamp ties (SQLite reads rowid in version-1 stores)
    _has_summaries = True
    _has_layer_times = True
    _has_sweeps = True

    # -- what an engine supplies ---------------------------------------------------------------
    @abstractmethod
    def _tables(self) -> set[str]:
        """Names of the tables of the store (its schema)."""

    @abstractmethod
    def _write(self, work: Callable[..., T]) -> T:
        """Run ``work(conn)`` in one write transaction (RuntimeError when opened read-only)."""

    @abstractmethod
    def _migrations(self) -> tuple[Migration, ...]: ...

    @property
    @abstractmethod
    def _database_error(self) -> type[Exception]:
        """The driver's error for a statement the database cannot run (a damaged store, a missing
        table or column): reads turn it into one UserError line."""

    @abstractmethod
    def _insert_record_row(self, conn, row: tuple) -> None:
        """Insert RECORD_COLUMNS ``row`` (numbering seq); raise DuplicateRecord via ``_duplicate``."""

    def _lock_schema(self, conn) -> None:
        """Serialize migrations and sweep openings beyond what the write transaction does."""

    @property
    def _shown(self) -> str:
        """The location as messages show it."""
        return self.location

    def _sql(self, text: str) -> str:
        return text if self.placeholder == "?" else text.replace("?", self.placeholder)

    def _execute(self, conn, text: str, args: Sequence = ()):
        return conn.execute(self._sql(text), tuple(args))

    def _read(self, text: str, args: Sequence = ()) -> list[tuple]:
        """A read's rows; a damaged store (a missing table or column, malformed pages) is a one-line UserError."""
        try:
            return self._execute(self._conn, text, args).fetchall()
        except self._database_error as exc:
            raise UserError(f"db: {self._shown} cannot be read ({one_line(exc, 160)}); the store is damaged or"
                            " was changed by another program") from None

    # -- schema --------------------------------------------------------------------------------
    def _open_schema(self) -> None:
        """Check the stored version, migrate it when writing; note what an older schema lacks."""
        version = self._known_version(self._stored_version())
        if not self.read_only and version < STORE_SCHEMA_VERSION:
            self._write(self._migrate)
            version = STORE_SCHEMA_VERSION
        if version == 0:  # an empty store opened read-only (a writer has created the tables by now)
            raise self._not_a_store("it has no tables")
        if version < 2:  # SQLite version 1: rowid is its insertion order; run_summaries may be absent
            self.order_column = "rowid"
            self._has_summaries = "run_summaries" in self._tables()
        self._has_layer_times = version >= 3
        self._has_sweeps = version >= 4

    def _not_a_store(self, why: str) -> UserError:
        return UserError(f"db: {self._shown} is not an accelbench results store ({why}); give --db the store"
                         " `accelbench run` or `bench` wrote, or a new one")

    def _stored_version(self) -> int | None:
        """0 for a store with no tables (new or empty), None for a database that is not an accelbench store."""
        tables = self._tables()
        if not tables:
            return 0
        if "meta" not in tables:
            return None
        try:
            row = self._conn.execute("SELECT value FROM meta WHERE key = 'store_schema_version'").fetchone()
        except self._database_error as exc:
            raise self._not_a_store(f"its meta table cannot be read: {one_line(exc, 120)}") from None
        if row is None:
            return None
        if not str(row[0]).strip().isdigit():
            raise UserError(f"db: {self._shown} holds an unreadable store schema version ({str(row[0])[:40]!r});"
                            " it is damaged or was not written by accelbench")
        return int(str(row[0]).strip())

    def _known_version(self, version: int | None) -> int:
        if version is None:
            shown = ", ".join(sorted(self._tables())[:5])
            raise self._not_a_store(f"it holds other tables: {shown}")
        if version > STORE_SCHEMA_VERSION:
            raise UserError(f"db: {self._shown} has store schema {version}, newer than this accelbench"
                            f" knows ({STORE_SCHEMA_VERSION}); upgrade accelbench to use it")
        return version

    def _migrate(self, conn) -> None:
        self._lock_schema(conn)
        # Read again under the lock: another writer may have migrated since we looked.
        version = self._known_version(self._stored_version())
        pending = [m for m in self._migrations() if m.version > version]
        for migration in pending:
            for statement in migration.statements:
                conn.execute(statement)
        if pending:
            self._execute(conn, "INSERT INTO meta (key, value) VALUES ('store_schema_version', ?)"
                                " ON CONFLICT (key) DO UPDATE SET value = excluded.value", (str(STORE_SCHEMA_VERSION),))
            applied_at = utc_now()
            for m in pending:
                self._execute(conn, "INSERT INTO store_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                              (m.version, m.name, applied_at))

    def close(self) -> None:
        self._conn.close()

    # -- writing -------------------------------------------------------------------------------
    def save(self, record: BenchRecord, *, config_hash: str | None = None) -> None:
        self._write(lambda conn: self._insert_record(conn, record, config_hash))

    def save_many(self, records: Sequence[tuple[BenchRecord, str | None]],
                  summaries: Sequence[RunSummary] = ()) -> None:
        def insert_all(conn) -> None:
            for record, config_hash in records:
                self._insert_record(conn, record, config_hash)
            stored = {r for (r,) in conn.execute("SELECT run_id FROM run_summaries")} if summaries else set()
            for summary in summaries:
                if summary.run_id in stored:  # inside the write transaction: nobody adds one meanwhile
                    raise DuplicateRecord(f"db: {self._shown} already holds the summary of run {summary.run_id!r}")
                self._execute(conn, INSERT_SUMMARY, summary_row(summary))
                stored.add(summary.run_id)

        self._write(insert_all)

    def _insert_record(self, conn, record: BenchRecord, config_hash: str | None) -> None:
        self._insert_record_row(conn, record_row(record, config_hash))
        self._execute(conn, "INSERT INTO samples (record_id, latency_ns) VALUES (?, ?)",
                      (record.record_id, samples_to_blob(record.latency_ns)))
        layers_json = layer_times_to_json(record)
        if layers_json is not None:
            self._execute(conn, "INSERT INTO layer_times (record_id, layer_times_json) VALUES (?, ?)",
                          (record.record_id, layers_json))

    def _duplicate(self, row: tuple, constraint_text: str) -> DuplicateRecord:
        """The refusal of ``row`` (RECORD_COLUMNS values) whose insert broke a unique constraint."""
        record_id, run_id, config_hash = row[0], row[1], row[RECORD_COLUMNS.index("config_hash")]
        if "config_hash" in constraint_text or "records_run_config" in constraint_text:
            return DuplicateRecord(f"db: configuration {config_hash} already has a record in run {run_id!r}"
                                   f" of {self._shown}")
        return DuplicateRecord(f"db: record {record_id} (run {run_id!r}) is already in {self._shown}")

    def save_summary(self, summary: RunSummary) -> None:
        self._write(lambda conn: self._execute(conn, UPSERT_SUMMARY, summary_row(summary)))

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
        # Before version 3 there is no layer_times table: its column reads as NULL.
        sql = ("SELECT r.record_id, r.record_json, r.record_schema_version, s.latency_ns, "
               + ("l.layer_times_json" if self._has_layer_times else "NULL")
               + " FROM records r LEFT JOIN samples s ON s.record_id = r.record_id"
               + (" LEFT JOIN layer_times l ON l.record_id = r.record_id" if self._has_layer_times else ""))
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY r.timestamp, r.{self.order_column}"
        # Bad rows are skipped and named in a warning (records_from_rows): the rest is shown.
        return records_from_rows(((record_id, text, version, None if blob is None else bytes(blob), layers_json)
                                  for record_id, text, version, blob, layers_json in self._read(sql, args)),
                                 self.location)

    def record_ids(self, id_or_prefix: str) -> tuple[str, ...]:
        exact = self._read("SELECT record_id FROM records WHERE record_id = ?", (id_or_prefix,))
        if exact:
            return (exact[0][0],)
        rows = self._read("SELECT record_id FROM records WHERE substr(record_id, 1, ?) = ?"
                          f" ORDER BY timestamp, {self.order_column}", (len(id_or_prefix), id_or_prefix))
        return tuple(r[0] for r in rows)

    def run_ids(self) -> list[str]:
        return [r[0] for r in self._read(
            f"SELECT run_id FROM records GROUP BY run_id ORDER BY MIN(timestamp), MIN({self.order_column})")]

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
                          f" ORDER BY newest DESC, MAX({self.order_column}) DESC LIMIT 1")
        return (rows[0][0], rows[0][1]) if rows else None

    def count(self) -> int:
        return self._read("SELECT COUNT(*) FROM records")[0][0]

    # -- sweeps --------------------------------------------------------------------------------
    def config_outcomes(self, config_hashes: Iterable[str]) -> list[ConfigOutcome]:
        wanted = sorted(set(config_hashes))
        if not self._has_sweeps or not wanted:
            return []
        rows = []
        for start in range(0, len(wanted), IN_BATCH):
            chunk = wanted[start:start + IN_BATCH]
            rows += self._read("SELECT config_hash, run_id, record_id, status, timestamp, seq"
                               f" FROM records WHERE config_hash IN ({', '.join('?' * len(chunk))})", chunk)
        rows.sort(key=lambda r: (r[4], r[5]))
        return [ConfigOutcome(*row[:5]) for row in rows]

    def config_hashes(self, run_id: str) -> dict[str, str]:
        if not self._has_sweeps:
            return {}
        return dict(self._read("SELECT record_id, config_hash FROM records WHERE run_id = ? AND config_hash IS NOT NULL",
                               (run_id,)))

    def open_sweep(self, plan_key: str, name: str, configs: int) -> SweepEntry:
        def open_or_create(conn) -> SweepEntry:
            self._lock_schema(conn)  # two openers of one plan: the second finds the first's sweep
            row = self._execute(conn, f"SELECT {', '.join(SWEEP_COLUMNS)} FROM sweeps"
                                      " WHERE plan_key = ? AND finished IS NULL", (plan_key,)).fetchone()
            if row:
                return SweepEntry(*row, resumed=True)
            entry = SweepEntry(new_run_id(), plan_key, name, configs, ledger_time())
            self._execute(conn, "INSERT INTO sweeps (sweep_id, plan_key, name, configs, created) VALUES (?, ?, ?, ?, ?)",
                          (entry.sweep_id, plan_key, name, configs, entry.created))
            return entry

        return self._write(open_or_create)

    def finish_sweep(self, sweep_id: str) -> None:
        self._write(lambda conn: self._execute(conn, "UPDATE sweeps SET finished = ? WHERE sweep_id = ?",
                                               (ledger_time(), sweep_id)))

    def sweeps(self) -> list[SweepEntry]:
        if not self._has_sweeps:
            return []
        return [SweepEntry(*row) for row in self._read(
            f"SELECT {', '.join(SWEEP_COLUMNS)} FROM sweeps ORDER BY created, sweep_id")]
