"""Ranking: measured configurations of this host beside projected catalog devices, ordered by the
run's objective; the catalog ranked by projected throughput beside its rank by peak TOPS
(`accelbench rank`); and the rank correlation between the two, the one-number lesson of stage 1.

Both rankings order by the central figure and carry each entry's interval (a projection's 80 % band,
a measurement's confidence interval); an entry whose interval overlaps the next one's is marked
(``indistinguishable_from``: the two cannot be told apart). Measured figures always outrank
projections of the same device: such a projection is listed after the ranked entries, unranked,
for comparison (``superseded_by``).

Constraints (``run``/``rank`` --max-latency-ms, --max-watts, --max-price; results.summary.Constraints):
only what meets them is ranked; every other entry is listed after the ranked ones with ``excluded``,
the constraint it fails and its figure ("p99 latency 12.3 ms > 10 ms"). Latency is a measurement's
p99 (a bound is a tail bound) and a projection's batch-1 latency; power is a measurement's power
figure (measured, or the TDP-share estimate) and a projection's TDP; price is the device's price. An
entry without the figure a constraint needs is excluded too: nothing shows that it meets it."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, replace
from typing import Callable, Sequence

from accelbench.errors import UserError
from accelbench.hardware.catalog import load_catalog
from accelbench.job.plan import StageConfig
from accelbench.job.stages import Measured
from accelbench.models.loader import load_model
from accelbench.precision import peak_precision
from accelbench.profile import profile_model
from accelbench.projection import project_all, project_on_device
from accelbench.projection.api import project_devices, projection_device, resolve_devices
from accelbench.report.units import fmt_correlation, fmt_pct, fmt_plain, fmt_time, fmt_usd
from accelbench.results.summary import (
    Constraints, PeakStageData, ProjectionEntry, RankCorrelation, RankEntry, StageSummary, intervals_overlap,
)

RANKING_STAGES = (4, 3, 2)  # the ranking model: the user's, else YOLOv3, else ResNet-50
PROJECTED_PRECISIONS = ("int8", "fp16", "fp32")  # a device's best precision first
# objective -> (RankEntry field, higher is better)
OBJECTIVE_METRICS = {"latency": ("latency_s", False), "throughput": ("throughput_per_s", True),
                     "per-watt": ("per_w", True), "per-dollar": ("per_usd", True)}


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Spearman's rank correlation (average ranks for ties); None where it is undefined: fewer than
    two points, or one side constant (no order to compare)."""
    if len(xs) != len(ys):
        raise ValueError(f"spearman: {len(xs)} x values but {len(ys)} y values")
    if len(xs) < 2:
        return None
    rx, ry = _ranks(xs), _ranks(ys)
    mx, my = statistics.fmean(rx), statistics.fmean(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    var = (sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry)) ** 0.5
    return cov / var if var else None


def constraint_failures(constraints: Constraints | None, *, latency_s: float | None, latency_what: str,
                        power_w: float | None, power_what: str, price_usd: float | None) -> str | None:
    """Why a figure set fails ``constraints``, in words ("p99 latency 12.3 ms > 10 ms; no price known");
    None when it meets them all (or there are none)."""
    if constraints is None:
        return None
    reasons = []
    for limit, value, what, fmt, missing in (
            (constraints.max_latency_s, latency_s, latency_what, fmt_time, "no latency figure"),
            (constraints.max_watts, power_w, power_what, lambda v: fmt_plain(v, " W"), "no power figure"),
            (constraints.max_price_usd, price_usd, "price", fmt_usd, "no price known")):
        if limit is None:
            continue
        if value is None:
            reasons.append(f"{missing} (the limit is {fmt(limit)})")
        elif value > limit:
            reasons.append(f"{what} {fmt(value)} > {fmt(limit)}")
    return "; ".join(reasons) or None


def entry_failures(entry: RankEntry, constraints: Constraints | None) -> str | None:
    """Why a ranking entry fails ``constraints`` (module docstring); None when it meets them."""
    measured = entry.kind == "measured"
    latency, latency_what = ((entry.latency_p99_s, "p99 latency") if measured and entry.latency_p99_s is not None
                             else (entry.latency_s, "projected latency" if not measured else "latency"))
    power_what = "TDP" if not measured else ("power" if entry.per_w_source == "measured" else "power (estimated)")
    return constraint_failures(constraints, latency_s=latency, latency_what=latency_what, power_w=entry.power_w,
                               power_what=power_what, price_usd=entry.price_usd)


