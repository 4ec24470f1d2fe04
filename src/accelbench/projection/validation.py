"""Projections against published results (MLPerf) and against this machine's measurements.

Error convention: error = projected / reference - 1 for both throughput and latency (so +20 % on
throughput means the projection is optimistic, +20 % on latency that it is pessimistic).
``factor`` = max(projected/reference, reference/projected). Published SingleStream figures are
90th-percentile latencies; the projection is deterministic, so its batch-1 latency stands for p90.

The documented band (tests/test_projection_published.py): median |error| < 25 % over every row,
and every row within a factor of 1.5.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from accelbench.errors import UserError
from accelbench.hardware.devices import get_device
from accelbench.projection.api import device_params
from accelbench.projection.model import project

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

MEDIAN_ERROR_BAND = 0.25
FACTOR_BAND = 1.5


@dataclass(frozen=True)
class PublishedResult:
    device: str
    system: str
    scenario: str  # "offline" (throughput_per_s) or "single-stream" (latency_p90_s)
    value: float
    source: str
    note: str = ""

    @property
    def metric(self) -> str:
        return "throughput_per_s" if self.scenario == "offline" else "latency_p90_s"


@dataclass(frozen=True)
class PublishedSet:
    model: str
    resolution: str
    precision: str
    results: tuple[PublishedResult, ...]


def load_published(path: str | Path) -> PublishedSet:
    """Read a published-results TOML (see tests/data/published/mlperf_resnet50.toml)."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UserError(f"published results: cannot read {str(path)!r} ({exc})") from None
    rows = []
    for i, row in enumerate(data.get("result", [])):
        scenario = row.get("scenario")
        key = {"offline": "throughput_per_s", "single-stream": "latency_p90_s"}.get(scenario)
        if key is None or not isinstance(row.get(key), (int, float)) or row[key] <= 0 or not row.get("source"):
            raise UserError(f"published results: {str(path)!r} result {i} needs scenario offline|single-stream,"
                            f" a positive throughput_per_s/latency_p90_s and a source; got {row!r}")
        rows.append(PublishedResult(row["device"], row.get("system", row["device"]), scenario, float(row[key]),
                                    row["source"], row.get("note", "")))
    return PublishedSet(data.get("model", ""), str(data.get("resolution", "")), data.get("precision", "int8"),
                        tuple(rows))


@dataclass(frozen=True)
class Comparison:
    device: str
    scenario: str
    reference_kind: str  # "published" or "measured" (or "measured, calibrated")
    metric: str
    reference: float
    projected: float
    label: str = ""

    @property
    def error(self) -> float:
        return self.projected / self.reference - 1.0

    @property
    def factor(self) -> float:
        ratio = self.projected / self.reference
        return max(ratio, 1.0 / ratio)

    def to_dict(self) -> dict:
        return {"device": self.device, "scenario": self.scenario, "reference_kind": self.reference_kind,
                "metric": self.metric, "reference": self.reference, "projected": self.projected,
                "error": self.error, "factor": self.factor, "label": self.label}


def compare_published(published: PublishedSet, profile, *, use_calibration: bool = False) -> list[Comparison]:
    """Project ``profile`` onto each published device with the shipped parameters (no calibration)."""
    out = []
    cache = {}
    for row in published.results:
        if row.device not in cache:
            device = get_device(row.device)
            params, calibrated = device_params(device, use_calibration=use_calibration)
            cache[row.device] = project(profile, device, params, scenario="offline")
        proj = cache[row.device]
        projected = proj.throughput_per_s if row.scenario == "offline" else proj.latency_s
        out.append(Comparison(row.device, row.scenario, "published", row.metric, row.value, projected, row.system))
    return out


def median_abs_error(rows: list[Comparison]) -> float:
    return float(np.median([abs(r.error) for r in rows])) if rows else float("nan")


def format_comparison_table(rows: list[Comparison]) -> str:
    """Plain-text table: device, scenario, reference kind, reference, projected, error."""
    head = f"{'device':<14} {'scenario':<14} {'reference':<26} {'value':>12} {'projected':>12} {'error':>8}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r.device:<14} {r.scenario:<14} {r.reference_kind[:26]:<26} {_fmt(r.metric, r.reference):>12}"
                     f" {_fmt(r.metric, r.projected):>12} {r.error:>+8.0%}")
    lines.append(f"median |error|: {median_abs_error(rows):.1%}; worst factor: "
                 f"{max((r.factor for r in rows), default=float('nan')):.2f}")
    return "\n".join(lines)


def _fmt(metric: str, value: float) -> str:
    if metric.startswith("latency"):
        return f"{value * 1e3:.3f} ms"
    return f"{value:,.1f}/s"
