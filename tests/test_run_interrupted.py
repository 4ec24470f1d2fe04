"""Issue 10, class 5: interrupted work. `run` killed with -9 part-way leaves a summary marked
interrupted with what finished, which the report shows; no worker or temp folder outlives it; a run
whose every configuration failed exits non-zero."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from accelbench.measure.isolation import WORK_DIR_PREFIX
from accelbench.results.store import open_store
from accelbench.results.summary import RunSummary, StageSummary
from cli_helpers import cli_exit_code


def _records(db: Path) -> int:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return con.execute("SELECT COUNT(*) FROM records").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def test_an_interrupted_summary_reads_back_and_complete_ones_keep_their_keys():
    stages = (StageSummary(1, "Peak TOPS", "a lesson"),)
    partial = RunSummary(run_id="r", created="2026-01-01T00:00:00+00:00", command="accelbench run",
                         objective="latency", stages=stages, status="interrupted")
    assert partial.to_dict()["status"] == "interrupted" and RunSummary.from_dict(partial.to_dict()).interrupted
    done = RunSummary(run_id="r", created="2026-01-01T00:00:00+00:00", command="accelbench run", objective="latency",
                      stages=stages)
    assert "status" not in done.to_dict() and not RunSummary.from_dict(done.to_dict()).interrupted


@pytest.mark.slow
def test_kill_9_of_run_leaves_an_interrupted_run_that_the_report_shows(tmp_path, capsys):
    db = tmp_path / "r.db"
    env = {**os.environ, "ACCELBENCH_TINY": "1", "TMPDIR": str(tmp_path)}
    run = subprocess.Popen([sys.executable, "-m", "accelbench", "run", "--precision", "fp32", "--no-layers",
                            "--no-report", "--db", str(db), "--quiet"], env=env, cwd=tmp_path,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while _records(db) < 2 and time.monotonic() < deadline and run.poll() is None:
            time.sleep(0.2)
        assert run.poll() is None, "the run finished before it could be killed"
        workers = psutil.Process(run.pid).children(recursive=True)
        run.send_signal(signal.SIGKILL)
        run.wait(30)
    finally:
        if run.poll() is None:
            run.kill()
    gone, alive = psutil.wait_procs(workers, timeout=15)
    assert not alive, "a worker outlived the killed run"
    # A worker started just before the kill (not among ``workers``) may still be booting under load: its
    # watchdog removes its folder at its first check, so wait for that, bounded.
    deadline = time.monotonic() + 15
    while list(tmp_path.glob(f"{WORK_DIR_PREFIX}*")) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not list(tmp_path.glob(f"{WORK_DIR_PREFIX}*"))
    with open_store(str(db), read_only=True) as store:
        (run_id,) = store.run_ids()
        summary = store.load_summary(run_id)
        records = store.query(run_id=run_id)
    assert summary is not None and summary.interrupted and not summary.ranking
    assert summary.stage(1) is not None and summary.stage(2) is not None  # stage 1 and what finished of stage 2
    assert set(summary.stage(2).record_ids) <= {r.record_id for r in records}
    out = tmp_path / "report.html"
    assert cli_exit_code(["report", "--db", str(db), "-o", str(out), "-f", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["interrupted"] is True and shown["summary"] is True and shown["records"] == len(records)
    page = out.read_text()
    assert "Interrupted run" in page and "the run was interrupted before this stage finished" in page


@pytest.mark.slow
def test_a_run_whose_every_configuration_failed_exits_1(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ACCELBENCH_TINY", "1")
    monkeypatch.setenv("ACCELBENCH_TEST_CRASH", "raise")  # every measurement worker fails
    db = tmp_path / "r.db"
    code = cli_exit_code(["run", "--precision", "fp32", "--no-layers", "--no-report", "--db", str(db), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1, err
    assert err.strip().splitlines()[-1].startswith("error: every configuration of the run failed (3); the first: "
                                                   "exception: RuntimeError: injected failure")
    with open_store(str(db), read_only=True) as store:
        (run_id,) = store.run_ids()
        assert not store.load_summary(run_id).interrupted  # the run itself finished: its summary is complete
