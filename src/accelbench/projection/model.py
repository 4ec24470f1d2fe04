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
  that set it ("compute", "sram", "dram", or "overhead" when the fixed cost is larger).

Times are seconds for one invocation of ``batch`` samples; bytes at the profile's precision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from accelbench.errors import BackendUnavailable, UserError
from accelbench.hardware.spec import DeviceSpec
from accelbench.precision import bytes_per_element
from accelbench.profile.types import LayerProfile, ModelProfile
from accelbench.projection.params import DeviceParams

SCENARIOS = ("single-stream", "offline")
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
        }
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
                    dram_bw * params.dram_efficiency, resident, profile.weight_bytes, notes)


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
    if p.layer_overhead_s > busy[bound]:
        bound = "overhead"
    time_s = max(busy.values()) + p.layer_overhead_s
    return LayerProjection(layer.name, layer.op, macs, int(mapped), label, compute_s, sram_s, dram_s,
                           p.layer_overhead_s, int(round(sram_bytes)), int(round(dram)), spilled, time_s, bound)


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
            scenario: str = "offline", batch: int | None = None, calibrated: bool = False) -> DeviceProjection:
    """Latency at batch 1 (or ``batch``), throughput at the best batch (or ``batch``), and the rest.

    single-stream: the layer breakdown and MAC utilization are at the latency batch; offline: at
    the throughput batch. Energy per inference = TDP x time per sample (an estimate).
    """
    if scenario not in SCENARIOS:
        from accelbench.errors import choice_error
        raise choice_error("scenario", scenario, SCENARIOS)
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
        f"per-layer overhead {p.layer_overhead_s * 1e6:.3g} us ({_why(p, 'layer_overhead_s')})",
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
        assumptions=tuple(assumptions), params_origin=p.origin, calibrated=calibrated,
    )


def _why(params: DeviceParams, name: str) -> str:
    if name in params.sources:
        return "source: " + params.sources[name]
    return "assumption: " + params.assumptions.get(name, "unstated")
