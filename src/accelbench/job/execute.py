"""Run a RunPlan: stage 1's peaks, every configuration of stages 2-4 in order (each record stored
as it comes), the projections and the ranking; store the RunSummary and write the HTML report.

Nothing finished is lost when the run is killed: after stage 1 and after every configuration the
summary so far is stored, marked interrupted (``RunSummary.status``), so that `accelbench report`
shows an interrupted run with the stages and configurations that finished; the complete summary
replaces it at the end.

The stages are views over the same parts every other command uses: the host's peaks
(hardware/), measured records (measure.runner.run_config -> results store), static profiles
(profile/) and projections onto catalog devices (projection/).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from typing import Callable

from accelbench.backends.base import backend_class
from accelbench.errors import UserError
from accelbench.hardware.catalog import load_catalog
from accelbench.hardware.host import MeasuredPeak, detect_host, theoretical_peaks
from accelbench.job.plan import STAGE_TITLES, RunPlan
from accelbench.job.ranking import project_for_ranking, rank_entries, with_rank_lesson
from accelbench.job.stages import Measured, layer_notes, mac_rate_text, peak_lesson, stage_summary, utilization_text
from accelbench.measure.environment import collect_environment
from accelbench.measure.gemm_peak import measure_host_gemm, remember_measurements
from accelbench.measure.runner import run_config
from accelbench.projection.measured import store_records
from accelbench.report.html import write_report
from accelbench.report.progress import Progress
from accelbench.report.units import constraints_line, fmt_core_arithmetic, fmt_pct, fmt_plain, fmt_rate, fmt_time
from accelbench.results.records import BenchConfig, BenchRecord, Environment, new_run_id, utc_now
from accelbench.results.store import open_store
from accelbench.results.summary import PeakFigure, PeakStageData, RunSummary, StageSummary

REPORT_DIR = "accelbench-out"


@dataclass(frozen=True)
class RunOutcome:
    summary: RunSummary
    records: tuple = ()  # BenchRecord, in the order they were measured
    report_path: str | None = None  # the HTML report, when one was written


def default_report_path(run_id: str) -> str:
    return os.path.join(REPORT_DIR, f"report-{run_id}.html")


def run_job(plan: RunPlan, *, db_path: str, progress: Progress, command: str = "accelbench run",
            report_path: str | None = None, write_html: bool = True, isolate: bool = True) -> RunOutcome:
    """The main job: execute ``plan`` (records and summary into ``db_path``), then write the HTML
    report to ``report_path`` (default accelbench-out/report-<run>.html) unless ``write_html`` is off."""
    with progress:
        outcome = execute(plan, db_path=db_path, progress=progress, command=command, isolate=isolate)
    return with_report(outcome, db_path=db_path, report_path=report_path, write_html=write_html)


def with_report(outcome: RunOutcome, *, db_path: str, report_path: str | None, write_html: bool) -> RunOutcome:
    """``outcome`` with the HTML report of its run written (unless ``write_html`` is off)."""
    if not write_html:
        return outcome
    path = report_path or default_report_path(outcome.summary.run_id)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    written, _ = write_report(db_path, run_id=outcome.summary.run_id, out_path=path)
    return replace(outcome, report_path=str(written))


def record_line(record) -> str:
    """One progress line per measured configuration."""
    if record.status == "invalid":
        return f"INVALID: {record.error}"
    if not record.ok:
        return f"FAILED ({record.failure_kind}): {record.error}"
    ran = record.precision_executed or record.config.precision
    parts = [f"{record.runtime} {ran}", f"p50 {fmt_time(record.stats.p50_ns / 1e9)}",
             f"{fmt_plain(record.throughput_per_s)} inf/s", mac_rate_text(record.macs_per_s),
             f"MAC utilization {utilization_text(record)}"]
    if record.stability is not None and getattr(record.stability, "warnings", None):
        parts.append(f"unstable: {record.stability.warnings[0]}")
    return ", ".join(parts)


def execute(plan: RunPlan, *, db_path: str, progress: Progress, command: str = "accelbench run",
            isolate: bool = True) -> RunOutcome:
    """Run every stage of ``plan``, store records and the run summary in ``db_path``."""
    run_id = new_run_id()
    started = time.monotonic()
    created = utc_now()
    stages: list[StageSummary] = []

    environment = collect_environment("cpu")
    measured: list[Measured] = []
    backend = plan.backend

    def checkpoint(store, current: tuple[int, str] | None = None) -> None:
        """The summary so far, marked interrupted: what a report shows if the run never gets further."""
        so_far = list(stages)
        if current is not None:
            items = [m for m in measured if m.config.stage == current[0]]
            if items:
                so_far.append(stage_summary(current[0], current[1], items, plan.precisions[-1]))
        store.save_summary(interrupted_summary(
            plan, so_far, len(measured), plan.measurements, run_id=run_id, created=created, started=started,
            command=command, environment=environment,
            notes=(f"backend: {backend}", f"precisions: {', '.join(plan.precisions)}")))

    progress.say("[bold]Stage 1 - peak TOPS[/bold]: what datasheets sell")
    stage1, own_peaks = stage1_peaks(plan, progress)
    stages.append(stage1)
    progress.say(f"  lesson: {stage1.lesson}", always=True, markup=False)

    with open_store(db_path) as store:
        checkpoint(store)
        for stage_no, title in STAGE_TITLES.items():
            stage_configs = [c for c in plan.configs if c.stage == stage_no]
            if not stage_configs:
                continue
            progress.say(f"[bold]Stage {stage_no} - {title}[/bold]")
            for cfg in stage_configs:
                for precision in plan.precisions:
                    progress.step(f"stage {stage_no}: {cfg.label}, {precision}")
                    config = BenchConfig(model=cfg.model, source=cfg.source, resolution=cfg.resolution,
                                         batch=cfg.batch, backend=backend, precision=precision,
                                         scenario=cfg.scenario, mode="quick", time_limit_s=plan.time_limit_s,
                                         tiny=plan.tiny)
                    layer_runs = plan.layer_runs if cfg.layers and precision == plan.precisions[-1] else None
                    try:
                        # Utilization against the peak stage 1 just measured, not an older remembered one.
                        record = run_config(config, run_id=run_id, isolate=isolate, layer_runs=layer_runs,
                                            measured_peaks=own_peaks)
                    except UserError as exc:  # e.g. a precision this backend cannot run: keep going
                        record = BenchRecord.failed(config, run_id, str(exc), "user-error",
                                                    environment=collect_environment(config.device))
                    store.save(record)
                    if record.ok and backend_class(backend).delegates:
                        # "auto" tried the installed backends on the first configuration; keep its pick.
                        backend = record.runtime
                        progress.say(f"  auto picked the {backend} backend (short trial on {cfg.label})", markup=False)
                    measured.append(Measured(cfg, precision, record))
                    progress.done(f"{cfg.label}, {precision}: {record_line(record)}")
                    checkpoint(store, (stage_no, title))
            stage = stage_summary(stage_no, title, [m for m in measured if m.config.stage == stage_no],
                                  plan.precisions[-1], closest=plan.closest if stage_no == 3 else None)
            stages.append(stage)
            progress.say(f"  lesson: {stage.lesson}", always=True, markup=False)

    summary = finish_summary(plan, stages, measured, progress, db_path=db_path, run_id=run_id, created=created,
                             started=started, command=command, environment=environment,
                             notes=(f"backend: {backend}", f"precisions: {', '.join(plan.precisions)}"))
    with open_store(db_path) as store:
        store.save_summary(summary)
    progress.done("")
    return RunOutcome(summary, tuple(m.record for m in measured))


def interrupted_summary(plan: RunPlan, stages: list[StageSummary], done: int, total: int, *, run_id: str,
                        created: str, started: float, command: str, environment: Environment,
                        notes: tuple[str, ...]) -> RunSummary:
    """The summary of a run so far, marked interrupted (shared by `run` and `run --cluster`): stored
    after every configuration, it is what a report shows if the run is killed before it finishes;
    ``done`` of ``total`` configurations were measured."""
    return RunSummary(
        run_id=run_id, created=created, command=command, objective=plan.objective, stages=tuple(stages),
        duration_s=time.monotonic() - started, environment=environment, status="interrupted",
        constraints=plan.constraints, notes=(*notes, f"did not finish: {done} of {total} configurations measured"))


def finish_summary(plan: RunPlan, stages: list[StageSummary], measured: list[Measured], progress: Progress, *,
                   db_path: str, run_id: str, created: str, started: float, command: str, notes: tuple[str, ...],
                   where: Callable[[Measured], tuple[str, str]] | None = None,
                   owned_devices: frozenset[str] = frozenset(), environment: Environment | None = None) -> RunSummary:
    """The run summary once every stage was measured (shared by `run` and `run --cluster`): stage 4's
    place, projections onto catalog devices but ``owned_devices`` (a cluster measured them; a device
    measured in the store ``db_path`` is calibrated from its measurements), the ranking (``where``
    names the device each measurement ran on: ranking.rank_entries) and the notes (``notes`` first).
    ``environment``: the driver's, when the caller already collected it."""
    if plan.user_model is None:
        stages.append(StageSummary(4, STAGE_TITLES[4], "", skipped="no --model given: run `accelbench run --model "
                                   "PATH_OR_ZOO_NAME` to measure your own network"))
    progress.step("projecting onto catalog devices and ranking")
    # devices measured in this store (this host, a cluster's devices) are calibrated from their measurements
    projections = tuple(p for p in project_for_ranking(measured, store_records(db_path), str(db_path))
                        if p.device not in owned_devices)
    ranking = rank_entries(measured, projections, plan.objective, plan.constraints, where=where)
    line = constraints_line(plan.constraints, sum(1 for e in ranking if e.excluded), len(ranking))
    if line:
        progress.say(f"  {line}", always=True)
    if projections:
        stages[0] = with_rank_lesson(stages[0], projections)
    return RunSummary(
        run_id=run_id, created=created, command=command, objective=plan.objective, stages=tuple(stages),
        ranking=tuple(ranking), projections=projections, duration_s=time.monotonic() - started,
        environment=environment if environment is not None else collect_environment("cpu"),
        constraints=plan.constraints,
        notes=(*notes, "sizes shrunk by ACCELBENCH_TINY=1 (test mode)" if plan.tiny else "full sizes",
               *layer_notes(plan, measured), *([f"stage 3: {plan.closest_error}"] if plan.closest_error else [])),
    )


