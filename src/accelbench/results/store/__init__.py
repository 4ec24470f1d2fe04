"""The results store: where records and run summaries live, behind one interface.

``open_store(url_or_path, read_only=...)`` picks the engine by URL scheme and returns a
``ResultStore``; callers never see SQL. A plain path or ``sqlite:///PATH`` is a SQLite file
(``results/store/sqlite.py``); ``postgresql://`` or ``postgres://`` a PostgreSQL database
(``results/store/postgres.py``, the ``postgres`` extra). The SQL both engines share is in
``results/store/sql.py``; no module outside this package holds SQL. Default: ``./accelbench.db``,
or ``$ACCELBENCH_DB``. Adding an engine is one module implementing ``ResultStore`` (usually through
``sql.SqlStore``) plus its scheme in ``ENGINE_MODULES``; no caller changes.

What every engine keeps:

* each record with its raw latency samples, written in one transaction (all or nothing), and its
  per-layer times (``BenchRecord.layer_times``, from ``bench --layers``) beside it, as samples are:
  kept out of the record's own JSON so that listing records never parses them;
* each four-stage run's RunSummary (one per run id; saving again replaces it);
* an explicit insertion sequence, so that "oldest first" means the same on every engine
  (timestamp, then insertion order);
* the store schema version (``STORE_SCHEMA_VERSION``), raised by numbered migrations that the
  engine applies in order, in one transaction, when a *writer* opens an older store. Readers
  never create, migrate or modify anything; a store newer than this accelbench is refused
  untouched;
* for sweeps (accelbench/sweep): each record's configuration hash, unique per run, so that a
  configuration is recorded at most once in a sweep however many executors race on it or
  however often the sweep is killed and resumed (a unique index, never check-then-insert);
  and the sweeps ledger, at most one unfinished sweep per plan (the one a resume continues).

Every engine implements the same numbered migrations (same versions and names; the SQL dialect
stays inside the engine), so a store moves between engines through export/merge unchanged.

Bad content in a valid store (invalid record JSON, a missing field, a samples blob that is not
whole int64s, a negative sample, a record schema this accelbench does not read, an unreadable run
summary) never fails a whole read: the shared SQL path (sql.py, so every engine) hands its rows
to ``records_from_rows``, which skips the bad ones and warns once per read
(``errors.AccelbenchWarning``, printed by the CLI as one ``warning:`` line) with their record ids
and why; unreadable per-layer times cost only the layer times. The rest is shown.

Samples are stored as little-endian int64 bytes (8 per query) on every engine.
"""

from __future__ import annotations

import importlib
import json
import os
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from accelbench.errors import AccelbenchWarning, UserError, one_line
from accelbench.results import default_db_path
from accelbench.results.records import SCHEMA_VERSION, BenchRecord
from accelbench.results.summary import RunSummary

# Version 1: records, samples, meta. Version 2: run_summaries, records.seq, store_migrations.
# Version 3: layer_times (per-layer times of records measured with --layers).
# Version 4: records.config_hash (unique per run) and the sweeps ledger.
STORE_SCHEMA_VERSION = 4


class DuplicateRecord(UserError):
    """A record the store already holds: the same record id, or a second record of one
    configuration (config hash) in one run. Nothing of the refused write was stored."""


@dataclass(frozen=True)
class ConfigOutcome:
    """A stored record of a hashed configuration (a sweep's), without its measurement."""

    config_hash: str
    run_id: str
    record_id: str
    status: str  # ok | failed
    timestamp: str


@dataclass(frozen=True)
class SweepEntry:
    """One sweep in the ledger. ``sweep_id`` is also the run id of its records."""

    sweep_id: str
    plan_key: str  # the plan's configurations and options, hashed: a resume finds its sweep by it
    name: str
    configs: int
    created: str
    finished: str | None = None
    resumed: bool = False  # open_sweep only: an unfinished sweep of this plan was continued



@dataclass(frozen=True)
class Migration:
    """One numbered step of an engine's schema: applied once, in order, by a writer."""

    version: int  # the store schema version once this step has run
    name: str  # what it changes, recorded in the store's migration history
    statements: tuple[str, ...]


# URL scheme -> the module of its engine, which defines ENGINE (a ResultStore subclass).
ENGINE_MODULES = {"sqlite": "accelbench.results.store.sqlite",
                  "postgresql": "accelbench.results.store.postgres",
                  "postgres": "accelbench.results.store.postgres"}


def samples_to_blob(latency_ns) -> bytes:
    """int64 little-endian; raises OverflowError for a value beyond int64 (never silently wraps)."""
    return np.asarray(list(latency_ns), dtype="<i8").tobytes()


def blob_to_samples(blob: bytes) -> tuple[int, ...]:
    """The int64 samples of a blob; ValueError for one that is not whole 8-byte values."""
    if len(blob) % 8:
        raise ValueError(f"samples blob of {len(blob)} bytes is not a whole number of int64 values")
    return tuple(int(x) for x in np.frombuffer(blob, dtype="<i8"))


