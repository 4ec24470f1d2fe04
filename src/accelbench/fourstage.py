"""The four-stage run (`accelbench run`): the main job, walking a user from peak TOPS to their model.

The stages are views over the same parts every other command uses: the host's peaks
(hardware/), measured records (measure.runner.run_config -> results store), static profiles
(profile/) and projections onto catalog devices (projection/). This module only plans the
configurations, runs them in order, states each stage's lesson in numbers and ranks the results.

Sizes: the default plan measures ResNet-50 at 224 (batch 8, offline: how datasheets quote it)
and at 2 MP (batch 1: what an edge application needs), YOLOv3 at 1 MP (``--full``: 1, 2 and 4 MP),
and the user's model, each at FP32 and at the best reduced precision of this host. The
environment variable ACCELBENCH_TINY=1 shrinks every size (tests; the same code path).
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable

from accelbench.errors import UserError, choice_error

TINY_ENV = "ACCELBENCH_TINY"
OBJECTIVES = ("latency", "throughput", "per-watt", "per-dollar")


@dataclass(frozen=True)
class StageConfig:
    """One configuration to measure in a stage (the precision comes from the plan)."""

    stage: int
    model: str
    resolution: str | None
    batch: int
    scenario: str  # single-stream (batch 1, latency) or offline (throughput at a batch)
    label: str
    source: str = "zoo"


@dataclass(frozen=True)
class RunPlan:
    configs: tuple[StageConfig, ...]
    precisions: tuple[str, ...]  # fp32 first, then the reduced precision
    backend: str  # a backend name, or "auto": resolved on the first configuration
    time_limit_s: float
    objective: str
    tiny: bool
    full: bool
    user_model: str | None = None
    user_resolution: str | None = None

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise choice_error("objective", self.objective, OBJECTIVES)

    @property
    def measurements(self) -> int:
        return len(self.configs) * len(self.precisions)

    def estimated_duration_s(self) -> float:
        """A rough upper estimate: stage 1, then per measurement its time cap plus set-up
        (child start, model build, compile; INT8 calibration costs more)."""
        per_setup = 4.0 if self.tiny else 9.0
        calibration = 3.0 if self.tiny else 10.0
        reduced = sum(1 for p in self.precisions if p != "fp32")
        stage1 = 4.0 if self.tiny else 10.0
        return stage1 + self.measurements * (self.time_limit_s + per_setup) + len(self.configs) * reduced * calibration


def stage_sizes(tiny: bool, full: bool) -> dict[str, list[tuple[str, int, str]]]:
    """(resolution, batch, scenario) per stage model."""
    if tiny:
        return {
            "resnet50": [("64", 4, "offline"), ("128x96", 1, "single-stream")],
            "yolov3": [("128x96", 1, "single-stream")] + ([("160x96", 1, "single-stream")] if full else []),
        }
    return {
        "resnet50": [("224", 8, "offline"), ("2mp", 1, "single-stream")],
        "yolov3": [("1mp", 1, "single-stream")] + ([("2mp", 1, "single-stream"), ("4mp", 1, "single-stream")]
                                                    if full else []),
    }


def make_plan(*, model: str | None = None, resolution: str | None = None, full: bool = False,
              objective: str = "latency", backend: str = "auto", precisions: tuple[str, ...] | None = None,
              time_limit_s: float | None = None, tiny: bool | None = None) -> RunPlan:
    """Validate the options and lay out every configuration before anything runs."""
    from accelbench.models.loader import load_model
    from accelbench.shapes import parse_resolution

    tiny = os.environ.get(TINY_ENV) == "1" if tiny is None else tiny
    if objective not in OBJECTIVES:
        raise choice_error("objective", objective, OBJECTIVES)
    sizes = stage_sizes(tiny, full)
    configs: list[StageConfig] = []
    for res, batch, scenario in sizes["resnet50"]:
        configs.append(StageConfig(2, "resnet50", res, batch, scenario, f"ResNet-50 @ {res}, batch {batch}"))
    for res, batch, scenario in sizes["yolov3"]:
        configs.append(StageConfig(3, "yolov3", res, batch, scenario, f"YOLOv3 @ {res}, batch 1"))
    if model is not None:
        if resolution is not None:
            parse_resolution(resolution)
        # Fail now, not after minutes of stages 1-3: load (weightless) to check the name/file and shapes.
        loaded = load_model(model, resolution=resolution, batch=1, with_weights=False)
        res = resolution if resolution is not None else (loaded.resolution.spec if loaded.resolution else None)
        configs.append(StageConfig(4, model, res, 1, "single-stream", f"{loaded.name} @ {res or 'its own shape'}, batch 1",
                                   source=loaded.source))
    if precisions is None:
        precisions = ("fp32", best_reduced_precision(backend))
    _check_precisions(backend, precisions)
    limit = time_limit_s if time_limit_s is not None else (1.0 if tiny else 6.0)
    if limit <= 0:
        raise UserError(f"time-limit: must be a positive number of seconds; got {limit}")
    return RunPlan(tuple(configs), tuple(precisions), backend, limit, objective, tiny, full, model, resolution)


def _check_precisions(backend: str, precisions: tuple[str, ...], device: str = "cpu") -> None:
    """Refuse, before anything runs, a precision that no usable backend can run on ``device``."""
    from accelbench.backends.base import backend_names, get_backend

    if backend == "torch":
        raise UserError("backend: the four-stage run measures zoo models, which the torch backend cannot run; "
                        "choose one of: auto, onnxruntime, openvino (torch runs your own modules in `accelbench bench`)")
    if backend == "auto":
        names = [n for n in backend_names() if n not in ("auto", "torch") and _backend_available(n)]
    else:
        names = [get_backend(backend).name]  # UserError for an unknown or missing backend
    can = set()
    for name in names:
        can.update(get_backend(name).supported().get(device, ()))
    for precision in precisions:
        if precision not in can:
            raise UserError(f"precision: {precision!r} cannot run on {device} with "
                            f"{'any installed backend' if backend == 'auto' else backend}; "
                            f"possible: {', '.join(sorted(can)) or 'none'}")


def _backend_available(name: str) -> bool:
    from accelbench.backends.base import get_backend
    from accelbench.errors import BackendUnavailable

    try:
        get_backend(name)
        return True
    except BackendUnavailable:
        return False


def best_reduced_precision(backend: str) -> str:
    """INT8 where the CPU has integer dot-product hardware (VNNI/AMX-INT8: it runs faster than BF16);
    else BF16 where it has AMX/AVX512_BF16 and the backend can use it; else INT8."""
    from accelbench.hardware.host import detect_host

    host = detect_host(with_gpus=False)
    if any(host.has(f) for f in ("amx_int8", "avx512_vnni", "avx_vnni")):
        return "int8"
    if backend in ("openvino", "auto") and any(host.has(f) for f in ("amx_bf16", "avx512_bf16")):
        return "bf16"
    return "int8"


# -- progress ------------------------------------------------------------------------------------
class Progress:
    """What the user sees while the run goes on: a live rich display on a terminal, plain lines
    elsewhere (and with --quiet only the stage lessons). A heartbeat line every few seconds keeps
    plain output from going silent during a long measurement."""

    def __init__(self, total_s: float, *, quiet: bool = False, live: bool | None = None, heartbeat_s: float = 5.0):
        import sys

        from accelbench.report.terminal import make_console

        self.quiet = quiet
        self.live = (sys.stdout.isatty() if live is None else live) and not quiet
        # Plain output (a pipe, a CI log) keeps each line whole instead of wrapping it.
        self.console = make_console(soft_wrap=not self.live)
        self.total_s = total_s
        self.started = time.monotonic()
        self.heartbeat_s = heartbeat_s
        self._progress = None
        self._task = None
        self._stop = None
        self._current = ""

    def __enter__(self) -> "Progress":
        if self.live:
            from rich.progress import BarColumn, Progress as RichProgress, TextColumn, TimeElapsedColumn

            self._progress = RichProgress(
                TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[eta]}"),
                TimeElapsedColumn(), console=self.console, transient=True)
            self._progress.__enter__()
            self._task = self._progress.add_task("starting", total=self.total_s, eta="")
        elif not self.quiet:
            import threading

            self._stop = threading.Event()
            threading.Thread(target=self._heartbeat, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)
        if self._stop is not None:
            self._stop.set()

    def _heartbeat(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(1.0):
            if self._current and time.monotonic() - last >= self.heartbeat_s:
                last = time.monotonic()
                self.console.print(f"  ... {self._current} ({self.elapsed_s:.0f} s elapsed, {self.eta_text()})")

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    def eta_text(self) -> str:
        left = max(0.0, self.total_s - self.elapsed_s)
        return f"about {left:.0f} s left" if left else "finishing"

    def step(self, text: str) -> None:
        """A configuration starts."""
        self._current = text
        if self._progress is not None:
            self._progress.update(self._task, description=text, completed=min(self.elapsed_s, self.total_s),
                                  eta=self.eta_text())
        elif not self.quiet:
            self.console.print(f"  {text} ...")

    def done(self, text: str) -> None:
        """A configuration finished (one result line)."""
        self._current = ""
        if self._progress is not None:
            self._progress.update(self._task, completed=min(self.elapsed_s, self.total_s))
        if not self.quiet:
            self.console.print(f"    {text}")

    def say(self, text: str = "", *, always: bool = False) -> None:
        if always or not self.quiet:
            self.console.print(text)


# -- execution ----------------------------------------------------------------------------------
@dataclass
class _Measured:
    config: StageConfig
    precision: str
    record: object  # BenchRecord


@dataclass
class RunOutcome:
    summary: object  # RunSummary
    records: list = field(default_factory=list)
    report_path: str | None = None


def _fmt_rate(macs_per_s: float | None) -> str:
    return "n/a" if not macs_per_s else f"{macs_per_s / 1e9:,.1f} GMAC/s"


def _fmt_macs(macs: float | None) -> str:
    if not macs:
        return "n/a"
    for unit, size in (("GMAC", 1e9), ("MMAC", 1e6), ("kMAC", 1e3)):
        if macs >= size:
            return f"{macs / size:,.1f} {unit}"
    return f"{macs:.0f} MAC"


def _fmt_ms(ns: float | None) -> str:
    return "n/a" if ns is None else f"{ns / 1e6:,.1f} ms"


def _fmt_pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.0%}" if x >= 0.1 else f"{x:.1%}"


def _fmt_bytes(n: float | None) -> str:
    if n is None:
        return "n/a"
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{n:.0f} B"


def _util(record) -> str:
    """MAC utilization against the theoretical and (where known) the measured peak of the precision that ran."""
    text = f"{_fmt_pct(record.mac_utilization)} of theoretical peak"
    if record.mac_utilization_measured_peak is not None:
        text += f" / {_fmt_pct(record.mac_utilization_measured_peak)} of measured GEMM peak"
    return text


def _record_line(record) -> str:
    if not record.ok:
        return f"FAILED ({record.failure_kind}): {record.error}"
    stats = record.stats
    ran = record.precision_executed or record.config.precision
    backend = (record.run_info or {}).get("runtime", record.config.backend)
    parts = [f"{backend} {ran}", f"p50 {_fmt_ms(stats.p50_ns)}", f"{record.throughput_per_s:,.2f} inf/s",
             f"{_fmt_rate(record.macs_per_s)}", f"MAC utilization {_util(record)}"]
    if record.stability is not None and getattr(record.stability, "warnings", None):
        parts.append(f"unstable: {record.stability.warnings[0]}")
    return ", ".join(parts)


def execute(plan: RunPlan, *, db_path: str, progress: Progress, command: str = "accelbench run",
            isolate: bool = True) -> RunOutcome:
    """Run every stage of ``plan``, store records and the run summary in ``db_path``."""
    from accelbench.measure.environment import collect_environment
    from accelbench.measure.runner import run_config
    from accelbench.results.records import BenchConfig, new_run_id, utc_now
    from accelbench.results.store import ResultStore
    from accelbench.results.summary import RunSummary, StageSummary, save_run_summary

    run_id = new_run_id()
    started = time.monotonic()
    created = utc_now()
    stages: list[StageSummary] = []

    progress.say("[bold]Stage 1 - peak TOPS[/bold]: what datasheets sell")
    stage1, peaks = _stage1(plan, progress)
    stages.append(stage1)
    progress.say(f"  lesson: {stage1.lesson}", always=True)

    measured: list[_Measured] = []
    backend = plan.backend
    with ResultStore(db_path) as store:
        for stage_no, title in ((2, "ResNet-50, done right"), (3, "a real-world model"), (4, "your model")):
            stage_configs = [c for c in plan.configs if c.stage == stage_no]
            if not stage_configs:
                continue
            progress.say(f"[bold]Stage {stage_no} - {title}[/bold]")
            for cfg in stage_configs:
                for precision in plan.precisions:
                    progress.step(f"stage {stage_no}: {cfg.label}, {precision}")
                    config = BenchConfig(model=cfg.model, source=cfg.source, resolution=cfg.resolution,
                                         batch=cfg.batch, backend=backend, precision=precision,
                                         scenario=cfg.scenario, mode="quick", time_limit_s=plan.time_limit_s)
                    try:
                        record = run_config(config, run_id=run_id, isolate=isolate)
                    except UserError as exc:  # e.g. a precision this backend cannot run: keep going
                        from accelbench.results.records import BenchRecord

                        record = BenchRecord.failed(config, run_id, str(exc), "user-error",
                                                    environment=collect_environment(config.device))
                    store.save(record)
                    if record.ok and backend == "auto":
                        # "auto" tried the installed backends on the first configuration; keep its pick.
                        backend = (record.run_info or {}).get("runtime", backend)
                        progress.say(f"  auto picked the {backend} backend (short trial on {cfg.label})")
                    measured.append(_Measured(cfg, precision, record))
                    progress.done(f"{cfg.label}, {precision}: {_record_line(record)}")
            stage = _stage_summary(stage_no, title, [m for m in measured if m.config.stage == stage_no], peaks, plan)
            stages.append(stage)
            progress.say(f"  lesson: {stage.lesson}", always=True)

    if plan.user_model is None:
        stages.append(StageSummary(4, "your model", "", skipped="no --model given: run `accelbench run --model "
                                   "PATH_OR_ZOO_NAME` to measure your own network"))
    progress.step("projecting onto catalog devices and ranking")
    projections = _projections(plan, measured)
    ranking = rank_entries(measured, projections, plan.objective)
    if projections and stages:
        stages[0] = _with_rank_lesson(stages[0], projections)
    summary = RunSummary(
        run_id=run_id, created=created, command=command, objective=plan.objective, stages=tuple(stages),
        ranking=tuple(ranking), projections=tuple(projections), duration_s=time.monotonic() - started,
        environment=collect_environment("cpu"),
        notes=(f"backend: {backend}", f"precisions: {', '.join(plan.precisions)}",
               "sizes shrunk by ACCELBENCH_TINY=1 (test mode)" if plan.tiny else "full sizes"),
    )
    save_run_summary(db_path, summary)
    progress.done("")
    return RunOutcome(summary, [m.record for m in measured])


def _stage1(plan: RunPlan, progress: Progress):
    """Host theoretical and measured peaks beside the catalog's devices."""
    from accelbench.hardware.catalog import load_catalog
    from accelbench.hardware.host import detect_host, theoretical_peaks
    from accelbench.results.summary import StageSummary

    host = detect_host(with_gpus=True)
    peaks: list[dict] = []
    for peak in theoretical_peaks(host):
        peaks.append({"device": "host", "name": host.cpu_model, "kind": "CPU", "precision": peak.precision,
                      "peak_ops_per_s": peak.ops_per_s, "source": "theoretical", "arithmetic": peak.arithmetic})
    progress.step("stage 1: measuring this CPU's GEMM peak")
    try:
        from accelbench.backends.gemm_peak import measure_host_gemm, remember_measurements

        n = 512 if plan.tiny else 2048
        measurements = measure_host_gemm(n=n, budget_s=0.3 if plan.tiny else 1.5,
                                         precisions=("fp32",) + tuple(p for p in plan.precisions if p != "fp32"))
        if not plan.tiny:  # a tiny GEMM is no peak: do not let it stand for this host later
            remember_measurements(host, measurements)
        for gemm in measurements:
            if gemm.ops_per_s:
                peaks.append({"device": "host", "name": host.cpu_model, "kind": "CPU",
                              "precision": gemm.precision, "peak_ops_per_s": gemm.ops_per_s, "source": "measured",
                              "arithmetic": f"{gemm.n}^3 GEMM on {gemm.runtime}, best of {len(gemm.run_times_ns)}, "
                                            f"ran as {gemm.precision_executed}"})
    except UserError as exc:
        progress.say(f"  measured GEMM peak unavailable: {exc}")
    progress.done("host peaks: " + "; ".join(
        f"{p['precision']} {p['source']} {p['peak_ops_per_s'] / 1e9:,.0f} GOPS" for p in peaks))
    for spec in load_catalog().values():
        for precision, ops in spec.peak_ops_per_s.items():
            peaks.append({"device": spec.id, "name": spec.name, "kind": spec.kind, "precision": precision,
                          "peak_ops_per_s": ops, "source": "catalog"})
    theo = {p["precision"]: p["peak_ops_per_s"] for p in peaks if p["device"] == "host" and p["source"] == "theoretical"}
    meas = {p["precision"]: p["peak_ops_per_s"] for p in peaks if p["device"] == "host" and p["source"] == "measured"}
    if "fp32" in theo:
        lesson = f"peak says {theo['fp32'] / 2e9:,.0f} GMAC/s FP32 on this host ({host.physical_cores} cores)"
        if "fp32" in meas:
            share = meas["fp32"] / theo["fp32"]
            lesson += f"; a large FP32 GEMM achieved {meas['fp32'] / 2e9:,.0f} GMAC/s ({share:.0%})"
            if share > 1.0:
                lesson += (" - above the theoretical peak, so this CPU runs faster than the clock the OS "
                           "reports; the measured peak is the better yardstick here")
            lesson += " - and real models get less (stages 2-4)"
    else:
        lesson = "this host's clock is unknown, so no theoretical peak; see the catalog devices"
    return StageSummary(1, "peak TOPS", lesson, data={"peaks": peaks}), peaks