def _ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks; tied values share their mean rank."""
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


# -- the four-stage run --------------------------------------------------------------------------
def ranking_config(measured: Sequence[Measured]) -> StageConfig | None:
    """The configuration the run ranks devices on: the latest stage's first."""
    for stage in RANKING_STAGES:
        configs = [m.config for m in measured if m.config.stage == stage]
        if configs:
            return configs[0]
    return None


def project_for_ranking(measured: Sequence[Measured], records: Sequence = (), store: str = ""
                        ) -> tuple[ProjectionEntry, ...]:
    """Project the ranking model onto every catalog device at batch 1: one entry per device at its
    best precision (int8 first; a device without it falls back). A device with measured ``records``
    (BenchRecords of the results store ``store``) is calibrated from them, the ranking model's own
    records left out; so is this host, whose calibrated projection is added at each precision the
    ranking stage measured, to be compared with those measurements."""
    cfg = ranking_config(measured)
    if cfg is None:
        return ()
    loaded = load_model(cfg.model, resolution=cfg.resolution, batch=1, with_weights=False)
    best: dict[str, ProjectionEntry] = {}
    for precision in PROJECTED_PRECISIONS:
        profile = profile_model(loaded, precision=precision)
        for proj in project_all(profile, precision=precision, records=records, store=store):
            if proj["device"] not in best:
                best[proj["device"]] = _projection_entry(proj, cfg)
    return tuple(best.values()) + _host_projections(loaded, cfg, measured, records, store)


def _projection_entry(projection: dict, cfg: StageConfig) -> ProjectionEntry:
    return ProjectionEntry.from_dict({**projection, "model": cfg.model, "resolution": cfg.resolution,
                                      "label": cfg.label})


def _host_projections(loaded, cfg: StageConfig, measured: Sequence[Measured], records: Sequence,
                      store: str) -> tuple[ProjectionEntry, ...]:
    """This host's calibrated projections of the ranking model, one per precision the ranking stage
    ran, each fitted on the host's other measurements (none where there are none)."""
    precisions = []
    for m in measured:
        ran = m.record.precision_executed if m.record.ok else None
        if m.config == cfg and ran and ran not in precisions:
            precisions.append(ran)
    if not records or not precisions:
        return ()
    host = projection_device("host")
    out = []
    for precision in precisions:
        try:
            done, _ = project_devices(profile_model(loaded, precision=precision), [host], scenario="offline",
                                      records=records, store=store)
        except UserError:  # e.g. no peak of this precision on this host: nothing to project
            continue
        out.extend(_projection_entry(p.to_dict(with_layers=False), cfg) for p in done if p.calibration is not None)
    return tuple(out)


def _measured_entry(m: Measured, where: Callable[[Measured], tuple[str, str]] | None = None) -> RankEntry:
    """A measured configuration with its confidence intervals: of the median latency, and of the
    throughput from the mean latency's (none when LoadGen set the throughput). ``where``: (label,
    device id) of the device it ran on, default this host; only this host's bound is projected."""
    rec = m.record
    place, device = where(m) if where is not None else ("this host", "host")
    stats = rec.stats
    latency_ci = stats.median_ci_ns
    throughput_ci = None
    if stats.mean_ci_ns and rec.loadgen_throughput_per_s is None and min(stats.mean_ci_ns) > 0:
        per_query = rec.inferences_per_query * 1e9
        throughput_ci = (per_query / stats.mean_ci_ns[1], per_query / stats.mean_ci_ns[0])
    return RankEntry(
        label=f"{place} ({rec.runtime}, {rec.precision_executed}) @ {m.config.resolution}",
        kind="measured", record_id=rec.record_id, device=device, model=m.config.model,
        resolution=m.config.resolution, batch=m.config.batch, bound=host_bound(m) if device == "host" else None,
        precision=rec.precision_executed, latency_s=stats.p50_ns / 1e9,
        throughput_per_s=rec.throughput_per_s, per_w=rec.inferences_per_s_per_w,
        per_w_source="estimated" if not rec.power.measured else "measured",
        per_usd=rec.inferences_per_s_per_usd,
        latency_s_low=latency_ci[0] / 1e9 if latency_ci else None,
        latency_s_high=latency_ci[1] / 1e9 if latency_ci else None,
        throughput_per_s_low=throughput_ci[0] if throughput_ci else None,
        throughput_per_s_high=throughput_ci[1] if throughput_ci else None,
        interval_level=stats.confidence if (latency_ci or throughput_ci) else None,
        latency_p99_s=stats.p99_ns / 1e9, power_w=rec.power.power_w, price_usd=rec.price_usd)


