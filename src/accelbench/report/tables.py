"""Tables as plain data (Table of Cells), rendered to the terminal with rich here and to HTML in
html.py. Each numeric column has one unit, chosen from its values and named in the header, so the
numbers line up. A Cell carries its sort key (base units) for the HTML table's click-to-sort.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from typing import Mapping

from rich.markup import escape
from rich.table import Table as RichTable

from accelbench.report.terminal import make_console
from accelbench.report.units import (
    METRIC_WORDS, fmt_band, fmt_constraints, fmt_energy, fmt_level, fmt_pct, fmt_plain, fmt_time, fmt_workload,
    select_prefix, select_time_unit,
)
from accelbench.precision.deviation import NumericDeviation
from accelbench.results.records import Environment


# provenances the terminal spells out after a figure (the HTML report shows badges)
TERMINAL_BADGES = {"projected": "projected", "estimated": "estimated", "calibrated": "calibrated projection"}


@dataclass(frozen=True)
class Cell:
    text: str
    sort: float | str | None = None  # None: sort by text
    badge: str | None = None  # provenance: measured | derived | estimated | projected | datasheet
    title: str = ""  # tooltip (the provenance detail)
    style: str = ""  # "good" | "bad" | "warn" | ""


@dataclass(frozen=True)
class Table:
    id: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    numeric: tuple[bool, ...] = ()
    caption: str = ""

    def __post_init__(self) -> None:
        for row in self.rows:
            if len(row) != len(self.columns):
                raise ValueError(f"table {self.id}: a row has {len(row)} cells for {len(self.columns)} columns")

    def to_dict(self) -> dict:
        return {"id": self.id, "title": self.title, "columns": list(self.columns),
                "rows": [[c.text for c in row] for row in self.rows]}


def _num_cell(value, scale: float = 1.0, badge: str | None = None, title: str = "", digits: str | None = None) -> Cell:
    if value is None:
        return Cell("–", None, None, title)
    v = value / scale
    text = format(v, digits) if digits else fmt_plain(v)
    return Cell(text, float(value), badge, title)


def _short(record_id: str) -> str:
    return record_id[:8]


def _precision_text(rec) -> str:
    asked, ran = rec.config.precision, rec.precision_executed
    return asked if not ran or ran == asked else f"{asked} → {ran}"


def records_table(records, title: str = "All measurements", table_id: str = "records") -> Table:
    """One row per record: what ran, latency percentiles, throughput, MAC/s, utilization, energy."""
    ok = [r for r in records if r.ok]
    t_unit = select_time_unit([r.stats.p50_ns / 1e9 for r in ok])
    m_unit = select_prefix([r.macs_per_s for r in ok])
    rows = []
    for r in records:
        cfg, prov = r.config, r.provenance
        stats = r.stats
        t = (lambda ns: _num_cell(ns / 1e9 if ns is not None else None, t_unit[1], "measured" if ns is not None else None,
                                  prov.get("latency_ns", "")))
        stab = r.stability
        if r.status == "invalid":
            status = Cell("INVALID (LoadGen)", "invalid", title=r.error or "", style="bad")
        elif not r.ok:
            status = Cell(f"failed ({r.failure_kind or 'error'})", "failed", title=r.error or "", style="bad")
        elif stab and stab.verdict != "stable":
            status = Cell("unstable", "unstable", title="; ".join(stab.warnings), style="warn")
        else:
            status = Cell("stable", "stable", style="good")
        energy = r.energy_per_inference_j
        e_badge = None if energy is None else ("derived" if r.power.measured else "estimated")
        rows.append((
            Cell(cfg.model), Cell(cfg.resolution or "default", r.pixels_per_inference or 0),
            Cell(str(cfg.batch), cfg.batch), Cell(f"{r.runtime} / {r.runtime_device}"),
            Cell(_precision_text(r), title=r.run_info.precision_source if r.run_info is not None else ""),
            t(stats.p50_ns if stats else None), t(stats.p90_ns if stats else None), t(stats.p99_ns if stats else None),
            _num_cell(r.throughput_per_s, 1.0, "derived" if r.throughput_per_s else None, prov.get("throughput_per_s", "")),
            _num_cell(r.macs_per_s, m_unit[1], "derived" if r.macs_per_s else None, prov.get("macs_per_s", "")),
            Cell(fmt_pct(r.mac_utilization), r.mac_utilization, "derived" if r.mac_utilization else None,
                 prov.get("mac_utilization", "")),
            Cell(fmt_energy(energy), energy, e_badge, prov.get("energy_per_inference_j", "")),
            status, Cell(_short(r.record_id), r.record_id, title=r.record_id),
        ))
    cols = ("model", "input", "batch", "backend / device", "precision", f"p50 ({t_unit[0]})", f"p90 ({t_unit[0]})",
            f"p99 ({t_unit[0]})", "inferences/s", f"{m_unit[0]}MAC/s", "MAC util", "energy/inf", "stability", "record")
    numeric = (False, False, True, False, False, True, True, True, True, True, True, True, False, False)
    return Table(table_id, title, cols, tuple(rows), numeric,
                 caption="Latency per query (one batch). Hover a number for where it came from.")


def _band_cell(value, low, high, scale: float = 1.0, title: str = "") -> Cell:
    """A figure with its interval, "1,234 (980–1,510)"; sorted by the central value."""
    if value is None:
        return Cell("–", None, None, title)
    return Cell(fmt_band(value, low, high, scale=scale), float(value), None, title)


def _interval_title(level, kind: str) -> str:
    if level is None:
        return ""
    what = "confidence interval" if kind == "measured" else "band"
    return f"in brackets: the {fmt_level(level)} {what}"


def _next_cell(e, by_rank: dict) -> Cell:
    """What the rank is worth: overlapping the next entry's interval, outranked by a measurement, or
    not ranked because it fails the run's constraints."""
    if e.excluded:
        return Cell(f"excluded: {e.excluded}", "", title="fails the run's constraints: not ranked", style="bad")
    if e.superseded_by is not None:
        return Cell(f"measured #{e.superseded_by} outranks it", "",
                    title="measured figures always outrank projections of the same device")
    if e.indistinguishable_from is not None:
        after = by_rank.get(e.indistinguishable_from)
        both_measured = e.kind == "measured" and after is not None and after.kind == "measured"
        how = "by measurement" if both_measured else "by projection"
        return Cell(f"≈ #{e.indistinguishable_from} {how}", e.indistinguishable_from,
                    title=f"indistinguishable from #{e.indistinguishable_from} {how}: the two intervals overlap",
                    style="warn")
    return Cell("")


