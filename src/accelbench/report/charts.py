"""Charts as plain data (no plotting library here): html.py draws them with plotly.js, png.py with
matplotlib. Each chart and each series says where its numbers come from: ``measured`` (timed on
this host), ``derived`` (computed from measured figures and a static profile), ``estimated``
(a model stands in for a missing counter, e.g. power from TDP), ``projected`` (the analytical
device model), ``calibrated`` (a calibrated projection: the device model with figures fitted on the
device's own measurements), ``datasheet`` (a vendor figure from the catalog).

Axis values are already scaled to the display unit named in the axis title (units.py). A series may
carry an interval per point (``y_low``/``y_high``, ``x_low``/``x_high``, in axis units, None where a
point has none): the renderers draw it as error bars (a projection's 80 % band, a measurement's
confidence interval).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from accelbench.report.data import ReportData
from accelbench.report.units import select_time_unit
from accelbench.results.summary import MeasuredStageData, RankEntry

PROVENANCES = ("measured", "derived", "estimated", "projected", "calibrated", "datasheet")
PEAK_PROVENANCE = {"measured": "measured", "theoretical": "derived", "catalog": "datasheet"}  # by PeakFigure.source


@dataclass(frozen=True)
class Series:
    name: str
    x: tuple
    y: tuple
    kind: str = "line"  # line | markers | bar | hbar
    text: tuple = ()  # per-point hover text (plain text; renderers escape it)
    provenance: str = "measured"
    dash: bool = False
    labels: tuple = ()  # short per-point labels printed on the chart (for slides); () = none
    # each point's interval in axis units (None: no interval for that point); () = no intervals
    y_low: tuple = ()
    y_high: tuple = ()
    x_low: tuple = ()
    x_high: tuple = ()

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y):
            raise ValueError(f"series {self.name!r}: {len(self.x)} x values but {len(self.y)} y values")
        if self.provenance not in PROVENANCES:
            raise ValueError(f"series {self.name!r}: provenance {self.provenance!r} not in {PROVENANCES}")
        for name in ("y_low", "y_high", "x_low", "x_high"):
            if getattr(self, name) and len(getattr(self, name)) != len(self.x):
                raise ValueError(f"series {self.name!r}: {len(getattr(self, name))} {name} values for {len(self.x)} points")

    @property
    def has_y_interval(self) -> bool:
        return any(v is not None for v in self.y_low) and any(v is not None for v in self.y_high)

    @property
    def has_x_interval(self) -> bool:
        return any(v is not None for v in self.x_low) and any(v is not None for v in self.x_high)


@dataclass(frozen=True)
class RefLine:
    """A horizontal reference line (e.g. a device's on-chip SRAM) at ``y`` in axis units."""

    y: float
    label: str


@dataclass(frozen=True)
class Chart:
    id: str  # stable, file-name safe: the PNG is <id>.png
    title: str
    x_title: str
    y_title: str
    series: tuple[Series, ...]
    caption: str = ""
    log_x: bool = False
    log_y: bool = False
    categorical_x: bool = False
    hlines: tuple[RefLine, ...] = ()
    barmode: str = "group"
    height_px: int = 380
    categories: tuple = ()  # the category axis's order, from the origin out; () = as the series give them

    @property
    def provenances(self) -> tuple[str, ...]:
        seen = []
        for s in self.series:
            if s.provenance not in seen:
                seen.append(s.provenance)
        return tuple(seen)


def _label(rec) -> str:
    cfg = rec.config
    prec = rec.precision_executed or cfg.precision
    if rec.precision_executed and rec.precision_executed != cfg.precision:
        prec = f"{cfg.precision}→{rec.precision_executed}"
    return f"{cfg.model} · {prec} · {rec.runtime} · batch {cfg.batch}"


def _curves(data: ReportData):
    """Records with an image size, grouped into curves over input size: (label -> [records by pixels])."""
    groups: dict[str, list] = defaultdict(list)
    for rec in data.ok_records:
        if rec.pixels_per_inference:
            groups[_label(rec)].append(rec)
    return {k: sorted(v, key=lambda r: r.pixels_per_inference) for k, v in groups.items()}


def latency_vs_resolution(data: ReportData) -> Chart | None:
    curves = _curves(data)
    if not curves:
        return None
    unit = select_time_unit([r.stats.p50_ns / 1e9 for recs in curves.values() for r in recs])
    series = []
    for name, recs in curves.items():
        series.append(Series(
            name=name,
            x=tuple(r.pixels_per_inference / 1e6 for r in recs),
            y=tuple(r.stats.p50_ns / 1e9 / unit[1] for r in recs),
            text=tuple(f"{r.config.resolution or 'default'}: p50 {r.stats.p50_ns / 1e9 / unit[1]:.3g} {unit[0]},"
                       f" p99 {r.stats.p99_ns / 1e9 / unit[1]:.3g} {unit[0]}, n={r.stats.n}" for r in recs),
            kind="line", provenance="measured"))
    return Chart("latency_vs_resolution", "Latency vs input size", "input size (megapixels)",
                 f"latency p50 per query ({unit[0]})", tuple(series), log_y=True,
                 caption="Median latency of one query (one batch); measured with perf_counter_ns around each run.")


def throughput_vs_resolution(data: ReportData) -> Chart | None:
    curves = _curves(data)
    if not curves:
        return None
    series = tuple(Series(
        name=name,
        x=tuple(r.pixels_per_inference / 1e6 for r in recs),
        y=tuple(r.throughput_per_s for r in recs),
        text=tuple(f"{r.config.resolution or 'default'}: {r.throughput_per_s:.3g} inferences/s" for r in recs),
        kind="line", provenance="derived") for name, recs in curves.items())
    return Chart("throughput_vs_resolution", "Throughput vs input size", "input size (megapixels)",
                 "inferences/s", series, log_y=True,
                 caption="Inferences (images) per second = batch / mean query latency (derived from measured latencies).")


def mac_utilization_vs_resolution(data: ReportData) -> Chart | None:
    curves = {k: [r for r in v if r.mac_utilization is not None] for k, v in _curves(data).items()}
    curves = {k: v for k, v in curves.items() if v}
    if not curves:
        return None
    series = tuple(Series(
        name=name,
        x=tuple(r.pixels_per_inference / 1e6 for r in recs),
        y=tuple(r.mac_utilization * 100 for r in recs),
        text=tuple(f"{r.config.resolution or 'default'}: {r.macs_per_s / 1e9:.3g} GMAC/s of"
                   f" {r.peak_macs_per_s / 1e9:.3g} peak" for r in recs),
        kind="line", provenance="derived") for name, recs in curves.items())
    return Chart("mac_utilization", "Keeping the MACs fed: MAC utilization vs input size",
                 "input size (megapixels)", "MAC utilization (% of peak)", series,
                 caption="Achieved MAC/s (throughput x MACs per inference from the static profile) divided by"
                         " the host's theoretical peak MAC/s at the precision that ran.")


def _stage_data(data: ReportData, number: int) -> MeasuredStageData | None:
    """The data of measured stage ``number`` (2-4), None when absent or skipped."""
    st = data.stage(number)
    return None if st is None or st.skipped else st.measured_data


def peaks_chart(data: ReportData) -> Chart | None:
    stage = data.stage(1)
    peaks = list(stage.peak_data.peaks) if stage is not None and stage.peak_data is not None else []
    if not any(p.source == "catalog" for p in peaks):
        peaks += list(data.catalog_peaks)  # the catalog's devices beside the host
    peaks = [p for p in peaks if p.peak_ops_per_s]
    if not peaks:
        return None

    def col(p):
        name = p.name or p.device
        return name if p.source == "catalog" else f"{name} ({p.source})"

    columns = []
    for p in peaks:
        if col(p) not in columns:
            columns.append(col(p))
    by_prec: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    for p in peaks:
        by_prec[(p.precision, PEAK_PROVENANCE[p.source])][col(p)] = p.peak_ops_per_s / 1e12
    order = {"fp32": 0, "tf32": 1, "bf16": 2, "fp16": 3, "int16": 4, "int8": 5}
    series = []
    for (prec, prov), vals in sorted(by_prec.items(), key=lambda kv: (order.get(kv[0][0], 9), kv[0][1])):
        xs = [c for c in columns if c in vals]
        label = prec.upper() if prov == "datasheet" else f"{prec.upper()} ({prov})"
        series.append(Series(label, tuple(xs), tuple(vals[c] for c in xs), kind="bar", provenance=prov,
                             text=tuple(f"{c}: {vals[c]:.3g} TOPS {prec}" for c in xs),
                             labels=tuple(f"{vals[c]:.3g}" for c in xs)))
    return Chart("peak_tops", "Peak TOPS per precision: this host beside the catalog", "",
                 "dense peak (TOPS, 2 ops per MAC)", tuple(series), log_y=True, categorical_x=True,
                 caption="Catalog figures are vendor datasheet peaks; the host's theoretical peak is derived from"
                         " cores x SIMD width x clock; the host's measured peak is a timed GEMM.")


def activation_vs_sram(data: ReportData) -> Chart | None:
    rows, sram = [], []
    for n in (2, 3, 4):
        st = data.stage(n)
        stage_data = _stage_data(data, n)
        if stage_data is None:
            continue
        model = stage_data.model or st.title
        rows.extend((model, a) for a in stage_data.activations)
        sram.extend(stage_data.sram)
    if not rows:
        return None
    if not sram:
        sram = list(data.catalog_sram)
    seen, refs = set(), []
    for s in sorted(sram, key=lambda s: s.onchip_sram_bytes or 0):
        if s.onchip_sram_bytes and s.device not in seen:
            seen.add(s.device)
            refs.append(s)
    unit = ("MiB", 1024**2)
    xs = tuple(f"{m} @ {a.resolution} {a.precision or ''}".strip() for m, a in rows)
    peak = tuple((a.peak_live_activation_bytes or 0) / unit[1] for _, a in rows)
    largest = tuple((a.largest_activation_bytes or 0) / unit[1] for _, a in rows)
    series = (
        Series("peak live activations", xs, peak, kind="bar", provenance="derived",
               text=tuple(f"{x}: {v:.3g} MiB live at the peak" for x, v in zip(xs, peak))),
        Series("largest single activation", xs, largest, kind="bar", provenance="derived",
               text=tuple(f"{x}: {v:.3g} MiB" for x, v in zip(xs, largest))),
    )
    hlines = tuple(RefLine(s.onchip_sram_bytes / unit[1], f"{s.name or s.device}"
                           f" on-chip {s.onchip_sram_bytes / unit[1]:.3g} MiB") for s in refs)
    return Chart("activation_vs_sram", "Activation memory vs on-chip SRAM", "", f"bytes ({unit[0]}, log scale)",
                 series, log_y=True, categorical_x=True, hlines=hlines,
                 caption="Peak live activation memory (static liveness analysis of the graph) against the on-chip"
                         " SRAM of catalog devices: above a line, activations spill to DRAM on that device.")


def layers_chart(data: ReportData, stage_number: int) -> Chart | None:
    st = data.stage(stage_number)
    stage_data = _stage_data(data, stage_number)
    layers = [la for la in (stage_data.layers if stage_data else ()) if la.time_s is not None]
    if not layers:
        return None
    return slowest_layers_chart(layers, f"layers_stage{stage_number}", stage_data.model or st.title)


def slowest_layers_chart(layers, chart_id: str, model: str) -> Chart:
    """Horizontal bars of the slowest layers (summary LayerTime rows); where a bar is measured, a
    marker shows its projected time on this host beside it."""
    layers = sorted(layers, key=lambda la: la.time_s)  # hbar draws bottom-up: slowest on top
    unit = select_time_unit([la.time_s for la in layers])
    sources = {la.time_source or "measured" for la in layers}
    prov = "projected" if all(s.startswith("projected") for s in sources) else "measured"
    names = tuple(f"{la.name} ({la.op})" for la in layers)
    series = [Series(
        "measured time" if prov == "measured" else "time per layer", tuple(la.time_s / unit[1] for la in layers), names,
        kind="hbar", provenance=prov,
        text=tuple(f"{la.name}: {la.time_s / unit[1]:.3g} {unit[0]},"
                   f" {(la.macs or 0) / 1e9:.3g} GMAC, source {la.time_source or 'measured'}"
                   for la in layers),
        labels=tuple(f"{la.time_s / unit[1]:.3g} {unit[0]} · {(la.macs or 0) / 1e9:.3g} GMAC" for la in layers))]
    beside = [(n, la) for n, la in zip(names, layers) if la.projected_s is not None]
    if beside:
        series.append(Series(
            "projected on this host", tuple(la.projected_s / unit[1] for _, la in beside), tuple(n for n, _ in beside),
            kind="markers", provenance="projected",
            text=tuple(f"{la.name}: projected {la.projected_s / unit[1]:.3g} {unit[0]} ({la.bound or '?'}-bound),"
                       f" measured {la.time_s / unit[1]:.3g} {unit[0]}" for _, la in beside)))
    caption = "Per-layer time ({}), MACs in the hover text; the layers that dominate the run.".format(
        ", ".join(sorted(sources)))
    if beside:
        caption += (" Measured: the runtime's own profiler in a separate pass after the timed runs; the markers are"
                    " the per-layer projection of this host.")
    return Chart(chart_id, f"Slowest layers of {model}", f"time ({unit[0]})", "", tuple(series),
                 categorical_x=False, height_px=max(300, 28 * len(layers) + 120), caption=caption)


def layer_error_chart(measurement, chart_id: str) -> Chart | None:
    """Every measured layer of a LayerMeasurement: measured (x) against projected (y) time on log
    axes, one colour per op kind; on the dashed diagonal the projection is exact."""
    points = [p for p in (measurement.points if measurement else ()) if p.measured_s > 0 and p.projected_s > 0]
    if not points:
        return None
    unit = select_time_unit([p.measured_s for p in points])
    series = []
    for kind in dict.fromkeys(p.kind for p in sorted(points, key=lambda p: -p.measured_s)):
        mine = [p for p in points if p.kind == kind]
        series.append(Series(kind, tuple(p.measured_s / unit[1] for p in mine), tuple(p.projected_s / unit[1] for p in mine),
                             kind="markers", provenance="measured",
                             text=tuple(f"{p.name} ({kind}): measured {p.measured_s / unit[1]:.3g} {unit[0]}, projected"
                                        f" {p.projected_s / unit[1]:.3g} {unit[0]} ({p.projected_s / p.measured_s - 1:+.0%})"
                                        for p in mine)))
    values = [v for p in points for v in (p.measured_s, p.projected_s)]
    ends = (min(values) / unit[1], max(values) / unit[1])
    series.append(Series("projection = measurement", ends, ends, kind="line", dash=True, provenance="derived"))
    return Chart(chart_id, f"Projected vs measured per layer: {measurement.label}", f"measured ({unit[0]}, log)",
                 f"projected on {measurement.device} ({unit[0]}, log)", tuple(series), log_x=True, log_y=True,
                 caption="Each point is one fused layer: measured by the runtime's profiler (mean per profiled run),"
                         " projected by the per-layer model of this host. Below the diagonal the projection is too"
                         " fast; a colour far from it is an op kind the projection gets wrong on this device.")


@dataclass(frozen=True)
class ParetoPoint:
    label: str
    per_w: float
    per_usd: float
    kind: str  # measured | projected | calibrated (a calibrated projection)
    note: str = ""
    # the interval: both figures are throughput over a fixed power or price, so they share its band
    per_w_low: float | None = None
    per_w_high: float | None = None
    per_usd_low: float | None = None
    per_usd_high: float | None = None


def _pareto_point(label: str, per_w: float, per_usd: float, kind: str, throughput, low, high) -> ParetoPoint:
    """A point whose interval scales with its throughput's (None where it has none)."""
    if None in (throughput, low, high) or not throughput:
        return ParetoPoint(label, per_w, per_usd, kind)
    lo, hi = low / throughput, high / throughput
    return ParetoPoint(label, per_w, per_usd, kind, per_w_low=per_w * lo, per_w_high=per_w * hi,
                       per_usd_low=per_usd * lo, per_usd_high=per_usd * hi)


def pareto_points(data: ReportData) -> tuple[list[ParetoPoint], list[str]]:
    """Points with both inferences/s per W and per $; plus the names left out (and why)."""
    points, missing, seen = [], [], set()
    ranking = data.summary.ranking if data.summary else ()
    for e in ranking:
        seen.add(e.record_id or (e.device, e.model, e.precision))
        label = e.label or f"{e.device} {e.model} {e.precision}"
        if e.per_w and e.per_usd:
            points.append(_pareto_point(label, float(e.per_w), float(e.per_usd), e.provenance, e.throughput_per_s,
                                        e.throughput_per_s_low, e.throughput_per_s_high))
        else:
            missing.append(label)
    projections = data.summary.projections if data.summary else ()
    for p in projections:
        key = (p.device, p.model, p.precision)
        if key in seen:
            continue
        seen.add(key)
        label = f"{p.name} · {p.model} · {p.precision}"
        if p.throughput_per_w and p.throughput_per_usd:
            points.append(_pareto_point(label, float(p.throughput_per_w), float(p.throughput_per_usd),
                                        "calibrated" if p.calibrated else "projected", p.throughput_per_s,
                                        p.throughput_per_s_low, p.throughput_per_s_high))
        else:
            missing.append(label)
    for rec in data.ok_records:
        if rec.record_id in seen:
            continue
        if rec.inferences_per_s_per_w and rec.inferences_per_s_per_usd:
            points.append(ParetoPoint(_label(rec), rec.inferences_per_s_per_w, rec.inferences_per_s_per_usd,
                                      "measured", "power " + rec.power.power_source))
        else:
            missing.append(_label(rec))
    return points, missing


def pareto_front(points: list[ParetoPoint]) -> list[ParetoPoint]:
    """Points no other point beats on both axes (higher is better on both), by per-W ascending."""
    front = [p for p in points
             if not any(q.per_w >= p.per_w and q.per_usd >= p.per_usd and (q.per_w > p.per_w or q.per_usd > p.per_usd)
                        for q in points)]
    return sorted(front, key=lambda p: p.per_w)


def pareto_chart(data: ReportData) -> Chart | None:
    points, missing = pareto_points(data)
    if not points:
        return None
    series = []
    for kind, name in (("measured", "measured"), ("projected", "projected"), ("calibrated", "calibrated projection")):
        pts = [p for p in points if p.kind == kind]
        if pts:
            series.append(Series(name, tuple(p.per_w for p in pts), tuple(p.per_usd for p in pts), kind="markers",
                                 provenance="estimated" if kind == "measured" else kind,
                                 text=tuple(f"{p.label}: {p.per_w:.3g} inf/s per W, {p.per_usd:.3g} inf/s per $"
                                            + _band_text(p.per_w_low, p.per_w_high, " per W")
                                            for p in pts),
                                 labels=tuple(p.label for p in pts) if len(points) <= 8 else (),
                                 x_low=tuple(p.per_w_low for p in pts), x_high=tuple(p.per_w_high for p in pts),
                                 y_low=tuple(p.per_usd_low for p in pts), y_high=tuple(p.per_usd_high for p in pts)))
    front = pareto_front(points)
    if len(front) > 1:
        series.append(Series("Pareto front", tuple(p.per_w for p in front), tuple(p.per_usd for p in front),
                             kind="line", dash=True, provenance="derived",
                             text=tuple(p.label for p in front)))
    caption = ("Up and to the right is better. Measured points use the host's power (an estimate from TDP unless a"
               " counter was readable) and its price; projected points use the device model, TDP and list price;"
               " their error bars are the 80 % band of the projected throughput.")
    if missing:
        caption += f" Not shown (no power or price): {len(missing)} configuration(s)."
    return Chart("pareto", "Efficiency: inferences/s per W vs inferences/s per $", "inferences/s per W",
                 "inferences/s per $", tuple(series), log_x=True, log_y=True, caption=caption)


RANKED_AXIS = {"latency_s": "latency per query", "throughput_per_s": "inferences/s",
               "per_w": "inferences/s per W", "per_usd": "inferences/s per $"}
RANKED_SERIES = (("measured", "measured"), ("projected", "projected"), ("calibrated", "calibrated projection"))


def _band_text(low, high, suffix: str = "") -> str:
    return "" if low is None or high is None else f" (interval {low:.3g}–{high:.3g}{suffix})"


def ranking_chart(data: ReportData) -> Chart | None:
    """The answer as bars: every entry of the ranking with a figure for the objective, in rank order,
    with its interval as error bars (projections: the 80 % band; measurements: the confidence interval)."""
    ranking = data.summary.ranking if data.summary else ()
    entries: list[RankEntry] = [e for e in ranking if e.value is not None and e.metric in RANKED_AXIS]
    if not entries:
        return None
    metric = entries[0].metric
    unit_name, scale = ("", 1.0)
    if metric == "latency_s":
        unit_name, scale = select_time_unit([e.value for e in entries])
    axis = RANKED_AXIS[metric] + (f" ({unit_name})" if unit_name else "")

    def scaled(value):
        return None if value is None else value / scale

    def category(e: RankEntry) -> str:
        return f"#{e.rank} {e.label}" if e.rank is not None else f"{e.label} (not ranked)"

    series = []
    for kind, name in RANKED_SERIES:
        pts = [e for e in entries if e.provenance == kind]
        if pts:
            series.append(Series(
                name, tuple(scaled(e.value) for e in pts), tuple(category(e) for e in pts), kind="hbar",
                provenance=kind,
                text=tuple(f"{category(e)}: {scaled(e.value):.3g} {unit_name or RANKED_AXIS[metric]}"
                           + _band_text(scaled(e.value_low), scaled(e.value_high)) for e in pts),
                x_low=tuple(scaled(e.value_low) for e in pts), x_high=tuple(scaled(e.value_high) for e in pts)))
    values = [e.value for e in entries if e.value]
    spread = max(values) / min(values) if values else 1.0
    return Chart("ranking", f"The answer: {RANKED_AXIS[metric]} by configuration", axis, "", tuple(series),
                 log_x=spread > 20, barmode="overlay", height_px=max(300, 24 * len(entries) + 120),
                 categories=tuple(category(e) for e in reversed(entries)),  # hbar draws bottom-up: #1 on top
                 caption="In rank order, #1 on top. Error bars: a projection's 80 % band (from the leave-one-device-out"
                         " errors of its device family, or a calibrated device's leave-one-measurement-out errors);"
                         " a measurement's 95 % confidence interval. Overlapping bars cannot be told apart.")


def precision_groups(data: ReportData) -> dict[str, list]:
    """Records of the same model, size, batch and backend at more than one precision."""
    groups: dict[str, list] = defaultdict(list)
    for rec in data.ok_records:
        cfg = rec.config
        groups[f"{cfg.model} @ {cfg.resolution or 'default'} · batch {cfg.batch} · {rec.runtime}"].append(rec)
    return {k: sorted(v, key=lambda r: (r.config.precision != "fp32", r.config.precision))
            for k, v in groups.items() if len({r.config.precision for r in v}) > 1}


def precision_chart(data: ReportData) -> Chart | None:
    groups = precision_groups(data)
    if not groups:
        return None
    unit = select_time_unit([r.stats.p50_ns / 1e9 for recs in groups.values() for r in recs])
    precisions = []
    for recs in groups.values():
        for r in recs:
            if r.config.precision not in precisions:
                precisions.append(r.config.precision)
    series = []
    for prec in precisions:
        xs, ys, texts = [], [], []
        for group, recs in groups.items():
            for r in recs:
                if r.config.precision == prec:
                    xs.append(group)
                    ys.append(r.stats.p50_ns / 1e9 / unit[1])
                    ran = r.precision_executed or "?"
                    texts.append(f"{group}: {prec} (ran {ran}) p50 {ys[-1]:.3g} {unit[0]}")
        series.append(Series(prec.upper(), tuple(xs), tuple(ys), kind="bar", provenance="measured", text=tuple(texts)))
    return Chart("precision", "FP32 vs reduced precision: latency", "", f"latency p50 ({unit[0]})", tuple(series),
                 categorical_x=True, caption="Same model, input size, batch and backend; numeric deviation in the table below.")


def stage_layer_error_chart(data: ReportData, stage_number: int) -> Chart | None:
    stage_data = _stage_data(data, stage_number)
    return layer_error_chart(stage_data.layer_measurement if stage_data else None, f"layer_errors_stage{stage_number}")


def all_charts(data: ReportData) -> dict[str, Chart]:
    """Every chart that has data, by id (the order the report shows them in)."""
    charts = {}
    for build in (ranking_chart, peaks_chart, activation_vs_sram, lambda d: layers_chart(d, 2), lambda d: layers_chart(d, 3),
                  lambda d: layers_chart(d, 4), lambda d: stage_layer_error_chart(d, 2),
                  lambda d: stage_layer_error_chart(d, 3), lambda d: stage_layer_error_chart(d, 4),
                  latency_vs_resolution, throughput_vs_resolution,
                  mac_utilization_vs_resolution, pareto_chart, precision_chart):
        chart = build(data)
        if chart is not None:
            charts[chart.id] = chart
    return charts


def finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
