"""accelbench as a Python library: the commands as functions that return the typed records, for
notebooks and CI scripts (docs/api.md). The CLI calls these same functions.

    import accelbench
    profile = accelbench.profile("resnet50", resolution="224")            # ModelProfile
    record = accelbench.bench("resnet50", resolution="64", time_limit_s=2) # BenchRecord
    ranking = accelbench.rank("resnet50", max_latency_ms=5)               # Ranking

Every function validates its arguments the way the CLI does: bad input raises
``accelbench.errors.UserError`` with one line naming the argument. Nothing is stored unless a
results store is named (``db=``); nothing is printed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Sequence

from accelbench.errors import UserError
from accelbench.job.execute import RunOutcome, run_job
from accelbench.job.plan import RunPlan, make_plan
from accelbench.job.ranking import DeviceRanking, rank_devices
from accelbench.measure.layers import DEFAULT_LAYER_RUNS
from accelbench.measure.runner import bench as _bench_config
from accelbench.models.loader import load_model
from accelbench.precision import parse_precision
from accelbench.profile import profile_model
from accelbench.profile.types import ModelProfile
from accelbench.projection.api import Calibration, Skipped, calibrate_device, load_profile, project_devices
from accelbench.projection.api import resolve_devices
from accelbench.projection.measured import store_records
from accelbench.projection.model import DeviceProjection
from accelbench.report.compare import Comparison
from accelbench.report.compare import compare as _compare
from accelbench.report.html import write_report
from accelbench.report.progress import Progress
from accelbench.results import default_db_path
from accelbench.results.records import BenchConfig, BenchRecord
from accelbench.results.store import open_store
from accelbench.results.summary import Constraints
from accelbench.shapes import parse_input_shapes
from accelbench.sources import source_of_spec
from accelbench.sweep.cluster_run import run_cluster_job

__all__ = ["Projections", "Ranking", "bench", "calibrate", "compare", "constraints", "plan_run", "profile", "project",
           "rank", "report", "results", "run"]


def _shapes(input_shapes) -> dict[str, tuple[int, ...]] | None:
    """``input_shapes`` as the CLI's NAME=1x3x224x224 strings, or a mapping name -> shape."""
    if not input_shapes:
        return None
    if isinstance(input_shapes, dict):
        return {str(k): tuple(int(d) for d in v) for k, v in input_shapes.items()}
    return parse_input_shapes(tuple(input_shapes))


def constraints(max_latency_ms: float | None = None, max_watts: float | None = None,
                max_price: float | None = None) -> Constraints | None:
    """The answer's constraints from the CLI's units (ms, W, USD); None when none is given."""
    found = Constraints(max_latency_s=max_latency_ms / 1e3 if max_latency_ms is not None else None,
                        max_watts=max_watts, max_price_usd=max_price)
    return found if found.active else None


def profile(model: str, *, resolution: str | None = None, batch: int | None = None, input_shapes=None,
            precision: str = "fp32") -> ModelProfile:
    """The static profile of ``model`` (zoo name, .onnx file or torch: spec): per-layer MACs, weights,
    activations (docs/profiling.md). Built without weight data."""
    loaded = load_model(model, resolution=resolution, batch=batch, input_shapes=_shapes(input_shapes),
                        with_weights=False)
    return profile_model(loaded, parse_precision(precision))


BENCH_FIELDS = tuple(f.name for f in fields(BenchConfig) if f.name not in ("model", "source"))


def bench(model: str | BenchConfig, *, db: str | None = None, isolate: bool = True, timeout_s: float | None = None,
          log_dir: str | None = None, layers: bool = False, layer_runs: int | None = None,
          **config: Any) -> BenchRecord:
    """Measure ``model`` on a real runtime (docs/measurement.md) and return its BenchRecord.

    ``config``: BenchConfig's fields (backend, device, precision, batch, resolution, scenario, mode,
    threads, time_limit_s, target_rel_ci, streams, iterations, min_duration_s, inputs,
    calibration_data, ...), or give a whole ``BenchConfig`` as ``model``. ``db``: store the record
    there (None: not stored). ``layers``: also collect per-layer times (``layer_runs`` profiled runs).
    ``isolate``: measure in a child process (a crash becomes a failed record)."""
    if isinstance(model, BenchConfig):
        if config:
            raise UserError(f"bench: give a BenchConfig or options, not both; got {', '.join(sorted(config))}")
        cfg = model
    else:
        unknown = sorted(set(config) - set(BENCH_FIELDS))
        if unknown:
            raise UserError(f"bench: {unknown[0]!r} is not an option; allowed: {', '.join(BENCH_FIELDS)}")
        if "input_shapes" in config:
            config["input_shapes"] = tuple((_shapes(config["input_shapes"]) or {}).items())
        cfg = BenchConfig(model=model, source=source_of_spec(model), **config)
    if layer_runs is not None and not layers:
        raise UserError(f"layer-runs: only with layers (collect per-layer times); got layer_runs={layer_runs}")
    return _bench_config(cfg, db=db or default_db_path(), save=db is not None, isolate=isolate, timeout_s=timeout_s,
                         log_root=log_dir, layer_runs=(layer_runs or DEFAULT_LAYER_RUNS) if layers else None)


