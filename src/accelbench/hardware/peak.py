"""Peak-throughput arithmetic. Pure (stdlib only).

Convention used everywhere in accelbench: one MAC (multiply-accumulate) = 2 ops, so
peak_ops_per_s = MACs per clock x clock_hz x 2. 1,024 MACs at 1 GHz = 2.048 TOPS.
"""

from __future__ import annotations

from accelbench.errors import UserError

OPS_PER_MAC = 2
FLOAT_PRECISIONS = ("fp32", "tf32", "fp16", "bf16", "fp8")


def peak_ops_per_s(macs_per_clock: float, clock_hz: float) -> float:
    """Dense peak in ops/s (2 ops per MAC) of ``macs_per_clock`` MAC units running at ``clock_hz``."""
    if macs_per_clock <= 0 or clock_hz <= 0:
        raise UserError(
            f"peak arithmetic: MACs per clock and clock must be positive; got {macs_per_clock} MACs at {clock_hz} Hz"
        )
    return float(macs_per_clock) * float(clock_hz) * OPS_PER_MAC


def ops_unit(precision: str) -> str:
    """'FLOPS' for floating-point precisions, 'OPS' for integer ones (both count 2 per MAC)."""
    return "FLOPS" if precision in FLOAT_PRECISIONS else "OPS"


def format_ops(ops_per_s: float, precision: str = "int8", prefix: str | None = None) -> str:
    """Human figure: 130e12 -> '130 TOPS', 8.1e12 fp32 -> '8.1 TFLOPS'. ``prefix`` forces 'T' or 'G'."""
    if prefix is None:
        prefix = "T" if ops_per_s >= 1e12 else "G"
    scale = {"P": 1e15, "T": 1e12, "G": 1e9, "M": 1e6}[prefix]
    value = ops_per_s / scale
    text = f"{value:,.0f}" if value >= 100 else f"{value:,.1f}" if value >= 10 else f"{value:,.2f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text} {prefix}{ops_unit(precision)}"


def format_hz(clock_hz: float) -> str:
    if clock_hz >= 1e9:
        return f"{clock_hz / 1e9:.4g} GHz"
    return f"{clock_hz / 1e6:.4g} MHz"


def mac_arithmetic(macs_per_clock: float, clock_hz: float, precision: str = "int8") -> str:
    """'4,096 MACs x 0.933 GHz x 2 = 7.64 TOPS' (the GHz shown in GHz even below 1 GHz)."""
    ops = peak_ops_per_s(macs_per_clock, clock_hz)
    return f"{macs_per_clock:,.0f} MACs x {clock_hz / 1e9:.4g} GHz x {OPS_PER_MAC} = {format_ops(ops, precision)}"
