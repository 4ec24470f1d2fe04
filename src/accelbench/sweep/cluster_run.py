"""`accelbench run --cluster`: the four-stage job on every device of a Ray cluster, one summary
and one report. Each device's rows are measured on that device (its records carry its
environment: host, CPU or GPU, runtime versions); catalog devices nobody in the cluster has are
projected beside them, as in `accelbench run`.

Per device, the plan's configurations run in order, one at a time (a chain: the "auto" backend is
resolved by that device's first configuration, as on one machine); the chains of different
devices run at once, each on a node that has its device (the Ray executor). As on one machine,
one configuration per stage also gets per-layer times (at the device's last precision; `run
--no-layers` skips them). Stage 1 shows each device's theoretical peak from its records beside the
catalog's peaks; a GEMM peak is measured only by `accelbench run` on the machine itself. A catalog
device the cluster measured is not projected (its projection would only repeat the measurement).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from accelbench.backends.base import backend_class
from accelbench.errors import UserError
from accelbench.hardware.catalog import load_catalog, match_device_name
from accelbench.job.execute import RunOutcome, finish_summary, interrupted_summary, record_line, with_report
from accelbench.job.plan import STAGE_TITLES, RunPlan, StageConfig
from accelbench.job.stages import Measured, stage_summary
from accelbench.measure.environment import collect_environment
from accelbench.projection.measured import record_device_name
from accelbench.report.progress import Progress
from accelbench.report.units import fmt_rate
from accelbench.results.records import BenchConfig, new_run_id, utc_now
from accelbench.results.store import open_store
from accelbench.results.summary import PeakFigure, PeakStageData, StageSummary
from accelbench.sweep.devices import DeviceId
from accelbench.sweep.identity import config_hash
from accelbench.sweep.plan import SweepItem
from accelbench.sweep.ray_executor import RayExecutor, probe_on_node


@dataclass
class _Chain:
    """One device's configurations, measured one after another."""

    device: DeviceId
    steps: list[tuple[StageConfig, str]]  # (configuration, precision), in plan order
    backend: str
    done: int = 0

    def next_item(self, plan: RunPlan) -> tuple[SweepItem, StageConfig, str]:
        cfg, precision = self.steps[self.done]
        config = BenchConfig(model=cfg.model, source=cfg.source, resolution=cfg.resolution, batch=cfg.batch,
                             backend=self.backend, device=self.device.bench_device(self.backend), precision=precision,
                             scenario=cfg.scenario, mode="quick", time_limit_s=plan.time_limit_s, tiny=plan.tiny)
        # per-layer times as `run` collects them: the stage's chosen configuration, at the last precision
        last_precision = self.steps[-1][1]
        layer_runs = plan.layer_runs if cfg.layers and precision == last_precision else None
        return SweepItem(config, self.device, config_hash(config, str(self.device)), layer_runs), cfg, precision


def device_precisions(plan: RunPlan, device: DeviceId, explicit: bool, cpu_reduced: dict[DeviceId, str]) -> tuple[str, ...]:
    """The precisions measured on ``device``: the user's, else fp32 and the device's best reduced
    one (a CPU's, as its node reports it; FP16 on a GPU)."""
    if explicit:
        return plan.precisions
    reduced = "fp16" if device.kind == "gpu" else cpu_reduced.get(device, plan.precisions[-1])
    return tuple(dict.fromkeys(("fp32", reduced)))


