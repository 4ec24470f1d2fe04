"""Sweep scaling: one sweep of small configurations run serially on this machine, then on a local
Ray cluster with two worker nodes; wall times and the scheduling overhead per configuration
(goal: under 0.5 s); then store throughput with concurrent writer processes on SQLite and
PostgreSQL (goal: no lost or duplicated record, no "database is locked" reaching the user).

    .venv/bin/python benchmarks/sweep_scaling.py                       # 12 configurations, 4 writers
    .venv/bin/python benchmarks/sweep_scaling.py --configs 4 --records 20   # a quick check that it works

Scheduling overhead per configuration = ((wall time - set-up) x measuring units - the measurement
time the nodes report) / configurations: the time a device was not measuring, per configuration.
Set-up (plan expansion, the store, estimates, before the first configuration is submitted) and the
cluster's start and connection are reported apart. The two workers of the local
cluster share this machine's cores: the Ray wall time shows the overhead, not a speed-up.
PostgreSQL: $ACCELBENCH_TEST_PG, --pg URL, or a private server started from the installed binaries.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the local Ray cluster and PostgreSQL helpers of the tests

MODELS = ("mobilenet_v2", "resnet18")
SIZES = ("32", "40", "48", "56", "64", "72", "80", "88", "96", "104", "112", "120")

def write_plan(path: Path, configs: int, time_limit_s: float, device: str) -> Path:
    per_model = -(-configs // len(MODELS))
    sizes = ", ".join(f'"{s}"' for s in SIZES[:per_model])
    path.write_text(f'name = "scaling"\n[axes]\nmodels = {list(MODELS)!r}\nresolutions = [{sizes}]\n'
                    f'devices = ["{device}"]\n[measure]\ntime_limit_s = {time_limit_s}\n'.replace("'", '"'))
    return path


def run_serial(plan_path: Path, db: Path):
    from accelbench.sweep.executor import LocalExecutor
    from accelbench.sweep.plan import load_plan
    from accelbench.sweep.runner import run_sweep

    started = time.monotonic()
    with LocalExecutor(log_root=str(db.parent / "logs")) as executor:
        outcome = run_sweep(load_plan(plan_path), executor, str(db))
    return outcome, time.monotonic() - started, 1


def run_ray(plan_path: Path, db: Path, workers: int):
    from ray_helpers import LocalRayCluster, ray_env

    os.environ.update(ray_env())
    cluster = LocalRayCluster()
    try:
        t0 = time.monotonic()
        cluster.start_head()
        for n in range(workers):
            cluster.add_node(f"w{n}", ["cpu:bench"])
        started_s = time.monotonic() - t0
        from accelbench.sweep.plan import load_plan
        from accelbench.sweep.ray_executor import RayExecutor
        from accelbench.sweep.runner import run_sweep

        t1 = time.monotonic()
        with RayExecutor(cluster.address) as executor:
            connect_s = time.monotonic() - t1
            started = time.monotonic()
            outcome = run_sweep(load_plan(plan_path), executor, str(db))
            wall = time.monotonic() - started
        print(f"  local Ray cluster: head + {workers} workers up in {started_s:.1f} s; driver connected in"
              f" {connect_s:.1f} s (not counted below)")
        return outcome, wall, workers
    finally:
        cluster.stop()


def report_sweep(name: str, outcome, wall: float, units: int) -> float:
    n = outcome.measured_ok + outcome.measured_failed
    overhead = ((wall - outcome.setup_s) * units - outcome.measuring_s) / max(n, 1)
    print(f"  {name:<24} {n:>3} configurations  wall {wall:7.1f} s (set-up {outcome.setup_s:4.1f} s)"
          f"  measuring {outcome.measuring_s:7.1f} s on {units} unit(s)  overhead {overhead:5.2f} s/config"
          f"  (ok {outcome.measured_ok}, failed {outcome.measured_failed}, duplicates {outcome.duplicates})")
    return overhead


def store_throughput(url: str, writers: int, records: int, work: Path) -> None:
    from accelbench.results.store import open_store
    from store_writers import race_writers

    open_store(url).close()
    race = race_writers(url, writers, records, work / f"go-{abs(hash(url))}", samples=100)
    with open_store(url, read_only=True) as store:
        mine = sum(len(store.query(run_id=f"w{i}")) for i in range(writers))
        shared = store.config_hashes("shared")
    written = writers * records + len(shared)
    lost = writers * records - mine + (records - len(set(shared.values())))
    duplicated = len(shared) - len(set(shared.values()))
    locked = sum("locked" in err for err in race.stderr)
    failed = sum(code != 0 for code in race.returncodes)
    print(f"  {store.location[:40]:<40} {written:>6} records in {race.wall_s:6.2f} s ="
          f" {written / race.wall_s:8.0f} records/s; lost {lost}, duplicated {duplicated}, races refused"
          f" {race.refused}, 'locked' errors {locked}, failed writers {failed}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", type=int, default=12, help="configurations in the sweep (>= 12 for the note)")
    parser.add_argument("--time-limit", type=float, default=0.3, help="seconds of measurement per configuration")
    parser.add_argument("--workers", type=int, default=2, help="worker nodes of the local Ray cluster")
    parser.add_argument("--writers", type=int, default=4, help="concurrent writer processes")
    parser.add_argument("--records", type=int, default=200, help="records per writer")
    parser.add_argument("--pg", default=None, help="a PostgreSQL URL to create a database on (default: see above)")
    parser.add_argument("--skip-sweeps", action="store_true", help="store throughput only")
    args = parser.parse_args()

    from accelbench.sweep.devices import local_devices

    with tempfile.TemporaryDirectory(prefix="sweep-scaling-") as tmp:
        work = Path(tmp)
        if not args.skip_sweeps:
            print(f"sweep of {args.configs} configurations ({', '.join(MODELS)}, time limit {args.time_limit} s):")
            local = str(local_devices()[0])
            serial = report_sweep("serial (this machine)", *run_serial(
                write_plan(work / "serial.toml", args.configs, args.time_limit, local), work / "serial.db"))
            ray = report_sweep(f"Ray, {args.workers} workers", *run_ray(
                write_plan(work / "ray.toml", args.configs, args.time_limit, "cpu:bench"), work / "ray.db", args.workers))
            print(f"  scheduling overhead per configuration: serial {serial:.2f} s, Ray {ray:.2f} s (goal < 0.5 s)")
        print(f"store throughput, {args.writers} concurrent writers x {args.records} records (+ racing on one run):")
        store_throughput(str(work / "writers.db"), args.writers, args.records, work)
        from pg_helpers import PrivatePostgres, TEST_PG_ENV, create_database, drop_database, postgres_bin

        admin, server = args.pg or os.environ.get(TEST_PG_ENV), None
        if admin is None and postgres_bin() is not None:
            server = PrivatePostgres(postgres_bin()).start()
            admin = server.url
        if admin is None:
            print("  PostgreSQL: skipped (no --pg, no $ACCELBENCH_TEST_PG, no server binaries)")
            return 0
        url = create_database(admin)
        try:
            store_throughput(url, args.writers, args.records, work)
        finally:
            drop_database(admin, url)
            if server is not None:
                server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
