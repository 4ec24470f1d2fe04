"""The results store: opening by URL, numbered migrations against files an older accelbench wrote
(tests/data/stores), read-only opening that never changes a file, several writer processes, and
the rule that all SQL lives in one module."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from accelbench.errors import UserError
from accelbench.results.records import BenchConfig, BenchRecord
from accelbench.results.store import STORE_SCHEMA_VERSION, Migration, ResultStore, blob_to_samples, open_store
from accelbench.results.store import sqlite as sqlite_engine
from accelbench.results.summary import RunSummary, StageSummary
from cli_helpers import cli_exit_code

STORES = Path(__file__).parent / "data" / "stores"
V1 = STORES / "accelbench-v1.db"
V1_BENCH_ONLY = STORES / "accelbench-v1-bench-only.db"
V1_RUN = "20261202T054227Z-050b01"  # the four-stage run in V1
V1_NEWEST_RUN = "20261202T054526Z-de75da"  # the failed bench run, V1's newest
SRC = Path(__file__).parent.parent / "src" / "accelbench"


def _digest(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _copy(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / src.name
    shutil.copyfile(src, dst)
    return dst


def _record(run_id="run-1", timestamp=None, latency=(1_000, 2_000, 3_000)) -> BenchRecord:
    extra = {"timestamp": timestamp} if timestamp else {}
    return BenchRecord(config=BenchConfig(model="resnet50"), run_id=run_id, latency_ns=latency, **extra)


def _summary(run_id: str, created: str) -> RunSummary:
    return RunSummary(run_id=run_id, created=created, command="accelbench run", objective="latency",
                      stages=(StageSummary(1, "Peak TOPS", "peak says 1 TMAC/s"),))


def _raw_v1(path: Path) -> tuple[list[tuple], dict[str, bytes], str]:
    """What the old code wrote, read with plain sqlite3: records in its order, samples, the summary."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = con.execute("SELECT record_id, run_id, record_json FROM records ORDER BY timestamp, rowid").fetchall()
        samples = dict(con.execute("SELECT record_id, latency_ns FROM samples").fetchall())
        (summary_json,) = con.execute("SELECT summary_json FROM run_summaries WHERE run_id = ?", (V1_RUN,)).fetchone()
    finally:
        con.close()
    return rows, samples, summary_json


def _assert_shows_v1(store: ResultStore, path: Path) -> None:
    rows, samples, summary_json = _raw_v1(path)
    records = store.query()
    assert [r.record_id for r in records] == [row[0] for row in rows]
    assert store.count() == 9
    for rec, (_, run_id, record_json) in zip(records, rows):
        stored = json.loads(record_json)
        assert rec.run_id == run_id
        shown = rec.to_dict(include_samples=False)
        assert {k: shown[k] for k in stored if k != "latency_ns"} == {
            k: v for k, v in stored.items() if k != "latency_ns"}
        blob = samples.get(rec.record_id)
        assert rec.latency_ns == (blob_to_samples(blob) if blob else ())
    assert [r.status for r in records].count("failed") == 1
    assert store.run_ids() == list(dict.fromkeys(row[1] for row in rows))
    assert json.loads(json.dumps(store.load_summary(V1_RUN).to_dict(), default=str)) == json.loads(summary_json)
    assert store.latest_run_id() == V1_NEWEST_RUN
    assert store.newest_summary()[1] == V1_RUN


# -- migrations --------------------------------------------------------------------------------------


def test_writer_migrates_the_v1_fixture_and_shows_the_same_records_and_summary(tmp_path):
    path = _copy(V1, tmp_path)
    with open_store(path) as store:
        _assert_shows_v1(store, V1)
        store.save(_record("after-migration"))
        assert store.run_ids()[-1] == "after-migration" and store.count() == 10
    con = sqlite3.connect(path)
    version = con.execute("SELECT value FROM meta WHERE key = 'store_schema_version'").fetchone()
    assert version == (str(STORE_SCHEMA_VERSION),)
    assert [v for (v,) in con.execute("SELECT version FROM store_migrations")] == [2, 3, 4]
    # seq keeps the old insertion order and continues it
    assert [s for (s,) in con.execute("SELECT seq FROM records ORDER BY rowid")] == list(range(1, 11))
    con.close()
    with open_store(path) as store:  # opening again applies nothing
        assert store.count() == 10
    assert sqlite3.connect(path).execute("SELECT COUNT(*) FROM store_migrations").fetchone() == (3,)