def _projected_entry(proj: ProjectionEntry, metric: str) -> RankEntry:
    """A projected device; its batch is the one of the figure ranked by (``metric``)."""
    name = "this host" if proj.device == "host" else proj.name
    return RankEntry(
        label=f"{name} ({proj.precision}) @ {proj.resolution}", kind="projected", device=proj.device,
        model=proj.model, resolution=proj.resolution,
        batch=proj.latency_batch if metric == "latency_s" else proj.throughput_batch, bound=proj.bound.summary,
        precision=proj.precision, latency_s=proj.latency_s,
        throughput_per_s=proj.throughput_per_s, per_w=proj.throughput_per_w, per_w_source="estimated",
        per_usd=proj.throughput_per_usd, latency_s_low=proj.latency_s_low, latency_s_high=proj.latency_s_high,
        throughput_per_s_low=proj.throughput_per_s_low, throughput_per_s_high=proj.throughput_per_s_high,
        interval_level=proj.interval_level, calibrated=bool(proj.calibrated),
        power_w=_per(proj.throughput_per_s, proj.throughput_per_w),
        price_usd=_per(proj.throughput_per_s, proj.throughput_per_usd))


def _per(throughput: float | None, per: float | None) -> float | None:
    """The power (or price) behind a throughput per W (or per $): throughput / per."""
    return throughput / per if throughput and per else None


def metric_interval(entry: RankEntry, metric: str) -> tuple[float | None, float | None]:
    """The interval of ``entry``'s ``metric``: latency and throughput have their own; inferences/s
    per W and per $ are throughput over a fixed power or price, so they share its relative band."""
    if metric == "latency_s":
        return entry.latency_s_low, entry.latency_s_high
    low, high = entry.throughput_per_s_low, entry.throughput_per_s_high
    if metric == "throughput_per_s":
        return low, high
    value, central = getattr(entry, metric), entry.throughput_per_s
    if None in (low, high, value) or not central:
        return None, None
    return value * low / central, value * high / central


def rank_entries(measured: Sequence[Measured], projections: Sequence[ProjectionEntry],
                 objective: str, constraints: Constraints | None = None, *,
                 where: Callable[[Measured], tuple[str, str]] | None = None) -> list[RankEntry]:
    """Measured configurations of the ranking model and projected catalog devices that meet
    ``constraints``, best first by the central figure; an entry whose interval overlaps the next
    one's is marked. Then, unranked, the projections of devices that were measured (their
    measurements outrank them), the entries without a figure for the objective, and the entries
    that fail the constraints (``excluded``: why). ``where`` names the device a measurement ran on
    as (label, device id); default ("this host", "host")."""
    if not measured:
        return []
    target = next((s for s in RANKING_STAGES if any(m.config.stage == s for m in measured)), None)
    metric, descending = OBJECTIVE_METRICS[objective]
    entries = [_measured_entry(m, where) for m in measured if m.config.stage == target and m.record.ok]
    measured_devices = {e.device for e in entries}
    entries += [_projected_entry(proj, metric) for proj in projections]
    verdicts = [(e, entry_failures(e, constraints)) for e in entries]
    failing = [replace(e, excluded=why) for e, why in verdicts if why]
    entries = [e for e, why in verdicts if not why]

    def with_value(e: RankEntry, **changes) -> RankEntry:
        low, high = metric_interval(e, metric)
        return replace(e, metric=metric, value=getattr(e, metric), value_low=low, value_high=high, **changes)

    superseded = [e for e in entries if e.kind == "projected" and e.device in measured_devices]
    have = [e for e in entries if getattr(e, metric) is not None and e not in superseded]
    missing = [e for e in entries if getattr(e, metric) is None and e not in superseded]
    have.sort(key=lambda e: getattr(e, metric), reverse=descending)
    ranked = [with_value(e, rank=rank) for rank, e in enumerate(have, 1)]
    for i in range(len(ranked) - 1):
        this, after = ranked[i], ranked[i + 1]
        if intervals_overlap((this.value_low, this.value_high), (after.value_low, after.value_high)):
            ranked[i] = replace(this, indistinguishable_from=after.rank)
    best_measured = {}
    for e in ranked:
        if e.kind == "measured":
            best_measured.setdefault(e.device, e.rank)
    return (ranked + [with_value(e, rank=None, superseded_by=best_measured.get(e.device)) for e in superseded]
            + [replace(e, rank=None, metric=metric, value=None) for e in missing]
            + [with_value(e, rank=None) for e in failing])


