"""The analytical per-layer projection of a profiled model onto a device (docs/projection.md).

For each fused layer of a ModelProfile at batch ``b``:

* compute_s: the layer's GEMM (M x K) @ (K x N) x groups, padded to the array's granularity and
  cut into output tiles (tile_m x tile_n, optionally split along K); tiles run in waves over the
  device's ``units``:  compute_s = waves x tile_m' x tile_n' x K' / (peak_macs_per_s x eff / units).
  Mapping losses (depthwise convs, 3-channel first layers, small matmuls, a last partial wave) fall
  out of the padding and the wave count. The tile shape (and split-K) is chosen per layer as the
  fastest, as a runtime's autotuner would.
* sram_s: on-chip operand traffic of that tiling (each tile reads its A and B panels, writes C)
  over the on-chip bandwidth.
* dram_s: off-chip traffic over DRAM bandwidth x efficiency. Weights: 0 when the model's weights
  fit in ``weight_sram_share`` of on-chip SRAM (resident), else read once per batch. Activations:
  0 when the layer's input + output fit in the SRAM left over, else the output is written and the
  input read back, once per block of the layer's weights that fits on chip (re-read by tile).
  The graph input is read and the graph output written once.
* time_s = max(compute_s, sram_s, dram_s) + layer_overhead_s, and the layer's bound is the term
  that set it ("compute", "sram", "dram", or "overhead" when the fixed cost is larger). Where the
  params give ``overhead_clock_hz`` (GPUs), the overhead is paid in clock cycles: layer_overhead_s x
  overhead_clock_hz / the device's clock.

A device with several engines (Jetson: GPU + two DLAs; ``DeviceSpec.engines``) is projected engine by
engine: Offline throughput adds every engine's (all run at once, as MLPerf's Jetson submissions do),
capped by the DRAM bandwidth they share; latency is that of the engine that runs one sample fastest.

Every projection carries an interval (projection/intervals.py): ``latency_s_low/high`` and
``throughput_per_s_low/high`` at ``interval_level`` (0.8), and ``interval_source`` saying where it
comes from.

Times are seconds for one invocation of ``batch`` samples; bytes at the profile's precision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from accelbench.errors import BackendUnavailable, UserError, choice_error
from accelbench.hardware.spec import DeviceSpec
from accelbench.precision import bytes_per_element
from accelbench.profile.types import LayerProfile, ModelProfile
from accelbench.projection.intervals import band_for, calibrated_band, load_residuals
from accelbench.projection.params import DeviceParams

if TYPE_CHECKING:
    from accelbench.projection.measured import MeasuredCalibration

SCENARIOS = ("single-stream", "offline")
# What a projected figure is, in words (JSON "provenance", tables, the report's badges): a projection
# with the shipped (family) figures, or one whose figures were fitted on the device's own measurements.
PROJECTION = "projection"
CALIBRATED_PROJECTION = "calibrated projection"
BOUNDS = ("compute", "sram", "dram", "overhead")
MAX_SEARCH_BATCH = 256
ACCUMULATOR_BYTES = 4  # split-K partial sums are kept at 32 bits


@dataclass(frozen=True)
class LayerProjection:
    """One layer at one batch. Times in seconds for the whole batch; bytes per invocation."""

    name: str
    op: str
    macs: int
    mapped_macs: int  # MAC slots the tiling occupies (>= macs; the gap is mapping loss)
    tile: str  # chosen tiling, e.g. "128x64" or "64x64/k4"; "" for layers without MACs
    compute_s: float
    sram_s: float
    dram_s: float
    overhead_s: float
    sram_bytes: int
    dram_bytes: int
    spilled: bool  # activations did not fit on chip and went through DRAM
    time_s: float
    bound: str

    def to_dict(self) -> dict:
        return {
            "name": self.name, "op": self.op, "time_s": self.time_s, "bound": self.bound,
            "macs": self.macs, "mapped_macs": self.mapped_macs, "tile": self.tile,
            "compute_s": self.compute_s, "sram_s": self.sram_s, "dram_s": self.dram_s,
            "overhead_s": self.overhead_s, "sram_bytes": self.sram_bytes, "dram_bytes": self.dram_bytes,
            "spilled": self.spilled,
        }


@dataclass(frozen=True)
class BatchProjection:
    """The whole model at one batch size."""

    batch: int
    time_s: float  # one invocation of `batch` samples
    throughput_per_s: float
    mac_utilization: float  # model MACs x batch / (time x dense peak MACs/s)
    weights_resident: bool
    layers: tuple[LayerProjection, ...]

    @property
    def bound_share(self) -> dict[str, float]:
        """Share of the time spent in layers of each bound (fractions summing to 1)."""
        totals = {b: 0.0 for b in BOUNDS}
        for layer in self.layers:
            totals[layer.bound] += layer.time_s
        whole = sum(totals.values()) or 1.0
        return {b: totals[b] / whole for b in BOUNDS}

    @property
    def dram_bytes(self) -> int:
        return sum(layer.dram_bytes for layer in self.layers)


@dataclass(frozen=True)
class EngineProjection:
    """One engine kind of a several-engine device: its own projection, per engine."""

    name: str
    count: int
    latency_s: float  # batch 1 (or the batch asked for), one engine
    throughput_per_s: float  # one engine at its best batch
    throughput_batch: int
    params_origin: str
    family: str

    def to_dict(self) -> dict:
        return {"name": self.name, "count": self.count, "latency_s": self.latency_s,
                "throughput_per_s": self.throughput_per_s, "throughput_batch": self.throughput_batch,
                "params_origin": self.params_origin, "family": self.family}


@dataclass(frozen=True)
class DeviceProjection:
    """A model projected onto one device: every figure here is an estimate, not a measurement."""

    device: str
    device_name: str
    model: str
    precision: str
    scenario: str
    latency_s: float  # one invocation at `latency_batch` (single-stream: batch 1)
    latency_batch: int
    throughput_per_s: float  # at `throughput_batch` (the best batch searched, or the one asked for)
    throughput_batch: int
    mac_utilization: float  # at the scenario's batch
    bound: dict[str, float]  # share of time per bound at the scenario's batch
    weights_resident: bool
    layers: tuple[LayerProjection, ...]  # at the scenario's batch
    peak_ops_per_s: float
    energy_per_inference_j: float | None  # TDP x time per sample: an estimate
    throughput_per_w: float | None  # per W of TDP
    throughput_per_usd: float | None  # per $ of device price
    batches: tuple[tuple[int, float], ...]  # (batch, throughput_per_s) for every batch searched
    assumptions: tuple[str, ...]
    params_origin: str
    calibrated: bool = False
    kind: str = "projected"
    # the interval: the real figure lies in [low, high] with probability ~interval_level (None: no interval)
    latency_s_low: float | None = None
    latency_s_high: float | None = None
    throughput_per_s_low: float | None = None
    throughput_per_s_high: float | None = None
    interval_level: float | None = None
    interval_source: str = ""  # one line: which residuals, how many, how far the family
    family: str = ""  # the device family whose fitted figures were used ("" = kind defaults)
    engines: tuple[EngineProjection, ...] = ()  # several-engine devices only
    # calibrated from the device's measurements: what was fitted on, the leave-one-out errors and the
    # target model's own measurements beside this projection (projection/measured.py)
    calibration: MeasuredCalibration | None = None

    def indistinguishable_from(self, other: DeviceProjection) -> bool:
        """True when the two throughput intervals overlap: a ranking cannot tell the devices apart by
        projection. Without an interval on either side only equal central values are."""
        if None in (self.throughput_per_s_low, self.throughput_per_s_high,
                    other.throughput_per_s_low, other.throughput_per_s_high):
            return self.throughput_per_s == other.throughput_per_s
        return (self.throughput_per_s_low <= other.throughput_per_s_high
                and other.throughput_per_s_low <= self.throughput_per_s_high)

    @property
    def provenance(self) -> str:
        """"calibrated projection" when the device's figures were fitted on its measurements, else "projection"."""
        return CALIBRATED_PROJECTION if self.calibrated else PROJECTION

    @property
    def bound_summary(self) -> str:
        top = max(self.bound, key=self.bound.get)
        return f"{top} ({self.bound[top]:.0%})"

    def to_dict(self, *, with_layers: bool = True) -> dict:
        data = {
            "device": self.device, "device_name": self.device_name, "model": self.model,
            "precision": self.precision, "scenario": self.scenario, "kind": self.kind,
            "calibrated": self.calibrated, "params_origin": self.params_origin,
            "latency_s": self.latency_s, "latency_batch": self.latency_batch,
            "throughput_per_s": self.throughput_per_s, "throughput_batch": self.throughput_batch,
            "mac_utilization": self.mac_utilization,
            "bound": {"summary": self.bound_summary, **self.bound},
            "weights_resident": self.weights_resident, "peak_ops_per_s": self.peak_ops_per_s,
            "energy_per_inference_j": self.energy_per_inference_j, "energy_source": "estimated-tdp",
            "throughput_per_w": self.throughput_per_w, "throughput_per_usd": self.throughput_per_usd,
            "batches": [{"batch": b, "throughput_per_s": t} for b, t in self.batches],
            "assumptions": list(self.assumptions),
            "latency_s_low": self.latency_s_low, "latency_s_high": self.latency_s_high,
            "throughput_per_s_low": self.throughput_per_s_low, "throughput_per_s_high": self.throughput_per_s_high,
            "interval_level": self.interval_level, "interval_source": self.interval_source,
            "family": self.family, "provenance": self.provenance,
        }
        if self.engines:
            data["engines"] = [engine.to_dict() for engine in self.engines]
        if self.calibration is not None:
            data["calibration"] = self.calibration.to_dict()
        if with_layers:
            data["layers"] = [layer.to_dict() for layer in self.layers]
        return data