def _activation_rows(model: str, resolutions: list[str | None], precision: str, source: str) -> list[dict]:
    from accelbench.models.loader import load_model
    from accelbench.profile import profile_model

    rows = []
    for res in resolutions:
        loaded = load_model(model, resolution=res, batch=1, with_weights=False)
        profile = profile_model(loaded, precision=precision)
        pixels = loaded.resolution.pixels if loaded.resolution else None
        rows.append({"resolution": res or "default", "pixels": pixels, "precision": precision,
                     "macs": profile.macs,
                     "largest_activation_bytes": profile.largest_activation_bytes,
                     "peak_live_activation_bytes": profile.peak_live_activation_bytes, "profile": profile})
    return rows


def _slowest_layers(profile, limit: int = 12) -> list[dict]:
    """The slowest layers of ``profile`` as projected on this host (labelled projected)."""
    try:
        from accelbench.projection import project_on_device

        proj = project_on_device(profile, "host", batch=profile.batch)
    except Exception:  # projection unavailable for this host: fall back to MACs only
        layers = sorted(profile.layers, key=lambda l: -l.macs)[:limit]
        return [{"name": l.name, "op": l.op, "macs": l.macs, "output_bytes": l.output_bytes,
                 "time_s": None, "time_source": None} for l in layers]
    by_name = {l.name: l for l in profile.layers}
    rows = []
    for lp in sorted(proj.layers, key=lambda l: -l.time_s)[:limit]:
        layer = by_name.get(lp.name)
        rows.append({"name": lp.name, "op": layer.op if layer else "", "macs": layer.macs if layer else 0,
                     "output_bytes": layer.output_bytes if layer else 0, "time_s": lp.time_s,
                     "time_source": "projected:host", "bound": lp.bound})
    return rows


