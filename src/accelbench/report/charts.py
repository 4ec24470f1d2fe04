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
    color: str = ""  # its own colour (a precision's, PRECISION_COLORS); "": the next free one of PALETTE
    point_provenance: tuple = ()  # per point, where the series mixes kinds (() = ``provenance`` for all)

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y):
            raise ValueError(f"series {self.name!r}: {len(self.x)} x values but {len(self.y)} y values")
        if self.provenance not in PROVENANCES:
            raise ValueError(f"series {self.name!r}: provenance {self.provenance!r} not in {PROVENANCES}")
        for name in ("y_low", "y_high", "x_low", "x_high", "point_provenance"):
            if getattr(self, name) and len(getattr(self, name)) != len(self.x):
                raise ValueError(f"series {self.name!r}: {len(getattr(self, name))} {name} values for {len(self.x)} points")
        for kind in self.point_provenance:
            if kind not in PROVENANCES:
                raise ValueError(f"series {self.name!r}: provenance {kind!r} not in {PROVENANCES}")

    @property
    def has_y_interval(self) -> bool:
        return any(v is not None for v in self.y_low) and any(v is not None for v in self.y_high)

    @property
    def has_x_interval(self) -> bool:
        return any(v is not None for v in self.x_low) and any(v is not None for v in self.x_high)


@dataclass(frozen=True)
class RefLine:
    """A horizontal reference line (e.g. a device's on-chip SRAM) at ``y`` in axis units, its label
    just above it at ``x`` (a fraction of the plot's width) anchored on its ``anchor`` side; an
    empty label: the line alone (where no place was free, the caption names it)."""

    y: float
    label: str
    x: float = 0.01
    anchor: str = "left"
    yanchor: str = "bottom"  # bottom: the label sits above the line; top: below it


@dataclass(frozen=True)
class PointLabel:
    """A label printed beside the point (x, y) (axis units), offset by (dx, dy) pixels (dy up) and
    anchored there on its ``xanchor``/``yanchor`` side: placed so that no two labels overlap and
    each stays inside the plot (``place_labels``)."""

    x: float
    y: float
    text: str
    dx: int
    dy: int
    xanchor: str  # left | center | right
    yanchor: str  # bottom | middle | top


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
    point_labels: tuple[PointLabel, ...] = ()  # labels placed beside points (instead of Series.labels)
    x_range: tuple[float, float] | None = None  # axis units (not log10); None: the renderer's own
    y_range: tuple[float, float] | None = None

    @property
    def provenances(self) -> tuple[str, ...]:
        seen = []
        for s in self.series:
            for kind in s.point_provenance or (s.provenance,):
                if kind not in seen:
                    seen.append(kind)
        return tuple(seen)


# -- how series look: one style each, no two alike (the HTML and PNG renderers share them) ----------
PALETTE = ("#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#65a30d", "#475569",
           "#ea580c", "#0f766e", "#a16207")
# a precision has the same colour in every chart (peak TOPS, precision comparison)
PRECISION_COLORS = {"FP32": "#2563eb", "TF32": "#0891b2", "BF16": "#d97706", "FP16": "#059669", "INT16": "#7c3aed",
                    "INT8": "#dc2626", "INT4": "#db2777"}
DASHES = ("solid", "dash", "dot", "dashdot")  # lines; bars use PATTERNS once the colours come round again
PATTERNS = ("", "/", ".", "x")


@dataclass(frozen=True)
class SeriesStyle:
    color: str
    dash: str = "solid"  # the line's dash; a dashed series (Series.dash) keeps "dash"
    pattern: str = ""  # bar fill pattern, "" = plain


