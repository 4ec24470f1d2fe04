"""Every number accelbench shows a person is formatted here: one unit per column or axis, chosen from
the values (like torch's select_unit), and the few fixed dialects the terminal views print.

Storage stays in base units (seconds or ns, MAC/s, bytes); only the display layer scales.
Binary prefixes for memory (KiB = 1024 bytes), decimal for rates (GMAC/s = 1e9 MAC/s); peaks
count 2 ops per MAC (FLOPS for floating-point precisions, OPS for integer ones).
"""

from __future__ import annotations

import math
from typing import Iterable

from accelbench.hardware.host import CpuPeak
from accelbench.hardware.peak import OPS_PER_MAC, peak_ops_per_s

TIME_UNITS = (("ns", 1e-9), ("µs", 1e-6), ("ms", 1e-3), ("s", 1.0))
BYTE_UNITS = (("B", 1), ("KiB", 1024), ("MiB", 1024**2), ("GiB", 1024**3), ("TiB", 1024**4))
DECIMAL = (("", 1.0), ("K", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12), ("P", 1e15))
MISSING = "–"  # what a missing figure shows as; sentences pass missing="n/a"
FLOAT_PRECISIONS = ("fp32", "tf32", "fp16", "bf16", "fp8")  # peaks in FLOPS; the others in OPS


def _finite(values: Iterable[float | None]) -> list[float]:
    return [abs(float(v)) for v in values if v is not None and math.isfinite(float(v)) and v != 0]