def _stage_summary(stage_no: int, title: str, items: list[_Measured], peaks: list[dict], plan: RunPlan):
    from accelbench.hardware.catalog import load_catalog
    from accelbench.results.summary import StageSummary

    model = items[0].config.model
    source = items[0].config.source
    resolutions = list(dict.fromkeys(m.config.resolution for m in items))
    act_precision = plan.precisions[-1]
    activations = _activation_rows(model, resolutions, act_precision, source)
    profile_for_layers = activations[-1].pop("profile")
    for row in activations:
        row.pop("profile", None)
    sram = [{"device": s.id, "name": s.name, "onchip_sram_bytes": s.onchip_sram_bytes}
            for s in load_catalog().values() if s.onchip_sram_bytes]
    data = {
        "model": model,
        "configs": [{"record_id": m.record.record_id, "label": m.config.label, "resolution": m.config.resolution,
                     "batch": m.config.batch, "precision": m.precision, "scenario": m.config.scenario}
                    for m in items],
        "activations": activations,
        "sram": sram,
        "layers": _slowest_layers(profile_for_layers),
    }
    if stage_no == 4:
        try:
            from accelbench.models.similarity import closest_zoo_models

            data["closest"] = [s.to_dict() for s in closest_zoo_models(profile_for_layers, resolution=None,
                                                                       exclude=model)]
        except Exception as exc:  # the finder is a hint, never a reason to lose the stage
            data["closest"] = []
            data["closest_error"] = str(exc)
    lesson = stage_lesson(stage_no, items, activations, sram)
    if stage_no == 4 and data.get("closest"):
        best = data["closest"][0]
        lesson += f"; closest zoo model: {best['model']} ({best['why']})"
    return StageSummary(stage_no, title, lesson, tuple(m.record.record_id for m in items), data)