def series_styles(chart: Chart) -> tuple[SeriesStyle, ...]:
    """One style per series of ``chart``, no two alike: a series' own colour first, then the palette's
    colours not taken yet; past the palette the colours come round again with another dash (lines)
    or fill pattern (bars)."""
    taken = {s.color for s in chart.series if s.color}
    free = [c for c in PALETTE if c not in taken] or list(PALETTE)
    styles, used, k = [], set(), 0
    for s in chart.series:
        color = s.color or free[k % len(free)]
        k += not s.color
        turn = 0
        while (color, turn) in used:
            turn += 1
        used.add((color, turn))
        dash = "dash" if s.dash else DASHES[turn % len(DASHES)]
        styles.append(SeriesStyle(color, dash, PATTERNS[turn % len(PATTERNS)]))
    return tuple(styles)


# -- labels that do not collide: a layout the charts assume (checked in a browser by the tests) -----
LABEL_FONT_PX = 10
LABEL_CHAR_PX = 6.2  # a generous mean advance of a 10 px sans-serif character
LABEL_HEIGHT_PX = 14
MARKER_RADIUS_PX = 7
LABEL_PLOT_WIDTH_PX = 430  # the narrowest plot area a half-width chart gets at 1400 px (measured: 478)
LABEL_MAX_CHARS = 34


def label_width_px(text: str) -> float:
    return len(text) * LABEL_CHAR_PX + 6


def _to_px(value: float, lo: float, hi: float, log: bool, size: float) -> float:
    if log:
        value, lo, hi = math.log10(value), math.log10(lo), math.log10(hi)
    return (value - lo) / (hi - lo) * size if hi > lo else size / 2


# (dx, dy, xanchor, yanchor) beside a point, nearest first; dy is up
LABEL_SPOTS = ((9, 0, "left", "middle"), (-9, 0, "right", "middle"), (0, 9, "center", "bottom"),
               (0, -9, "center", "top"), (7, 9, "left", "bottom"), (7, -9, "left", "top"), (-7, 9, "right", "bottom"),
               (-7, -9, "right", "top"), (9, 16, "left", "middle"), (9, -16, "left", "middle"),
               (-9, 16, "right", "middle"), (-9, -16, "right", "middle"), (0, 22, "center", "bottom"),
               (0, -22, "center", "top"))


def _box(px: float, py: float, spot, width: float) -> tuple[float, float, float, float]:
    """(left, bottom, right, top) in pixels of a label at ``spot`` beside the point (px, py)."""
    dx, dy, xanchor, yanchor = spot
    x0 = {"left": px + dx, "center": px + dx - width / 2, "right": px + dx - width}[xanchor]
    y0 = {"bottom": py + dy, "middle": py + dy - LABEL_HEIGHT_PX / 2, "top": py + dy - LABEL_HEIGHT_PX}[yanchor]
    return x0, y0, x0 + width, y0 + LABEL_HEIGHT_PX


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def place_labels(points, *, x_range, y_range, log_x: bool, log_y: bool, width_px: float, height_px: float
                 ) -> list[PointLabel | None]:
    """A spot for each (x, y, text) in ``points`` (in priority order) where its label overlaps no
    label placed before it and no other point's marker and stays inside the plot of ``width_px`` x
    ``height_px``; None for a label that found none (its text stays in the hover)."""
    pixels = [(_to_px(x, *x_range, log_x, width_px), _to_px(y, *y_range, log_y, height_px)) for x, y, _ in points]
    markers = [(px - MARKER_RADIUS_PX, py - MARKER_RADIUS_PX, px + MARKER_RADIUS_PX, py + MARKER_RADIUS_PX)
               for px, py in pixels]
    placed: list[tuple] = []
    out: list[PointLabel | None] = []
    for i, ((x, y, text), (px, py)) in enumerate(zip(points, pixels)):
        width = label_width_px(text)
        found = None
        for spot in LABEL_SPOTS:
            box = _box(px, py, spot, width)
            if box[0] < 0 or box[1] < 0 or box[2] > width_px or box[3] > height_px:
                continue
            if any(_overlap(box, b) for b in placed) or any(_overlap(box, m) for j, m in enumerate(markers) if j != i):
                continue
            found = spot
            placed.append(box)
            break
        out.append(None if found is None else PointLabel(x, y, text, found[0], found[1], found[2], found[3]))
    return out


