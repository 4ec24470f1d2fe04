"""A device's datasheet figures, each with its source. Pure data (no runtime imports).

Catalog files live in ``hardware/catalog/<id>.toml`` (loaded by accelbench.hardware.catalog).
Peak ops count 2 ops per MAC: peak_ops_per_s = MACs per clock x clock_hz x 2
(1K MACs at 1 GHz = 2 TOPS). Dense figures only (no structured-sparsity doubling).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from accelbench.errors import choice_error
from accelbench.precision import parse_precision


@dataclass(frozen=True)
class EngineSpec:
    """One kind of compute engine of a device with several (Jetson: the GPU and two DLAs).

    ``peak_ops_per_s`` is per engine; the device has ``count`` of them. A model runs on one engine
    at a time for latency; Offline throughput may use every engine at once.
    """

    name: str  # "gpu", "dla"
    kind: str  # GPU, NPU, ...: picks the projection defaults of the engine
    count: int
    peak_ops_per_s: dict[str, float]
    clock_hz: float | None = None
    sources: dict[str, str] = field(default_factory=dict)
    derived: tuple[str, ...] = ()

    @property
    def precisions(self) -> tuple[str, ...]:
        return tuple(self.peak_ops_per_s)


@dataclass(frozen=True)
class DeviceSpec:
    id: str  # short key used on the CLI: "t4", "a100", "host"
    name: str
    vendor: str
    kind: str  # GPU, NPU, CPU, FPGA, VPU, TPU
    # precision -> dense peak ops/s (2 ops per MAC); absent precisions are not supported
    peak_ops_per_s: dict[str, float]
    # precision -> MACs per clock for the whole device, where known (peak = macs*clock*2)
    macs_per_clock: dict[str, int] = field(default_factory=dict)
    clock_hz: float | None = None
    onchip_sram_bytes: int | None = None
    onchip_sram_bw_bytes_per_s: float | None = None
    dram_bw_bytes_per_s: float | None = None
    dram_capacity_bytes: int | None = None
    tdp_w: float | None = None
    price_usd: float | None = None
    price_per_hour_usd: float | None = None
    # how the MACs are organised, e.g. "systolic 4x(32x32)", "tensor cores 456 x 4th gen", "2x AVX-512 FMA"
    mac_organization: str = ""
    # field name -> where the figure comes from (URL or document); "derived: ..." for computed ones
    sources: dict[str, str] = field(default_factory=dict)
    # names of figures that were derived or assumed rather than vendor-published
    derived: tuple[str, ...] = ()
    notes: str = ""
    # other names the device goes by, e.g. what NVML reports ("Tesla T4"); matched case-insensitively
    aliases: tuple[str, ...] = ()
    # engines that run models independently (empty: the device is one engine)
    engines: tuple[EngineSpec, ...] = ()

    @property
    def precisions(self) -> tuple[str, ...]:
        return tuple(self.peak_ops_per_s)

    def peak_macs_per_s(self, precision: str) -> float | None:
        ops = self.peak_ops_per_s.get(precision)
        return None if ops is None else ops / 2.0

    def is_derived(self, field_name: str) -> bool:
        return field_name in self.derived

    def is_figure_derived(self, field_name: str, precision: str | None = None) -> bool:
        """True when the figure (or, per precision, ``field.precision``) is derived, not vendor-published."""
        if field_name in self.derived:
            return True
        return precision is not None and f"{field_name}.{precision}" in self.derived

    def precisions_for(self, precision: str | None = None) -> list[str]:
        """Every precision with a peak (None), or [the one asked for] when the device has it; else a
        UserError naming the precisions it has."""
        if precision is None:
            return list(self.peak_ops_per_s)
        key = parse_precision(precision)
        if key not in self.peak_ops_per_s:
            raise choice_error(f"precision for {self.id}", precision, self.peak_ops_per_s or ["(none known)"])
        return [key]