def _best(items: list[_Measured], key: Callable) -> _Measured | None:
    ok = [m for m in items if m.record.ok and key(m) is not None]
    return max(ok, key=key) if ok else None


def stage_lesson(stage_no: int, items: list[_Measured], activations: list[dict], sram: list[dict]) -> str:
    """One line that states the stage's lesson in numbers (only from measured records and profiles)."""
    ok = [m for m in items if m.record.ok]
    if not ok:
        return "every configuration of this stage failed; see the records for why"
    if stage_no == 2 and len(activations) >= 2:
        big = [m for m in ok if m.config.resolution == items[0].config.resolution]
        small_batch = [m for m in ok if m.config.resolution != items[0].config.resolution]
        a = _best(big, lambda m: m.record.throughput_per_s)
        b = _best(small_batch, lambda m: m.record.throughput_per_s)
        lo, hi = activations[0], activations[-1]
        grow = hi["peak_live_activation_bytes"] / max(lo["peak_live_activation_bytes"], 1)
        beyond = sum(1 for s in sram if s["onchip_sram_bytes"] < hi["peak_live_activation_bytes"])
        parts = []
        if a is not None:
            parts.append(f"datasheet-style {a.config.label} ({a.record.precision_executed}): "
                         f"{a.record.throughput_per_s:,.1f} inf/s, MAC utilization {_util(a.record)}")
        if b is not None:
            parts.append(f"{b.config.label} ({b.record.precision_executed}): "
                         f"{_fmt_ms(b.record.stats.p50_ns)} per frame, {b.record.throughput_per_s:,.2f} inf/s, "
                         f"MAC utilization {_util(b.record)}")
        parts.append(f"live activations grow {grow:,.0f}x ({_fmt_bytes(lo['peak_live_activation_bytes'])} -> "
                     f"{_fmt_bytes(hi['peak_live_activation_bytes'])} at {lo['precision']}), more than the on-chip "
                     f"memory of {beyond} of {len(sram)} catalog devices")
        return "; ".join(parts)
    best = _best(ok, lambda m: m.record.throughput_per_s)
    rec = best.record
    peak = rec.peak_macs_per_s
    line = (f"{best.config.label}: {_fmt_macs(rec.macs_per_inference)} per inference, "
            f"{rec.throughput_per_s:,.2f} inf/s at {rec.precision_executed} ({_fmt_ms(rec.stats.p50_ns)} p50); ")
    if peak:
        line += f"peak says {peak / 1e9:,.0f} GMAC/s; it achieved {_fmt_rate(rec.macs_per_s)} ({_util(rec)})"
        if rec.mac_utilization and rec.mac_utilization > 1.0:
            line += (" - above 100 % of theoretical: the theoretical peak uses the clock the OS reports, "
                     "and this CPU runs faster")
    else:
        line += f"it achieved {_fmt_rate(rec.macs_per_s)}"
    fp32 = [m for m in ok if m.record.precision_executed == "fp32" and m.config == best.config]
    if fp32 and best.precision != "fp32":
        line += f"; {rec.throughput_per_s / fp32[0].record.throughput_per_s:.1f}x the FP32 rate"
    line += f"; peak live activations {_fmt_bytes(activations[-1]['peak_live_activation_bytes'])}"
    return line


