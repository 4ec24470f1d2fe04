"""Projection-specific device parameters: how a device's MACs are organised and how efficiently it
runs real layers. They extend the catalog (hardware/catalog/*.toml holds datasheet figures) and live
in ``projection/device_params.toml``, one table per catalog device id.

Every figure carries a source (``sources.<field>``) or an assumption text (``assumptions.<field>``);
a file without one for a required figure is rejected. A ``[defaults.<KIND>]`` table (GPU, CPU, NPU,
...) supplies generic figures for catalog devices without a table of their own; projections that
use it say so in their assumptions.

A ``[family.<name>]`` table holds what a device **family** shares (an NVIDIA tensor-core
generation, Jetson, NVDLA, ...): the fitted efficiencies and per-layer overhead, and a ``parent``
family. A device table names its family (``family = "nvidia_ampere"``); its figures merge as
kind defaults < family chain from the root down < the device's own table. Family figures are fitted
on published results of the family's devices only (projection/validation.py; docs/projection.md).

Units: seconds, bytes, bytes/s. Efficiencies are fractions of the datasheet peak (0 < e <= 1).
"""

from __future__ import annotations

import math
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from accelbench.errors import UserError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PARAMS_FILE = Path(__file__).with_name("device_params.toml")

# Figures every device table (after merging its kind's defaults) must have, each with a source or
# an assumption text.
REQUIRED_FIELDS = ("units", "tile_shapes", "compute_efficiency", "dram_efficiency", "layer_overhead_s")
# The figures `accelbench calibrate` fits.
FITTED_FIELDS = ("compute_efficiency", "dram_efficiency", "layer_overhead_s")
KNOWN_FIELDS = (
    "units", "tile_shapes", "m_granularity", "n_granularity", "k_granularity_bytes", "max_split_k",
    "compute_efficiency", "dram_efficiency", "layer_overhead_s", "sram_bw_bytes_per_s",
    "dram_bw_bytes_per_s", "onchip_sram_bytes", "weight_sram_share", "max_batch", "note", "family",
    "overhead_layers", "supported_ops", "overhead_clock_hz",
)
OVERHEAD_LAYERS = ("all", "macs")
# What a [family.<name>] table may hold besides sources/assumptions: any figure a family shares.
FAMILY_FIELDS = ("parent", "description", *(f for f in KNOWN_FIELDS if f not in ("family", "note")))
ROOT_FAMILY = ""  # devices without a family


