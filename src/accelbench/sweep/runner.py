"""The sweep driver, the same for every executor: expand the plan on the executor's devices,
decide from the store what to measure (sweep/resume.py), submit, and store each record as it
comes back, with its configuration hash. It is the only writer: executors never touch the store.

A sweep is resumable at every point. It is opened in the store's ledger before anything runs
(the same command finds the same unfinished sweep), each record is one transaction, and
(run id, configuration hash) is unique in the store; the sweep is marked finished only when
every configuration has its record. Interrupted (Ctrl-C, kill -9, power loss): run the same
command again.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from typing import Callable

from accelbench.job.execute import record_line
from accelbench.measure.runner import DEFAULT_LOG_ROOT
from accelbench.report.sweep_progress import SweepProgress
from accelbench.results.store import DuplicateRecord, SweepEntry, open_store, split_store_url
from accelbench.sweep.estimate import estimate_s, sweep_eta_s
from accelbench.sweep.executor import Executor, Finished, LocalExecutor
from accelbench.sweep.identity import plan_key
from accelbench.sweep.plan import Expansion, SweepItem, SweepPlan
from accelbench.sweep.ray_executor import RayExecutor, check_cluster_address
from accelbench.sweep.resume import IN_SWEEP, MEASURE, Decision, decide

WAIT_SLICE_S = 1.0  # how often the driver wakes to refresh the display when nothing finishes
PACE_BOUNDS = (0.25, 4.0)  # how far finished configurations may rescale the remaining estimates


@dataclass(frozen=True)
class SweepPreview:
    """What a sweep would do (``--dry-run``), or what it is about to do."""

    plan: SweepPlan
    expansion: Expansion
    decisions: tuple[Decision, ...]
    estimates: dict[str, float]  # config hash -> seconds (configurations to measure)
    units: dict  # DeviceId -> how many measure at once
    plan_key: str
    resumes: str | None = None  # the unfinished sweep a run would continue

    @property
    def to_measure(self) -> tuple[SweepItem, ...]:
        return tuple(d.item for d in self.decisions if d.action == MEASURE)

    @property
    def estimated_s(self) -> float:
        return sweep_eta_s(self.to_measure, self.estimates, self.units)


@dataclass(frozen=True)
class SweepOutcome:
    sweep: SweepEntry
    preview: SweepPreview
    measured_ok: int = 0
    measured_failed: int = 0
    duplicates: int = 0  # results another executor had already stored (discarded, never stored twice)
    wall_s: float = 0.0
    measuring_s: float = 0.0  # the executors' measurement time, summed over configurations (nodes in parallel)
    setup_s: float = 0.0  # from the start to the first submission: plan expansion, store, estimates
    records: tuple = field(default_factory=tuple)  # the BenchRecords stored by this invocation

    @property
    def failed_in_sweep(self) -> int:
        """Failed configurations of this sweep, including those recorded before a resume."""
        earlier = sum(1 for d in self.preview.decisions if d.action == IN_SWEEP and d.status != "ok")
        return self.measured_failed + earlier


def make_executor(cluster: str | None, *, timeout_s: float | None = None,
                  log_root: str = DEFAULT_LOG_ROOT) -> Executor:
    """This machine (``cluster`` None) or the Ray cluster at ``cluster`` (sweep/ray_executor.py)."""
    if cluster is None:
        return LocalExecutor(timeout_s=timeout_s, log_root=log_root)
    return RayExecutor(check_cluster_address(cluster), timeout_s=timeout_s)


def preview(plan: SweepPlan, executor: Executor, db: str, *, rerun: bool = False,
            retry_failed: bool = False) -> SweepPreview:
    """What running ``plan`` would do now (``--dry-run``); changes nothing, creates nothing."""
    expansion, units, key = _expand(plan, executor, rerun, retry_failed)
    scheme, location = split_store_url(str(db))
    if scheme == "sqlite" and not os.path.exists(location):
        return _decided(plan, expansion, units, key, None, None, rerun, retry_failed, resumes=None)
    with open_store(db, read_only=True) as store:
        unfinished = next((s.sweep_id for s in store.sweeps() if s.plan_key == key and s.finished is None), None)
        return _decided(plan, expansion, units, key, store, unfinished, rerun, retry_failed, resumes=unfinished)


def _expand(plan: SweepPlan, executor: Executor, rerun: bool, retry_failed: bool):
    units = executor.device_units()
    expansion = plan.expand(tuple(units), executor.where)
    key = plan_key((i.config_hash for i in expansion.items), rerun=rerun, retry_failed=retry_failed)
    return expansion, units, key


def _decided(plan, expansion, units, key, store, sweep_id, rerun, retry_failed, *, resumes) -> SweepPreview:
    outcomes = store.config_outcomes(i.config_hash for i in expansion.items) if store is not None else ()
    decisions = decide(expansion.items, outcomes, sweep_id=sweep_id, rerun=rerun, retry_failed=retry_failed)
    estimates = {}
    for decision in decisions:
        if decision.action == MEASURE:
            earlier = None
            if store is not None and decision.why == "rerun":  # its last ok record says how long it takes
                ok = [o for o in outcomes if o.config_hash == decision.item.config_hash and o.status == "ok"]
                earlier = store.get_record(ok[-1].record_id) if ok else None
            estimates[decision.item.config_hash] = estimate_s(decision.item, earlier)
    return SweepPreview(plan, expansion, tuple(decisions), estimates, units, key, resumes)


def run_sweep(plan: SweepPlan, executor: Executor, db: str, *, rerun: bool = False, retry_failed: bool = False,
              progress_factory: Callable[[SweepPreview], SweepProgress] | None = None) -> SweepOutcome:
    """Measure every configuration of ``plan`` that the store does not settle, exactly once per sweep."""
    started = time.monotonic()
    expansion, units, key = _expand(plan, executor, rerun, retry_failed)
    with open_store(db) as store:
        # In the ledger before anything runs; then decided against the store under this sweep's id.
        sweep = store.open_sweep(key, plan.name, len(expansion.items))
        current = _decided(plan, expansion, units, key, store, sweep.sweep_id, rerun, retry_failed,
                           resumes=sweep.sweep_id if sweep.resumed else None)
        factory = progress_factory or (lambda p: SweepProgress(len(p.to_measure), eta_s=p.estimated_s, quiet=True))
        outcome = _drive(current, sweep, executor, store, factory(current), started)
        if outcome.measured_ok + outcome.measured_failed + outcome.duplicates == len(current.to_measure):
            store.finish_sweep(sweep.sweep_id)
    return replace(outcome, wall_s=time.monotonic() - started)


def _drive(current: SweepPreview, sweep: SweepEntry, executor: Executor, store, progress: SweepProgress,
           started: float) -> SweepOutcome:
    remaining = {item.config_hash: item for item in current.to_measure}
    setup_s = time.monotonic() - started
    for item in current.to_measure:
        executor.submit(item, sweep.sweep_id)
    ok = failed = duplicates = 0
    spent = estimated = 0.0
    stored = []
    with progress:
        while executor.in_flight():
            finished = executor.wait(WAIT_SLICE_S)
            for result in finished:
                remaining.pop(result.item.config_hash, None)
                if not _store(store, result):
                    duplicates += 1
                    progress.say(f"  {result.item.label}: another executor recorded it first; this result is dropped")
                    continue
                stored.append(result.record)
                ok, failed = ok + result.record.ok, failed + (not result.record.ok)
                spent += result.seconds
                estimated += current.estimates.get(result.item.config_hash, result.seconds)
                pace = min(max(spent / estimated, PACE_BOUNDS[0]), PACE_BOUNDS[1]) if estimated else 1.0
                eta = sweep_eta_s(tuple(remaining.values()), current.estimates, current.units, pace)
                state = "ok" if result.record.ok else "FAILED"
                progress.finished(result.record.ok, f"{state} {result.item.label} [{result.node}]: "
                                                    f"{record_line(result.record)}",
                                  in_flight=executor.in_flight(), eta_s=eta)
            if not finished:
                progress.update(in_flight=executor.in_flight(), eta_s=progress.eta_s)
    return SweepOutcome(sweep, current, ok, failed, duplicates, measuring_s=spent, setup_s=setup_s,
                        records=tuple(stored))


def _store(store, result: Finished) -> bool:
    """Store one result with its hash; False when the sweep already holds that configuration."""
    try:
        store.save(result.record, config_hash=result.item.config_hash)
    except DuplicateRecord:
        return False
    return True