# -- projection and ranking ------------------------------------------------------------------------
def _ranking_model(plan: RunPlan, measured: list[_Measured]) -> StageConfig | None:
    for stage in (4, 3, 2):
        cfgs = [m.config for m in measured if m.config.stage == stage]
        if cfgs:
            return cfgs[0]
    return None


def _projections(plan: RunPlan, measured: list[_Measured]) -> list[dict]:
    """Project the ranking model (the user's, else YOLOv3) onto every catalog device, batch 1."""
    cfg = _ranking_model(plan, measured)
    if cfg is None:
        return []
    try:
        from accelbench.models.loader import load_model
        from accelbench.profile import profile_model
        from accelbench.projection import project_all

        loaded = load_model(cfg.model, resolution=cfg.resolution, batch=1, with_weights=False)
        results = []
        for precision in ("int8", "fp16", "fp32"):
            profile = profile_model(loaded, precision=precision)
            for proj in project_all(profile, precision=precision):
                results.append({**proj, "model": cfg.model, "resolution": cfg.resolution, "label": cfg.label})
        # One entry per device: its best precision (int8 first; a device without it falls back).
        seen, best = set(), []
        for row in results:
            if row["device"] not in seen:
                seen.add(row["device"])
                best.append(row)
        return best
    except ImportError:
        return []