def run_cluster_job(plan: RunPlan, *, address: str, db_path: str, progress: Progress, explicit_precisions: bool,
                    command: str = "accelbench run --cluster", report_path: str | None = None,
                    write_html: bool = True) -> RunOutcome:
    """Measure ``plan`` on every device of the cluster at ``address``; store records and one summary."""
    run_id, created, started = new_run_id(), utc_now(), time.monotonic()
    with RayExecutor(address) as executor, progress:
        devices = sorted(executor.device_units())
        if not devices:
            raise UserError(f"cluster: {address} advertises no device; start nodes with `accelbench worker --address ...`")
        progress.say(f"cluster {address}: {len(devices)} devices: {', '.join(map(str, devices))}")
        probes = {d: p for d, p in executor.call_on_devices(probe_on_node, [d for d in devices if d.kind == "cpu"],
                                                            plan.backend).items() if p}
        chains = {d: _Chain(d, [(c, p) for c in plan.configs for p in device_precisions(plan, d, explicit_precisions,
                                                                                         probes)], plan.backend)
                  for d in devices}
        measured, where = [], {}
        environment = collect_environment("cpu")
        total = sum(len(chain.steps) for chain in chains.values())
        notes = (f"cluster: {address}", f"devices: {', '.join(map(str, devices))}")
        with open_store(db_path) as store:
            running = {}
            for chain in chains.values():
                item, cfg, precision = chain.next_item(plan)
                executor.submit(item, run_id)
                running[item.config_hash] = (chain, cfg, precision)
            while executor.in_flight():
                for result in executor.wait(1.0):
                    chain, cfg, precision = running.pop(result.item.config_hash)
                    store.save(result.record, config_hash=result.item.config_hash)
                    label = f"{cfg.label} on {chain.device}"
                    measured.append(Measured(replace(cfg, label=label), precision, result.record))
                    where[result.record.record_id] = (f"{chain.device} [{result.node.split('/')[0]}]", str(chain.device))
                    progress.done(f"stage {cfg.stage}: {label}, {precision}: {record_line(result.record)}")
                    if result.record.ok and backend_class(chain.backend).delegates:
                        chain.backend = result.record.runtime  # auto's pick holds for this device
                    chain.done += 1
                    # what a report shows if the driver is killed before the cluster finishes
                    store.save_summary(interrupted_summary(
                        plan, cluster_stages(plan, measured, where), len(measured), total, run_id=run_id,
                        created=created, started=started, command=command, environment=environment, notes=notes))
                    if chain.done < len(chain.steps):
                        item, cfg, precision = chain.next_item(plan)
                        progress.step(f"{chain.device}: {cfg.label}, {precision}")
                        executor.submit(item, run_id)
                        running[item.config_hash] = (chain, cfg, precision)
        stages = cluster_stages(plan, measured, where)
        progress.say(f"  lesson: {stages[0].lesson}", always=True, markup=False)
        for stage in stages[1:]:
            progress.say(f"[bold]Stage {stage.stage} - {stage.title}[/bold]", always=True)
            progress.say(f"  lesson: {stage.lesson}", always=True, markup=False)
        summary = finish_summary(
            plan, stages, measured, progress, db_path=db_path, run_id=run_id, created=created, started=started,
            command=command, environment=environment,
            notes=(*notes, "backends: " + ", ".join(f"{d}: {c.backend}" for d, c in chains.items())),
            where=lambda m: where[m.record.record_id], owned_devices=owned_catalog_devices(measured))
        with open_store(db_path) as store:
            store.save_summary(summary)
    return with_report(RunOutcome(summary, tuple(m.record for m in measured)), db_path=db_path,
                       report_path=report_path, write_html=write_html)


def cluster_stages(plan: RunPlan, measured: list[Measured], where: dict[str, tuple[str, str]]) -> list[StageSummary]:
    """Stage 1 (the devices' peaks) and every stage with a measured configuration so far
    (``where``: record id -> (row label, device id))."""
    stages = [cluster_peaks(measured, {rid: device for rid, (_, device) in where.items()})]
    for stage_no, title in STAGE_TITLES.items():
        items = [m for m in measured if m.config.stage == stage_no]
        if items:
            stages.append(stage_summary(stage_no, title, items, plan.precisions[-1],
                                        closest=plan.closest if stage_no == 3 else None))
    return stages


def cluster_peaks(measured: list[Measured], device_of: dict[str, str]) -> StageSummary:
    """Stage 1 for a cluster: each device's theoretical peak per precision (from its records;
    ``device_of``: record id -> device id) beside the catalog's datasheet peaks."""
    peaks: dict[tuple[str, str], PeakFigure] = {}
    for m in measured:
        rec = m.record
        if rec.ok and rec.peak_macs_per_s:
            device = device_of[rec.record_id]
            key = (device, rec.precision_executed or rec.config.precision)
            peaks.setdefault(key, PeakFigure(device=device, name=device, kind=device.split(":")[0].upper(),
                                             precision=key[1], peak_ops_per_s=2 * rec.peak_macs_per_s,
                                             source="theoretical", arithmetic=rec.peak_source))
    own = list(peaks.values())
    lesson = ("peaks of the cluster's devices: " + "; ".join(
        f"{p.device} {p.precision} {fmt_rate(p.peak_ops_per_s, 'OPS')}" for p in own)
        if own else "no device reported a theoretical peak; see the catalog devices")
    lesson += " - real models get less (stages 2-4)"
    catalog = [PeakFigure(device=spec.id, name=spec.name, kind=spec.kind, precision=precision, peak_ops_per_s=ops,
                          source="catalog") for spec in load_catalog().values()
               for precision, ops in spec.peak_ops_per_s.items()]
    return StageSummary(1, "peak TOPS", lesson, data=PeakStageData(peaks=tuple(own + catalog)))


def owned_catalog_devices(measured: list[Measured]) -> frozenset[str]:
    """Catalog ids of the devices the cluster measured (their projections would only repeat them)."""
    owned = set()
    for m in measured:
        name = record_device_name(m.record)  # the CPU's model, or the GPU's name, its environment recorded
        spec = match_device_name(name) if name else None
        if spec is not None:
            owned.add(spec.id)
    return frozenset(owned)