def test_bench_only_v1_store_gains_the_summaries_table(tmp_path):
    path = _copy(V1_BENCH_ONLY, tmp_path)
    with open_store(path) as store:
        assert store.load_summary("20261202T054541Z-50f589") is None and store.count() == 1
        store.save_summary(_summary("later", "2030-01-01T00:00:00+00:00"))
        assert store.latest_run_id() == "later"


def test_new_store_has_every_migration_and_its_history(tmp_path):
    path = tmp_path / "new.db"
    open_store(path).close()
    con = sqlite3.connect(path)
    assert con.execute("SELECT version, name FROM store_migrations ORDER BY version").fetchall() == [
        (m.version, m.name) for m in sqlite_engine.MIGRATIONS]
    assert sqlite_engine.MIGRATIONS[-1].version == STORE_SCHEMA_VERSION
    assert [m.version for m in sqlite_engine.MIGRATIONS] == list(range(1, STORE_SCHEMA_VERSION + 1))


def test_failing_migration_leaves_the_store_at_its_old_version(tmp_path, monkeypatch):
    path = _copy(V1, tmp_path)
    first, second, *later = sqlite_engine.MIGRATIONS
    broken = Migration(2, second.name, second.statements + ("INSERT INTO no_such_table VALUES (1)",))
    monkeypatch.setattr(sqlite_engine, "MIGRATIONS", (first, broken, *later))
    with pytest.raises(sqlite3.OperationalError, match="no_such_table"):
        open_store(path)
    con = sqlite3.connect(path)
    assert con.execute("SELECT value FROM meta WHERE key = 'store_schema_version'").fetchone() == ("1",)
    assert "seq" not in [c[1] for c in con.execute("PRAGMA table_info(records)")]
    tables = {n for (n,) in con.execute("SELECT name FROM sqlite_master")}
    assert not tables & {"store_migrations", "layer_times", "sweeps"}  # nor any later migration ran
    con.close()


@pytest.mark.parametrize("read_only", [False, True])
def test_newer_store_is_refused_and_left_untouched(tmp_path, read_only):
    path = tmp_path / "future.db"
    open_store(path).close()
    con = sqlite3.connect(path)
    with con:
        con.execute("UPDATE meta SET value = ? WHERE key = 'store_schema_version'", (str(STORE_SCHEMA_VERSION + 1),))
    con.close()
    before = _digest(path)
    with pytest.raises(UserError, match=f"store schema {STORE_SCHEMA_VERSION + 1}, newer than") as exc:
        open_store(path, read_only=read_only)
    assert "\n" not in str(exc.value)
    assert _digest(path) == before


# -- read-only opening ---------------------------------------------------------------------------------


def test_reader_reads_the_v1_fixture_without_changing_it(tmp_path):
    path = _copy(V1, tmp_path)
    before = _digest(path)
    with open_store(path, read_only=True) as store:
        _assert_shows_v1(store, path)
        with pytest.raises(RuntimeError, match="read-only"):
            store.save(_record())
    assert _digest(path) == before
    bench_only = _copy(V1_BENCH_ONLY, tmp_path)
    before = _digest(bench_only)
    with open_store(bench_only, read_only=True) as store:
        assert store.newest_summary() is None and store.load_summary("x") is None
        assert store.latest_run_id() == "20261202T054541Z-50f589" and store.count() == 1
    assert _digest(bench_only) == before


def _foreign_sqlite(path: Path) -> Path:
    con = sqlite3.connect(path)
    with con:
        con.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        con.execute("INSERT INTO users (name) VALUES ('ada')")
    con.close()
    return path


def test_reader_refuses_missing_empty_and_foreign_files_and_changes_none(tmp_path):
    missing = tmp_path / "missing.db"
    with pytest.raises(UserError, match=r"db: '.*missing\.db' does not exist; give --db"):
        open_store(missing, read_only=True)
    assert not missing.exists()
    empty = tmp_path / "empty.db"
    empty.touch()
    foreign = _foreign_sqlite(tmp_path / "other-app.db")
    text = tmp_path / "notes.db"
    text.write_text("not a database at all, but long enough to have a header of sorts........\n" * 3)
    for path in (empty, foreign, text):
        before = _digest(path)
        with pytest.raises(UserError, match="is not an accelbench results store") as exc:
            open_store(path, read_only=True)
        assert "\n" not in str(exc.value)
        assert _digest(path) == before, path
    assert empty.stat().st_size == 0