def rank_entries(measured: list[_Measured], projections: list[dict], objective: str) -> list[dict]:
    """Measured configurations of the ranking model and projected catalog devices, best first."""
    if not measured:
        return []
    target = next((s for s in (4, 3, 2) if any(m.config.stage == s for m in measured)), None)
    entries = []
    for m in measured:
        rec = m.record
        if m.config.stage != target or not rec.ok:
            continue
        entries.append({
            "label": f"this host ({(rec.run_info or {}).get('runtime', rec.config.backend)}, "
                     f"{rec.precision_executed}) @ {m.config.resolution}",
            "kind": "measured", "record_id": rec.record_id, "device": "host", "model": m.config.model,
            "precision": rec.precision_executed, "latency_s": rec.stats.p50_ns / 1e9,
            "throughput_per_s": rec.throughput_per_s, "per_w": rec.inferences_per_s_per_w,
            "per_w_source": "estimated" if not rec.power.measured else "measured",
            "per_usd": rec.inferences_per_s_per_usd,
        })
    for proj in projections:
        entries.append({
            "label": f"{proj.get('device_name', proj['device'])} ({proj.get('precision')}) @ {proj.get('resolution')}",
            "kind": "projected", "device": proj["device"], "model": proj.get("model"),
            "precision": proj.get("precision"), "latency_s": proj.get("latency_s"),
            "throughput_per_s": proj.get("throughput_per_s"), "per_w": proj.get("throughput_per_w"),
            "per_w_source": "estimated", "per_usd": proj.get("throughput_per_usd"),
        })
    key = {"latency": ("latency_s", False), "throughput": ("throughput_per_s", True),
           "per-watt": ("per_w", True), "per-dollar": ("per_usd", True)}[objective]
    field_name, descending = key
    have = [e for e in entries if e.get(field_name) is not None]
    missing = [e for e in entries if e.get(field_name) is None]
    have.sort(key=lambda e: e[field_name], reverse=descending)
    for rank, entry in enumerate(have, 1):
        entry["rank"] = rank
        entry["metric"] = field_name
        entry["value"] = entry[field_name]
    for entry in missing:
        entry["rank"] = None
        entry["metric"] = field_name
        entry["value"] = None
    return have + missing


