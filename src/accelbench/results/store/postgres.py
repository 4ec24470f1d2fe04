"""The PostgreSQL engine of the results store (psycopg 3, the ``postgres`` extra).

``--db postgresql://USER@HOST[:PORT]/DB`` (or ``postgres://``, or ``$ACCELBENCH_DB``): the same
tables, the same numbered migrations (versions and names) as the SQLite engine, in PostgreSQL's
dialect: ``BYTEA`` samples, ``records.seq`` from a sequence. The database must exist (``createdb``);
a writer creates the tables in it and migrates them. Passwords are best kept out of the URL
(``~/.pgpass`` or ``$PGPASSWORD``); messages never show one.

Concurrency: each write is one transaction (READ COMMITTED). Unique constraints, not
check-then-insert, keep a record (and a sweep configuration per run) from being stored twice
when writers race: the loser gets DuplicateRecord. Migrations hold a transaction-level advisory
lock, so two writers opening a new database at once migrate it once. Serialization failures and
deadlocks are retried, ``WRITE_ATTEMPTS`` times at most.

Readers open a session with ``default_transaction_read_only``: they never create, migrate or
change anything, and read a store of an older schema as it is.
"""

from __future__ import annotations

import random
import time
from typing import Callable, TypeVar

from accelbench.errors import UserError
from accelbench.results.store import DuplicateRecord, Migration, display_url
from accelbench.results.store.sql import RECORD_COLUMNS, SqlStore, migrations

CONNECT_TIMEOUT_S = 10
WRITE_ATTEMPTS = 6
_FIRST_PAUSE_S = 0.05
_LONGEST_PAUSE_S = 2.0
_SCHEMA_LOCK = 0x6163_6365_6C62  # "accelb": the advisory lock of migrations and sweep openings

T = TypeVar("T")

MIGRATIONS = migrations(bytes_type="BYTEA", seq_statements=(
    # A sequence, not MAX(seq) + 1: concurrent writers never wait on each other for a number.
    "CREATE SEQUENCE records_seq_order",
    "ALTER TABLE records ADD COLUMN seq BIGINT DEFAULT nextval('records_seq_order')",
    "ALTER SEQUENCE records_seq_order OWNED BY records.seq",
))


def _psycopg():
    try:
        import psycopg
    except ImportError:
        raise UserError("db: a postgresql:// store needs psycopg 3; install it with"
                        " pip install 'accelbench[postgres]'") from None
    return psycopg


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class PostgresStore(SqlStore):
    """Records and run summaries in one PostgreSQL database."""

    placeholder = "%s"

    def __init__(self, url: str, *, read_only: bool = False):
        psycopg = _psycopg()
        self._errors = psycopg.errors
        self.location = display_url(url)
        self.read_only = read_only
        try:
            self._conn = psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
        except psycopg.Error as exc:
            raise UserError(f"db: cannot connect to {self.location} ({_first_line(exc)}); the database must exist"
                            " (createdb NAME) and the server accept this user") from None
        try:
            if read_only:
                self._conn.execute("SET default_transaction_read_only = on")
            self._open_schema()
        except BaseException:
            self._conn.close()
            raise

    def _migrations(self) -> tuple[Migration, ...]:
        return MIGRATIONS

    @property
    def _database_error(self) -> type[Exception]:
        return self._errors.DatabaseError

    def _tables(self) -> set[str]:
        return {name for (name,) in self._conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")}

    def _lock_schema(self, conn) -> None:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))

    def _write(self, work: Callable[..., T]) -> T:
        """Run ``work`` in one transaction; retried from the start after a serialization failure."""
        if self.read_only:
            raise RuntimeError(f"results store {self.location} was opened read-only")
        transient = (self._errors.SerializationFailure, self._errors.DeadlockDetected)
        pause = _FIRST_PAUSE_S
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                with self._conn.transaction():
                    return work(self._conn)
            except transient:
                if attempt == WRITE_ATTEMPTS:
                    break
            except self._errors.UniqueViolation as exc:  # a racing writer stored the same thing first
                raise DuplicateRecord(f"db: {self.location} already holds it ({_first_line(exc)})") from None
            time.sleep(pause * (1 + random.random()))
            pause = min(pause * 2, _LONGEST_PAUSE_S)
        raise UserError(f"db: {self.location} kept refusing the write through {WRITE_ATTEMPTS} attempts"
                        " (concurrent transactions); try again")

    def _insert_record_row(self, conn, row: tuple) -> None:
        try:
            with conn.transaction():  # a savepoint, so that the refusal is worded here
                conn.execute(f"INSERT INTO records ({', '.join(RECORD_COLUMNS)})"
                             f" VALUES ({', '.join(['%s'] * len(row))})", row)
        except self._errors.UniqueViolation as exc:
            raise self._duplicate(row, exc.diag.constraint_name or "") from None


ENGINE = PostgresStore