def layer_times_summary(record) -> str:
    """One line on how a record's per-layer times were collected and how much of the time they cover."""
    times = record.layer_times
    unmapped = ", ".join(f"{n.name} {fmt_time(n.time_ns / 1e9)}" for n in sorted(
        times.unmapped, key=lambda n: -n.time_ns)[:3])
    overhead = record.layer_profiling_overhead
    parts = [f"per-layer times: {times.profiler}, mean of {times.runs} profiled runs",
             f"{fmt_pct(times.mapped_share)} of the profiler's node time mapped to layers"
             + (f", {fmt_time(times.unmapped_ns / 1e9)} unmapped ({len(times.unmapped)} nodes: {unmapped}"
                f"{' ...' if len(times.unmapped) > 3 else ''})" if times.unmapped else ""),
             f"node time {fmt_pct(times.kernel_share_of_wall)} of a profiled run's wall time"]
    if overhead is not None:
        parts.append(f"profiled runs {fmt_pct(abs(overhead))} {'slower' if overhead >= 0 else 'faster'} than the"
                     " timed ones (never used for latency)")
    if times.collect_wall_ns:
        parts.append(f"the pass took {fmt_time(times.collect_wall_ns / 1e9)}")
    return "; ".join(parts)


def layer_times_table(rows, title: str = "Slowest layers", table_id: str = "layers") -> Table | None:
    """Slowest layers (summary LayerTime rows): measured time with the projected one beside it."""
    if not rows:
        return None
    t_unit = select_time_unit([r.time_s for r in rows] + [r.projected_s for r in rows])
    body = []
    for r in rows:
        measured = (r.time_source or "measured") == "measured"
        ratio = r.projected_s / r.time_s if measured and r.projected_s and r.time_s else None
        body.append((
            Cell(r.name), Cell(r.op), Cell(r.family or "", title="op family of its MACs"),
            _num_cell(r.time_s, t_unit[1], "measured" if measured else "projected", r.time_source or ""),
            _num_cell(r.projected_s if measured else None, t_unit[1], "projected"),
            Cell("–" if ratio is None else f"{ratio:.2f}x", ratio, "derived" if ratio else None,
                 style="warn" if ratio and not 0.5 <= ratio <= 2 else ""),
            Cell(r.bound or "", title="what bounds the layer in the projection"),
            _num_cell(r.macs or None, 1e6, "derived"),
        ))
    cols = ("layer", "op", "kind", f"time ({t_unit[0]})", f"projected ({t_unit[0]})", "projected / measured",
            "bound", "MACs (M)")
    return Table(table_id, title, cols, tuple(body), (False, False, False, True, True, True, False, True),
                 caption="Measured: the runtime's own profiler, mean per run of a separate profiled pass; projected:"
                         " the per-layer model of this host (single-stream, the record's batch).")


