"""Tables as plain data (Table of Cells), rendered to the terminal with rich here and to HTML in
html.py. Each numeric column has one unit, chosen from its values and named in the header, so the
numbers line up. A Cell carries its sort key (base units) for the HTML table's click-to-sort.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from accelbench.report.units import (
    METRIC_WORDS, fmt_energy, fmt_pct, fmt_plain, fmt_workload, select_prefix, select_time_unit,
)


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
        cfg, info, prov = r.config, r.run_info or {}, r.provenance
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
            Cell(str(cfg.batch), cfg.batch), Cell(f"{info.get('runtime', cfg.backend)} / {info.get('device', cfg.device)}"),
            Cell(_precision_text(r), title=info.get("precision_source", "")),
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


def ranking_table(summary) -> Table | None:
    """The run's answer: every ranked configuration with the batch of its ranked figure and what bounds it."""
    if summary is None or not summary.ranking:
        return None
    entries = list(summary.ranking)
    t_unit = select_time_unit([e.latency_s for e in entries])
    rows = []
    for i, e in enumerate(entries, 1):
        rows.append((
            Cell(str(i), i), Cell(e.label, badge=e.kind), Cell("–" if e.batch is None else str(e.batch), e.batch),
            _num_cell(e.latency_s, t_unit[1]), _num_cell(e.throughput_per_s),
            _num_cell(e.per_w), _num_cell(e.per_usd, digits=".3g"),
            Cell(e.bound or "–", title="what bounds it, from the per-layer projection (projected)"),
        ))
    cols = ("rank", "configuration", "batch", f"latency ({t_unit[0]})", "inferences/s", "inf/s per W", "inf/s per $",
            "bottleneck")
    top = entries[0]
    words = METRIC_WORDS.get(top.metric or "", summary.objective)
    return Table("ranking", f"Ranking by {summary.objective} ({words} first) on "
                            f"{fmt_workload(top.model, top.resolution, None)}", cols, tuple(rows),
                 (True, False, True, True, True, True, True, False),
                 caption="batch: the batch of the figure ranked by; bottleneck: what bounds it in the per-layer "
                         "projection (for this host's measured rows, the projection of this host).")


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
                 f"{(r.run_info or {}).get('runtime', cfg.backend)}")
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
            dev = r.deviation or {}
            speed = base.stats.p50_ns / r.stats.p50_ns if base is not None and r is not base else None
            cos, mre, top1 = dev.get("cosine_similarity"), dev.get("max_relative_error"), dev.get("top1_agreement")
            rows.append((
                Cell(group), Cell(r.config.precision), Cell(r.precision_executed or "?"),
                _num_cell(r.stats.p50_ns / 1e6, 1.0, "measured"),
                Cell(f"{speed:.2f}x" if speed else ("reference" if r is base else "–"), speed,
                     "derived" if speed else None, style="good" if speed and speed > 1.05 else ""),
                Cell("–" if cos is None else f"{cos:.6f}", cos, "measured" if cos is not None else None,
                     dev.get("reference", "")),
                Cell("–" if mre is None else f"{mre:.2e}", mre, "measured" if mre is not None else None),
                _top1_cell(dev, top1),
            ))
    cols = ("model @ input · batch · backend", "asked", "ran", "p50 (ms)", "speed-up vs FP32", "cosine vs FP32",
            "max rel err", "top-1 agreement")
    return Table("precision", "Precision comparison", cols, tuple(rows),
                 (False, False, False, True, True, True, True, True),
                 caption="Numeric deviation of each reduced precision against the FP32 outputs on the same inputs"
                         " (max rel err = max |y - r| / max |r|).")


def top1_note(deviation: dict) -> str:
    """Why a top-1 agreement is not a finding ("" when it is): random weights or inputs make a
    classifier's outputs nearly flat, so its argmax flips on noise (precision/deviation.py)."""
    if deviation.get("top1_agreement") is None or deviation.get("top1_meaningful"):
        return ""
    random = [what for what, key in (("weights", "weights_source"), ("inputs", "inputs_source"))
              if deviation.get(key, "random") == "random"]
    return f"not meaningful: random {' and '.join(random) or 'data'}"


