"""The device catalog: one TOML file per device in this folder, loaded into DeviceSpec records.

File layout (``<id>.toml``; the file name must equal ``id``)::

    id = "t4"                         # required
    name = "NVIDIA T4"                # required
    vendor = "NVIDIA"                 # required
    kind = "GPU"                      # required: GPU, NPU, CPU, FPGA, VPU, TPU
    clock_hz = 1.59e9
    onchip_sram_bytes = 4194304       # GPUs: L2; CPUs: L2 + L3; accelerators: all on-chip SRAM
    dram_bw_bytes_per_s = 320e9
    derived = ["price_usd", "peak_ops_per_s.int8"]   # figures derived/assumed, not vendor-published
    [peak_ops_per_s]                  # dense peak, 2 ops per MAC; required unless macs_per_clock is given
    int8 = 130e12
    [macs_per_clock]                  # whole device; peak = MACs x clock x 2 (filled in when peak is absent)
    int8 = 40960
    [sources]                         # a source for every figure: "field" or "field.precision" keys
    peak_ops_per_s = "https://..."
    [[engines]]                       # optional: engines that run models independently (GPU + DLAs)
    name = "dla"                      # lower-case, unique in the device
    kind = "NPU"                      # one of KINDS: picks the engine's projection defaults
    count = 2
    clock_hz = 0.614e9
    peak_ops_per_s = { int8 = 10e12 } # per engine; for every precision of the device, the engines
    derived = ["peak_ops_per_s"]      # that have it must add up to its peak (within 5 %)
    [engines.sources]                 # a source for every engine figure
    peak_ops_per_s = "derived: ..."

Validation happens on load; every problem is a UserError naming the file and the field. This
module is the catalog's data and its loader only: accelbench.hardware.devices resolves any device
id ("host", "gpu0" and catalog ids alike).
"""

from __future__ import annotations

import functools
import math
import re
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

from accelbench.errors import UserError
from accelbench.hardware.peak import peak_ops_per_s
from accelbench.hardware.spec import DeviceSpec, EngineSpec
from accelbench.precision import PRECISIONS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - python 3.10
    import tomli as tomllib

CATALOG_DIR = Path(__file__).resolve().parent
KINDS = ("GPU", "NPU", "CPU", "FPGA", "VPU", "TPU")
REQUIRED = ("id", "name", "vendor", "kind")
# Figures that must carry a source when present.
FIGURE_FIELDS = (
    "peak_ops_per_s", "macs_per_clock", "clock_hz", "onchip_sram_bytes", "onchip_sram_bw_bytes_per_s",
    "dram_bw_bytes_per_s", "dram_capacity_bytes", "tdp_w", "price_usd", "price_per_hour_usd",
)
INT_FIELDS = ("onchip_sram_bytes", "dram_capacity_bytes")
PER_PRECISION_FIELDS = ("peak_ops_per_s", "macs_per_clock")
# A vendor peak and MACs x clock x 2 may differ by rounding (130 vs 130.3 TOPS), not by more.
MAX_PEAK_MISMATCH = 0.05
_SPEC_FIELDS = {f.name for f in fields(DeviceSpec)}


def _fail(origin: str, field: str, problem: str) -> UserError:
    return UserError(f"catalog {origin}: field '{field}' {problem}")


