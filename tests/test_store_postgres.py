"""The PostgreSQL engine on a real server (tests/pg_helpers.py), and the store contract every
engine keeps (run on SQLite and PostgreSQL alike): round trips, ordering, duplicates refused by
constraints, all-or-nothing batches, the sweeps ledger, read-only opening, newer schemas refused
untouched, several writer processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from accelbench.errors import AccelbenchWarning, UserError
from accelbench.results.records import BenchConfig, BenchRecord
from accelbench.results.store import STORE_SCHEMA_VERSION, DuplicateRecord, open_store, record_to_json, samples_to_blob
from accelbench.results.store import postgres as pg_engine
from accelbench.results.store import sqlite as sqlite_engine
from accelbench.results.store.sql import RECORD_COLUMNS, record_row
from accelbench.results.summary import RunSummary, StageSummary
from pg_helpers import TEST_PG_ENV, pg_admin_url, pg_url  # noqa: F401  (fixtures)
from record_helpers import small_layer_times
from store_writers import race_writers

if os.environ.get(TEST_PG_ENV):  # CI: a missing psycopg is a failure, never a skip
    import psycopg
else:
    psycopg = pytest.importorskip("psycopg")


def _record(run_id="run-1", timestamp=None, model="resnet50", status="ok", latency=(1_000, 2_000, 3_000)):
    extra = {"timestamp": timestamp} if timestamp else {}
    if status == "failed":
        return BenchRecord.failed(BenchConfig(model=model), run_id, "the child crashed with SIGSEGV", "crash")
    return BenchRecord(config=BenchConfig(model=model), run_id=run_id, latency_ns=latency, **extra)


def _summary(run_id: str, created: str = "2030-01-01T00:00:00+00:00") -> RunSummary:
    return RunSummary(run_id=run_id, created=created, command="accelbench run", objective="latency",
                      stages=(StageSummary(1, "Peak TOPS", "peak says 1 TMAC/s"),))


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return str(tmp_path / "contract.db")
    return request.getfixturevalue("pg_url")


# -- the contract, on every engine ---------------------------------------------------------------------


def test_round_trip_order_and_lookup(store_url):
    same = "2030-01-01T00:00:00+00:00"
    first, second = _record("r", same), _record("r", same, latency=(5, 6, 7))
    failed = _record("f", status="failed")
    with open_store(store_url) as store:
        for record in (first, second, failed):
            store.save(record)
        store.save_summary(_summary("r", "2031-01-01T00:00:00+00:00"))
        assert store.count() == 3
        assert [r.record_id for r in store.query(run_id="r")] == [first.record_id, second.record_id]
        (back,) = store.query(record_id=second.record_id)
        assert back.to_dict() == second.to_dict() and back.latency_ns == (5, 6, 7)
        (fail_back,) = store.query(status="failed")
        assert fail_back.latency_ns == () and fail_back.failure_kind == "crash"
        assert store.get_record(first.record_id[:12]).record_id == first.record_id
        assert store.record_ids("%") == () and store.record_ids("_") == ()
        assert store.latest_run_id() == "r" and store.load_summary("r").created.startswith("2031")
        assert store.load_summary("f") is None
    with open_store(store_url, read_only=True) as reader:
        assert reader.count() == 3
        with pytest.raises(RuntimeError, match="read-only"):
            reader.save(_record())


def test_layer_times_are_stored_beside_the_record_and_read_back(store_url):
    layered = BenchRecord(config=BenchConfig(model="resnet18"), run_id="layers", latency_ns=(900, 1_000, 1_100),
                          layer_times=small_layer_times())
    plain, failed = _record("layers"), _record("layers", status="failed")
    with open_store(store_url) as store:
        store.save(layered, config_hash="1a7e5")
        store.save_many([(plain, None), (failed, None)])
    with open_store(store_url, read_only=True) as store:
        back = {r.record_id: r for r in store.query(run_id="layers")}
        assert back[layered.record_id].layer_times == layered.layer_times
        assert back[layered.record_id].to_dict() == layered.to_dict()
        assert back[plain.record_id].layer_times is None and back[failed.record_id].layer_times is None
        (only,) = store.query(record_id=layered.record_id)
        assert only.layer_times.slowest(1)[0].name == "conv1"


def test_duplicates_are_refused_by_constraints(store_url):
    record = _record("sweep-1")
    with open_store(store_url) as store:
        store.save(record, config_hash="c0ffee")
        with pytest.raises(DuplicateRecord, match=f"record {record.record_id} .* is already in") as exc:
            store.save(record)
        assert "\n" not in str(exc.value)
        # a second record of the same configuration in the same run: refused, whatever its id
        with pytest.raises(DuplicateRecord, match="configuration c0ffee already has a record in run 'sweep-1'"):
            store.save(_record("sweep-1"), config_hash="c0ffee")
        store.save(_record("sweep-2"), config_hash="c0ffee")  # another run may measure it again
        store.save(_record("sweep-1"))  # records without a hash never collide
        store.save(_record("sweep-1"))
        assert store.count() == 4
        assert store.config_hashes("sweep-1") == {record.record_id: "c0ffee"}
        outcomes = store.config_outcomes(["c0ffee", "unknown"])
        assert [(o.run_id, o.status) for o in outcomes] == [("sweep-1", "ok"), ("sweep-2", "ok")]


def test_save_many_is_all_or_nothing(store_url):
    kept = _record("a")
    with open_store(store_url) as store:
        store.save(kept)
        batch = [(_record("b"), "h1"), (_record("b"), "h2"), (kept, None)]
        with pytest.raises(DuplicateRecord):
            store.save_many(batch, [_summary("b")])
        assert store.count() == 1 and store.load_summary("b") is None
        store.save_many(batch[:2], [_summary("b")])
        assert store.count() == 3 and store.load_summary("b") is not None
        with pytest.raises(DuplicateRecord, match="already holds the summary of run 'b'"):
            store.save_many([(_record("c"), None)], [_summary("b")])
        assert store.count() == 3


def test_sweeps_ledger_resumes_the_unfinished_sweep_of_a_plan(store_url):
    with open_store(store_url) as store:
        first = store.open_sweep("plan-a", "demo", 4)
        assert not first.resumed
        again = store.open_sweep("plan-a", "demo", 4)
        assert again.resumed and again.sweep_id == first.sweep_id
        other = store.open_sweep("plan-b", "other", 2)
        assert other.sweep_id != first.sweep_id
        store.finish_sweep(first.sweep_id)
        fresh = store.open_sweep("plan-a", "demo", 4)
        assert not fresh.resumed and fresh.sweep_id != first.sweep_id
        ledger = store.sweeps()
        assert [s.sweep_id for s in ledger] == [first.sweep_id, other.sweep_id, fresh.sweep_id]
        assert ledger[0].finished is not None and ledger[2].finished is None


OPENER = """
import sys, time
from pathlib import Path
from accelbench.results.store import open_store
url, go = sys.argv[1], Path(sys.argv[2])
while not go.exists():
    time.sleep(0.005)