def padded_range(values, *, log: bool, pad: float = 0.08) -> tuple[float, float]:
    """An axis range around ``values`` (axis units), ``pad`` of its span (in decades on a log axis) on each side."""
    finite_values = [v for v in values if v is not None and math.isfinite(v) and (v > 0 or not log)]
    lo, hi = min(finite_values), max(finite_values)
    if log:
        span = max(math.log10(hi) - math.log10(lo), 0.5)
        return 10 ** (math.log10(lo) - pad * span), 10 ** (math.log10(hi) + pad * span)
    span = (hi - lo) or abs(hi) or 1.0
    return lo - pad * span, hi + pad * span


def short_name(name: str) -> str:
    """A device name without its parenthesised detail: "Intel Xeon Platinum 8480+ (Sapphire Rapids, 56 cores)"
    -> "Intel Xeon Platinum 8480+"."""
    return name.split(" (")[0].strip() or name


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


PRECISION_ORDER = {"fp32": 0, "tf32": 1, "bf16": 2, "fp16": 3, "int16": 4, "int8": 5, "int4": 6}
PEAK_WORDS = {"catalog": "datasheet", "theoretical": "derived: theoretical", "measured": "measured GEMM"}
PEAK_LABELS_MAX_BARS = 24  # more bars than this: the values stay in the hover (printed ones would collide)


def peaks_chart(data: ReportData) -> Chart | None:
    """One series per precision, each in its precision's colour; this host's columns first (its
    theoretical and measured peaks), then the catalog's devices. Each bar says in its hover whether
    it is a datasheet, derived or measured figure."""
    stage = data.stage(1)
    peaks = list(stage.peak_data.peaks) if stage is not None and stage.peak_data is not None else []
    if not any(p.source == "catalog" for p in peaks):
        peaks += list(data.catalog_peaks)  # the catalog's devices beside the host
    peaks = [p for p in peaks if p.peak_ops_per_s]
    if not peaks:
        return None

    def col(p):
        name = short_name(p.name or p.device)
        return name if p.source == "catalog" else f"{name} ({p.source})"

    columns = list(dict.fromkeys(col(p) for p in sorted(peaks, key=lambda p: p.source == "catalog")))
    by_prec: dict[str, dict[str, tuple[float, str]]] = defaultdict(dict)
    for p in peaks:
        by_prec[p.precision][col(p)] = (p.peak_ops_per_s / 1e12, p.source)
    label_bars = sum(len(v) for v in by_prec.values()) <= PEAK_LABELS_MAX_BARS
    series = []
    for prec, vals in sorted(by_prec.items(), key=lambda kv: PRECISION_ORDER.get(kv[0], 9)):
        xs = [c for c in columns if c in vals]
        kinds = tuple(PEAK_PROVENANCE[vals[c][1]] for c in xs)
        series.append(Series(prec.upper(), tuple(xs), tuple(vals[c][0] for c in xs), kind="bar",
                             provenance=max(set(kinds), key=kinds.count), point_provenance=kinds,
                             color=PRECISION_COLORS.get(prec.upper(), ""),
                             text=tuple(f"{c}: {vals[c][0]:.3g} TOPS {prec} ({PEAK_WORDS[vals[c][1]]})" for c in xs),
                             labels=tuple(f"{vals[c][0]:.3g}" for c in xs) if label_bars else ()))
    return Chart("peak_tops", "Peak TOPS per precision: this host beside the catalog", "",
                 "dense peak (TOPS, 2 ops per MAC)", tuple(series), log_y=True, categorical_x=True,
                 categories=tuple(columns), height_px=520,
                 caption="One colour per precision. This host first: its theoretical peak is derived from cores x"
                         " SIMD width x clock, its measured peak is a timed GEMM; the catalog's figures are vendor"
                         " datasheet peaks. Hover a bar for its figure and where it comes from.")


SRAM_LABEL_LANES = ((0.01, "left"), (0.99, "right"), (0.5, "center"))
SRAM_GROUP_RATIO = 1.30  # devices closer than this share one line (at the smallest) and one label
SRAM_LABEL_CHARS = 26  # a third of the plot's width
SRAM_PLOT_MARGIN_PX = 180  # the activation chart's height less its plot area (legend above, labels below)


