"""Peak-throughput arithmetic. Pure (stdlib only); report/units.py writes it out for people.

Convention used everywhere in accelbench: one MAC (multiply-accumulate) = 2 ops, so
peak_ops_per_s = MACs per clock x clock_hz x 2. 1,024 MACs at 1 GHz = 2.048 TOPS.
"""

from __future__ import annotations

from accelbench.errors import UserError

OPS_PER_MAC = 2


def peak_ops_per_s(macs_per_clock: float, clock_hz: float) -> float:
    """Dense peak in ops/s (2 ops per MAC) of ``macs_per_clock`` MAC units running at ``clock_hz``."""
    if macs_per_clock <= 0 or clock_hz <= 0:
        raise UserError(
            f"peak arithmetic: MACs per clock and clock must be positive; got {macs_per_clock} MACs at {clock_hz} Hz"
        )
    return float(macs_per_clock) * float(clock_hz) * OPS_PER_MAC