@dataclass(frozen=True)
class DeviceParams:
    """How a device maps layers onto its MACs, and how close to peak it gets.

    units: parallel compute units that each take one output tile at a time (GPU SMs, CPU cores,
        systolic arrays). tile_shapes: the (tile_m, tile_n) output tiles a unit can work on; the
        model picks, per layer, the one that runs fastest (as TensorRT/oneDNN pick a kernel).
    m/n_granularity, k_granularity_bytes: a GEMM dimension is padded up to a multiple of these
        (tensor-core MMA shape m16n8k32 at int8 -> 16, 8, 32 bytes; AVX-512 -> 1, 16, 4 bytes).
        K granularity is in bytes so one figure serves every precision (32 B = 32 int8 = 16 fp16).
        A dict {precision: bytes} overrides per precision (e.g. AMX for int8/bf16 only).
    max_split_k: the largest split of the reduction across units (1 = no split-K).
    compute_efficiency: achievable fraction of dense peak on a perfectly mapped layer (clock under
        sustained load, kernel efficiency).
    dram_efficiency: achievable fraction of the datasheet DRAM bandwidth.
    layer_overhead_s: fixed time per layer per invocation (kernel launch, layer switch, sync).
    overhead_clock_hz: when set, layer_overhead_s is stated at this clock and a device pays it in
        clock cycles: layer_overhead_s x overhead_clock_hz / the device's (engine's) clock. A GPU's
        fixed cost per kernel (launch from a CUDA graph, prologue, epilogue, the wait for the
        previous kernel to drain) is work of the GPU's front end and SMs, so a slower clock takes
        longer. None: seconds on every device (CPUs, whose runtimes pay it on the host).
    sram_bw_bytes_per_s / dram_bw_bytes_per_s / onchip_sram_bytes: used when the catalog lacks the figure.
    weight_sram_share: share of on-chip SRAM the model's weights may occupy and still count as
        resident (the rest holds activation tiles).
    max_batch: the largest batch the device's runtime takes (the search also stays in DRAM).
    overhead_layers: which layers pay layer_overhead_s: "all", or "macs" (only layers with MACs: a
        runtime such as TensorRT folds transposes, softmax and normalisation into its GEMM kernels).
    supported_ops: ONNX ops the device (an engine such as a DLA) can run; empty = every op. A model
        with any other op (in a layer or fused into one) does not run on it.
    """

    device_id: str
    units: int
    tile_shapes: tuple[tuple[int, int], ...]
    compute_efficiency: float
    dram_efficiency: float
    layer_overhead_s: float
    m_granularity: int = 1
    n_granularity: int = 1
    k_granularity_bytes: int | dict[str, int] = 1
    max_split_k: int = 1
    sram_bw_bytes_per_s: float | None = None
    dram_bw_bytes_per_s: float | None = None
    onchip_sram_bytes: int | None = None
    weight_sram_share: float = 0.5
    max_batch: int = 256
    overhead_layers: str = "all"
    supported_ops: tuple[str, ...] = ()
    overhead_clock_hz: float | None = None
    note: str = ""
    family: str = ROOT_FAMILY  # the family chain's leaf, e.g. "nvidia_ampere" ("" = none)
    family_chain: tuple[str, ...] = ()  # root first: ("nvidia_tensor_core", "nvidia_ampere")
    # (engine name, its params) for a device with several engines (hardware EngineSpec)
    engines: tuple[tuple[str, "DeviceParams"], ...] = ()
    # leave-one-measurement-out errors of a calibration (projected / measured - 1): its interval
    calibration_loo_errors: tuple[float, ...] = ()
    sources: dict[str, str] = field(default_factory=dict)
    assumptions: dict[str, str] = field(default_factory=dict)
    origin: str = "device_params.toml"  # or "defaults.GPU", "calibrated (...)"

    def __post_init__(self) -> None:
        where = f"device params {self.device_id!r}"
        _positive_int(self.units, f"{where}: units")
        _positive_int(self.m_granularity, f"{where}: m_granularity")
        _positive_int(self.n_granularity, f"{where}: n_granularity")
        _positive_int(self.max_split_k, f"{where}: max_split_k")
        _positive_int(self.max_batch, f"{where}: max_batch")
        kg = self.k_granularity_bytes
        if isinstance(kg, dict):
            for key, value in kg.items():
                _positive_int(value, f"{where}: k_granularity_bytes.{key}")
            object.__setattr__(self, "k_granularity_bytes", dict(kg))
        else:
            _positive_int(kg, f"{where}: k_granularity_bytes")
        if not self.tile_shapes:
            raise UserError(f"{where}: tile_shapes must list at least one [tile_m, tile_n] pair; got []")
        shapes = []
        for shape in self.tile_shapes:
            if (not isinstance(shape, (list, tuple)) or len(shape) != 2
                    or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in shape)):
                raise UserError(f"{where}: tile_shapes entries must be [tile_m, tile_n] positive integers; got {shape!r}")
            shapes.append((int(shape[0]), int(shape[1])))
        object.__setattr__(self, "tile_shapes", tuple(shapes))
        for name in ("compute_efficiency", "dram_efficiency", "weight_sram_share"):
            value = getattr(self, name)
            if not _is_number(value) or not 0.0 < value <= 1.0:
                raise UserError(f"{where}: {name} must be a fraction in (0, 1]; got {value!r}")
        if not isinstance(self.supported_ops, (list, tuple)) or not all(
                isinstance(op, str) and op for op in self.supported_ops):
            raise UserError(f"{where}: supported_ops must be a list of ONNX op names; got {self.supported_ops!r}")
        object.__setattr__(self, "supported_ops", tuple(self.supported_ops))
        if self.overhead_layers not in OVERHEAD_LAYERS:
            raise UserError(f"{where}: overhead_layers must be one of {', '.join(OVERHEAD_LAYERS)};"
                            f" got {self.overhead_layers!r}")
        if not _is_number(self.layer_overhead_s) or self.layer_overhead_s < 0 or self.layer_overhead_s > 1.0:
            raise UserError(f"{where}: layer_overhead_s must be seconds in [0, 1]; got {self.layer_overhead_s!r}")
        if self.overhead_clock_hz is not None and (not _is_number(self.overhead_clock_hz)
                                                   or not 1e6 <= self.overhead_clock_hz <= 1e11):
            raise UserError(f"{where}: overhead_clock_hz must be a clock in Hz between 1e6 and 1e11 (or left out);"
                            f" got {self.overhead_clock_hz!r}")
        for name in ("sram_bw_bytes_per_s", "dram_bw_bytes_per_s", "onchip_sram_bytes"):
            value = getattr(self, name)
            if value is not None and (not _is_number(value) or value <= 0):
                raise UserError(f"{where}: {name} must be a positive number of bytes/s; got {value!r}")

    def pays_overhead(self, macs: int) -> bool:
        return self.overhead_layers == "all" or macs > 0

    def overhead_scale(self, clock_hz: float | None) -> float:
        """What layer_overhead_s is multiplied by on a device clocked at ``clock_hz``: the ratio
        overhead_clock_hz / clock_hz when both are known, else 1 (seconds everywhere)."""
        if self.overhead_clock_hz is None or not clock_hz or clock_hz <= 0:
            return 1.0
        return self.overhead_clock_hz / clock_hz

    def overhead_s(self, clock_hz: float | None) -> float:
        """The fixed cost per layer in seconds on a device clocked at ``clock_hz``."""
        return self.layer_overhead_s * self.overhead_scale(clock_hz)

    def unsupported_ops(self, profile) -> tuple[str, ...]:
        """The profile's ops this device cannot run (none when ``supported_ops`` is empty)."""
        if not self.supported_ops:
            return ()
        ops = {op for layer in profile.layers for op in (layer.op, *layer.fused_ops)}
        return tuple(sorted(ops - set(self.supported_ops)))

    def k_granularity(self, precision: str, bytes_per_element: int) -> int:
        """K padding in elements at ``precision`` (at least 1)."""
        kg = self.k_granularity_bytes
        if isinstance(kg, dict):
            kg = kg.get(precision, kg.get("default", 1))
        return max(1, int(kg) // bytes_per_element)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["tile_shapes"] = [list(s) for s in self.tile_shapes]
        data["engines"] = {name: params.to_dict() for name, params in self.engines}
        return data


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _positive_int(value: Any, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UserError(f"{what} must be a positive integer; got {value!r}")


def parse_params_table(device_id: str, table: dict, defaults: dict | None = None,
                       *, origin: str = "device_params.toml", where: str = "",
                       families: tuple[tuple[str, dict], ...] = ()) -> DeviceParams:
    """Build DeviceParams from one TOML table merged over its kind's defaults and its family chain
    (``families``: (name, table) root first); one-line UserErrors."""
    label = where or f"device params {device_id!r}"
    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}
    assumptions: dict[str, str] = {}
    family_tables = [(f"{label}: family {name!r}", {k: v for k, v in t.items() if k not in ("parent", "description")})
                     for name, t in families]
    for part_label, part in ((label, defaults or {}), *family_tables, (label, table)):
        for key, value in part.items():
            if key == "sources":
                sources.update(_text_table(value, f"{part_label}: sources"))
            elif key == "assumptions":
                assumptions.update(_text_table(value, f"{part_label}: assumptions"))
            elif key in KNOWN_FIELDS:
                # a figure set lower down replaces the reason given higher up
                sources.pop(key, None)
                assumptions.pop(key, None)
                merged[key] = value
            else:
                raise UserError(
                    f"{part_label}: unknown field {key!r}; allowed: {', '.join(KNOWN_FIELDS)}, sources, assumptions")
        # re-add this part's own reasons (popped above when the part set the figure itself)
        if isinstance(part.get("sources"), dict):
            sources.update(part["sources"])
        if isinstance(part.get("assumptions"), dict):
            assumptions.update(part["assumptions"])
    missing = [f for f in REQUIRED_FIELDS if f not in merged]
    if missing:
        raise UserError(f"{label}: missing required field(s) {', '.join(missing)}")
    unsourced = [f for f in merged if f not in ("note", "family") and f not in sources and f not in assumptions]
    if unsourced:
        raise UserError(
            f"{label}: figure(s) {', '.join(sorted(unsourced))} need a sources.<field> or assumptions.<field> text")
    merged.pop("family", None)
    chain = tuple(name for name, _ in families)
    try:
        return DeviceParams(device_id=device_id, sources=sources, assumptions=assumptions, origin=origin,
                            family=chain[-1] if chain else ROOT_FAMILY, family_chain=chain, **merged)
    except TypeError as exc:  # a wrong type that the dataclass itself trips on
        raise UserError(f"{label}: {exc}") from None


def _text_table(value: Any, what: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) and v.strip() for v in value.values()):
        raise UserError(f"{what} must be a table of field = \"text\"; got {value!r}")
    return dict(value)