with open_store(url) as store:
    print(store.open_sweep("raced-plan", "race", 3).sweep_id)
"""


def test_two_processes_opening_one_plan_get_one_sweep(store_url, tmp_path):
    open_store(store_url).close()
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", OPENER, store_url, str(go)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    time.sleep(1.0)
    go.touch()
    ids = set()
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        ids.add(out.strip())
    assert len(ids) == 1
    with open_store(store_url, read_only=True) as store:
        assert [s.sweep_id for s in store.sweeps()] == list(ids)


def test_concurrent_writers_lose_nothing_and_store_each_configuration_once(store_url, tmp_path):
    open_store(store_url).close()  # created first; the race to create is covered for SQLite in test_store.py
    writers, per_writer = 4, 10
    race = race_writers(store_url, writers, per_writer, tmp_path / "go")
    for code, err in zip(race.returncodes, race.stderr):
        assert code == 0 and "locked" not in err, err
    assert race.refused == (writers - 1) * per_writer
    with open_store(store_url, read_only=True) as store:
        assert store.count() == writers * per_writer + per_writer
        for i in range(writers):
            assert sorted(r.latency_ns[0] for r in store.query(run_id=f"w{i}")) == list(range(1, per_writer + 1))
        assert sorted(store.config_hashes("shared").values()) == sorted(f"cfg{n}" for n in range(per_writer))


def _without_config(record: BenchRecord) -> str:
    stored = json.loads(record_to_json(record))
    del stored["config"]
    return json.dumps(stored)


def test_bad_rows_are_skipped_and_named_and_the_rest_is_shown(store_url):
    """Issue 10's bad content in a valid store, on every engine (the skip-and-warn reading lives in the
    shared SQL path): invalid JSON, a missing field, a 5-byte samples blob, a negative sample and an
    unreadable summary cost only themselves; a non-numeric schema version is one error line."""
    good, bad_json, no_config, short_blob, negative = [_record("bad-run") for _ in range(5)]
    damage = (("UPDATE records SET record_json = ? WHERE record_id = ?", ("{not json", bad_json.record_id)),
              ("UPDATE records SET record_json = ? WHERE record_id = ?", (_without_config(no_config), no_config.record_id)),
              ("UPDATE samples SET latency_ns = ? WHERE record_id = ?", (b"12345", short_blob.record_id)),
              ("UPDATE samples SET latency_ns = ? WHERE record_id = ?", (samples_to_blob((5, -1, 7)), negative.record_id)),
              ("UPDATE run_summaries SET summary_json = ? WHERE run_id = ?", ("[]", "bad-run")))
    with open_store(store_url) as store:
        store.save_many([(r, None) for r in (good, bad_json, no_config, short_blob, negative)], [_summary("bad-run")])
        for statement, args in damage:
            store._write(lambda conn, statement=statement, args=args: store._execute(conn, statement, args))
    with open_store(store_url, read_only=True) as reader:
        with pytest.warns(AccelbenchWarning) as caught:
            shown = reader.query(run_id="bad-run")
            summary = reader.load_summary("bad-run")
        messages = " | ".join(str(w.message) for w in caught)
        assert [r.record_id for r in shown] == [good.record_id] and summary is None
        assert "skipped 4 unreadable record(s)" in messages, messages
        assert all(r.record_id in messages for r in (bad_json, no_config, short_blob, negative)), messages
        assert "missing field 'config'" in messages and "samples blob of 5 bytes" in messages, messages
        assert "summary of run bad-run is unreadable" in messages, messages
        assert reader.count() == 5
    with open_store(store_url) as store:
        store._write(lambda conn: store._execute(conn, "UPDATE meta SET value = ? WHERE key = 'store_schema_version'",
                                                 ("four",)))
    for read_only in (True, False):
        with pytest.raises(UserError, match="unreadable store schema version .'four'.") as exc:
            open_store(store_url, read_only=read_only)
        assert "\n" not in str(exc.value)


# -- PostgreSQL only -----------------------------------------------------------------------------------


def test_postgres_has_the_same_numbered_migrations_as_sqlite(pg_url):
    assert [(m.version, m.name) for m in pg_engine.MIGRATIONS] == [
        (m.version, m.name) for m in sqlite_engine.MIGRATIONS]
    open_store(pg_url).close()
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT version, name FROM store_migrations ORDER BY version").fetchall()
        version = conn.execute("SELECT value FROM meta WHERE key = 'store_schema_version'").fetchone()
    assert rows == [(m.version, m.name) for m in pg_engine.MIGRATIONS]
    assert version == (str(STORE_SCHEMA_VERSION),)
    open_store(pg_url).close()  # opening again applies nothing
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT COUNT(*) FROM store_migrations").fetchone() == (STORE_SCHEMA_VERSION,)


def test_postgres_reads_and_migrates_a_version_2_store(pg_url):
    old = _record("v2-run")
    with psycopg.connect(pg_url, autocommit=True) as conn:  # a store as the version-2 code left it
        for migration in pg_engine.MIGRATIONS[:2]:
            for statement in migration.statements:
                conn.execute(statement)
        conn.execute("INSERT INTO meta (key, value) VALUES ('store_schema_version', '2')")
        for migration in pg_engine.MIGRATIONS[:2]:
            conn.execute("INSERT INTO store_migrations VALUES (%s, %s, 'then')", (migration.version, migration.name))
        columns = RECORD_COLUMNS[:-1]  # no config_hash before version 4
        conn.execute(f"INSERT INTO records ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})",
                     record_row(old, None)[:-1])
        conn.execute("INSERT INTO samples VALUES (%s, %s)", (old.record_id, samples_to_blob(old.latency_ns)))
    with open_store(pg_url, read_only=True) as reader:  # read as it is: no layer_times, no sweeps yet
        (back,) = reader.query()
        assert back.to_dict() == old.to_dict() and back.layer_times is None
        assert reader.sweeps() == [] and reader.config_hashes("v2-run") == {}
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT value FROM meta").fetchone() == ("2",)
    layered = BenchRecord(config=BenchConfig(model="resnet18"), run_id="v4-run", latency_ns=(1, 2, 3),
                          layer_times=small_layer_times())
    with open_store(pg_url) as store:  # a writer migrates it
        store.save(layered, config_hash="feedface")
        assert [r.record_id for r in store.query()] == [old.record_id, layered.record_id]
        assert store.query(run_id="v4-run")[0].layer_times == layered.layer_times
    with psycopg.connect(pg_url) as conn:
        versions = [v for (v,) in conn.execute("SELECT version FROM store_migrations ORDER BY version")]
        assert versions == [1, 2, 3, 4] and conn.execute("SELECT value FROM meta").fetchone() == ("4",)


def test_postgres_refuses_a_newer_store_and_leaves_it_untouched(pg_url):
    open_store(pg_url).close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE meta SET value = %s WHERE key = 'store_schema_version'", (str(STORE_SCHEMA_VERSION + 1),))
        before = conn.execute("SELECT COUNT(*) FROM store_migrations").fetchone()
    for read_only in (False, True):
        with pytest.raises(UserError, match=f"store schema {STORE_SCHEMA_VERSION + 1}, newer than") as exc:
            open_store(pg_url, read_only=read_only)
        assert "\n" not in str(exc.value)
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT value FROM meta").fetchone() == (str(STORE_SCHEMA_VERSION + 1),)
        assert conn.execute("SELECT COUNT(*) FROM store_migrations").fetchone() == before


def test_postgres_readers_change_nothing_and_refuse_foreign_or_empty_databases(pg_url):
    with pytest.raises(UserError, match="is not an accelbench results store .it has no tables"):
        open_store(pg_url, read_only=True)
    with psycopg.connect(pg_url) as conn:  # the reader created nothing
        assert conn.execute("SELECT COUNT(*) FROM information_schema.tables"
                            " WHERE table_schema = current_schema()").fetchone() == (0,)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY)")
    for read_only in (True, False):
        with pytest.raises(UserError, match="not an accelbench results store .it holds other tables: users"):
            open_store(pg_url, read_only=read_only)


def test_postgres_connection_errors_are_one_line_without_the_password(pg_admin_url):
    head, _, rest = pg_admin_url.partition("://")
    host = rest.partition("@")[2].partition("/")[0]
    url = f"{head}://nobody:hunter2@{host}/no_such_database_here"
    with pytest.raises(UserError, match="db: cannot connect to postgresql://nobody@") as exc:
        open_store(url)
    assert "hunter2" not in str(exc.value) and "\n" not in str(exc.value)


def test_postgres_through_the_cli_and_the_environment(pg_url, monkeypatch, capsys):
    from cli_helpers import cli_exit_code

    with open_store(pg_url) as store:
        store.save(_record("cli-run"))
    monkeypatch.setenv("ACCELBENCH_DB", pg_url)
    assert cli_exit_code(["results", "--format", "json"]) == 0
    assert '"run_id": "cli-run"' in capsys.readouterr().out