def layer_kinds_table(measurement, table_id: str = "layer-kinds") -> Table | None:
    """Measured vs projected time per op kind (a LayerMeasurement): where the projection goes wrong."""
    if measurement is None or not measurement.kinds:
        return None
    t_unit = select_time_unit([k.measured_s for k in measurement.kinds])
    rows = []
    for k in measurement.kinds:
        error = k.error
        rows.append((Cell(k.kind), Cell(str(k.layers), k.layers),
                     _num_cell(k.measured_s, t_unit[1], "measured"), _num_cell(k.projected_s, t_unit[1], "projected"),
                     Cell("–" if error is None else f"{error:+.0%}", error, "derived" if error is not None else None,
                          style="warn" if error is not None and abs(error) > 0.5 else "")))
    return Table(table_id, f"Projection error per op kind on {measurement.device}", ("op kind", "layers",
                 f"measured ({t_unit[0]})", f"projected ({t_unit[0]})", "projection error"), tuple(rows),
                 (False, True, True, True, True),
                 caption=f"Projection error per op kind on {measurement.device}, {measurement.label}: projected /"
                         " measured - 1 over the kind's layers (negative: the projection is too fast).")


def ranking_table(summary) -> Table | None:
    """The run's answer: every ranked configuration with the batch of its ranked figure and what bounds it."""
    if summary is None or not summary.ranking:
        return None
    entries = list(summary.ranking)
    t_unit = select_time_unit([e.latency_s for e in entries])
    by_rank = {e.rank: e for e in entries if e.rank is not None}
    rows = []
    for i, e in enumerate(entries, 1):
        title = _interval_title(e.interval_level, e.kind)
        rank = e.rank if e.rank is not None else (None if e.superseded_by is not None or e.excluded else i)
        rows.append((
            Cell("–" if rank is None else str(rank), rank), Cell(e.label, badge=e.provenance),
            Cell("–" if e.batch is None else str(e.batch), e.batch),
            _band_cell(e.latency_s, e.latency_s_low, e.latency_s_high, t_unit[1], title),
            _band_cell(e.throughput_per_s, e.throughput_per_s_low, e.throughput_per_s_high, title=title),
            _num_cell(e.per_w), _num_cell(e.per_usd, digits=".3g"), _next_cell(e, by_rank),
            Cell(e.bound or "–", title="what bounds it, from the per-layer projection (projected)"),
        ))
    cols = ("rank", "configuration", "batch", f"latency ({t_unit[0]})", "inferences/s", "inf/s per W", "inf/s per $",
            "vs next", "bottleneck")
    top = entries[0]
    words = METRIC_WORDS.get(top.metric or "", summary.objective)
    constraints = fmt_constraints(summary.constraints) if summary.constraints is not None else ""
    excluded = sum(1 for e in entries if e.excluded)
    return Table("ranking", f"Ranking by {summary.objective} ({words} first) on "
                            f"{fmt_workload(top.model, top.resolution, None)}"
                            + (f", only what meets {constraints}" if constraints else ""), cols, tuple(rows),
                 (True, False, True, True, True, True, True, False, False),
                 caption="Ordered by the central figure; in brackets its interval (a projection's 80 % band, a"
                         " measurement's 95 % confidence interval). ≈ #N: the intervals overlap, the two cannot be"
                         " told apart. batch: the batch of the figure ranked by; bottleneck: what bounds it in the"
                         " per-layer projection (for this host's measured rows, the projection of this host)."
                         + (f" Constraints: {constraints}; {excluded} configuration(s) fail them and are listed last,"
                            " not ranked (a measurement's latency is its p99, a projection's its batch-1 latency;"
                            " a projection's power is its TDP)." if constraints else ""))


