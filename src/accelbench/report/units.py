"""Display units: one unit per column or axis, chosen from the values (like torch's select_unit).

Storage stays in base units (seconds or ns, MAC/s, bytes); only the display layer scales.
Binary prefixes for memory (KiB = 1024 bytes), decimal for rates (GMAC/s = 1e9 MAC/s).
"""

from __future__ import annotations

import math
from typing import Iterable

TIME_UNITS = (("ns", 1e-9), ("µs", 1e-6), ("ms", 1e-3), ("s", 1.0))
BYTE_UNITS = (("B", 1), ("KiB", 1024), ("MiB", 1024**2), ("GiB", 1024**3), ("TiB", 1024**4))
DECIMAL = (("", 1.0), ("K", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12), ("P", 1e15))
MISSING = "–"  # what a missing figure shows as; sentences pass missing="n/a"


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
