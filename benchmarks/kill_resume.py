"""Kill -9 at random moments, resume, and check that nothing was lost, duplicated or half-written.

    .venv/bin/python benchmarks/kill_resume.py                    # 20 kills of a sweep, 5 of `accelbench run`
    .venv/bin/python benchmarks/kill_resume.py --kills 2 --run-kills 1 --configs 2   # a quick check

A sweep of small configurations is started, killed with SIGKILL after a random delay (during
start-up, a measurement, a store write: wherever it happens to be), and started again with the
same command, until ``--kills`` kills are done; then it runs to the end. After every kill and at
the end: ``PRAGMA integrity_check`` is ok, no record lacks its samples (no partial record), no
configuration has two records in the sweep, and no measurement child outlived its sweep. At the
end every configuration must be recorded exactly once. Then the same for `accelbench run`
(ACCELBENCH_TINY=1): a killed run leaves only whole records, each configuration at most once in
its run, and a final run completes. Prints kills, records lost and duplicated (goal: 0 and 0).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from process_helpers import measurement_children  # noqa: E402

SIZES = ("32", "40", "48", "56", "64", "72", "80", "88")


def accelbench(*args: str) -> list[str]:
    return [sys.executable, "-m", "accelbench", *args]


def orphans(pid: int, grace_s: float = 5.0) -> list[int]:
    """Measurement children whose parent was ``pid`` and that still run ``grace_s`` after it died
    (a child still starting up when its parent was killed needs a moment to notice and exit)."""
    _, alive = psutil.wait_procs(measurement_children(pid), timeout=grace_s)
    return [proc.pid for proc in alive if proc.status() != psutil.STATUS_ZOMBIE]


def check_store(db: Path, *, sweep: bool) -> dict:
    """Integrity, partial records, duplicates (per sweep configuration, or per run configuration)."""
    if not db.exists():
        return {"integrity": "ok", "partial": 0, "duplicates": 0, "records": 0}
    con = sqlite3.connect(db)
    try:
        integrity = con.execute("PRAGMA integrity_check").fetchone()[0]
        tables = {n for (n,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "records" not in tables:
            return {"integrity": integrity, "partial": 0, "duplicates": 0, "records": 0}
        partial = con.execute("SELECT COUNT(*) FROM records r LEFT JOIN samples s USING (record_id)"
                              " WHERE s.record_id IS NULL").fetchone()[0]
        key = "config_hash" if sweep else "model, resolution, batch, precision_requested, scenario"
        duplicates = con.execute(f"SELECT COUNT(*) FROM (SELECT run_id, {key}, COUNT(*) AS n FROM records"
                                 f" GROUP BY run_id, {key} HAVING n > 1)").fetchone()[0]
        records = con.execute("SELECT COUNT(*) FROM records").fetchone()[0]
    finally:
        con.close()
    return {"integrity": integrity, "partial": partial, "duplicates": duplicates, "records": records}


def kill_at_random(cmd: list[str], cwd: Path, delay_s: float, env: dict) -> tuple[bool, list[int]]:
    """Start ``cmd``, SIGKILL it after ``delay_s`` (unless it ended first); (killed, orphans left)."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        proc.wait(timeout=delay_s)
        return False, []
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    return True, orphans(proc.pid)


def sweep_phase(work: Path, kills: int, configs: int, time_limit_s: float, rng: random.Random) -> dict:
    plan, db = work / "plan.toml", work / "sweep.db"
    sizes = ", ".join(f'"{s}"' for s in SIZES[:configs])
    plan.write_text(f'name = "kill-resume"\n[axes]\nmodels = ["mobilenet_v2"]\nresolutions = [{sizes}]\n'
                    f'[measure]\ntime_limit_s = {time_limit_s}\n')
    cmd = accelbench("sweep", str(plan), "--db", str(db), "--quiet")
    done, left_orphans, bad = 0, 0, []
    while done < kills:
        # anywhere from start-up to the end of the whole sweep (~4 s per configuration besides its time limit)
        killed, left = kill_at_random(cmd, work, rng.uniform(0.3, 3.0 + configs * (4.0 + time_limit_s)),
                                      dict(os.environ))
        state = check_store(db, sweep=True)
        if not killed:  # it finished before the kill: start the sweep afresh (--rerun) and keep killing
            cmd = accelbench("sweep", str(plan), "--db", str(db), "--quiet", "--rerun")
            continue
        done += 1
        left_orphans += len(left)
        if state["integrity"] != "ok" or state["partial"] or state["duplicates"]:
            bad.append(state)
        print(f"  sweep kill {done:>2}: {state['records']} records stored, integrity {state['integrity']},"
              f" partial {state['partial']}, duplicated {state['duplicates']}, orphans {len(left)}", flush=True)
    final = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
    con = sqlite3.connect(db)
    (sweep_id,) = con.execute("SELECT sweep_id FROM sweeps ORDER BY created DESC LIMIT 1").fetchone()
    per_config = dict(con.execute("SELECT config_hash, COUNT(*) FROM records WHERE run_id = ? GROUP BY config_hash",
                                  (sweep_id,)).fetchall())
    finished = con.execute("SELECT finished FROM sweeps WHERE sweep_id = ?", (sweep_id,)).fetchone()[0]
    con.close()
    state = check_store(db, sweep=True)
    return {"kills": done, "lost": configs - len(per_config), "duplicated": sum(n - 1 for n in per_config.values()),
            "orphans": left_orphans, "bad_states": len(bad), "finished": bool(finished) and final.returncode == 0,
            "integrity": state["integrity"], "partial": state["partial"]}