def _pick(values: Iterable[float | None], table, default_index: int) -> tuple[str, float]:
    """The largest unit whose scale is <= the median magnitude (so values read as 1..999)."""
    vals = sorted(_finite(values))
    if not vals:
        return table[default_index]
    ref = vals[len(vals) // 2]
    chosen = table[0]
    for name, scale in table:
        if ref >= scale:
            chosen = (name, scale)
    return chosen


def select_time_unit(seconds: Iterable[float | None]) -> tuple[str, float]:
    """(unit, seconds per unit) for a set of durations given in seconds."""
    return _pick(seconds, TIME_UNITS, 2)


def select_bytes_unit(nbytes: Iterable[float | None]) -> tuple[str, float]:
    return _pick(nbytes, BYTE_UNITS, 2)


def select_prefix(values: Iterable[float | None]) -> tuple[str, float]:
    """Decimal prefix ("", K, M, G, T, P) and its scale for rates such as MAC/s."""
    return _pick(values, DECIMAL, 0)


def _num(value: float) -> str:
    """3 significant figures, no exponent for everyday magnitudes."""
    a = abs(value)
    if a >= 100:
        return f"{value:,.0f}"
    if a >= 10:
        return f"{value:.1f}"
    if a >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def fmt_time(seconds: float | None, unit: tuple[str, float] | None = None, *, missing: str = MISSING) -> str:
    if seconds is None or not math.isfinite(seconds):
        return missing
    name, scale = unit or select_time_unit([seconds])
    return f"{_num(seconds / scale)} {name}"


def fmt_bytes(nbytes: float | None, unit: tuple[str, float] | None = None, *, missing: str = MISSING) -> str:
    if nbytes is None:
        return missing
    name, scale = unit or select_bytes_unit([nbytes])
    return f"{_num(nbytes / scale)} {name}"


def fmt_rate(value: float | None, base: str, unit: tuple[str, float] | None = None, *,
             missing: str = MISSING) -> str:
    """A rate with a decimal prefix: fmt_rate(2.7e11, "MAC/s") -> "270 GMAC/s"."""
    if value is None or not math.isfinite(value):
        return missing
    prefix, scale = unit or select_prefix([value])
    return f"{_num(value / scale)} {prefix}{base}"


def fmt_macs(macs: float | None, *, missing: str = MISSING) -> str:
    """A MAC count (1 MAC = one multiply-accumulate) with a decimal prefix: 2.34e9 -> "2.34 GMAC"."""
    return fmt_rate(macs, "MAC", missing=missing)


def fmt_plain(value: float | None, suffix: str = "", *, missing: str = MISSING) -> str:
    if value is None or not math.isfinite(value):
        return missing
    return f"{_num(value)}{suffix}"


def fmt_pct(fraction: float | None, *, missing: str = MISSING) -> str:
    if fraction is None or not math.isfinite(fraction):
        return missing
    pct = fraction * 100
    return f"{pct:.1f} %" if pct < 10 else f"{pct:.0f} %"


def fmt_energy(joules: float | None) -> str:
    if joules is None or not math.isfinite(joules):
        return "–"
    for name, scale in (("J", 1.0), ("mJ", 1e-3), ("µJ", 1e-6)):
        if joules >= scale:
            return f"{_num(joules / scale)} {name}"
    return f"{joules / 1e-6:.3g} µJ"


def fmt_correlation(rho: float | None) -> str:
    """A correlation coefficient with its sign, two decimals; "n/a" where it is undefined (None)."""
    return "n/a" if rho is None or not math.isfinite(rho) else f"{rho:+.2f}"


def fmt_duration(seconds: float | None, *, missing: str = MISSING) -> str:
    """A wall-clock span for humans (ETAs, estimated durations): 45 s, 12.5 min, 2.3 h."""
    if seconds is None or not math.isfinite(seconds):
        return missing
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


BAND_DASH = "–"  # between the ends of an interval: "1,234 (980–1,510)"


def _ok(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def fmt_band(value: float | None, low: float | None, high: float | None, *, scale: float = 1.0,
             suffix: str = "", missing: str = MISSING) -> str:
    """A central value and its interval on one scale: fmt_band(1234, 980, 1510) -> "1,234 (980–1,510)";
    ``suffix`` follows the central value ("1.23 ms (0.98–1.51)"). The value alone where the interval
    is unknown."""
    if not _ok(value):
        return missing
    text = f"{_num(value / scale)}{suffix}"
    if not (_ok(low) and _ok(high)):
        return text
    return f"{text} ({_num(low / scale)}{BAND_DASH}{_num(high / scale)})"


def fmt_time_band(seconds: float | None, low: float | None, high: float | None,
                  unit: tuple[str, float] | None = None, *, missing: str = MISSING) -> str:
    """A duration and its interval in one time unit: "1.23 ms (0.98–1.51)"."""
    if not _ok(seconds):
        return missing
    name, scale = unit or select_time_unit([seconds])
    return fmt_band(seconds, low, high, scale=scale, suffix=f" {name}", missing=missing)


def fmt_level(level: float | None) -> str:
    """An interval's level as words: 0.8 -> "80 %" ("" when there is none)."""
    return "" if not _ok(level) else f"{level * 100:.0f} %"


# -- the terminal views' dialects (each kept as the views have always printed it) ----------------
def fmt_value(value, spec: str = ".4g", suffix: str = "", *, missing: str = "-") -> str:
    """``value`` through a format spec, plus ``suffix``; ``missing`` when None."""
    return missing if value is None else f"{value:{spec}}{suffix}"


def fmt_ns(ns: float | None, *, missing: str = "-") -> str:
    """Nanoseconds in the largest of s, ms, us it reaches, three decimals: 1_234_567 -> "1.235 ms"."""
    if ns is None:
        return missing
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3f} {unit}"
    return f"{ns:.0f} ns"


def fmt_ms(seconds: float) -> str:
    """Milliseconds with three decimals below 10 s, else seconds with two: 0.0123 -> "12.300 ms"."""
    return f"{seconds * 1e3:.3f} ms" if seconds < 10 else f"{seconds:.2f} s"


def fmt_binary_bytes(n: int | float) -> str:
    """Binary units with one decimal (1 KiB = 1024 B); whole bytes below 1 KiB: 1536 -> "1.5 KiB"."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def fmt_count(n: int | float, unit: str = "") -> str:
    """Decimal prefixes with two decimals: 4.09e9 -> "4.09 G" (plus ``unit``); whole below 1000."""
    value = float(n)
    for prefix, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.2f} {prefix}{unit}"
    return f"{int(value)} {unit}".rstrip()


def fmt_memory_size(n: int | None) -> str:
    """A datasheet memory size: GB (decimal) from 10 GB up, else MiB or KiB; "-" when unknown."""
    if not n:
        return "-"
    for unit, scale in (("GB", 1e9), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale or unit == "KiB":
            if unit == "GB" and n < 1e10:
                continue
            return f"{n / scale:,.4g} {unit}"
    return f"{n} B"


def ops_unit(precision: str) -> str:
    """'FLOPS' for floating-point precisions, 'OPS' for integer ones (both count 2 per MAC)."""
    return "FLOPS" if precision in FLOAT_PRECISIONS else "OPS"


def fmt_ops(ops_per_s: float, precision: str = "int8", prefix: str | None = None) -> str:
    """A peak: 130e12 -> '130 TOPS', 8.1e12 fp32 -> '8.1 TFLOPS'. ``prefix`` forces 'T' or 'G'."""
    if prefix is None:
        prefix = "T" if ops_per_s >= 1e12 else "G"
    scale = {"P": 1e15, "T": 1e12, "G": 1e9, "M": 1e6}[prefix]
    value = ops_per_s / scale
    text = f"{value:,.0f}" if value >= 100 else f"{value:,.1f}" if value >= 10 else f"{value:,.2f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text} {prefix}{ops_unit(precision)}"


def fmt_hz(clock_hz: float) -> str:
    if clock_hz >= 1e9:
        return f"{clock_hz / 1e9:.4g} GHz"
    return f"{clock_hz / 1e6:.4g} MHz"


def fmt_mac_arithmetic(macs_per_clock: float, clock_hz: float, precision: str = "int8") -> str:
    """'4,096 MACs x 0.933 GHz x 2 = 7.64 TOPS' (the clock in GHz even below 1 GHz)."""
    ops = peak_ops_per_s(macs_per_clock, clock_hz)
    return f"{macs_per_clock:,.0f} MACs x {clock_hz / 1e9:.4g} GHz x {OPS_PER_MAC} = {fmt_ops(ops, precision)}"


def fmt_core_arithmetic(peak: CpuPeak) -> str:
    """How a CPU's theoretical peak is made: '2 cores x 2.6 GHz x 32 MACs/cycle (2 FMA x 16 lanes) x 2 = 332 GFLOPS'."""
    return (f"{peak.cores} cores x {fmt_hz(peak.clock_hz)} x {peak.macs_per_cycle_per_core:,} MACs/cycle "
            f"({peak.how}) x {OPS_PER_MAC} = {fmt_ops(peak.ops_per_s, peak.precision)}")


def fmt_unknown_layers(unknown) -> str:
    """One sentence on what a profile could not see (results.unknown_layers.UnknownLayers); "" when
    every layer was resolved."""
    if unknown is None or (not unknown.layers and unknown.macs_complete and unknown.macs_counted):
        return ""
    parts = [f"{unknown.layers} of {unknown.total_layers} layers ({fmt_pct(unknown.share)}) have unknown "
             "shapes or ops"]
    if unknown.mac_layers:
        parts.append(f"{unknown.mac_layers} of {unknown.total_mac_layers} MAC layers count 0 MACs")
    if unknown.unknown_ops:
        parts.append("ops the profiler does not know count 0 MACs: " + ", ".join(unknown.unknown_ops))
    if not unknown.macs_counted:
        parts.append("no MAC was counted at all")
    return "; ".join(parts)


# The run's ranking metrics (RankEntry.metric), in words: what "best" means, and the unit of a value.
METRIC_WORDS = {"latency_s": "lowest latency", "throughput_per_s": "highest throughput",
                "per_w": "most inferences/s per W", "per_usd": "most inferences/s per $"}
_METRIC_UNITS = {"throughput_per_s": " inferences/s", "per_w": " inferences/s per W",
                 "per_usd": " inferences/s per $"}


def fmt_metric(metric: str | None, value: float | None, low: float | None = None,
               high: float | None = None) -> str:
    """A ranked figure with its unit in words and, where known, its interval: latency as a time
    ("1.23 ms (0.98–1.51)"), the others as inferences/s (per W, per $): "20,859 inferences/s (18,000–22,000)"."""
    if metric == "latency_s":
        return fmt_time_band(value, low, high)
    return fmt_band(value, low, high, suffix=_METRIC_UNITS.get(metric or "", ""))


def fmt_workload(model: str | None, resolution: str | None, batch: int | None) -> str:
    """The model a figure answers for: "yolov3 at 1mp, batch 1"."""
    text = model or "the model"
    if resolution:
        text += f" at {resolution}"
    return text + (f", batch {batch}" if batch is not None else "")


def fmt_usd(value: float | None, *, missing: str = MISSING) -> str:
    """A price: "$3,000", "$0.25"."""
    if value is None or not math.isfinite(value):
        return missing
    return f"${_num(value)}"


def fmt_constraints(constraints) -> str:
    """What the answer must meet, in words: "latency <= 10 ms, power <= 75 W, price <= $3,000"; "" for none."""
    if constraints is None:
        return ""
    parts = []
    if constraints.max_latency_s is not None:
        parts.append(f"latency <= {fmt_time(constraints.max_latency_s)}")
    if constraints.max_watts is not None:
        parts.append(f"power <= {fmt_plain(constraints.max_watts, ' W')}")
    if constraints.max_price_usd is not None:
        parts.append(f"price <= {fmt_usd(constraints.max_price_usd)}")
    return ", ".join(parts)


def constraints_line(constraints, excluded: int, total: int) -> str:
    """What the constraints left out, in one line: "constraints: latency <= 10 ms: 7 of 22 excluded
    (listed last, with the reason)"; "" without constraints."""
    if constraints is None or not constraints.active:
        return ""
    return (f"constraints: {fmt_constraints(constraints)}: {excluded} of {total} excluded"
            + (" (listed last, with the reason)" if excluded else ""))
