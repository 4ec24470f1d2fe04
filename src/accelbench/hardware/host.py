"""Detect this machine's CPU (model, cores, ISA flags, clock, caches) and its theoretical peaks.

Pure: reads /proc and /sys only (stdlib); NVIDIA GPUs come from accelbench.hardware.nvml; the
catalog's server CPU stands in for the TDP no CPU reports.

Theoretical peak per precision = physical cores x clock x MACs per cycle per core x 2 ops per MAC.
MACs per cycle per core (Intel optimization manual; AMD Zen 4/5 software optimization guides):
- fp32: FMA units x fp32 lanes (16 for AVX-512, 8 for AVX2). FMA units: 2 on Intel AVX-512 server
  parts (Xeon Gold/Platinum; some older Silver/Bronze have 1) and on AVX2 parts; AMD Zen 4 executes
  512-bit FMAs on two 256-bit pipes, i.e. 1 x 512-bit per cycle; Zen 5 (family 0x1A) has 2 x 512-bit.
- bf16: AMX-BF16 1,024 per core (TMUL); else AVX512_BF16 VDPBF16PS = 2 x fp32 lanes per FMA unit.
- fp16: AMX-FP16 1,024; else AVX512_FP16 = 2 x fp32 lanes per FMA unit.
- int8: AMX-INT8 2,048 per core; else AVX512_VNNI VPDPBUSD = 4 x fp32 lanes per FMA unit;
  else AVX-VNNI (256-bit) = 4 x 8 lanes per FMA unit. Without VNNI int8 is not listed.
- int16: AVX512_VNNI / AVX-VNNI VPDPWSSD = 2 x fp32 lanes per FMA unit.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from accelbench.errors import AccelbenchWarning, one_line
from accelbench.files import write_atomically
from accelbench.hardware.catalog import load_catalog
from accelbench.hardware.nvml import GpuInfo, detect_nvidia_gpus
from accelbench.hardware.peak import peak_ops_per_s
from accelbench.hardware.spec import DeviceSpec

# /proc/cpuinfo flag -> display name, in display order
ISA_FLAGS: dict[str, str] = {
    "avx2": "AVX2",
    "fma": "FMA",
    "avx512f": "AVX-512F",
    "avx512_vnni": "AVX512_VNNI",
    "avx512_bf16": "AVX512_BF16",
    "avx512_fp16": "AVX512_FP16",
    "avx_vnni": "AVX-VNNI",
    "amx_tile": "AMX-TILE",
    "amx_bf16": "AMX-BF16",
    "amx_int8": "AMX-INT8",
    "amx_fp16": "AMX-FP16",
}

INTEL_OPT_MANUAL = ("Intel 64 and IA-32 Architectures Optimization Reference Manual, "
                    "https://www.intel.com/content/www/us/en/content-details/671488/")
AMD_ZEN_GUIDE = "AMD Software Optimization Guide for the Zen 4 / Zen 5 microarchitecture (developer.amd.com)"


@dataclass(frozen=True)
class CpuPeak:
    """One precision's theoretical peak: ops_per_s = cores x clock_hz x MACs per cycle per core x 2
    (report/units.fmt_core_arithmetic writes the sum out)."""

    precision: str
    ops_per_s: float
    macs_per_cycle_per_core: int
    how: str  # where the MACs per cycle come from: "2 FMA x 16 lanes", "AMX TMUL 2,048 INT8", ...
    via: str  # instruction set used: "AVX-512 FMA", "AMX-BF16", ...
    cores: int
    clock_hz: float


@dataclass(frozen=True)
class HostInfo:
    """What this machine is. Clock in Hz; cache and memory sizes in bytes (None when unknown)."""

    cpu_model: str
    vendor_id: str  # GenuineIntel, AuthenticAMD, ...
    cpu_family: int | None
    cpu_model_number: int | None
    physical_cores: int
    logical_cores: int
    sockets: int
    flags: frozenset[str]  # every /proc/cpuinfo flag
    clock_hz: float | None
    clock_source: str  # where clock_hz came from, and what it means
    l2_bytes: int | None = None
    l3_bytes: int | None = None
    memory_bytes: int | None = None
    gpus: tuple[GpuInfo, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.physical_cores < 1 or self.logical_cores < self.physical_cores:
            raise ValueError(f"host cores: physical {self.physical_cores}, logical {self.logical_cores}")

    @property
    def isa_flags(self) -> tuple[str, ...]:
        """Display names of the ISA extensions (of ISA_FLAGS) this CPU has."""
        return tuple(name for flag, name in ISA_FLAGS.items() if flag in self.flags)

    def has(self, flag: str) -> bool:
        return flag in self.flags


def _read(path: str | Path) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def parse_cpuinfo(text: str) -> list[dict[str, str]]:
    """/proc/cpuinfo as one dict per logical processor."""
    blocks = []
    for block in re.split(r"\n\s*\n", text.strip()):
        entry = {}
        for line in block.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                entry[key.strip()] = value.strip()
        if entry:
            blocks.append(entry)
    return blocks


def _int(value: str | None, base: int = 10) -> int | None:
    try:
        return int(value, base) if value is not None else None
    except ValueError:
        return None


def _cache_bytes(sys_cpu: Path) -> tuple[int | None, int | None]:
    """Total L2 and L3 bytes: each cache instance counted once (deduplicated by shared_cpu_list)."""
    seen: dict[int, dict[str, int]] = {2: {}, 3: {}}
    for index in sorted(sys_cpu.glob("cpu[0-9]*/cache/index[0-9]*")):
        level = _int((_read(index / "level") or "").strip())
        kind = (_read(index / "type") or "").strip()
        size = (_read(index / "size") or "").strip()
        shared = (_read(index / "shared_cpu_list") or "").strip()
        if level not in seen or kind == "Instruction":
            continue
        match = re.fullmatch(r"(\d+)([KMG]?)", size)
        if not match:
            continue
        scale = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}[match.group(2)]
        seen[level][shared] = int(match.group(1)) * scale
    totals = tuple(sum(v.values()) or None for v in (seen[2], seen[3]))
    return totals[0], totals[1]


def _clock(sys_cpu: Path, cpus: list[dict[str, str]]) -> tuple[float | None, str]:
    max_khz = _int((_read(sys_cpu / "cpu0/cpufreq/cpuinfo_max_freq") or "").strip())
    if max_khz:
        return max_khz * 1e3, "max clock from /sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq"
    mhz = [float(c["cpu MHz"]) for c in cpus if re.fullmatch(r"[\d.]+", c.get("cpu MHz", ""))]
    if mhz:
        return max(mhz) * 1e6, ('/proc/cpuinfo "cpu MHz" (current clock, highest over cores; no cpufreq '
                                "here, so turbo may be higher)")
    match = re.search(r"@\s*([\d.]+)\s*GHz", cpus[0].get("model name", "") if cpus else "")
    if match:
        return float(match.group(1)) * 1e9, "nominal clock from the model name"
    return None, "unknown (no cpufreq, no cpu MHz)"


def detect_host(proc_cpuinfo: str | None = None, sys_cpu: str | Path = "/sys/devices/system/cpu",
                meminfo: str | None = None, with_gpus: bool = True) -> HostInfo:
    """Detect the CPU from /proc/cpuinfo and /sys (paths/text overridable for tests).

    NVIDIA GPUs are added from NVML when ``with_gpus`` and pynvml is installed; otherwise none.
    """
    text = proc_cpuinfo if proc_cpuinfo is not None else (_read("/proc/cpuinfo") or "")
    cpus = parse_cpuinfo(text)
    first = cpus[0] if cpus else {}
    logical = len(cpus) or os.cpu_count() or 1
    cores = {(c.get("physical id", "0"), c["core id"]) for c in cpus if "core id" in c}
    sockets = len({c.get("physical id", "0") for c in cpus}) or 1
    if cores:
        physical = len(cores)
    elif _int(first.get("cpu cores")):
        physical = min(logical, _int(first["cpu cores"]) * sockets)
    else:
        physical = logical
    sys_path = Path(sys_cpu)
    clock_hz, clock_source = _clock(sys_path, cpus)
    l2, l3 = _cache_bytes(sys_path)
    mem_text = meminfo if meminfo is not None else (_read("/proc/meminfo") or "")
    mem_kb = re.search(r"MemTotal:\s*(\d+)\s*kB", mem_text)
    gpus = detect_nvidia_gpus() if with_gpus else ()
    return HostInfo(
        cpu_model=first.get("model name", "unknown CPU"),
        vendor_id=first.get("vendor_id", "unknown"),
        cpu_family=_int(first.get("cpu family")),
        cpu_model_number=_int(first.get("model")),
        physical_cores=physical,
        logical_cores=max(logical, physical),
        sockets=sockets,
        flags=frozenset(first.get("flags", "").split()),
        clock_hz=clock_hz,
        clock_source=clock_source,
        l2_bytes=l2,
        l3_bytes=l3,
        memory_bytes=int(mem_kb.group(1)) * 1024 if mem_kb else None,
        gpus=gpus,
    )


def vector_units(info: HostInfo) -> tuple[int, int, str]:
    """(FMA units per core, fp32 lanes per unit, the assumption in words)."""
    if info.has("avx512f"):
        if info.vendor_id == "AuthenticAMD" and info.cpu_family == 0x19:
            return 1, 16, "Zen 4: 512-bit FMA on two 256-bit pipes = 1 x 16 lanes per cycle (AMD Zen 4 guide)"
        if info.vendor_id == "AuthenticAMD":
            return 2, 16, "AMD Zen 5+: 2 x 512-bit FMA pipes (AMD Zen 5 guide)"
        return 2, 16, "2 AVX-512 FMA units per core (Xeon Gold/Platinum; Intel optimization manual)"
    if info.has("avx2") or info.has("avx"):
        units = 2 if info.has("fma") else 1
        return units, 8, f"{units} x 256-bit {'FMA' if units == 2 else 'mul+add'} per core"
    return 1, 4, "SSE: 1 x 128-bit per core (assumed)"


def theoretical_peaks(info: HostInfo) -> list[CpuPeak]:
    """Theoretical dense peaks of the whole CPU from cores, clock and ISA (see module docstring)."""
    if info.clock_hz is None:
        return []
    units, lanes, _ = vector_units(info)
    cores, clock = info.physical_cores, info.clock_hz
    width = "AVX-512" if lanes == 16 else "AVX2" if lanes == 8 else "SSE"
    vnni_lanes = 16 if info.has("avx512_vnni") else 8 if info.has("avx_vnni") else 0
    vnni = "AVX512_VNNI" if info.has("avx512_vnni") else "AVX-VNNI"
    rows: list[tuple[str, int, str, str]] = [
        ("fp32", units * lanes, f"{units} FMA x {lanes} lanes", f"{width} FMA"),
    ]
    if info.has("amx_fp16"):
        rows.append(("fp16", 1024, "AMX TMUL 1,024 FP16", "AMX-FP16"))
    elif info.has("avx512_fp16"):
        rows.append(("fp16", units * 32, f"{units} FMA x 32 FP16 lanes", "AVX512_FP16"))
    if info.has("amx_bf16"):
        rows.append(("bf16", 1024, "AMX TMUL 1,024 BF16", "AMX-BF16"))
    elif info.has("avx512_bf16"):
        rows.append(("bf16", units * 32, f"{units} FMA x 32 BF16 pairs (VDPBF16PS)", "AVX512_BF16"))
    if vnni_lanes:
        rows.append(("int16", units * vnni_lanes * 2, f"{units} FMA x {vnni_lanes * 2} INT16 (VPDPWSSD)", vnni))
    if info.has("amx_int8"):
        rows.append(("int8", 2048, "AMX TMUL 2,048 INT8", "AMX-INT8"))
    elif vnni_lanes:
        rows.append(("int8", units * vnni_lanes * 4, f"{units} FMA x {vnni_lanes * 4} INT8 (VPDPBUSD)", vnni))
    return [CpuPeak(precision, peak_ops_per_s(cores * macs, clock), macs, how, via, cores, clock)
            for precision, macs, how, via in rows]


def host_device_spec(info: HostInfo | None = None) -> DeviceSpec:
    """This machine's CPU as a DeviceSpec (id "host"); every peak is derived (theoretical)."""
    info = detect_host(with_gpus=False) if info is None else info
    peaks = theoretical_peaks(info)
    _, _, assumption = vector_units(info)
    sram = (info.l2_bytes or 0) + (info.l3_bytes or 0) or None
    manual = AMD_ZEN_GUIDE if info.vendor_id == "AuthenticAMD" else INTEL_OPT_MANUAL
    sources = {"peak_ops_per_s": f"derived: cores x clock x MACs/cycle ({assumption}; {manual})"}
    kwargs = {}
    if info.clock_hz is not None:
        kwargs["clock_hz"] = info.clock_hz
        sources["clock_hz"] = info.clock_source
    if peaks:
        sources["macs_per_clock"] = sources["peak_ops_per_s"]
    if sram:
        kwargs["onchip_sram_bytes"] = sram
        sources["onchip_sram_bytes"] = "/sys/devices/system/cpu/cpu*/cache (L2 + L3 totals)"
    if info.memory_bytes:
        kwargs["dram_capacity_bytes"] = info.memory_bytes
        sources["dram_capacity_bytes"] = "/proc/meminfo MemTotal"
    # No CPU reports its TDP to software: assume the per-core TDP of the catalog's server CPU,
    # so power can fall back to a clearly labelled estimate instead of nothing.
    reference = _reference_server_cpu()
    if reference is not None:
        ref_cores = _reference_cores(reference)
        kwargs["tdp_w"] = reference.tdp_w / ref_cores * info.physical_cores
        sources["tdp_w"] = (f"derived (assumption): {reference.tdp_w:g} W / {ref_cores} cores of the {reference.name}"
                            f" = {reference.tdp_w / ref_cores:.2f} W per core x {info.physical_cores} cores")
    return DeviceSpec(
        id="host",
        name=info.cpu_model,
        vendor=info.vendor_id,
        kind="CPU",
        peak_ops_per_s={p.precision: p.ops_per_s for p in peaks},
        macs_per_clock={p.precision: p.macs_per_cycle_per_core * info.physical_cores for p in peaks},
        mac_organization=f"{info.physical_cores} cores; {assumption}",
        sources=sources,
        derived=("peak_ops_per_s", "macs_per_clock", "tdp_w"),
        notes=(f"{info.physical_cores} physical / {info.logical_cores} logical cores; ISA: "
               f"{' '.join(info.isa_flags) or 'none of note'}; clock: {info.clock_source}"),
        **kwargs,
    )