def stage1_peaks(plan: RunPlan, progress: Progress) -> tuple[StageSummary, dict[str, MeasuredPeak]]:
    """Stage 1: the host's theoretical and measured (GEMM) peaks beside the catalog's devices; and
    the measured peaks (precision -> hardware.host.MeasuredPeak) the run's records divide by."""
    host = detect_host(with_gpus=True)
    peaks = [PeakFigure(device="host", name=host.cpu_model, kind="CPU", precision=peak.precision,
                        peak_ops_per_s=peak.ops_per_s, source="theoretical", arithmetic=fmt_core_arithmetic(peak))
             for peak in theoretical_peaks(host)]
    progress.step("stage 1: measuring this CPU's GEMM peak")
    own: dict[str, MeasuredPeak] = {}
    try:
        measurements = measure_host_gemm(n=512 if plan.tiny else 2048, budget_s=0.3 if plan.tiny else 1.5,
                                         precisions=("fp32",) + tuple(p for p in plan.precisions if p != "fp32"))
        if not plan.tiny:  # a tiny GEMM is no peak: do not let it stand for this host later
            remember_measurements(host, measurements)
        for gemm in measurements:
            if gemm.ops_per_s:
                own[gemm.precision] = gemm.as_peak()
                peaks.append(PeakFigure(
                    device="host", name=host.cpu_model, kind="CPU", precision=gemm.precision,
                    peak_ops_per_s=gemm.ops_per_s, source="measured",
                    arithmetic=f"{gemm.how}, spread {fmt_pct(gemm.spread)}, measured {gemm.measured_at}"))
    except UserError as exc:
        progress.say(f"  measured GEMM peak unavailable: {exc}", markup=False)
    progress.done("host peaks: " + "; ".join(f"{p.precision} {p.source} {fmt_rate(p.peak_ops_per_s, 'OPS')}"
                                             for p in peaks))
    for spec in load_catalog().values():
        for precision, ops in spec.peak_ops_per_s.items():
            peaks.append(PeakFigure(device=spec.id, name=spec.name, kind=spec.kind, precision=precision,
                                    peak_ops_per_s=ops, source="catalog"))
    return (StageSummary(1, "peak TOPS", peak_lesson(peaks, host.physical_cores), data=PeakStageData(peaks=tuple(peaks))),
            own)
