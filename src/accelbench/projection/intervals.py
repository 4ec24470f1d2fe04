"""How sure a projection is: an interval from the leave-one-device-out residuals of its family.

Every published row of the validation table (projection/family_fit.py) was projected with figures
fitted without its own device; its residual r = log(projected / published seconds per sample) is
shipped in ``lodo_residuals.toml`` with the device's family chain, the scenario and the projection's
bound mix. The interval of a new projection:

1. **pool**: the rows of the deepest family on the device's chain that has rows of at least
   ``MIN_POOL_DEVICES`` devices (an Ampere GPU: the Ampere rows; a Volta part: every NVIDIA row).
   ``distance`` = how many levels up that pool is (0: its own family). A chain with no published rows
   (NPUs, CPUs, NVDLA) pools every row at ``UNVALIDATED_DISTANCE``.
2. **weights**: rows whose layer-bound mix resembles the projection's count more:
   w = ``BOUND_WEIGHT_FLOOR`` + overlap of the two bound mixes (sum of per-bound minima), halved for
   rows of the other scenario.
3. **spread**: the weighted median c and the weighted (1 - level)/2 and (1 + level)/2 quantiles of r
   (empirical: one far-off row does not inflate every band), each side at least z x ``MIN_SPREAD``,
   widened by t(n - 1)/z x sqrt(1 + 1/n) for n = (sum w)^2 / sum w^2 effective rows and by
   (1 + ``DISTANCE_WIDENING`` x distance). Fewer rows widen it, so does a farther family.
4. the real time lies in [projected x exp(-(c + above)), projected x exp(-(c - below))]: seconds per
   sample; throughput is its inverse.

``DISTANCE_WIDENING`` and ``UNVALIDATED_DISTANCE`` are assumptions (docs/projection.md), not fitted:
nothing held out was looked at to choose them.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from statistics import NormalDist

from accelbench.errors import UserError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

RESIDUALS_FILE = Path(__file__).with_name("lodo_residuals.toml")
INTERVAL_LEVEL = 0.8
MIN_POOL_DEVICES = 2
BOUND_WEIGHT_FLOOR = 0.1
OTHER_SCENARIO_WEIGHT = 0.5
MIN_SPREAD = 0.05  # log units: no band narrower than about +/-6 % x t
DISTANCE_WIDENING = 0.5
UNVALIDATED_DISTANCE = 3
BOUNDS = ("compute", "sram", "dram", "overhead")


@dataclass(frozen=True)
class Residual:
    """One leave-one-device-out residual: log(projected / published seconds per sample)."""

    device: str
    family_chain: tuple[str, ...]
    model: str
    scenario: str
    residual: float
    bound: dict[str, float]


@dataclass(frozen=True)
class Band:
    """Where the real seconds per sample lie, as factors of the projected ones, at ``level``."""

    level: float
    time_factor_low: float  # real time >= projected time x this
    time_factor_high: float
    source: str  # one line: the pool, its size, the distance
    pool_family: str
    pool_devices: int
    effective_rows: float
    distance: int

    def time_range(self, projected_s: float) -> tuple[float, float]:
        return projected_s * self.time_factor_low, projected_s * self.time_factor_high

    def throughput_range(self, projected_per_s: float) -> tuple[float, float]:
        return projected_per_s / self.time_factor_high, projected_per_s / self.time_factor_low


def t_quantile(p: float, dof: float) -> float:
    """Student's t quantile (Cornish-Fisher expansion about the normal one; 3 % off at 1 degree of
    freedom, exact in the limit)."""
    z = NormalDist().inv_cdf(p)
    v = max(dof, 1.0)
    return (z + (z**3 + z) / (4 * v) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * v**2)
            + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * v**3))


def _overlap(a: dict[str, float], b: dict[str, float]) -> float:
    return sum(min(a.get(k, 0.0), b.get(k, 0.0)) for k in BOUNDS)


def band_for(chain: tuple[str, ...], bound: dict[str, float], scenario: str, residuals: tuple[Residual, ...],
             *, level: float = INTERVAL_LEVEL, exclude_device: str | None = None) -> Band | None:
    """The interval of a projection of a device with family ``chain`` and layer-bound mix ``bound``
    (None when there are no residuals at all)."""
    rows = [r for r in residuals if r.device != exclude_device]
    if not rows:
        return None
    pool, pool_family, distance = rows, "", UNVALIDATED_DISTANCE
    for depth in range(len(chain), 0, -1):
        family = chain[depth - 1]
        members = [r for r in rows if family in r.family_chain]
        if len({r.device for r in members}) >= MIN_POOL_DEVICES:
            pool, pool_family, distance = members, family, len(chain) - depth
            break
    weights = [(BOUND_WEIGHT_FLOOR + _overlap(bound, r.bound)) * (1.0 if r.scenario == scenario else OTHER_SCENARIO_WEIGHT)
               for r in pool]
    n_eff = sum(weights) ** 2 / sum(w * w for w in weights)
    tail = (1.0 - level) / 2
    center = _weighted_quantile(pool, weights, 0.5)
    # empirical tails (robust to the odd far-off row), widened for a small pool and a far family
    widen = (t_quantile(1.0 - tail, n_eff - 1.0) / NormalDist().inv_cdf(1.0 - tail) * math.sqrt(1.0 + 1.0 / n_eff)
             * (1.0 + DISTANCE_WIDENING * distance))
    floor = NormalDist().inv_cdf(1.0 - tail) * MIN_SPREAD
    below = max(center - _weighted_quantile(pool, weights, tail), floor) * widen
    above = max(_weighted_quantile(pool, weights, 1.0 - tail) - center, floor) * widen
    devices = len({r.device for r in pool})
    where = (f"family {pool_family}" if pool_family and distance == 0 else
             f"family {pool_family}, {distance} level(s) above the device's" if pool_family else
             "every published row (no published results for this family)")
    source = (f"{level:.0%} band from leave-one-device-out residuals of {where}: {len(pool)} rows of {devices}"
              f" devices, weighted by layer-bound mix")
    # residual r = log(projected / real time): real time = projected x exp(-r)
    return Band(level, math.exp(-(center + above)), math.exp(-(center - below)), source, pool_family, devices, n_eff,
                distance)


def _weighted_quantile(rows: list[Residual], weights: list[float], q: float) -> float:
    """Quantile ``q`` of the rows' residuals, each counting its weight (linear between midpoints)."""
    order = sorted(range(len(rows)), key=lambda i: rows[i].residual)
    total = sum(weights)
    cumulative, points = 0.0, []
    for i in order:
        points.append(((cumulative + weights[i] / 2) / total, rows[i].residual))
        cumulative += weights[i]
    if q <= points[0][0]:
        return points[0][1]
    for (q0, r0), (q1, r1) in zip(points, points[1:]):
        if q <= q1:
            return r0 + (r1 - r0) * (q - q0) / (q1 - q0)
    return points[-1][1]