REFERENCE_SERVER_CPU = "xeon_8480plus"


def _reference_server_cpu() -> DeviceSpec | None:
    spec = load_catalog().get(REFERENCE_SERVER_CPU)
    return spec if spec is not None and spec.tdp_w else None


def _reference_cores(spec: DeviceSpec) -> int:
    match = re.search(r"(\d+) cores", spec.name)
    return int(match.group(1)) if match else 56


# -- measured peaks, remembered between commands ---------------------------------------------------
# `tops host` and stage 1 of `accelbench run` measure this CPU's GEMM peak (a few seconds); the
# figures are kept here so that every later measurement can show its utilization against both
# the theoretical and the measured peak without measuring again. A measurement on a busy machine
# is low and noisy: each one keeps its spread, and a later one replaces it when it is higher or
# quieter (MeasuredPeak.replaces).
MEASURED_PEAKS_ENV = "ACCELBENCH_CACHE_DIR"


@dataclass(frozen=True)
class MeasuredPeak:
    """A measured GEMM peak of this host at one precision (2 ops per MAC)."""

    ops_per_s: float
    how: str  # "2048^3 GEMM on numpy 2.1 (openblas), best of 12, ran as fp32"
    spread: float | None = None  # median / best run time - 1: how steady the machine was (None: not recorded)
    measured_at: str | None = None  # when (UTC, ISO 8601; None: not recorded)

    def replaces(self, other: "MeasuredPeak | None") -> bool:
        """Whether this measurement should stand instead of ``other``: none yet, a higher peak, or a
        quieter measurement (smaller spread) than one that recorded its spread or did not."""
        if other is None or self.ops_per_s > other.ops_per_s:
            return True
        return self.spread is not None and (other.spread is None or self.spread < other.spread)

    def describe(self) -> str:
        """How and when, in words (the records' measured_peak_source)."""
        spread = "spread not recorded" if self.spread is None else f"spread {self.spread:.1%} (median/best - 1)"
        return f"measured GEMM peak: {self.how}, {spread}"

    def to_dict(self) -> dict:
        return {"ops_per_s": self.ops_per_s, "how": self.how, "spread": self.spread, "measured_at": self.measured_at}

    @classmethod
    def from_dict(cls, data: dict) -> "MeasuredPeak | None":
        """None for an entry without a positive ops_per_s (a corrupt or foreign cache line)."""
        try:
            ops = float(data["ops_per_s"])
            spread = data.get("spread")
            peak = cls(ops, str(data.get("how") or "accelbench tops host"),
                       None if spread is None else float(spread), data.get("measured_at"))
        except (KeyError, TypeError, ValueError):
            return None
        return peak if ops > 0 else None