def _sram_groups(refs) -> list[tuple[float, float, list[str]]]:
    """Devices whose on-chip memory is within SRAM_GROUP_RATIO of the group's smallest, as
    (smallest bytes, largest bytes, names)."""
    groups: list[tuple[float, float, list[str]]] = []
    for ref in sorted(refs, key=lambda r: r.onchip_sram_bytes):
        name = short_name(ref.name or ref.device)
        size = float(ref.onchip_sram_bytes)
        if groups and size <= groups[-1][0] * SRAM_GROUP_RATIO:
            groups[-1] = (groups[-1][0], size, groups[-1][2] + [name])
        else:
            groups.append((size, size, [name]))
    return groups


def _mib_span(low: float, high: float) -> str:
    return f"{low:.3g} MiB" if f"{low:.3g}" == f"{high:.3g}" else f"{low:.3g}–{high:.3g} MiB"


def sram_lines(groups, unit: float, y_range, height_px: float, width_px: float = LABEL_PLOT_WIDTH_PX
               ) -> tuple[list[RefLine], list[str]]:
    """A line per group with its label in a free lane (left or right, above or below the line), so
    that no two labels overlap; (lines, the groups no lane had room for, in words)."""
    lines, placed, unplaced = [], [], []
    for size, largest, names in groups:
        y = size / unit
        head = f"{_mib_span(y, largest / unit)}: "
        more = f" +{len(names) - 1}" if len(names) > 1 else ""
        name = names[0].removeprefix("NVIDIA ")
        room = SRAM_LABEL_CHARS - len(head) - len(more)
        text = head + (name if len(name) <= room else name[:room - 1] + "…") + more
        width = label_width_px(text)
        py = _to_px(y, *y_range, True, height_px)
        found = None
        for above in (True, False):
            for x, anchor in SRAM_LABEL_LANES:
                left = x * width_px - {"left": 0.0, "center": width / 2, "right": width}[anchor]
                bottom = py if above else py - LABEL_HEIGHT_PX
                box = (left, bottom, left + width, bottom + LABEL_HEIGHT_PX)
                if box[1] < 0 or box[3] > height_px or any(_overlap(box, b) for b in placed):
                    continue
                found = RefLine(y, text, x, anchor, "bottom" if above else "top")
                placed.append(box)
                break
            if found is not None:
                break
        if found is None:
            unplaced.append(f"{', '.join(names)} {_mib_span(y, largest / unit)}")
        lines.append(found or RefLine(y, ""))
    return lines, unplaced


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
    for s in sram:
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
    groups = _sram_groups(refs)
    height = 460
    y_range = padded_range([*peak, *largest, *(size / unit[1] for size, _, _ in groups)], log=True, pad=0.12)
    hlines, unplaced = sram_lines(groups, unit[1], y_range, height - SRAM_PLOT_MARGIN_PX)
    shared = [f"{_mib_span(low / unit[1], high / unit[1])}: {', '.join(names)}"
              for low, high, names in groups if len(names) > 1]
    caption = ("Peak live activation memory (static liveness analysis of the graph) against the on-chip"
               " SRAM of catalog devices: above a line, activations spill to DRAM on that device.")
    if shared:
        caption += (" Devices with about the same on-chip memory share a line, at the smallest (+N more): "
                    + "; ".join(shared) + ".")
    if unplaced:
        caption += " Lines without a label (no room beside them): " + "; ".join(unplaced) + "."
    return Chart("activation_vs_sram", "Activation memory vs on-chip SRAM", "", f"bytes ({unit[0]}, log scale)",
                 series, log_y=True, categorical_x=True, hlines=tuple(hlines), height_px=height, y_range=y_range,
                 caption=caption)


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


PARETO_HEIGHT_PX = 460
PARETO_PLOT_MARGIN_PX = 150  # the chart's height less its plot area (legend and axis title below)