def fallback_ranking_table(records) -> Table | None:
    """Without a summary: the measured records ranked by median latency per inference."""
    ok = [r for r in records if r.ok]
    if not ok:
        return None
    ok.sort(key=lambda r: r.stats.p50_ns / r.inferences_per_query)
    t_unit = select_time_unit([r.stats.p50_ns / 1e9 for r in ok])
    rows = []
    for i, r in enumerate(ok, 1):
        cfg = r.config
        label = (f"{cfg.model} @ {cfg.resolution or 'default'} · batch {cfg.batch} · {_precision_text(r)} · "
                 f"{r.runtime}")
        rows.append((Cell(str(i), i), Cell(label, badge="measured"),
                     _num_cell(r.stats.p50_ns / 1e9, t_unit[1], "measured"),
                     _num_cell(r.throughput_per_s, 1.0, "derived"),
                     Cell(fmt_pct(r.mac_utilization), r.mac_utilization, "derived" if r.mac_utilization else None),
                     Cell(r.record_id[:8], r.record_id, title=r.record_id)))
    return Table("ranking", "Measured configurations, fastest first (median latency per inference)",
                 ("rank", "configuration", f"p50 ({t_unit[0]})", "inferences/s", "MAC util", "record"), tuple(rows),
                 (True, False, True, True, True, False))


def precision_table(groups: dict) -> Table | None:
    if not groups:
        return None
    rows = []
    for group, recs in groups.items():
        base = next((r for r in recs if r.config.precision == "fp32"), None)
        for r in recs:
            dev = r.deviation
            speed = base.stats.p50_ns / r.stats.p50_ns if base is not None and r is not base else None
            cos, mre, top1 = ((dev.cosine_similarity, dev.max_relative_error, dev.top1_agreement) if dev is not None
                              else (None, None, None))
            rows.append((
                Cell(group), Cell(r.config.precision), Cell(r.precision_executed or "?"),
                _num_cell(r.stats.p50_ns / 1e6, 1.0, "measured"),
                Cell(f"{speed:.2f}x" if speed else ("reference" if r is base else "–"), speed,
                     "derived" if speed else None, style="good" if speed and speed > 1.05 else ""),
                Cell("–" if cos is None else f"{cos:.6f}", cos, "measured" if cos is not None else None,
                     dev.reference if dev is not None else ""),
                Cell("–" if mre is None else f"{mre:.2e}", mre, "measured" if mre is not None else None),
                _top1_cell(dev, top1),
            ))
    cols = ("model @ input · batch · backend", "asked", "ran", "p50 (ms)", "speed-up vs FP32", "cosine vs FP32",
            "max rel err", "top-1 agreement")
    return Table("precision", "Precision comparison", cols, tuple(rows),
                 (False, False, False, True, True, True, True, True),
                 caption="Numeric deviation of each reduced precision against the FP32 outputs on the same inputs"
                         " (max rel err = max |y - r| / max |r|).")


def top1_note(deviation: NumericDeviation | Mapping | None) -> str:
    """Why a top-1 agreement is not a finding ("" when it is): random weights or inputs make a
    classifier's outputs nearly flat, so its argmax flips on noise (precision/deviation.py). Takes a
    record's deviation or its JSON; one stored before the sources were recorded had random data."""
    data = deviation.to_dict() if isinstance(deviation, NumericDeviation) else (deviation or {})
    if data.get("top1_agreement") is None or data.get("top1_meaningful"):
        return ""
    random = [what for what, key in (("weights", "weights_source"), ("inputs", "inputs_source"))
              if data.get(key, "random") == "random"]
    return f"not meaningful: random {' and '.join(random) or 'data'}"


def _top1_cell(deviation: NumericDeviation | None, top1: float | None) -> Cell:
    if top1 is None:
        return Cell("–")
    note = top1_note(deviation)
    if note:
        return Cell(f"{fmt_pct(top1)} ({note})", top1, None, "Top-1 agreement compares argmaxes; on random weights "
                    "or inputs they flip on noise. Give real weights and inputs to make it a finding.", style="warn")
    return Cell(fmt_pct(top1), top1, "measured")