@dataclass(frozen=True)
class ParamsFile:
    """The parsed device_params.toml: per-device tables, per-kind defaults and families (raw,
    validated lazily)."""

    path: str
    devices: dict[str, dict]
    defaults: dict[str, dict]
    families: dict[str, dict] = field(default_factory=dict)

    def family_chain(self, name: str) -> tuple[tuple[str, dict], ...]:
        """(name, table) from the root family down to ``name`` ("" -> no family)."""
        chain: list[tuple[str, dict]] = []
        while name:
            if name not in self.families:
                raise UserError(f"device params: family {name!r} has no [family.{name}] table in {self.path};"
                                f" known: {', '.join(sorted(self.families)) or 'none'}")
            if any(n == name for n, _ in chain):
                raise UserError(f"device params: family {name!r} is its own ancestor in {self.path}")
            table = self.families[name]
            chain.insert(0, (name, table))
            name = table.get("parent", "")
        return tuple(chain)

    def kind_key(self, kind: str) -> str:
        kind_key = kind.upper()
        if kind_key not in self.defaults and kind_key not in ("GPU", "CPU"):
            kind_key = "NPU"  # TPU, VPU, FPGA, DSP...: the generic accelerator defaults
        return kind_key

    def params_for(self, device_id: str, kind: str) -> DeviceParams:
        """Params for a catalog device (or an engine, ``<device>_<engine>``): its own table over its
        family chain over its kind's defaults, or the defaults alone."""
        kind_key = self.kind_key(kind)
        defaults = self.defaults.get(kind_key)
        table = self.devices.get(device_id)
        if table is None:
            if defaults is None:
                raise UserError(
                    f"device params: no table for {device_id!r} and no [defaults.{kind_key}] in {self.path}")
            family = defaults.get("family", "")
            return parse_params_table(device_id, {}, defaults, origin=f"defaults.{kind_key}",
                                      families=self.family_chain(family))
        family = table.get("family", (defaults or {}).get("family", ""))
        if not isinstance(family, str):
            raise UserError(f"device params {device_id!r}: family must be a family name; got {family!r}")
        return parse_params_table(device_id, table, defaults, families=self.family_chain(family))

    def validate_all(self, kinds: dict[str, str]) -> dict[str, DeviceParams]:
        """Every device table, merged over the defaults of its kind (``kinds``: device id -> kind)."""
        return {dev: self.params_for(dev, kinds.get(dev, "")) for dev in self.devices}