def _common_suffix(labels: list[str]) -> str:
    """The " @ 1mp" every label ends with (one model size across the chart), or ""."""
    ends = {label.rsplit(" @ ", 1)[1] for label in labels if " @ " in label}
    return f" @ {ends.pop()}" if len(ends) == 1 and all(" @ " in label for label in labels) else ""


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
                                 x_low=tuple(p.per_w_low for p in pts), x_high=tuple(p.per_w_high for p in pts),
                                 y_low=tuple(p.per_usd_low for p in pts), y_high=tuple(p.per_usd_high for p in pts)))
    front = pareto_front(points)
    if len(front) > 1:
        series.append(Series("Pareto front", tuple(p.per_w for p in front), tuple(p.per_usd for p in front),
                             kind="line", dash=True, provenance="derived",
                             text=tuple(p.label for p in front)))
    x_range = padded_range([v for p in points for v in (p.per_w, p.per_w_low, p.per_w_high)], log=True)
    y_range = padded_range([v for p in points for v in (p.per_usd, p.per_usd_low, p.per_usd_high)], log=True)
    # The front first, then the measured points, then the rest from the best corner in: labels that find
    # no free spot beside their point stay in the hover.
    order = sorted(points, key=lambda p: (p not in front, p.kind != "measured", -(p.per_w * p.per_usd)))
    suffix = _common_suffix([p.label for p in points])
    texts = [(p.label[: -len(suffix)] if suffix else p.label) for p in order]
    texts = [t if len(t) <= LABEL_MAX_CHARS else t[:LABEL_MAX_CHARS - 1] + "…" for t in texts]
    placed = place_labels([(p.per_w, p.per_usd, t) for p, t in zip(order, texts)], x_range=x_range, y_range=y_range,
                          log_x=True, log_y=True, width_px=LABEL_PLOT_WIDTH_PX,
                          height_px=PARETO_HEIGHT_PX - PARETO_PLOT_MARGIN_PX)
    labels = tuple(label for label in placed if label is not None)
    caption = ("Up and to the right is better. Measured points use the host's power (an estimate from TDP unless a"
               " counter was readable) and its price; projected points use the device model, TDP and list price;"
               " their error bars are the 80 % band of the projected throughput.")
    if suffix:
        caption += f" Every point is the model{suffix}."
    if len(labels) < len(points):
        caption += f" {len(points) - len(labels)} crowded point(s) are named in their hover text only."
    if missing:
        caption += f" Not shown (no power or price): {len(missing)} configuration(s)."
    return Chart("pareto", "Efficiency: inferences/s per W vs inferences/s per $", "inferences/s per W",
                 "inferences/s per $", tuple(series), log_x=True, log_y=True, caption=caption,
                 height_px=PARETO_HEIGHT_PX, point_labels=labels, x_range=x_range, y_range=y_range)


RANKED_AXIS = {"latency_s": "latency per query", "throughput_per_s": "inferences/s",
               "per_w": "inferences/s per W", "per_usd": "inferences/s per $"}
RANKED_SERIES = (("measured", "measured"), ("projected", "projected"), ("calibrated", "calibrated projection"))


def _band_text(low, high, suffix: str = "") -> str:
    return "" if low is None or high is None else f" (interval {low:.3g}–{high:.3g}{suffix})"


def ranking_chart(data: ReportData) -> Chart | None:
    """The answer as bars: every entry of the ranking with a figure for the objective, in rank order,
    with its interval as error bars (projections: the 80 % band; measurements: the confidence interval)."""
    ranking = data.summary.ranking if data.summary else ()
    # entries that fail the run's constraints are not in the answer (the table lists them, with why)
    entries: list[RankEntry] = [e for e in ranking if e.value is not None and e.metric in RANKED_AXIS and not e.excluded]
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
        series.append(Series(prec.upper(), tuple(xs), tuple(ys), kind="bar", provenance="measured", text=tuple(texts),
                             color=PRECISION_COLORS.get(prec.upper(), "")))
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