def measured_peaks_path() -> Path:
    base = os.environ.get(MEASURED_PEAKS_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "accelbench")
    return Path(base) / "measured_peaks.json"


def _host_key(info: HostInfo) -> str:
    return f"{info.cpu_model} | {info.physical_cores} cores | {info.clock_hz or 0:.0f} Hz"


def _read_measured_peaks_file() -> dict:
    """The remembered peaks file as {host key: {precision: entry}}; {} when there is none. A file that
    is not that (corrupt, truncated, ``[]``) counts as absent, with a warning: it never stops a command."""
    path = measured_peaks_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        data, why = None, one_line(exc, 120)
    else:
        why = f"it holds a JSON {type(data).__name__}, not an object of hosts"
    if isinstance(data, dict):
        return data
    warnings.warn(f"{path}: remembered measured peaks are unreadable ({why}); treated as absent "
                  "(the next `accelbench tops host` writes a new file)", AccelbenchWarning, stacklevel=3)
    return {}


def save_measured_peaks(info: HostInfo, peaks: dict[str, MeasuredPeak]) -> dict[str, MeasuredPeak]:
    """Remember measured peaks (precision -> MeasuredPeak) where they replace the remembered ones;
    returns the peaks remembered afterwards. Best-effort: a read-only home keeps nothing."""
    path = measured_peaks_path()
    data = _read_measured_peaks_file()
    entry = data.get(_host_key(info))
    entry = entry if isinstance(entry, dict) else {}
    data[_host_key(info)] = entry
    for precision, peak in peaks.items():
        if peak.replaces(MeasuredPeak.from_dict(entry.get(precision) if isinstance(entry.get(precision), dict) else {})):
            entry[precision] = peak.to_dict()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, json.dumps(data, indent=1))
    except OSError:
        pass
    return _peaks_of(entry)


def load_measured_peaks(info: HostInfo | None = None) -> dict[str, MeasuredPeak]:
    """precision -> MeasuredPeak measured earlier on this host; {} when none."""
    info = detect_host(with_gpus=False) if info is None else info
    entry = _read_measured_peaks_file().get(_host_key(info), {})
    return _peaks_of(entry) if isinstance(entry, dict) else {}


def _peaks_of(entry: dict) -> dict[str, MeasuredPeak]:
    peaks = {precision: MeasuredPeak.from_dict(value) if isinstance(value, dict) else None
             for precision, value in entry.items()}
    return {precision: peak for precision, peak in peaks.items() if peak is not None}