def _positive_number(origin: str, field: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(origin, field, f"must be a positive number; got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise _fail(origin, field, f"must be a positive number; got {value!r}")
    return value


def _per_precision(origin: str, field: str, table: Any) -> dict[str, float]:
    if not isinstance(table, dict):
        raise _fail(origin, field, f"must be a table of precision = number; got {table!r}")
    out: dict[str, float] = {}
    for precision, value in table.items():
        if precision not in PRECISIONS:
            raise _fail(origin, f"{field}.{precision}",
                        f"is an unknown precision; choose one of: {', '.join(PRECISIONS)}")
        out[precision] = _positive_number(origin, f"{field}.{precision}", value)
    return out


def device_from_dict(data: dict[str, Any], origin: str = "<dict>", expected_id: str | None = None) -> DeviceSpec:
    """Validate one catalog entry (as parsed from TOML) and build its DeviceSpec.

    ``origin`` names the file in error messages. Peaks missing for a precision that has
    ``macs_per_clock`` are computed (MACs x clock x 2) and marked derived.
    """
    unknown = sorted(set(data) - _SPEC_FIELDS)
    if unknown:
        raise _fail(origin, unknown[0], f"is not a catalog field; known fields: {', '.join(sorted(_SPEC_FIELDS))}")
    for name in REQUIRED:
        value = data.get(name)
        if not isinstance(value, str) or not value.strip():
            raise _fail(origin, name, "is required (a non-empty string)")
    if expected_id is not None and data["id"] != expected_id:
        raise _fail(origin, "id", f"must equal the file name {expected_id!r}; got {data['id']!r}")
    if not re.fullmatch(r"[a-z0-9_]+", data["id"]) or data["id"] == "host" or re.fullmatch(r"gpu\d+", data["id"]):
        raise _fail(origin, "id", f"must be lower-case letters, digits, '_' and not 'host'/'gpuN'; got {data['id']!r}")
    if data["kind"] not in KINDS:
        raise _fail(origin, "kind", f"must be one of: {', '.join(KINDS)}; got {data['kind']!r}")

    peaks = _per_precision(origin, "peak_ops_per_s", data.get("peak_ops_per_s", {}))
    macs = _per_precision(origin, "macs_per_clock", data.get("macs_per_clock", {}))
    macs = {p: int(v) for p, v in macs.items()}
    if not peaks and not macs:
        raise _fail(origin, "peak_ops_per_s", "is required (or macs_per_clock with clock_hz)")
    kwargs: dict[str, Any] = {name: data[name] for name in ("id", "name", "vendor", "kind")}
    for name in FIGURE_FIELDS:
        if name in PER_PRECISION_FIELDS or name not in data:
            continue
        value = _positive_number(origin, name, data[name])
        kwargs[name] = int(value) if name in INT_FIELDS else float(value)
    clock = kwargs.get("clock_hz")
    if macs and clock is None:
        raise _fail(origin, "clock_hz", "is required when macs_per_clock is given")

    derived = data.get("derived", [])
    if not isinstance(derived, list) or not all(isinstance(d, str) for d in derived):
        raise _fail(origin, "derived", f"must be a list of field names; got {derived!r}")
    derived = list(derived)
    for precision, n_macs in macs.items():
        computed = peak_ops_per_s(n_macs, clock)
        if precision not in peaks:
            peaks[precision] = computed
            if f"peak_ops_per_s.{precision}" not in derived:
                derived.append(f"peak_ops_per_s.{precision}")
        elif abs(computed - peaks[precision]) > MAX_PEAK_MISMATCH * peaks[precision]:
            raise _fail(origin, f"macs_per_clock.{precision}",
                        f"gives {computed:.4g} ops/s (x clock x 2) but peak_ops_per_s.{precision} is "
                        f"{peaks[precision]:.4g}; they must agree within {MAX_PEAK_MISMATCH:.0%}")
    kwargs["peak_ops_per_s"] = {p: peaks[p] for p in PRECISIONS if p in peaks}
    kwargs["macs_per_clock"] = macs

    present = {n for n in FIGURE_FIELDS if n in kwargs and (n not in PER_PRECISION_FIELDS or kwargs[n])}
    allowed_names = present | {f"{f}.{p}" for f in PER_PRECISION_FIELDS for p in kwargs[f]}
    for name in derived:
        if name not in allowed_names:
            raise _fail(origin, "derived", f"names {name!r}, which is not a figure of this device")

    sources = data.get("sources", {})
    if not isinstance(sources, dict) or not all(isinstance(v, str) and v.strip() for v in sources.values()):
        raise _fail(origin, "sources", "must be a table of field = non-empty string")
    for key in sources:
        if key not in allowed_names:
            raise _fail(origin, f"sources.{key}", "is not a figure of this device")
    computed_peaks = {p for p in macs if f"peak_ops_per_s.{p}" in derived and p not in data.get("peak_ops_per_s", {})}
    for name in present:
        keys = [name] if name not in PER_PRECISION_FIELDS else [f"{name}.{p}" for p in kwargs[name]]
        for key in keys:
            if key in sources or key.split(".")[0] in sources:
                continue
            precision = key.partition(".")[2]
            # a computed peak takes its source from its MACs per clock
            if name == "peak_ops_per_s" and precision in computed_peaks and (
                    "macs_per_clock" in sources or f"macs_per_clock.{precision}" in sources):
                continue
            raise _fail(origin, f"sources.{key}", "is missing: every figure needs a source")
    kwargs["sources"] = dict(sources)
    kwargs["derived"] = tuple(derived)

    for name in ("mac_organization", "notes"):
        if name in data:
            if not isinstance(data[name], str):
                raise _fail(origin, name, f"must be a string; got {data[name]!r}")
            kwargs[name] = data[name]
    aliases = data.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a for a in aliases):
        raise _fail(origin, "aliases", f"must be a list of names; got {aliases!r}")
    kwargs["aliases"] = tuple(aliases)
    kwargs["engines"] = _engines(origin, data.get("engines", []), kwargs["peak_ops_per_s"])
    return DeviceSpec(**kwargs)


ENGINE_FIELDS = ("name", "kind", "count", "clock_hz", "peak_ops_per_s", "derived", "sources")


def _engines(origin: str, raw: Any, device_peaks: dict[str, float]) -> tuple[EngineSpec, ...]:
    """Validate ``[[engines]]``: names, kinds, counts, sourced figures, and peaks that add up."""
    if not isinstance(raw, list) or not all(isinstance(e, dict) for e in raw):
        raise _fail(origin, "engines", f"must be an array of [[engines]] tables; got {raw!r}")
    engines = []
    for i, table in enumerate(raw):
        where = f"engines[{i}]"
        unknown = sorted(set(table) - set(ENGINE_FIELDS))
        if unknown:
            raise _fail(origin, f"{where}.{unknown[0]}", f"is not an engine field; known: {', '.join(ENGINE_FIELDS)}")
        name = table.get("name")
        if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9_]+", name) or name in {e.name for e in engines}:
            raise _fail(origin, f"{where}.name", f"must be a unique lower-case name such as 'dla'; got {name!r}")
        if table.get("kind") not in KINDS:
            raise _fail(origin, f"{where}.kind", f"must be one of: {', '.join(KINDS)}; got {table.get('kind')!r}")
        count = table.get("count", 1)
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise _fail(origin, f"{where}.count", f"must be a positive integer; got {count!r}")
        peaks = _per_precision(origin, f"{where}.peak_ops_per_s", table.get("peak_ops_per_s", {}))
        if not peaks:
            raise _fail(origin, f"{where}.peak_ops_per_s", "is required (per engine, 2 ops per MAC)")
        clock = table.get("clock_hz")
        if clock is not None:
            clock = float(_positive_number(origin, f"{where}.clock_hz", clock))
        sources = table.get("sources", {})
        if not isinstance(sources, dict) or not all(isinstance(v, str) and v.strip() for v in sources.values()):
            raise _fail(origin, f"{where}.sources", "must be a table of field = non-empty string")
        for key in ("peak_ops_per_s", "clock_hz"):
            if (key == "peak_ops_per_s" or clock is not None) and key not in sources:
                raise _fail(origin, f"{where}.sources.{key}", "is missing: every figure needs a source")
        derived = table.get("derived", [])
        if not isinstance(derived, list) or not all(d in ("peak_ops_per_s", "clock_hz") for d in derived):
            raise _fail(origin, f"{where}.derived", f"may name peak_ops_per_s and clock_hz only; got {derived!r}")
        engines.append(EngineSpec(name, table["kind"], count, peaks, clock, dict(sources), tuple(derived)))
    for precision, peak in device_peaks.items():
        total = sum(e.count * e.peak_ops_per_s[precision] for e in engines if precision in e.peak_ops_per_s)
        if engines and abs(total - peak) > MAX_PEAK_MISMATCH * peak:
            raise _fail(origin, "engines", f"add up to {total:.4g} ops/s at {precision} but peak_ops_per_s.{precision}"
                        f" is {peak:.4g}; they must agree within {MAX_PEAK_MISMATCH:.0%}")
    return tuple(engines)