def _with_rank_lesson(stage1, projections: list[dict]):
    """Add the stage-1 lesson in one number: how well peak TOPS ranks devices for the real model,
    at the best batch (datasheet style) and at batch 1 (latency, what an edge application needs)."""
    from dataclasses import replace

    from accelbench.hardware.catalog import load_catalog

    catalog = load_catalog()
    peaks, best_batch, batch1 = [], [], []
    for proj in projections:
        spec = catalog.get(proj["device"])
        peak = spec.peak_ops_per_s.get(proj.get("precision")) if spec is not None else None
        if peak and proj.get("throughput_per_s") and proj.get("latency_s"):
            peaks.append(peak)
            best_batch.append(proj["throughput_per_s"])
            batch1.append(1.0 / proj["latency_s"])
    if len(peaks) < 3:
        return stage1
    rho_best, rho_one = spearman(peaks, best_batch), spearman(peaks, batch1)
    model = projections[0].get("label", "the real model")
    lesson = (stage1.lesson + f"; ranking {len(peaks)} catalog devices by peak TOPS vs by projected {model} "
              f"throughput: Spearman rho = {rho_best:.2f} at the best batch, {rho_one:.2f} at batch 1")
    utils = [(p["mac_utilization"], p.get("device_name", p["device"])) for p in projections
             if p.get("mac_utilization") is not None]
    if len(utils) >= 2:
        (lo, lo_name), (hi, hi_name) = min(utils), max(utils)
        scenario = projections[0].get("scenario", "offline")
        lesson += (f"; projected MAC utilization ({scenario}) runs from {lo:.0%} ({lo_name}) "
                   f"to {hi:.0%} ({hi_name})")
    return replace(stage1, lesson=lesson,
                   data={**stage1.data, "rank_correlation": rho_best, "rank_correlation_batch1": rho_one})


def spearman(xs: list[float], ys: list[float]) -> float:
    """Spearman's rank correlation (average ranks for ties)."""

    def ranks(values):
        order = sorted(range(len(values)), key=lambda i: values[i])
        result = [0.0] * len(values)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
                j += 1
            for k in range(i, j + 1):
                result[order[k]] = (i + j) / 2 + 1
            i = j + 1
        return result

    rx, ry = ranks(xs), ranks(ys)
    mx, my = statistics.fmean(rx), statistics.fmean(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    var = (sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry)) ** 0.5
    return cov / var if var else 0.0