def run_phase(work: Path, kills: int, time_limit_s: float, rng: random.Random) -> dict:
    db = work / "run.db"
    env = {**os.environ, "ACCELBENCH_TINY": "1"}
    cmd = accelbench("run", "--db", str(db), "--no-report", "--quiet", "--time-limit", str(time_limit_s))
    done, left_orphans, bad = 0, 0, []
    while done < kills:
        killed, left = kill_at_random(cmd, work, rng.uniform(1.0, 40.0), env)
        if not killed:
            continue
        done += 1
        left_orphans += len(left)
        state = check_store(db, sweep=False)
        if state["integrity"] != "ok" or state["partial"] or state["duplicates"]:
            bad.append(state)
        print(f"  run kill {done:>2}: {state['records']} records stored, integrity {state['integrity']},"
              f" partial {state['partial']}, duplicated {state['duplicates']}, orphans {len(left)}", flush=True)
    final = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
    con = sqlite3.connect(db)
    (run_id,) = con.execute("SELECT run_id FROM run_summaries ORDER BY created DESC LIMIT 1").fetchone()
    measured = con.execute("SELECT COUNT(*) FROM records WHERE run_id = ?", (run_id,)).fetchone()[0]
    con.close()
    state = check_store(db, sweep=False)
    return {"kills": done, "final_run_ok": final.returncode == 0, "final_records": measured, "orphans": left_orphans,
            "bad_states": len(bad), "integrity": state["integrity"], "partial": state["partial"],
            "duplicated": state["duplicates"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20, help="kills of the sweep")
    parser.add_argument("--run-kills", type=int, default=5, help="kills of `accelbench run`")
    parser.add_argument("--configs", type=int, default=4, help="configurations in the sweep")
    parser.add_argument("--time-limit", type=float, default=0.3, help="seconds of measurement per configuration")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="kill-resume-") as tmp:
        work = Path(tmp)
        print(f"sweep of {args.configs} configurations, {args.kills} kills (SIGKILL at random moments):")
        sweep = sweep_phase(work, args.kills, args.configs, args.time_limit, rng)
        print(f"sweep: {sweep['kills']} kills; records lost {sweep['lost']}, duplicated {sweep['duplicated']},"
              f" partial {sweep['partial']}; integrity {sweep['integrity']}; orphaned measurements"
              f" {sweep['orphans']}; bad intermediate states {sweep['bad_states']}; finished {sweep['finished']}")
        ok = sweep["lost"] == sweep["duplicated"] == sweep["partial"] == sweep["orphans"] == sweep["bad_states"] == 0
        if args.run_kills:
            print(f"accelbench run (ACCELBENCH_TINY=1), {args.run_kills} kills:")
            run = run_phase(work, args.run_kills, args.time_limit, rng)
            print(f"run: {run['kills']} kills; partial {run['partial']}, duplicated {run['duplicated']}; integrity"
                  f" {run['integrity']}; orphaned measurements {run['orphans']}; final run ok {run['final_run_ok']}"
                  f" with {run['final_records']} records")
            ok = ok and run["partial"] == run["duplicated"] == run["orphans"] == run["bad_states"] == 0
            ok = ok and run["final_run_ok"]
    print("goal met: nothing lost, duplicated or half-written" if ok else "GOAL MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