def host_bound(item: Measured) -> str | None:
    """What bounds a measured configuration, as the projection of its model onto this host sees it
    (the measurement itself cannot say); None where the host cannot be projected."""
    rec = item.record
    try:
        loaded = load_model(item.config.model, resolution=item.config.resolution, batch=item.config.batch,
                            with_weights=False)
        profile = profile_model(loaded, precision=peak_precision(rec.precision_executed or item.precision))
        return f"{project_on_device(profile, 'host', batch=item.config.batch).bound_summary} (projected)"
    except UserError:
        return None


def with_rank_lesson(stage1: StageSummary, projections: Sequence[ProjectionEntry]) -> StageSummary:
    """Add the stage-1 lesson in one number: how well peak TOPS ranks devices for the real model,
    at the best batch (datasheet style) and at batch 1 (latency, what an edge application needs)."""
    catalog = load_catalog()
    peaks, best_batch, batch1 = [], [], []
    for proj in projections:
        spec = catalog.get(proj.device)
        peak = spec.peak_ops_per_s.get(proj.precision) if spec is not None else None
        if peak and proj.throughput_per_s and proj.latency_s:
            peaks.append(peak)
            best_batch.append(proj.throughput_per_s)
            batch1.append(1.0 / proj.latency_s)
    if len(peaks) < 3:
        return stage1
    correlation = RankCorrelation(spearman(peaks, best_batch), spearman(peaks, batch1))
    model = projections[0].label or "the real model"
    lesson = (stage1.lesson + f"; ranking {len(peaks)} catalog devices by peak TOPS vs by projected {model} "
              f"throughput: Spearman rho = {fmt_correlation(correlation.best_batch)} at the best batch, "
              f"{fmt_correlation(correlation.batch1)} at batch 1")
    utils = [(p.mac_utilization, p.name) for p in projections if p.mac_utilization is not None]
    if len(utils) >= 2:
        (lo, lo_name), (hi, hi_name) = min(utils), max(utils)
        scenario = projections[0].scenario or "offline"
        lesson += (f"; projected MAC utilization ({scenario}) runs from {fmt_pct(lo)} ({lo_name}) "
                   f"to {fmt_pct(hi)} ({hi_name})")
    data = stage1.peak_data or PeakStageData()
    return replace(stage1, lesson=lesson, data=replace(data, rank_correlation=correlation))


# -- `accelbench rank` ---------------------------------------------------------------------------
@dataclass(frozen=True)
class DeviceRank:
    """A catalog device ranked by projected throughput on one model, beside its ranks by peak TOPS,
    per W and per $ (None: no power or price figure)."""

    rank: int
    device: str
    throughput_per_s: float
    batch: int
    mac_utilization: float
    peak_ops_per_s: float
    peak_rank: int
    throughput_per_w: float | None
    per_w_rank: int | None
    throughput_per_usd: float | None
    per_usd_rank: int | None
    calibrated: bool
    bound: str
    # appended after the first version's keys: the 80 % band of the throughput, what kind of figure it
    # is, and the next device's rank when the two bands overlap (indistinguishable by projection)
    throughput_per_s_low: float | None = None
    throughput_per_s_high: float | None = None
    interval_level: float | None = None
    provenance: str = "projection"  # or "calibrated projection"
    indistinguishable_from: int | None = None
    # the figures the constraints look at: projected batch-1 latency (s), TDP (W), list price (USD)
    latency_s: float | None = None
    power_w: float | None = None
    price_usd: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ExcludedDevice:
    """A catalog device that fails the constraints, and why ("projected latency 12 ms > 10 ms")."""

    device: str
    reason: str

    def to_dict(self) -> dict:
        return {"device": self.device, "excluded": True, "reason": self.reason}