def _top1_cell(deviation: dict, top1) -> Cell:
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
        rows.append((
            Cell(p.name, badge="projected", title="; ".join(p.assumptions)),
            Cell(p.model or ""), Cell(p.precision or ""),
            _num_cell(p.latency_s, t_unit[1], "projected"), _num_cell(p.throughput_per_s, 1.0, "projected"),
            Cell(fmt_pct(util), util, "projected" if util is not None else None),
            Cell(p.bound.summary or ""),
            _num_cell(p.throughput_per_w, 1.0, "estimated" if p.throughput_per_w else None),
        ))
    cols = ("device", "model", "precision", f"latency ({t_unit[0]})", "inferences/s", "MAC util", "bound", "inf/s per W")
    return Table("projections", "Projected devices", cols, tuple(rows),
                 (False, False, False, True, True, True, False, True),
                 caption="Analytical per-layer projections: estimates, not measurements. Hover a device for its assumptions.")


ENV_KEYS = ("hostname", "cpu_model", "cpu_family_model", "physical_cores", "logical_cores", "os", "python",
            "accelbench")


def environment_groups(records) -> list[tuple[dict, dict, list]]:
    """Distinct (environment, run_info minus extras) pairs and the records measured in each."""
    groups: dict[str, tuple[dict, dict, list]] = {}
    for r in records:
        env = r.environment or {}
        info = {k: v for k, v in (r.run_info or {}).items() if k in ("runtime", "runtime_version", "device",
                                                                       "execution_provider", "threads")}
        key = hashlib.sha1(json.dumps([env, info], sort_keys=True, default=str).encode()).hexdigest()
        groups.setdefault(key, (env, info, []))[2].append(r)
    return list(groups.values())


def environment_table(records) -> Table | None:
    groups = environment_groups(records)
    if not groups:
        return None
    rows = []
    for env, info, recs in groups:
        flags = ", ".join(env.get("cpu_flags") or []) or "–"
        versions = env.get("runtime_versions") or {}
        clocks = env.get("cpu_clocks") or {}
        clock = clocks.get("max_mhz") or clocks.get("cpuinfo_mhz")
        rows.append((
            Cell(str(env.get("hostname", "?"))), Cell(str(env.get("cpu_model", "?"))),
            Cell(f"{env.get('physical_cores', '?')}/{env.get('logical_cores', '?')}"),
            Cell(f"{clock:.0f} MHz" if isinstance(clock, (int, float)) else "–", clock),
            Cell(flags), Cell(str(env.get("os", "?"))),
            Cell(f"{info.get('runtime', '?')} {info.get('runtime_version', '')}".strip(),
                 title=", ".join(f"{k} {v}" for k, v in versions.items())),
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
    from rich.table import Table as RichTable

    rt = RichTable(title=table.title, title_justify="left", header_style="bold")
    numeric = table.numeric or (False,) * len(table.columns)
    for col, is_num in zip(table.columns, numeric):
        rt.add_column(col, justify="right" if is_num else "left", no_wrap=is_num, overflow="fold")
    colors = {"good": "green", "bad": "red", "warn": "yellow"}

    def render(c: Cell) -> str:
        text = _rich_escape(c.text)
        if c.style in colors:
            text = f"[{colors[c.style]}]{text}[/]"
        if c.badge in ("projected", "estimated") and c.text != "–":
            text += f" [dim]({c.badge})[/]"  # the terminal has no badges: say it in words
        return text

    for row in table.rows:
        rt.add_row(*[render(c) for c in row])
    return rt


def _rich_escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def print_tables(tables, console=None) -> None:
    from accelbench.report.terminal import make_console

    console = console or make_console()
    for t in tables:
        if t is not None:
            console.print(to_rich(t))