def load_device_file(path: str | Path) -> DeviceSpec:
    """Read and validate one ``<id>.toml`` file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(f"catalog {path.name}: cannot be read ({exc.strerror}); path {str(path)!r}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"catalog {path.name}: not valid TOML ({exc})") from None
    return device_from_dict(data, origin=path.name, expected_id=path.stem)


@functools.lru_cache(maxsize=8)
def _load_dir(directory: str) -> tuple[DeviceSpec, ...]:
    files = sorted(Path(directory).glob("*.toml"))
    if not files:
        raise UserError(f"catalog: no device files (*.toml) found in {directory!r}")
    return tuple(load_device_file(f) for f in files)


def load_catalog(directory: str | Path | None = None) -> dict[str, DeviceSpec]:
    """All catalog devices by id (sorted by id). ``directory`` defaults to the packaged catalog."""
    specs = _load_dir(str(Path(directory or CATALOG_DIR).resolve()))
    return {spec.id: spec for spec in specs}


def match_device_name(name: str, catalog: dict[str, DeviceSpec] | None = None) -> DeviceSpec | None:
    """The catalog device whose alias (or name) occurs in ``name`` (e.g. an NVML name), longest match first."""
    catalog = load_catalog() if catalog is None else catalog
    text = name.lower()
    best: tuple[int, DeviceSpec] | None = None
    for spec in catalog.values():
        for alias in (*spec.aliases, spec.name):
            # whole words only: "NVIDIA L4" must not match "NVIDIA L40S"
            pattern = r"(?<![a-z0-9])" + re.escape(alias.lower()) + r"(?![a-z0-9])"
            if re.search(pattern, text) and (best is None or len(alias) > best[0]):
                best = (len(alias), spec)
    return None if best is None else best[1]