@dataclass(frozen=True)
class _Context:
    """Per-device, per-precision figures the layer model needs (derived once)."""

    peak_macs_per_s: float
    params: DeviceParams
    bpe: int
    k_gran: int
    sram_bytes: float
    sram_bw: float | None
    dram_bw: float
    weights_resident: bool
    model_weight_bytes: int
    overhead_s: float  # fixed cost per paying layer on this device (params.overhead_s at its clock)
    notes: list[str] = field(default_factory=list)


def _context(profile: ModelProfile, device: DeviceSpec, params: DeviceParams) -> _Context:
    precision = profile.precision
    peak = device.peak_macs_per_s(precision)
    if peak is None or peak <= 0:
        have = ", ".join(device.precisions) or "none"
        raise BackendUnavailable(
            f"precision: {device.id} has no {precision} peak in the catalog; it supports: {have}")
    bpe = bytes_per_element(precision)
    notes: list[str] = []
    sram = float(device.onchip_sram_bytes or params.onchip_sram_bytes or 0)
    if not sram:
        notes.append("no on-chip SRAM figure: every activation and weight goes through DRAM")
    sram_bw = device.onchip_sram_bw_bytes_per_s or params.sram_bw_bytes_per_s
    if sram_bw is None:
        notes.append("no on-chip bandwidth figure: on-chip traffic not limited")
    dram_bw = device.dram_bw_bytes_per_s or params.dram_bw_bytes_per_s
    if dram_bw is None:
        raise UserError(
            f"device: {device.id} has no DRAM bandwidth in the catalog or device params; cannot project")
    resident = profile.weight_bytes <= sram * params.weight_sram_share
    return _Context(peak, params, bpe, params.k_granularity(precision, bpe), sram, sram_bw,
                    dram_bw * params.dram_efficiency, resident, profile.weight_bytes,
                    params.overhead_s(device.clock_hz), notes)