def test_reader_leaves_an_interrupted_write_to_a_writer(tmp_path):
    # A writer killed mid-transaction after its changes spilled into the file leaves a hot journal:
    # a read-only opening cannot roll it back, says so in one line and changes nothing.
    path = tmp_path / "hot.db"
    open_store(path).close()
    code = f"""
import os, signal, sqlite3
con = sqlite3.connect({str(path)!r})
con.execute("PRAGMA cache_size = 1")  # spill changed pages into the file before COMMIT
con.execute("BEGIN")
for i in range(3000):
    con.execute("INSERT INTO meta VALUES (?, 'x')", (str(i) * 50,))
os.kill(os.getpid(), signal.SIGKILL)
"""
    assert subprocess.run([sys.executable, "-c", code]).returncode == -9
    before = _digest(path)
    with pytest.raises(UserError, match="unfinished write of a process that stopped; run `accelbench bench`"):
        open_store(path, read_only=True)
    assert _digest(path) == before
    with open_store(path) as store:  # the writer rolls it back
        assert store.count() == 0
    with open_store(path, read_only=True) as store:
        assert store.count() == 0


def test_writer_refuses_another_applications_database(tmp_path):
    foreign = _foreign_sqlite(tmp_path / "other-app.db")
    before = _digest(foreign)
    with pytest.raises(UserError, match="not an accelbench results store .*users"):
        open_store(foreign)
    assert _digest(foreign) == before


def test_writer_creates_a_store_in_an_empty_file(tmp_path):
    empty = tmp_path / "empty.db"
    empty.touch()
    with open_store(empty) as store:
        store.save(_record())
    with open_store(empty, read_only=True) as store:
        assert store.count() == 1


@pytest.mark.parametrize("argv", [["results"], ["report"], ["compare", "a", "b"], ["calibrate"]],
                         ids=lambda a: a[0])