def record_to_json(record: BenchRecord) -> str:
    """The record's stored fields as JSON (no samples, no derived figures: those are recomputed on read)."""
    stored = record.to_dict(include_samples=False)
    derived_keys = set(stored) - set(BenchRecord.STORED) - {"config", "power_w", "power_source",
                                                            "idle_power_w", "power_detail"}
    for key in derived_keys:
        stored.pop(key, None)
    return json.dumps(stored)


def record_from_json(record_json: str, record_schema_version: int, samples_blob: bytes | None,
                     layer_times_json: str | None = None) -> BenchRecord:
    if record_schema_version != SCHEMA_VERSION:
        raise UserError(f"db: record schema {record_schema_version} is not readable by this accelbench"
                        f" (reads {SCHEMA_VERSION})")
    data = json.loads(record_json)
    data["latency_ns"] = blob_to_samples(samples_blob) if samples_blob is not None else ()
    data["layer_times"] = json.loads(layer_times_json) if layer_times_json else None
    return BenchRecord.from_dict(data)


def records_from_rows(rows: Iterable[tuple], location: str) -> list[BenchRecord]:
    """BenchRecords from an engine's rows of (record_id, record_json, record_schema_version,
    samples_blob, layer_times_json or None), in order. A row that cannot be read is left out and
    named in one AccelbenchWarning; a row whose per-layer times alone cannot be read keeps the rest."""
    records: list[BenchRecord] = []
    skipped: list[str] = []
    without_layers: list[str] = []
    for record_id, record_json, version, blob, layers_json in rows:
        try:
            records.append(record_from_json(record_json, version, blob, layers_json))
            continue
        except KeyError as exc:  # from_dict of a record without a required field
            reason = f"missing field {exc.args[0]!r}" if exc.args else "a missing field"
        except Exception as exc:  # noqa: BLE001 - any damage in one row costs that row only
            reason = one_line(exc, 120)
        if layers_json is not None:
            try:
                records.append(record_from_json(record_json, version, blob, None))
                without_layers.append(f"{record_id} ({reason})")
                continue
            except Exception:  # noqa: BLE001
                pass
        skipped.append(f"{record_id} ({reason})")
    if skipped:
        warnings.warn(f"db: {location}: skipped {len(skipped)} unreadable record(s), showing the rest: "
                      + "; ".join(skipped[:10]) + (f"; and {len(skipped) - 10} more" if len(skipped) > 10 else ""),
                      AccelbenchWarning, stacklevel=3)
    if without_layers:
        warnings.warn(f"db: {location}: per-layer times of {len(without_layers)} record(s) are unreadable and left "
                      f"out: " + "; ".join(without_layers[:10]), AccelbenchWarning, stacklevel=3)
    return records


def summary_or_none(summary_json: str, run_id: str, location: str) -> RunSummary | None:
    """The stored summary of ``run_id``, or None (with an AccelbenchWarning) when it cannot be read."""
    try:
        return summary_from_json(summary_json)
    except Exception as exc:  # noqa: BLE001 - the run's records are still shown
        warnings.warn(f"db: {location}: the four-stage summary of run {run_id} is unreadable ({one_line(exc, 120)});"
                      " showing its records only", AccelbenchWarning, stacklevel=3)
        return None


def layer_times_to_json(record: BenchRecord) -> str | None:
    """The record's per-layer times as JSON (stored apart from the record); None when it has none."""
    return None if record.layer_times is None else json.dumps(record.layer_times.to_dict())


def summary_to_json(summary: RunSummary) -> str:
    return json.dumps(summary.to_dict(), default=str)


def summary_from_json(summary_json: str) -> RunSummary:
    return RunSummary.from_dict(json.loads(summary_json))