@dataclass(frozen=True)
class Projections:
    """``project``'s answer: the model's profile, its projection onto each device, the devices skipped."""

    profile: ModelProfile
    scenario: str
    devices: tuple[DeviceProjection, ...]
    skipped: tuple[Skipped, ...]

    def to_dict(self) -> dict:
        """The JSON of `accelbench project --format json` (docs/json.md)."""
        p = self.profile
        return {"model": p.model, "input_shapes": {k: list(v) for k, v in p.input_shapes.items()},
                "precision": p.precision, "scenario": self.scenario, "kind": "projected",
                "devices": [d.to_dict() for d in self.devices] + [s.to_dict() for s in self.skipped],
                "macs": p.macs, "unknown_layers": p.unknown_layers.to_dict()}


def _projection_profile(model: str, resolution, input_shapes, precision: str) -> ModelProfile:
    """The profile projections run on: refused at 0 MACs (nothing to project)."""
    found = load_profile(model, resolution=resolution, batch=1, input_shapes=_shapes(input_shapes),
                         precision=parse_precision(precision))
    found.require_counted_macs("projections")
    return found


def _calibration_records(db: str | None, calibration: bool) -> dict:
    if not calibration or db is None:
        return {}
    return {"records": store_records(db), "store": str(db)}


def project(model: str, *, devices: str = "all", precision: str = "int8", batch: int | None = None,
            resolution: str | None = None, input_shapes=None, scenario: str = "offline", calibration: bool = True,
            db: str | None = None) -> Projections:
    """PROJECT ``model`` onto catalog devices (ids comma-separated, "host" or "all"): latency,
    throughput, MAC utilization, bounds, energy, per W and per $, each with its 80 % band
    (docs/projection.md). ``db``: calibrate the devices measured there from their records;
    ``calibration`` False: the shipped parameters only."""
    targets = resolve_devices(devices)  # a bad device id fails before the model loads
    found = _projection_profile(model, resolution, input_shapes, precision)
    done, skipped = project_devices(found, targets, scenario=scenario, batch=batch,
                                    use_calibration=calibration, **_calibration_records(db, calibration))
    return Projections(found, scenario, tuple(done), tuple(skipped))


@dataclass(frozen=True)
class Ranking:
    """``rank``'s answer: the model's profile and the catalog ranked by projected throughput."""

    profile: ModelProfile
    ranking: DeviceRanking

    def to_dict(self) -> dict:
        """The JSON of `accelbench rank --format json` (docs/json.md)."""
        p, r = self.profile, self.ranking
        out = {"model": p.model, "precision": p.precision, "kind": "projected",
               "input_shapes": {k: list(v) for k, v in p.input_shapes.items()},
               "spearman_throughput_vs_peak": r.spearman_throughput_vs_peak,
               "devices": [d.to_dict() for d in r.devices], "skipped": [s.to_dict() for s in r.skipped],
               "macs": p.macs, "unknown_layers": p.unknown_layers.to_dict()}
        if r.constraints is not None:
            out["constraints"] = r.constraints.to_dict()
            out["excluded"] = [e.to_dict() for e in r.excluded]
        return out


def rank(model: str, *, precision: str = "int8", batch: int | None = None, resolution: str | None = None,
         input_shapes=None, calibration: bool = True, db: str | None = None, max_latency_ms: float | None = None,
         max_watts: float | None = None, max_price: float | None = None) -> Ranking:
    """Rank every catalog device by PROJECTED throughput on ``model``, beside its rank by peak TOPS;
    only the devices that meet the constraints (``max_latency_ms``: projected batch-1 latency,
    ``max_watts``: TDP, ``max_price``: list price in USD) are ranked, the others are listed in
    ``ranking.excluded`` with the reason."""
    found = _projection_profile(model, resolution, input_shapes, precision)
    return Ranking(found, rank_devices(found, batch=batch, use_calibration=calibration,
                                       constraints=constraints(max_latency_ms, max_watts, max_price),
                                       **_calibration_records(db, calibration)))