def _ceil_to(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def _compute_options(layer: LayerProfile, m: int, ctx: _Context):
    """Yield (compute_s, sram_bytes, mapped_macs, tile label) for every tiling the device offers."""
    p = ctx.params
    g = layer.gemm
    groups, n, k = g.groups, g.n, g.k
    mp = _ceil_to(max(m, 1), p.m_granularity)
    np_ = _ceil_to(max(n, 1), p.n_granularity)
    kp = _ceil_to(max(k, 1), ctx.k_gran)
    unit_rate = ctx.peak_macs_per_s * p.compute_efficiency / p.units  # MACs/s of one unit
    splits = [1]
    while splits[-1] * 2 <= p.max_split_k:
        splits.append(splits[-1] * 2)
    seen = set()
    for tile_m, tile_n in p.tile_shapes:
        tm, tn = min(tile_m, mp), min(tile_n, np_)
        base_tiles = groups * -(-mp // tm) * -(-np_ // tn)
        for split in splits:
            k_steps = kp // ctx.k_gran
            if split > 1 and (split > k_steps or base_tiles * split > 2 * p.units):
                break  # split-K only pays when the tiles alone leave units idle
            k_per = _ceil_to(-(-k_steps // split), 1) * ctx.k_gran
            if (tm, tn, split) in seen:
                continue
            seen.add((tm, tn, split))
            tiles = base_tiles * split
            waves = -(-tiles // p.units)
            compute_s = waves * tm * tn * k_per / unit_rate
            operand = tiles * (tm + tn) * k_per * ctx.bpe
            result = groups * mp * np_ * (ctx.bpe if split == 1 else 2 * ACCUMULATOR_BYTES * split)
            label = f"{tm}x{tn}" + (f"/k{split}" if split > 1 else "")
            yield compute_s, operand + result, tiles * tm * tn * k_per, label


def _project_layer(layer: LayerProfile, index: int, count: int, scale: float, ctx: _Context) -> LayerProjection:
    p = ctx.params
    in_b = layer.input_bytes * scale
    out_b = layer.output_bytes * scale
    weights = layer.weight_bytes
    block = ctx.sram_bytes * p.weight_sram_share  # on-chip room for a block of one layer's weights
    on_chip_weights = ctx.model_weight_bytes if ctx.weights_resident else min(weights, block)
    budget = max(0.0, ctx.sram_bytes - on_chip_weights)
    spilled = in_b + out_b > budget
    dram = 0.0 if ctx.weights_resident else float(weights)
    if spilled:
        passes = 1 if block <= 0 or weights <= block else math.ceil(weights / block)
        dram += in_b * passes + out_b
    else:
        # the graph input arrives in DRAM and the graph output leaves through it
        if index == 0:
            dram += in_b
        if index == count - 1:
            dram += out_b
    dram_s = dram / ctx.dram_bw

    macs = round(layer.macs * scale)
    best = None
    if layer.macs > 0 and layer.gemm is not None:
        m = max(1, round(layer.gemm.m * scale))
        for compute_s, sram_bytes, mapped, label in _compute_options(layer, m, ctx):
            sram_s = sram_bytes / ctx.sram_bw if ctx.sram_bw else 0.0
            key = max(compute_s, sram_s, dram_s)
            if best is None or key < best[0] * (1 - 1e-9):
                best = (key, compute_s, sram_s, sram_bytes, mapped, label)
    if best is None:
        # no GEMM shape (or no MACs): MACs, if any, run at the well-mapped rate; data moves on chip
        compute_s = macs / (ctx.peak_macs_per_s * p.compute_efficiency) if macs else 0.0
        sram_bytes = in_b + out_b + weights
        sram_s = sram_bytes / ctx.sram_bw if ctx.sram_bw else 0.0
        best = (max(compute_s, sram_s, dram_s), compute_s, sram_s, sram_bytes, macs, "")
    _, compute_s, sram_s, sram_bytes, mapped, label = best
    busy = {"compute": compute_s, "sram": sram_s, "dram": dram_s}
    bound = max(busy, key=busy.get)
    overhead_s = ctx.overhead_s if p.pays_overhead(layer.macs) else 0.0
    if overhead_s > busy[bound]:
        bound = "overhead"
    time_s = max(busy.values()) + overhead_s
    return LayerProjection(layer.name, layer.op, macs, int(mapped), label, compute_s, sram_s, dram_s,
                           overhead_s, int(round(sram_bytes)), int(round(dram)), spilled, time_s, bound)


def project_batch(profile: ModelProfile, device: DeviceSpec, params: DeviceParams, batch: int) -> BatchProjection:
    """Project ``profile`` (any batch; scaled linearly in M and activations) at ``batch`` samples."""
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise UserError(f"batch: must be a positive integer such as 1 or 32; got {batch!r}")
    ctx = _context(profile, device, params)
    return _project_batch(profile, ctx, batch)


def _project_batch(profile: ModelProfile, ctx: _Context, batch: int) -> BatchProjection:
    scale = batch / max(1, profile.batch)
    count = len(profile.layers)
    layers = tuple(_project_layer(layer, i, count, scale, ctx) for i, layer in enumerate(profile.layers))
    time_s = sum(layer.time_s for layer in layers)
    if time_s <= 0:
        raise UserError(f"model: {profile.model} has no layers to project")
    macs = profile.macs * scale
    return BatchProjection(batch, time_s, batch / time_s, macs / (time_s * ctx.peak_macs_per_s),
                           ctx.weights_resident, layers)


def batch_candidates(profile: ModelProfile, device: DeviceSpec, params: DeviceParams,
                     limit: int = MAX_SEARCH_BATCH) -> tuple[tuple[int, ...], str | None]:
    """Powers of two up to ``limit`` that the runtime takes and that fit in DRAM; and a note on the cap."""
    per_sample = profile.peak_live_activation_bytes / max(1, profile.batch)
    cap = min(limit, params.max_batch)
    note = None
    batches = []
    b = 1
    while b <= cap:
        if device.dram_capacity_bytes and profile.weight_bytes + b * per_sample > device.dram_capacity_bytes:
            note = f"batch search stopped at {batches[-1] if batches else 1}: batch {b} exceeds DRAM capacity"
            break
        batches.append(b)
        b *= 2
    return tuple(batches) or (1,), note


def project(profile: ModelProfile, device: DeviceSpec, params: DeviceParams, *,
            scenario: str = "offline", batch: int | None = None, calibrated: bool = False,
            with_interval: bool = True) -> DeviceProjection:
    """Latency at batch 1 (or ``batch``), throughput at the best batch (or ``batch``), and the rest.

    single-stream: the layer breakdown and MAC utilization are at the latency batch; offline: at
    the throughput batch. Energy per inference = TDP x time per sample (an estimate). With
    ``with_interval`` the projection carries its interval (projection/intervals.py).
    """
    if scenario not in SCENARIOS:
        raise choice_error("scenario", scenario, SCENARIOS)
    if device.engines and params.engines:
        return _project_engines(profile, device, params, scenario=scenario, batch=batch, calibrated=calibrated,
                                with_interval=with_interval)
    result = _project_single(profile, device, params, scenario=scenario, batch=batch, calibrated=calibrated)
    return _with_interval(result, params, scenario) if with_interval else result


def _project_single(profile: ModelProfile, device: DeviceSpec, params: DeviceParams, *, scenario: str,
                    batch: int | None, calibrated: bool) -> DeviceProjection:
    ctx = _context(profile, device, params)
    notes = list(ctx.notes)
    if batch is not None:
        candidates, cap_note = (batch,), None
        if batch > params.max_batch:
            notes.append(f"batch {batch} is above the device runtime's usual maximum {params.max_batch}")
    else:
        candidates, cap_note = batch_candidates(profile, device, params)
    if cap_note:
        notes.append(cap_note)
    points = {b: _project_batch(profile, ctx, b) for b in sorted(set(candidates) | {candidates[0]})}
    lat_point = points[batch] if batch is not None else _project_batch(profile, ctx, 1)
    thr_point = max(points.values(), key=lambda pt: pt.throughput_per_s)
    point = lat_point if scenario == "single-stream" else thr_point
    per_sample_s = point.time_s / point.batch
    tdp = device.tdp_w
    throughput = thr_point.throughput_per_s
    p = params
    assumptions = [
        f"device params: {p.origin}" + (f" ({p.note})" if p.note else ""),
        f"compute efficiency {p.compute_efficiency:.3g} ({_why(p, 'compute_efficiency')})",
        f"DRAM efficiency {p.dram_efficiency:.3g} ({_why(p, 'dram_efficiency')})",
        _overhead_assumption(p, device),
        f"{p.units} units, tiles {', '.join(f'{m}x{n}' for m, n in p.tile_shapes)} ({_why(p, 'tile_shapes')})",
        ("weights resident on chip" if ctx.weights_resident else "weights streamed from DRAM once per batch")
        + f": {profile.weight_bytes / 2**20:.1f} MiB vs {p.weight_sram_share:.0%} of"
        f" {ctx.sram_bytes / 2**20:.1f} MiB on-chip",
        "energy = TDP x time per inference (estimate, not measured)" if tdp else "no TDP: no energy estimate",
        *notes,
    ]
    return DeviceProjection(
        device=device.id, device_name=device.name, model=profile.model, precision=profile.precision,
        scenario=scenario, latency_s=lat_point.time_s, latency_batch=lat_point.batch,
        throughput_per_s=throughput, throughput_batch=thr_point.batch,
        mac_utilization=point.mac_utilization, bound=point.bound_share,
        weights_resident=ctx.weights_resident, layers=point.layers,
        peak_ops_per_s=ctx.peak_macs_per_s * 2,
        energy_per_inference_j=tdp * per_sample_s if tdp else None,
        throughput_per_w=throughput / tdp if tdp else None,
        throughput_per_usd=throughput / device.price_usd if device.price_usd else None,
        batches=tuple((b, pt.throughput_per_s) for b, pt in sorted(points.items())),
        assumptions=tuple(assumptions), params_origin=p.origin, calibrated=calibrated, family=p.family,
    )


def _overhead_assumption(p: DeviceParams, device: DeviceSpec) -> str:
    text = f"per-layer overhead {p.overhead_s(device.clock_hz) * 1e6:.3g} us ({_why(p, 'layer_overhead_s')})"
    if p.overhead_scale(device.clock_hz) != 1.0:
        text += (f"; paid in clock cycles: {p.layer_overhead_s * 1e6:.3g} us at {p.overhead_clock_hz / 1e9:.3g} GHz"
                 f" x {p.overhead_clock_hz / 1e9:.3g} / {device.clock_hz / 1e9:.3g} GHz")
    return text


def _band(params: DeviceParams, bound: dict[str, float], scenario: str):
    if params.calibration_loo_errors:
        band = calibrated_band(list(params.calibration_loo_errors))
        if band is not None:
            return band
    return band_for(params.family_chain, bound, scenario, load_residuals())


def _with_interval(result: DeviceProjection, params: DeviceParams, scenario: str) -> DeviceProjection:
    band = _band(params, result.bound, scenario)
    if band is None:
        return result
    lat_low, lat_high = band.time_range(result.latency_s)
    thr_low, thr_high = band.throughput_range(result.throughput_per_s)
    return replace(result, latency_s_low=lat_low, latency_s_high=lat_high, throughput_per_s_low=thr_low,
                   throughput_per_s_high=thr_high, interval_level=band.level, interval_source=band.source)


def engine_device(device: DeviceSpec, engine) -> DeviceSpec:
    """One engine of ``device`` as a device of its own (its peaks and clock; a different kind of
    engine keeps none of the device's on-chip figures, which describe its main engine)."""
    same_kind = engine.kind == device.kind
    return replace(device, id=f"{device.id}_{engine.name}", name=f"{device.name} {engine.name.upper()}",
                   kind=engine.kind, peak_ops_per_s=dict(engine.peak_ops_per_s), macs_per_clock={},
                   clock_hz=engine.clock_hz or device.clock_hz, engines=(),
                   onchip_sram_bytes=device.onchip_sram_bytes if same_kind else None,
                   onchip_sram_bw_bytes_per_s=device.onchip_sram_bw_bytes_per_s if same_kind else None)


def _project_engines(profile: ModelProfile, device: DeviceSpec, params: DeviceParams, *, scenario: str,
                     batch: int | None, calibrated: bool, with_interval: bool) -> DeviceProjection:
    engine_params = dict(params.engines)
    runs = []  # (engine spec, params, projection)
    skipped = []
    for engine in device.engines:
        if profile.precision not in engine.peak_ops_per_s:
            skipped.append(f"{engine.name} has no {profile.precision} peak: not used")
            continue
        e_params = engine_params.get(engine.name, params)
        missing = e_params.unsupported_ops(profile)
        if missing:
            skipped.append(f"{engine.name} cannot run {', '.join(missing[:4])}: not used")
            continue
        e_proj = _project_single(profile, engine_device(device, engine), e_params, scenario=scenario, batch=batch,
                                 calibrated=calibrated)
        if with_interval:
            e_proj = _with_interval(e_proj, e_params, scenario)
        runs.append((engine, e_params, e_proj))
    if not runs:
        have = ", ".join(device.precisions) or "none"
        raise BackendUnavailable(f"precision: {device.id} has no engine with a {profile.precision} peak; it supports: {have}")
    # Offline: every engine at once; they share the DRAM bandwidth
    total = sum(e.count * p.throughput_per_s for e, _, p in runs)
    demand = sum(e.count * p.throughput_per_s * sum(layer.dram_bytes for layer in p.layers) / max(1, p.throughput_batch)
                 for e, _, p in runs if scenario == "offline")
    dram_bw = (device.dram_bw_bytes_per_s or params.dram_bw_bytes_per_s or 0.0) * params.dram_efficiency
    notes = [f"engines: {', '.join(f'{e.count} x {e.name}' for e, _, _ in runs)}; offline throughput adds them,"
             " latency is the fastest engine's", *skipped]
    scale = 1.0
    if scenario == "offline" and dram_bw and demand > dram_bw:
        scale = dram_bw / demand
        notes.append(f"engines together need {demand / 1e9:.1f} GB/s of DRAM, more than {dram_bw / 1e9:.1f}:"
                     f" throughput scaled by {scale:.2f}")
    if batch is not None:
        total_batch = sum(e.count * batch for e, _, _ in runs)
    else:
        total_batch = sum(e.count * p.throughput_batch for e, _, p in runs)
    throughput = total * scale
    lat_engine, lat_params, lat_proj = min(runs, key=lambda run: run[2].latency_s)
    main = lat_proj if scenario == "single-stream" else max(runs, key=lambda run: run[0].count * run[2].throughput_per_s)[2]
    if scenario == "offline":
        weights = [e.count * p.throughput_per_s / total for e, _, p in runs]
        bound = {b: sum(w * p.bound.get(b, 0.0) for w, (_, _, p) in zip(weights, runs)) for b in BOUNDS}
        peak_macs = sum(e.count * p.peak_ops_per_s / 2 for e, _, p in runs)
        utilization = throughput * profile.macs / max(1, profile.batch) / peak_macs
    else:
        bound, utilization = dict(lat_proj.bound), lat_proj.mac_utilization
    tdp = device.tdp_w
    per_sample_s = lat_proj.latency_s / lat_proj.latency_batch if scenario == "single-stream" else 1.0 / throughput
    result = replace(
        main, device=device.id, device_name=device.name, scenario=scenario,
        latency_s=lat_proj.latency_s, latency_batch=lat_proj.latency_batch,
        throughput_per_s=throughput, throughput_batch=total_batch, mac_utilization=utilization, bound=bound,
        peak_ops_per_s=device.peak_ops_per_s.get(profile.precision, sum(e.count * p.peak_ops_per_s for e, _, p in runs)),
        energy_per_inference_j=tdp * per_sample_s if tdp else None,
        throughput_per_w=throughput / tdp if tdp else None,
        throughput_per_usd=throughput / device.price_usd if device.price_usd else None,
        assumptions=tuple(notes) + main.assumptions, params_origin=params.origin, calibrated=calibrated,
        family=lat_params.family,
        engines=tuple(EngineProjection(e.name, e.count, p.latency_s, p.throughput_per_s, p.throughput_batch,
                                       ep.origin, ep.family) for e, ep, p in runs),
        latency_s_low=lat_proj.latency_s_low, latency_s_high=lat_proj.latency_s_high,
        interval_level=lat_proj.interval_level,
    )
    if with_interval and all(p.throughput_per_s_low is not None for _, _, p in runs):
        # engines' bands added end to end (their errors assumed to go the same way: the wider band)
        sources = "; ".join(f"{e.name}: {p.interval_source}" for e, _, p in runs)
        result = replace(result, throughput_per_s_low=scale * sum(e.count * p.throughput_per_s_low for e, _, p in runs),
                         throughput_per_s_high=scale * sum(e.count * p.throughput_per_s_high for e, _, p in runs),
                         interval_source=sources)
    return result


def _why(params: DeviceParams, name: str) -> str:
    if name in params.sources:
        return "source: " + params.sources[name]
    return "assumption: " + params.assumptions.get(name, "unstated")