class ResultStore(ABC):
    """Records and run summaries in one store. Use as a context manager or call close().

    ``location`` names the store in messages (a file path, or a URL without its password).
    A store opened read-only raises on any write.
    """

    location: str
    read_only: bool

    def __enter__(self) -> "ResultStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- writing -------------------------------------------------------------------------------
    @abstractmethod
    def save(self, record: BenchRecord, *, config_hash: str | None = None) -> None:
        """Write the record and its samples in one transaction (all or nothing). With
        ``config_hash`` (a sweep's configuration), a second record of that hash in the same run is
        refused; so is a record id already stored: DuplicateRecord, and nothing is written."""

    @abstractmethod
    def save_many(self, records: Sequence[tuple[BenchRecord, str | None]],
                  summaries: Sequence[RunSummary] = ()) -> None:
        """(record, config hash or None) pairs and run summaries in ONE transaction: all stored, or
        none (DuplicateRecord for a record or a summary's run the store already holds)."""

    @abstractmethod
    def save_summary(self, summary: RunSummary) -> None:
        """Insert the summary of one run, or replace the one stored under the same run id."""

    # -- reading -------------------------------------------------------------------------------
    @abstractmethod
    def query(self, *, run_id: str | None = None, model: str | None = None, backend: str | None = None,
              precision: str | None = None, status: str | None = None,
              record_id: str | None = None) -> list[BenchRecord]:
        """Records matching every given filter, oldest first (timestamp, then insertion order)."""

    @abstractmethod
    def record_ids(self, id_or_prefix: str) -> tuple[str, ...]:
        """The record id equal to ``id_or_prefix`` if one is; else every id that starts with it, oldest first."""

    @abstractmethod
    def run_ids(self) -> list[str]:
        """Run ids of the stored records, oldest first (by each run's first record)."""

    @abstractmethod
    def load_summary(self, run_id: str) -> RunSummary | None:
        """The summary of ``run_id``, or None when that run was not a four-stage run."""

    @abstractmethod
    def newest_summary(self) -> tuple[str, str] | None:
        """(created, run_id) of the newest run summary; None when there is none."""

    @abstractmethod
    def newest_record_run(self) -> tuple[str, str] | None:
        """(timestamp, run_id) of the run whose newest record is the newest; None when there are no records."""

    @abstractmethod
    def count(self) -> int:
        """How many records the store holds."""

    # -- sweeps --------------------------------------------------------------------------------
    @abstractmethod
    def config_outcomes(self, config_hashes: Iterable[str]) -> list[ConfigOutcome]:
        """Every stored record of these configuration hashes, oldest first ([] on a store older than v4)."""

    @abstractmethod
    def config_hashes(self, run_id: str) -> dict[str, str]:
        """record id -> configuration hash of the hashed records of one run."""

    @abstractmethod
    def open_sweep(self, plan_key: str, name: str, configs: int) -> SweepEntry:
        """The unfinished sweep of ``plan_key`` (resumed=True), or a new one; two writers opening
        the same plan at once get the same sweep."""

    @abstractmethod
    def finish_sweep(self, sweep_id: str) -> None:
        """Mark the sweep finished: the next sweep of the same plan starts afresh."""

    @abstractmethod
    def sweeps(self) -> list[SweepEntry]:
        """The ledger, oldest first ([] on a store older than v4)."""

    @abstractmethod
    def close(self) -> None: ...

    # -- built on the above, the same for every engine -----------------------------------------
    def get_record(self, id_or_prefix: str) -> BenchRecord | None:
        """The record with this id or unique id prefix; None when none matches; UserError when several do."""
        ids = self.record_ids(id_or_prefix)
        if len(ids) > 1:
            raise UserError(f"record: id prefix {id_or_prefix!r} matches {len(ids)} records; give more characters")
        if not ids:
            return None
        (record,) = self.query(record_id=ids[0])
        return record

    def latest_run_id(self) -> str | None:
        """The newest run: a four-stage summary or a plain group of records, whichever is newer."""
        candidates = []
        summary = self.newest_summary()
        if summary:
            candidates.append((summary[0], 1, summary[1]))
        records = self.newest_record_run()
        if records:
            candidates.append((records[0], 0, records[1]))
        # Newest wins; on a tie, the summary (it covers the records too).
        return max(candidates)[2] if candidates else None


def split_store_url(url_or_path: str) -> tuple[str, str]:
    """(scheme, location): a plain path is SQLite; ``sqlite:///rel.db`` and ``sqlite:////abs/x.db``
    follow SQLAlchemy (the path is what follows the third slash)."""
    scheme, sep, rest = url_or_path.partition("://")
    if not sep:
        return "sqlite", url_or_path
    scheme = scheme.lower()
    if scheme not in ENGINE_MODULES:
        raise UserError(f"db: scheme {scheme + '://'!r} is not supported; give a file path or one of: "
                        + ", ".join(f"{s}://" for s in ENGINE_MODULES) + f" (got {display_url(url_or_path)!r})")
    if scheme == "sqlite":
        path = rest[1:] if rest.startswith("/") else ""
        if not path:
            raise UserError(f"db: {url_or_path!r} names no file; write sqlite:///relative.db or sqlite:////abs/path.db")
        return scheme, path
    return scheme, url_or_path


def display_url(url: str) -> str:
    """``url`` without its password (``postgresql://me:secret@host/db`` -> ``postgresql://me@host/db``)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    netloc, slash, tail = rest.partition("/")
    user_info, at, host = netloc.rpartition("@")
    if at and ":" in user_info:
        netloc = user_info.split(":", 1)[0] + "@" + host
    return f"{scheme}{sep}{netloc}{slash}{tail}"


def default_log_root(url_or_path: str | os.PathLike | None = None) -> str:
    """Where LoadGen logs go by default: beside a SQLite store, else ./accelbench-logs."""
    scheme, location = split_store_url(str(url_or_path or default_db_path()))
    if scheme == "sqlite":
        return str(Path(location).resolve().parent / "accelbench-logs")
    return str(Path("accelbench-logs").resolve())


def open_store(url_or_path: str | os.PathLike | None = None, *, read_only: bool = False) -> ResultStore:
    """Open the results store at ``url_or_path`` (default ``default_db_path()``).

    Writers (``read_only=False``) create a missing store and migrate an older one. Readers open it
    read-only and never create or change anything: a missing store, or one that is not an
    accelbench results store, is a UserError.
    """
    scheme, location = split_store_url(str(url_or_path or default_db_path()))
    engine = importlib.import_module(ENGINE_MODULES[scheme]).ENGINE
    return engine(location, read_only=read_only)