def plan_run(model: str | None = None, *, resolution: str | None = None, full: bool = False,
             objective: str = "latency", backend: str = "auto", precisions: Sequence[str] | None = None,
             time_limit_s: float | None = None, layers: bool = True, max_latency_ms: float | None = None,
             max_watts: float | None = None, max_price: float | None = None) -> RunPlan:
    """The four-stage job's plan, every option checked before anything runs: its configurations, its
    estimated duration (``estimated_duration_s()``), the zoo model closest to ``model``. ``run(plan=...)``
    runs it."""
    return make_plan(model=model, resolution=resolution, full=full, objective=objective.strip().lower(),
                     backend=backend.strip().lower(),
                     precisions=tuple(parse_precision(p) for p in precisions) if precisions else None,
                     time_limit_s=time_limit_s, layers=layers,
                     constraints=constraints(max_latency_ms, max_watts, max_price))


def run(model: str | None = None, *, plan: RunPlan | None = None, db: str | None = None, report: str | None = None,
        write_report_html: bool = True, progress: Progress | None = None, command: str = "accelbench.run()",
        cluster: str | None = None, explicit_precisions: bool | None = None, **options: Any) -> RunOutcome:
    """The four-stage job (`accelbench run`): stages 1-3 (and 4 with ``model``), a ranked answer that
    ranks only what meets the constraints (``max_latency_ms``, ``max_watts``, ``max_price``), and the
    HTML report (``report``: its path, by default accelbench-out/report-<run>.html;
    ``write_report_html`` False: none). ``options``: plan_run's (resolution, full, objective,
    backend, precisions, time_limit_s, layers, ...), or a ready ``plan``. Records and the summary go to
    ``db`` (default ./accelbench.db or $ACCELBENCH_DB). ``progress``: what to show meanwhile (default: nothing).
    ``cluster``: a Ray cluster's address (`run --cluster`, docs/cluster.md): every device of the
    cluster measures the plan, each at the given precisions if ``explicit_precisions`` (default: when
    ``precisions`` were given), else at FP32 and its own best reduced precision."""
    if plan is None:
        if explicit_precisions is None:
            explicit_precisions = bool(options.get("precisions"))
        plan = plan_run(model, **options)
    elif model is not None or options:
        raise UserError("run: give a plan or the options of one, not both")
    shown = progress or Progress(plan.estimated_duration_s(), quiet=True, live=False)
    if cluster is not None:
        return run_cluster_job(plan, address=cluster, db_path=db or default_db_path(), progress=shown,
                               explicit_precisions=bool(explicit_precisions), report_path=report,
                               write_html=write_report_html, command=command)
    return run_job(plan, db_path=db or default_db_path(), progress=shown, command=command, report_path=report,
                   write_html=write_report_html)


def calibrate(db: str, device: str = "host", *, save: bool = True) -> Calibration:
    """Fit ``device``'s compute and DRAM efficiency and per-layer overhead to its stable measurements
    in the results store ``db`` (`accelbench calibrate`); saved for later projections unless ``save`` is off."""
    return calibrate_device(db, device, save=save)


def results(db: str, *, run: str | None = None, model: str | None = None, backend: str | None = None,
            precision: str | None = None) -> list[BenchRecord]:
    """The records of the results store ``db`` (``run``: one run id, or "latest")."""
    with open_store(db, read_only=True) as store:
        if run == "latest":
            ids = store.run_ids()
            run = ids[-1] if ids else None
        return store.query(run_id=run, model=model, backend=backend,
                           precision=parse_precision(precision) if precision else None)


def report(db: str, *, run: str | None = None, output: str | os.PathLike = "report.html") -> Path:
    """Write the self-contained HTML report of ``run`` (default: the newest) to ``output``; its path."""
    path, _ = write_report(db, run, output)
    return path


def compare(a: str, b: str, *, db: str, force: bool = False) -> Comparison:
    """A and B (record ids, run ids, run:ID, record:ID) side by side, each difference against the noise."""
    return _compare(db, a, b, force=force)