@dataclass(frozen=True)
class DeviceRanking:
    devices: tuple[DeviceRank, ...]  # best projected throughput first (only those that meet the constraints)
    spearman_throughput_vs_peak: float | None  # None: undefined (e.g. every device at one figure)
    skipped: tuple  # projection.api.Skipped: devices that cannot run the precision
    excluded: tuple[ExcludedDevice, ...] = ()  # devices that fail the constraints
    constraints: Constraints | None = None


def rank_devices(profile, *, batch: int | None = None, use_calibration: bool = True, records: Sequence = (),
                 store: str = "", constraints: Constraints | None = None) -> DeviceRanking:
    """Rank every catalog device that meets ``constraints`` by PROJECTED throughput (offline) on
    ``profile``, central value first; a device whose band overlaps the next one's is marked; the
    others are listed in ``excluded`` with the reason. Devices with measured ``records`` are
    calibrated from them (projection/measured.py)."""
    done, skipped = project_devices(profile, resolve_devices("all"), scenario="offline", batch=batch,
                                    use_calibration=use_calibration, records=records, store=store)
    if len(done) < 2:
        raise UserError(f"rank: fewer than two catalog devices support {profile.precision}; try --precision int8")
    verdicts = [(p, constraint_failures(constraints, latency_s=p.latency_s, latency_what="projected latency",
                                        power_w=_per(p.throughput_per_s, p.throughput_per_w), power_what="TDP",
                                        price_usd=_per(p.throughput_per_s, p.throughput_per_usd))) for p in done]
    excluded = tuple(ExcludedDevice(p.device, why) for p, why in verdicts if why)
    done = [p for p, why in verdicts if not why]
    peak_rank = _order(done, lambda p: p.peak_ops_per_s)
    w_rank = _order(done, lambda p: p.throughput_per_w)
    usd_rank = _order(done, lambda p: p.throughput_per_usd)
    by_throughput = sorted(done, key=lambda p: -p.throughput_per_s)
    rows = tuple(DeviceRank(
        rank=i, device=p.device, throughput_per_s=p.throughput_per_s, batch=p.throughput_batch,
        mac_utilization=p.mac_utilization, peak_ops_per_s=p.peak_ops_per_s, peak_rank=peak_rank[p.device],
        throughput_per_w=p.throughput_per_w, per_w_rank=w_rank.get(p.device),
        throughput_per_usd=p.throughput_per_usd, per_usd_rank=usd_rank.get(p.device),
        calibrated=p.calibrated, bound=p.bound_summary, throughput_per_s_low=p.throughput_per_s_low,
        throughput_per_s_high=p.throughput_per_s_high, interval_level=p.interval_level, provenance=p.provenance,
        indistinguishable_from=i + 1 if i < len(by_throughput) and intervals_overlap(
            (p.throughput_per_s_low, p.throughput_per_s_high),
            (by_throughput[i].throughput_per_s_low, by_throughput[i].throughput_per_s_high)) else None,
        latency_s=p.latency_s, power_w=_per(p.throughput_per_s, p.throughput_per_w),
        price_usd=_per(p.throughput_per_s, p.throughput_per_usd))
        for i, p in enumerate(by_throughput, 1))
    rho = spearman([p.throughput_per_s for p in done], [p.peak_ops_per_s for p in done])
    return DeviceRanking(rows, rho, tuple(skipped), excluded, constraints)


def _order(projections, key) -> dict[str, int]:
    """Rank (1 = highest) of each device that has a figure for ``key``."""
    have = [p for p in projections if key(p) is not None]
    return {p.device: i for i, p in enumerate(sorted(have, key=lambda p: -key(p)), 1)}