def parse_residuals(data: dict, origin: str) -> tuple[Residual, ...]:
    out = []
    for i, row in enumerate(data.get("residual", [])):
        try:
            out.append(Residual(str(row["device"]), tuple(row["family_chain"]), str(row["model"]),
                                str(row["scenario"]), float(row["residual"]),
                                {k: float(row["bound"].get(k, 0.0)) for k in BOUNDS}))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise UserError(f"projection residuals: {origin} residual {i} needs device, family_chain, model,"
                            f" scenario, residual and bound; got {row!r}") from None
    return tuple(out)


@lru_cache(maxsize=4)
def load_residuals(path: str | None = None) -> tuple[Residual, ...]:
    """The shipped leave-one-device-out residuals (empty when the file is absent)."""
    file = Path(path) if path else RESIDUALS_FILE
    if not file.exists():
        return ()
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UserError(f"projection residuals: cannot read {str(file)!r} ({exc})") from None
    return parse_residuals(data, str(file))


def calibrated_band(errors: list[float], *, level: float = INTERVAL_LEVEL) -> Band | None:
    """The band of a calibrated device from its leave-one-measurement-out errors (projected /
    measured - 1 of latency), unweighted; None with fewer than two."""
    if len(errors) < 2:
        return None
    logs = [math.log1p(e) for e in errors]
    n = len(logs)
    mu = sum(logs) / n
    spread = max(math.sqrt(sum((x - mu) ** 2 for x in logs) / (n - 1)), MIN_SPREAD)
    half = t_quantile(0.5 + level / 2, n - 1) * spread * math.sqrt(1.0 + 1.0 / n)
    return Band(level, math.exp(-(mu + half)), math.exp(-(mu - half)),
                f"{level:.0%} band from {n} leave-one-measurement-out calibration errors", "", 1, float(n), 0)


@dataclass(frozen=True)
class Coverage:
    """How often the bands held: each residual's band computed without its own device's residuals."""

    level: float
    covered: int
    total: int
    inside: tuple[bool, ...]  # per residual, in order
    bands: tuple[Band, ...]

    @property
    def share(self) -> float:
        return self.covered / self.total if self.total else float("nan")


def coverage(residuals: tuple[Residual, ...], *, level: float = INTERVAL_LEVEL) -> Coverage:
    """Leave-one-device-out coverage: is each published figure inside the band built from the
    other devices' residuals? (real/projected time = exp(-residual) must lie in the band)."""
    inside, bands = [], []
    for r in residuals:
        band = band_for(r.family_chain, r.bound, r.scenario, residuals, level=level, exclude_device=r.device)
        bands.append(band)
        ratio = math.exp(-r.residual)
        inside.append(band is not None and band.time_factor_low <= ratio <= band.time_factor_high)
    return Coverage(level, sum(inside), len(inside), tuple(inside), tuple(bands))


@lru_cache(maxsize=1)
def shipped_coverage() -> Coverage:
    """How often the bands held on the published table: the coverage of the shipped residuals."""
    return coverage(load_residuals())