def load_params_file(path: str | Path | None = None) -> ParamsFile:
    """Read and check the structure of a device-params TOML (per-device tables are validated on use)."""
    file = Path(path) if path is not None else PARAMS_FILE
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"device params: cannot read {str(file)!r} ({exc.strerror})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"device params: {str(file)!r} is not valid TOML ({exc})") from None
    defaults = data.pop("defaults", {})
    if not isinstance(defaults, dict) or not all(isinstance(v, dict) for v in defaults.values()):
        raise UserError(f"device params: [defaults.<KIND>] in {str(file)!r} must be tables")
    families = data.pop("family", {})
    if not isinstance(families, dict) or not all(isinstance(v, dict) for v in families.values()):
        raise UserError(f"device params: [family.<name>] in {str(file)!r} must be tables")
    for name, table in families.items():
        unknown = [k for k in table if k not in (*FAMILY_FIELDS, "sources", "assumptions")]
        if unknown:
            raise UserError(f"device params: family {name!r}: unknown field {unknown[0]!r};"
                            f" allowed: {', '.join(FAMILY_FIELDS)}, sources, assumptions")
    devices = {}
    for key, value in data.items():
        if not isinstance(value, dict):
            raise UserError(f"device params: top-level key {key!r} in {str(file)!r} must be a [device_id] table")
        devices[key] = value
    return ParamsFile(str(file), devices, {k.upper(): v for k, v in defaults.items()}, families)


def with_overrides(params: DeviceParams, values: dict[str, float], origin: str) -> DeviceParams:
    """A copy with fitted figures replaced (calibration), labelled by ``origin``."""
    unknown = [k for k in values if k not in FITTED_FIELDS]
    if unknown:
        raise UserError(f"calibration: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(FITTED_FIELDS)}")
    assumptions = dict(params.assumptions)
    # a fitted figure's shipped source (e.g. the family fit) no longer describes it
    sources = {k: v for k, v in params.sources.items() if k not in values}
    for key in values:
        assumptions[key] = f"calibrated: {origin}"
    return replace(params, origin=origin, assumptions=assumptions, sources=sources, **values)
