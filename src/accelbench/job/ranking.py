"""Ranking: measured configurations of this host beside projected catalog devices, ordered by the
run's objective; the catalog ranked by projected throughput beside its rank by peak TOPS
(`accelbench rank`); and the rank correlation between the two, the one-number lesson of stage 1."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, replace
from typing import Callable, Sequence

from accelbench.errors import UserError
from accelbench.job.plan import StageConfig
from accelbench.job.stages import Measured
from accelbench.report.units import fmt_correlation, fmt_pct
from accelbench.results.summary import PeakStageData, ProjectionEntry, RankCorrelation, RankEntry, StageSummary

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


def project_for_ranking(measured: Sequence[Measured]) -> tuple[ProjectionEntry, ...]:
    """Project the ranking model onto every catalog device at batch 1: one entry per device at its
    best precision (int8 first; a device without it falls back)."""
    cfg = ranking_config(measured)
    if cfg is None:
        return ()
    try:
        from accelbench.models.loader import load_model
        from accelbench.profile import profile_model
        from accelbench.projection import project_all

        loaded = load_model(cfg.model, resolution=cfg.resolution, batch=1, with_weights=False)
        best: dict[str, ProjectionEntry] = {}
        for precision in PROJECTED_PRECISIONS:
            profile = profile_model(loaded, precision=precision)
            for proj in project_all(profile, precision=precision):
                if proj["device"] not in best:
                    best[proj["device"]] = ProjectionEntry.from_dict(
                        {**proj, "model": cfg.model, "resolution": cfg.resolution, "label": cfg.label})
        return tuple(best.values())
    except ImportError:  # a projection dependency is missing: rank the measured configurations only
        return ()


def rank_entries(measured: Sequence[Measured], projections: Sequence[ProjectionEntry],
                 objective: str, where: Callable[[Measured], tuple[str, str]] | None = None) -> list[RankEntry]:
    """Measured configurations of the ranking model and projected catalog devices, best first;
    entries without a figure for the objective come last, unranked. ``where`` names the device a
    measurement ran on as (label, device id); default ("this host", "host")."""
    if not measured:
        return []
    target = next((s for s in RANKING_STAGES if any(m.config.stage == s for m in measured)), None)
    entries = []
    for m in measured:
        rec = m.record
        if m.config.stage != target or not rec.ok:
            continue
        place, device = where(m) if where is not None else ("this host", "host")
        entries.append(RankEntry(
            label=f"{place} ({(rec.run_info or {}).get('runtime', rec.config.backend)}, "
                  f"{rec.precision_executed}) @ {m.config.resolution}",
            kind="measured", record_id=rec.record_id, device=device, model=m.config.model,
            precision=rec.precision_executed, latency_s=rec.stats.p50_ns / 1e9,
            throughput_per_s=rec.throughput_per_s, per_w=rec.inferences_per_s_per_w,
            per_w_source="estimated" if not rec.power.measured else "measured",
            per_usd=rec.inferences_per_s_per_usd))
    for proj in projections:
        entries.append(RankEntry(
            label=f"{proj.name} ({proj.precision}) @ {proj.resolution}", kind="projected", device=proj.device,
            model=proj.model, precision=proj.precision, latency_s=proj.latency_s,
            throughput_per_s=proj.throughput_per_s, per_w=proj.throughput_per_w, per_w_source="estimated",
            per_usd=proj.throughput_per_usd))
    metric, descending = OBJECTIVE_METRICS[objective]
    have = [e for e in entries if getattr(e, metric) is not None]
    missing = [e for e in entries if getattr(e, metric) is None]
    have.sort(key=lambda e: getattr(e, metric), reverse=descending)
    return ([replace(e, rank=rank, metric=metric, value=getattr(e, metric)) for rank, e in enumerate(have, 1)]
            + [replace(e, rank=None, metric=metric, value=None) for e in missing])


def with_rank_lesson(stage1: StageSummary, projections: Sequence[ProjectionEntry]) -> StageSummary:
    """Add the stage-1 lesson in one number: how well peak TOPS ranks devices for the real model,
    at the best batch (datasheet style) and at batch 1 (latency, what an edge application needs)."""
    from accelbench.hardware.catalog import load_catalog

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

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class DeviceRanking:
    devices: tuple[DeviceRank, ...]  # best projected throughput first
    spearman_throughput_vs_peak: float | None  # None: undefined (e.g. every device at one figure)
    skipped: tuple  # projection.api.Skipped: devices that cannot run the precision


def rank_devices(profile, *, batch: int | None = None, use_calibration: bool = True) -> DeviceRanking:
    """Rank every catalog device by PROJECTED throughput (offline) on ``profile``."""
    from accelbench.projection.api import project_devices, resolve_devices

    done, skipped = project_devices(profile, resolve_devices("all"), scenario="offline", batch=batch,
                                    use_calibration=use_calibration)
    if len(done) < 2:
        raise UserError(f"rank: fewer than two catalog devices support {profile.precision}; try --precision int8")
    peak_rank = _order(done, lambda p: p.peak_ops_per_s)
    w_rank = _order(done, lambda p: p.throughput_per_w)
    usd_rank = _order(done, lambda p: p.throughput_per_usd)
    by_throughput = sorted(done, key=lambda p: -p.throughput_per_s)
    rows = tuple(DeviceRank(
        rank=i, device=p.device, throughput_per_s=p.throughput_per_s, batch=p.throughput_batch,
        mac_utilization=p.mac_utilization, peak_ops_per_s=p.peak_ops_per_s, peak_rank=peak_rank[p.device],
        throughput_per_w=p.throughput_per_w, per_w_rank=w_rank.get(p.device),
        throughput_per_usd=p.throughput_per_usd, per_usd_rank=usd_rank.get(p.device),
        calibrated=p.calibrated, bound=p.bound_summary) for i, p in enumerate(by_throughput, 1))
    rho = spearman([p.throughput_per_s for p in done], [p.peak_ops_per_s for p in done])
    return DeviceRanking(rows, rho, tuple(skipped))


def _order(projections, key) -> dict[str, int]:
    """Rank (1 = highest) of each device that has a figure for ``key``."""
    have = [p for p in projections if key(p) is not None]
    return {p.device: i for i, p in enumerate(sorted(have, key=lambda p: -key(p)), 1)}