def projections_table(summary) -> Table | None:
    if summary is None or not summary.projections:
        return None
    projs = list(summary.projections)
    t_unit = select_time_unit([p.latency_s for p in projs])
    rows = []
    for p in projs:
        util = p.mac_utilization
        kind = "calibrated" if p.calibrated else "projected"
        band = p.interval_source or ""
        rows.append((
            Cell(p.name, badge=kind, title="; ".join((p.params_origin or "", *p.assumptions)).strip("; ")),
            Cell(p.model or ""), Cell(p.precision or ""),
            replace(_band_cell(p.latency_s, p.latency_s_low, p.latency_s_high, t_unit[1], band), badge=kind),
            replace(_band_cell(p.throughput_per_s, p.throughput_per_s_low, p.throughput_per_s_high, title=band),
                    badge=kind),
            Cell(fmt_pct(util), util, kind if util is not None else None),
            Cell(p.bound.summary or ""),
            _num_cell(p.throughput_per_w, 1.0, "estimated" if p.throughput_per_w else None),
        ))
    cols = ("device", "model", "precision", f"latency ({t_unit[0]})", "inferences/s", "MAC util", "bound", "inf/s per W")
    return Table("projections", "Projected devices", cols, tuple(rows),
                 (False, False, False, True, True, True, False, True),
                 caption="Analytical per-layer projections: estimates, not measurements; in brackets the 80 % band."
                         " A calibrated projection's figures were fitted on the device's own measurements of other"
                         " models. Hover a device for its assumptions, a figure for where its band comes from.")


# What tells the runtimes of two measurements apart in the environment table.
RUN_INFO_KEYS = ("runtime", "runtime_version", "device", "execution_provider", "threads")


def environment_groups(records) -> list[tuple[Environment, dict, list]]:
    """Distinct (environment, run_info's RUN_INFO_KEYS) pairs and the records measured in each."""
    groups: dict[str, tuple[Environment, dict, list]] = {}
    for r in records:
        info = ({k: v for k, v in r.run_info.to_dict().items() if k in RUN_INFO_KEYS}
                if r.run_info is not None else {})
        key = hashlib.sha1(json.dumps([r.environment.to_dict(), info], sort_keys=True, default=str).encode()).hexdigest()
        groups.setdefault(key, (r.environment, info, []))[2].append(r)
    return list(groups.values())


def _known(value) -> str:
    return "?" if value is None else str(value)


def environment_table(records) -> Table | None:
    groups = environment_groups(records)
    if not groups:
        return None
    rows = []
    for env, info, recs in groups:
        clock = env.cpu_clocks.max_mhz or env.cpu_clocks.cpuinfo_mhz
        rows.append((
            Cell(_known(env.hostname)), Cell(_known(env.cpu_model)),
            Cell(f"{_known(env.physical_cores)}/{_known(env.logical_cores)}"),
            Cell(f"{clock:.0f} MHz" if isinstance(clock, (int, float)) else "–", clock),
            Cell(", ".join(env.cpu_flags) or "–"), Cell(_known(env.os)),
            Cell(f"{info.get('runtime', '?')} {info.get('runtime_version', '')}".strip(),
                 title=", ".join(f"{k} {v}" for k, v in env.runtime_versions.items())),
            Cell(f"{info.get('device', '?')} / {info.get('execution_provider', '?')} / threads {info.get('threads', '?')}"),
            Cell(f"{len(recs)}: " + ", ".join(_short(r.record_id) for r in recs[:6]) + (" …" if len(recs) > 6 else ""),
                 len(recs)),
        ))
    cols = ("host", "CPU", "cores phys/log", "clock", "ISA flags", "OS", "runtime", "device / provider / threads",
            "records")
    return Table("environment", "Where each measurement ran", cols, tuple(rows),
                 (False, False, False, True, False, False, False, False, True),
                 caption="Hover a runtime for every package version recorded with the measurement.")


def to_rich(table: Table):
    """A rich Table: numeric columns right-aligned; units in the headers."""
    rt = RichTable(title=table.title, title_justify="left", header_style="bold")
    numeric = table.numeric or (False,) * len(table.columns)
    for col, is_num in zip(table.columns, numeric):
        rt.add_column(col, justify="right" if is_num else "left", no_wrap=is_num, overflow="fold")
    colors = {"good": "green", "bad": "red", "warn": "yellow"}

    def render(c: Cell) -> str:
        text = escape(c.text)
        if c.style in colors:
            text = f"[{colors[c.style]}]{text}[/]"
        if c.badge in TERMINAL_BADGES and c.text != "–":
            text += f" [dim]({TERMINAL_BADGES[c.badge]})[/]"  # the terminal has no badges: say it in words
        return text

    for row in table.rows:
        rt.add_row(*[render(c) for c in row])
    return rt


def print_tables(tables, console=None) -> None:
    console = console or make_console()
    for t in tables:
        if t is not None:
            console.print(to_rich(t))