def test_read_only_commands_change_no_file(argv, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    empty = tmp_path / "empty.db"
    empty.touch()
    foreign = _foreign_sqlite(tmp_path / "other-app.db")
    for path in (empty, foreign):
        before = _digest(path)
        assert cli_exit_code([*argv, "--db", str(path)]) == 2
        err = capsys.readouterr().err
        assert "is not an accelbench results store" in err and len(err.strip().splitlines()) == 1
        assert _digest(path) == before
    assert cli_exit_code([*argv, "--db", str(tmp_path / "absent.db")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "absent.db").exists()
    v1 = _copy(V1, tmp_path)
    before = _digest(v1)
    cli_exit_code([*argv, "--db", str(v1)])  # reads (compare and calibrate then refuse their arguments)
    capsys.readouterr()
    assert _digest(v1) == before


def test_results_command_reads_the_v1_fixture(tmp_path, capsys):
    path = _copy(V1, tmp_path)
    assert cli_exit_code(["results", "--db", str(path), "--format", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    rows, _, _ = _raw_v1(V1)
    assert [r["record_id"] for r in shown] == [row[0] for row in rows]


# -- URLs ---------------------------------------------------------------------------------------------


def test_store_urls(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with open_store("sqlite:///rel.db") as store:  # SQLAlchemy's form: relative after the third slash
        store.save(_record())
    assert (tmp_path / "rel.db").exists()
    with open_store(f"sqlite:///{tmp_path}/rel.db", read_only=True) as store:  # four slashes: absolute
        assert store.count() == 1 and store.location == f"{tmp_path}/rel.db"
    with pytest.raises(UserError, match=r"scheme 'mysql://' is not supported; .*sqlite://, postgresql://") as exc:
        open_store("mysql://me:secret@localhost/bench")
    assert "secret" not in str(exc.value)
    assert "\n" not in str(exc.value)
    with pytest.raises(UserError, match="names no file"):
        open_store("sqlite://")
    with pytest.raises(UserError, match="directory .* does not exist"):
        open_store(tmp_path / "no" / "such" / "x.db")


def test_default_location_and_opening_for_writing(tmp_path, monkeypatch):
    monkeypatch.setenv("ACCELBENCH_DB", str(tmp_path / "env.db"))
    with open_store() as store:
        assert store.location == str(tmp_path / "env.db")
    # open_store is the one way in: the interface itself cannot be built.
    with pytest.raises(TypeError, match="abstract"):
        ResultStore()
    with open_store(tmp_path / "old.db") as store:
        assert isinstance(store, sqlite_engine.SQLiteStore) and not store.read_only
        store.save(_record())
    assert open_store(tmp_path / "old.db", read_only=True).count() == 1


# -- reading -------------------------------------------------------------------------------------------


def test_equal_timestamps_keep_insertion_order_and_record_lookup(tmp_path):
    same = "2030-01-01T00:00:00+00:00"
    b, a = _record("r", same), _record("r", same)
    with open_store(tmp_path / "s.db") as store:
        store.save(b)
        store.save(a)
        assert [r.record_id for r in store.query(run_id="r")] == [b.record_id, a.record_id]
        assert store.get_record(a.record_id).record_id == a.record_id
        assert store.get_record(a.record_id[:12]).record_id == a.record_id
        assert store.get_record("zz-none") is None
        # a one-character prefix is ambiguous when both ids start with it, else unique
        prefix = a.record_id[0]
        if b.record_id.startswith(prefix):
            with pytest.raises(UserError, match="matches 2 records"):
                store.get_record(prefix)
        assert store.record_ids("%") == () and store.record_ids("_") == ()  # no LIKE wildcards


def test_summaries_are_saved_replaced_and_found_newest_first(tmp_path):
    db = str(tmp_path / "s.db")
    with open_store(db) as store:
        store.save(_record("bench-run", "2030-01-01T00:00:00+00:00"))
        store.save_summary(_summary("run-a", "2030-01-02T00:00:00+00:00"))
        store.save_summary(_summary("run-b", "2030-01-03T00:00:00+00:00"))
        store.save_summary(_summary("run-a", "2030-01-04T00:00:00+00:00"))  # replaces run-a's summary
    with open_store(db, read_only=True) as store:
        assert store.newest_summary()[1] == "run-a"
        assert store.load_summary("run-a").created == "2030-01-04T00:00:00+00:00"
        assert store.load_summary("bench-run") is None
        assert store.latest_run_id() == "run-a"


# -- concurrency ---------------------------------------------------------------------------------------

WRITER = """
import sys, time
from pathlib import Path
from accelbench.results.records import BenchConfig, BenchRecord
from accelbench.results.store import open_store

db, writer, count, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
while not go.exists():
    time.sleep(0.005)
for n in range(count):
    with open_store(db) as store:  # open each time: the first opens race to create the tables
        store.save(BenchRecord(config=BenchConfig(model="resnet50"), run_id=writer, latency_ns=(n + 1, n + 2)))
"""


def test_several_processes_write_one_file_and_lose_nothing(tmp_path):
    db, go, per_writer = tmp_path / "shared.db", tmp_path / "go", 15
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(db), f"w{i}", str(per_writer), str(go)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(3)]
    time.sleep(1.0)  # let the interpreters start, then release them together
    go.touch()
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0 and "locked" not in err, err
    with open_store(db, read_only=True) as store:
        assert store.count() == 3 * per_writer
        for i in range(3):
            assert sorted(r.latency_ns[0] for r in store.query(run_id=f"w{i}")) == list(range(1, per_writer + 1))
    con = sqlite3.connect(db)
    assert [s for (s,) in con.execute("SELECT seq FROM records ORDER BY seq")] == list(range(1, 3 * per_writer + 1))
    assert con.execute("SELECT COUNT(*) FROM store_migrations").fetchone() == (STORE_SCHEMA_VERSION,)


def _hold_write_lock(path: Path, seconds: float) -> threading.Thread:
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")

    def release():
        time.sleep(seconds)
        holder.execute("ROLLBACK")
        holder.close()

    thread = threading.Thread(target=release)
    thread.start()
    return thread


def test_a_write_retries_while_another_process_holds_the_lock(tmp_path):
    path = tmp_path / "busy.db"
    open_store(path).close()
    store = sqlite_engine.SQLiteStore(path, busy_timeout_s=0.02)
    thread = _hold_write_lock(path, 0.3)  # longer than the busy timeout: only the retry gets through
    store.save(_record())
    thread.join()
    assert store.count() == 1
    store.close()


def test_a_lock_that_never_clears_is_one_clear_error(tmp_path):
    path = tmp_path / "busy.db"
    open_store(path).close()
    store = sqlite_engine.SQLiteStore(path, busy_timeout_s=0.01)
    thread = _hold_write_lock(path, 4.0)
    try:
        with pytest.raises(UserError, match="stayed locked by other processes") as exc:
            store.save(_record())
        assert "database is locked" not in str(exc.value)
    finally:
        thread.join()
    assert store.count() == 0
    store.close()


# -- layering ------------------------------------------------------------------------------------------


def test_all_sql_lives_in_the_store_engines():
    from accelbench.results.store import ENGINE_MODULES

    engines = {SRC.parent / (module.replace(".", "/") + ".py") for module in ENGINE_MODULES.values()}
    assert engines == {SRC / "results" / "store" / "sqlite.py", SRC / "results" / "store" / "postgres.py"}
    engines.add(SRC / "results" / "store" / "sql.py")  # what the SQL engines share
    sql = re.compile(r"\bimport (sqlite3|psycopg)\b|\b(sqlite3|psycopg)\.connect\b|\b(SELECT|INSERT INTO|CREATE TABLE)\b")
    offenders = [str(p.relative_to(SRC)) for p in SRC.rglob("*.py") if p not in engines and sql.search(p.read_text())]
    assert offenders == []


def _assert_a_sweep_records(store) -> None:
    """A migrated store opens a sweep and keeps a record of it with its configuration hash."""
    sweep = store.open_sweep("plan", "after migration", 1)
    store.save(_record(sweep.sweep_id), config_hash="feedfacefeedface")
    assert [o.run_id for o in store.config_outcomes(["feedfacefeedface"])] == [sweep.sweep_id]


# -- version 2 -> 4 (layer times, sweeps) --------------------------------------------------------------

V2 = STORES / "accelbench-v2.db"


def test_writer_migrates_the_v2_fixture_for_sweeps(tmp_path):
    path = _copy(V2, tmp_path)
    with open_store(path, read_only=True) as reader:  # a reader leaves it at version 2
        assert reader.count() == 2 and reader.sweeps() == [] and reader.config_outcomes(["x"]) == []
        assert reader.config_hashes("20261202T071100Z-81ce31") == {}
    assert _digest(path) == _digest(V2)
    with open_store(path) as store:
        old = store.query()
        assert [(r.run_id, r.status) for r in old] == [("20261202T071100Z-81ce31", "ok"),
                                                      ("20261202T071108Z-5ed0d8", "failed")]
        assert old[1].failure_kind == "timeout" and len(old[0].latency_ns) > 0
        assert store.load_summary("20261202T070000Z-v2summ").command.endswith("by the v2 code)")
        _assert_a_sweep_records(store)
    con = sqlite3.connect(path)
    assert [v for (v,) in con.execute("SELECT version FROM store_migrations ORDER BY version")] == [1, 2, 3, 4]
    assert con.execute("SELECT COUNT(*) FROM layer_times").fetchone() == (0,)
    assert con.execute("SELECT COUNT(*) FROM records WHERE config_hash IS NULL").fetchone() == (2,)
    assert [s for (s,) in con.execute("SELECT seq FROM records ORDER BY seq")] == [1, 2, 3]
    con.close()


# -- version 3 -> 4 (sweeps; a store of per-layer times) ------------------------------------------------

V3 = STORES / "accelbench-v3.db"


def test_writer_migrates_the_v3_fixture_and_keeps_its_layer_times(tmp_path):
    path = _copy(V3, tmp_path)
    with open_store(path, read_only=True) as reader:  # a reader leaves it at version 3
        layered, failed = reader.query()
        assert reader.sweeps() == [] and reader.config_hashes(layered.run_id) == {}
    assert _digest(path) == _digest(V3)
    assert (layered.run_id, failed.status, failed.failure_kind) == ("20261202T083059Z-093541", "failed", "timeout")
    assert layered.layer_times is not None and layered.layer_times.runs == 2 and len(layered.layer_times.layers) == 23
    assert failed.layer_times is None
    with open_store(path) as store:
        assert [r.to_dict() for r in store.query()] == [layered.to_dict(), failed.to_dict()]
        assert store.load_summary("20261210T080000Z-v3summ").command.endswith("by the v3 code)")
        _assert_a_sweep_records(store)
    con = sqlite3.connect(path)
    assert [v for (v,) in con.execute("SELECT version FROM store_migrations ORDER BY version")] == [1, 2, 3, 4]
    assert con.execute("SELECT value FROM meta WHERE key = 'store_schema_version'").fetchone() == ("4",)
    assert con.execute("SELECT COUNT(*) FROM layer_times").fetchone() == (1,)
    con.close()
