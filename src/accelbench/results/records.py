"""Typed, versioned measurement records. Pure data: numpy + stdlib, no runtime imports.

A BenchRecord stores what was measured (raw per-query latencies in ns, energy, memory) and what
it ran on; every statistic (percentiles, CIs, throughput, MAC/s, utilization, energy per
inference, cost) is *derived* from the stored figures when asked, never stored rounded.
``to_dict`` writes stored and derived figures side by side; ``from_dict`` reads the stored
ones back and re-derives the rest. ``provenance`` says for each number whether it was
measured, derived or estimated, and from what.

Units: latency ns, power W, energy J, memory bytes, prices USD, throughput inferences/s (one
inference = one sample of a batch), MACs per inference (1 MAC = 1 multiply-accumulate).
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from functools import cached_property
from typing import Any

from accelbench.errors import UserError, choice_error
from accelbench.measure.power import PowerRecord
from accelbench.measure.stats import LatencyStats, Stability, stability, summarize
from accelbench.results.unknown_layers import UnknownLayers

SCHEMA_VERSION = 1
SCENARIOS = ("single-stream", "multi-stream", "offline", "server")
MODES = ("quick", "mlperf")
# ok: measured and valid; failed: nothing measured (see failure_kind); invalid: measured, but the run
# broke its rules (LoadGen said INVALID): its figures stay in the record, the error says why.
STATUSES = ("ok", "failed", "invalid")
FAILURE_KINDS = ("crash", "oom", "timeout", "exception", "user-error", "killed")


def new_run_id() -> str:
    """A run id groups the records of one invocation: UTC time + random suffix, sortable."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class BenchConfig:
    """Exactly what was asked for. Validated when built, before any model loads."""

    model: str
    source: str = "zoo"  # "zoo", "file" (an ONNX path) or "torch" (torch:package.module:factory)
    resolution: str | None = None  # as given ("224", "1920x1088", "2mp"); None = the model's default
    batch: int = 1
    input_shapes: tuple[tuple[str, tuple[int, ...]], ...] = ()
    backend: str = "onnxruntime"
    device: str = "cpu"
    precision: str = "fp32"
    scenario: str = "single-stream"
    mode: str = "quick"
    threads: int | None = None  # None: the backend's default (physical cores)
    time_limit_s: float = 10.0
    target_rel_ci: float = 0.02
    seed: int = 0
    price_usd: float | None = None
    price_per_hour_usd: float | None = None
    target_qps: float | None = None  # server scenario
    latency_bound_ns: int | None = None  # server scenario
    tdp_w: float | None = None  # for the TDP-share power ESTIMATE when no counter is readable
    tdp_cores: int | None = None  # cores that tdp_w covers (default: this host's physical cores)
    tiny: bool = False  # sizes shrunk for tests (ACCELBENCH_TINY=1): not a full-size measurement

    def __post_init__(self) -> None:
        from accelbench.precision import parse_precision
        from accelbench.shapes import parse_resolution

        if not self.model:
            raise UserError("model: empty; give a zoo model name or an .onnx file")
        if self.source not in ("zoo", "file", "torch"):
            raise choice_error("source", self.source, ("zoo", "file", "torch"))
        object.__setattr__(self, "precision", parse_precision(self.precision))
        if self.resolution is not None:
            object.__setattr__(self, "resolution", parse_resolution(self.resolution).spec)
        if not isinstance(self.batch, int) or self.batch < 1:
            raise UserError(f"batch: must be a positive integer such as 1 or 32; got {self.batch!r}")
        object.__setattr__(self, "input_shapes", tuple((str(k), tuple(int(d) for d in v))
                                                       for k, v in dict(self.input_shapes).items()))
        if self.scenario not in SCENARIOS:
            raise choice_error("scenario", self.scenario, SCENARIOS)
        if self.mode not in MODES:
            raise choice_error("mode", self.mode, MODES)
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise UserError(f"threads: must be a positive integer; got {self.threads!r}")
        if not (isinstance(self.time_limit_s, (int, float)) and self.time_limit_s > 0):
            raise UserError(f"time-limit: must be a positive number of seconds; got {self.time_limit_s!r}")
        if not 0 < self.target_rel_ci < 1:
            raise UserError(f"target CI: must be a fraction in (0, 1) such as 0.02; got {self.target_rel_ci!r}")
        for name in ("price_usd", "price_per_hour_usd", "target_qps", "tdp_w"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise UserError(f"{name.replace('_', '-')}: must be a positive number; got {value!r}")
        if self.tdp_cores is not None and (not isinstance(self.tdp_cores, int) or self.tdp_cores < 1):
            raise UserError(f"tdp-cores: must be a positive integer; got {self.tdp_cores!r}")
        if self.latency_bound_ns is not None and self.latency_bound_ns < 1:
            raise UserError(f"latency bound: must be a positive number of ns; got {self.latency_bound_ns!r}")

    def to_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["input_shapes"] = {k: list(v) for k, v in self.input_shapes}
        if not self.tiny:
            del data["tiny"]  # written only when set: records of earlier versions read back unchanged
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "BenchConfig":
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        shapes = kwargs.get("input_shapes") or {}
        kwargs["input_shapes"] = tuple((k, tuple(v)) for k, v in dict(shapes).items())
        return cls(**kwargs)


@dataclass(frozen=True)
class BenchRecord:
    """One measured (or failed) configuration. See the module docstring for units."""

    config: BenchConfig
    run_id: str
    status: str = "ok"
    error: str | None = None
    failure_kind: str | None = None
    record_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    timestamp: str = field(default_factory=utc_now)
    run_info: dict | None = None  # Backend.describe() as a dict: what actually ran
    latency_ns: tuple[int, ...] = ()  # raw, per query, in run order (measured)
    samples_per_query: int | None = None  # None: config.batch
    warmup_queries: int = 0
    measure_wall_ns: int | None = None
    target_met: bool | None = None
    stop_reason: str | None = None
    loadgen_throughput_per_s: float | None = None  # LoadGen's own samples/s when it drove the run
    pixels_per_inference: int | None = None  # W x H of one image; None for non-image models
    macs_per_inference: int | None = None
    macs_source: str | None = None
    unknown_layers: UnknownLayers | None = None  # what the profile behind macs_per_inference could not see
    peak_macs_per_s: float | None = None  # theoretical, for the precision that ran
    peak_source: str | None = None
    measured_peak_macs_per_s: float | None = None  # the measured GEMM peak utilization is divided by
    measured_peak_source: str | None = None  # how it was measured (size, runtime, runs, spread)
    measured_peak_at: str | None = None  # when it was measured (UTC, ISO 8601)
    peak_rss_bytes: int | None = None
    device_memory_bytes: int | None = None
    power: PowerRecord = field(default_factory=lambda: PowerRecord(None, "unavailable"))
    price_usd: float | None = None
    price_per_hour_usd: float | None = None
    price_source: str | None = None
    deviation: dict | None = None  # numeric deviation vs fp32 (precision/ helper's function)
    environment: dict = field(default_factory=dict)
    loadgen: dict | None = None  # LoadGen summary figures and log paths
    notes: tuple[str, ...] = ()
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise choice_error("status", self.status, STATUSES)
        object.__setattr__(self, "latency_ns", tuple(self.latency_ns))
        object.__setattr__(self, "notes", tuple(self.notes))
        for value in self.latency_ns:
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"latency_ns holds non-negative integers (ns); got {value!r}")
        if self.status in ("ok", "invalid") and not self.latency_ns:
            raise ValueError(f"an {self.status} record needs latency samples")
        if self.status in ("failed", "invalid") and not self.error:
            raise ValueError(f"a {self.status} record needs an error message")
        if self.failure_kind is not None and self.failure_kind not in FAILURE_KINDS:
            raise choice_error("failure_kind", self.failure_kind, FAILURE_KINDS)
        if self.samples_per_query is not None and self.samples_per_query < 1:
            raise ValueError("samples_per_query must be positive")
        # Prices given in the config apply when the record does not carry its own (e.g. from a catalog).
        if self.price_usd is None and self.config.price_usd is not None:
            object.__setattr__(self, "price_usd", self.config.price_usd)
            object.__setattr__(self, "price_source", self.price_source or "user (--price)")
        if self.price_per_hour_usd is None and self.config.price_per_hour_usd is not None:
            object.__setattr__(self, "price_per_hour_usd", self.config.price_per_hour_usd)
            object.__setattr__(self, "price_source", self.price_source or "user (--price-per-hour)")
        if isinstance(self.power, dict):
            object.__setattr__(self, "power", PowerRecord.from_dict(self.power))
        if isinstance(self.unknown_layers, dict):
            object.__setattr__(self, "unknown_layers", UnknownLayers.from_dict(self.unknown_layers))

    @classmethod
    def failed(cls, config: BenchConfig, run_id: str, error: str, kind: str, *,
               environment: dict | None = None, notes: tuple[str, ...] = ()) -> "BenchRecord":
        return cls(config=config, run_id=run_id, status="failed", error=error, failure_kind=kind,
                   environment=environment or {}, notes=notes)

    # -- derived figures ---------------------------------------------------------------------
    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def measured(self) -> bool:
        """It ran and has latencies: ok, or invalid by the rules of its run (LoadGen)."""
        return self.status in ("ok", "invalid")

    @property
    def inferences_per_query(self) -> int:
        return self.samples_per_query or self.config.batch

    @property
    def precision_executed(self) -> str | None:
        return (self.run_info or {}).get("precision_executed")

    @cached_property
    def stats(self) -> LatencyStats | None:
        return summarize(self.latency_ns) if self.latency_ns else None

    @cached_property
    def stability(self) -> Stability | None:
        return stability(self.stats, self.config.target_rel_ci) if self.stats else None

    @property
    def throughput_per_s(self) -> float | None:
        """LoadGen's samples/s when it drove the run; else inferences per query / mean latency."""
        if self.loadgen_throughput_per_s is not None:
            return self.loadgen_throughput_per_s
        if not self.latency_ns:
            return None
        total = sum(self.latency_ns)
        return len(self.latency_ns) * self.inferences_per_query * 1e9 / total if total else None

    @property
    def throughput_ci_per_s(self) -> tuple[float, float] | None:
        """CI of throughput from the CI of the mean latency (throughput = per-query inferences / mean)."""
        if self.loadgen_throughput_per_s is not None or self.stats is None or self.stats.mean_ci_ns is None:
            return None
        lo, hi = self.stats.mean_ci_ns
        k = self.inferences_per_query * 1e9
        return (k / hi, k / lo) if lo > 0 else None

    @property
    def megapixels_per_s(self) -> float | None:
        tput = self.throughput_per_s
        return tput * self.pixels_per_inference / 1e6 if tput and self.pixels_per_inference else None

    @property
    def macs_per_s(self) -> float | None:
        tput = self.throughput_per_s
        return tput * self.macs_per_inference if tput and self.macs_per_inference else None

    @property
    def mac_utilization(self) -> float | None:
        """Achieved MAC/s / theoretical peak MAC/s for the precision that ran (0..1)."""
        rate = self.macs_per_s
        return rate / self.peak_macs_per_s if rate and self.peak_macs_per_s else None

    @property
    def mac_utilization_measured_peak(self) -> float | None:
        rate = self.macs_per_s
        return rate / self.measured_peak_macs_per_s if rate and self.measured_peak_macs_per_s else None

    @property
    def energy_per_inference_j(self) -> float | None:
        net, tput = self.power.net_power_w, self.throughput_per_s
        return net / tput if net is not None and tput else None

    @property
    def inferences_per_s_per_w(self) -> float | None:
        net, tput = self.power.net_power_w, self.throughput_per_s
        return tput / net if net and tput else None

    @property
    def inferences_per_s_per_usd(self) -> float | None:
        tput = self.throughput_per_s
        return tput / self.price_usd if tput and self.price_usd else None

    @property
    def usd_per_million_inferences(self) -> float | None:
        tput = self.throughput_per_s
        return self.price_per_hour_usd / (tput * 3600.0) * 1e6 if tput and self.price_per_hour_usd else None

    @property
    def provenance(self) -> dict[str, str]:
        """Where each headline number came from: measured / derived / estimated, and from what."""
        prov = {
            "latency_ns": "measured: per-query wall time (perf_counter_ns) around one run() call"
            if self.loadgen is None else "measured: per-query latency in the LoadGen run",
            "latency_percentiles": "derived: from latency_ns (linear interpolation)",
            "throughput_per_s": "measured: LoadGen samples per second" if self.loadgen_throughput_per_s
            is not None else "derived: inferences per query / mean of latency_ns",
        }
        if self.pixels_per_inference:
            prov["megapixels_per_s"] = "derived: throughput x input pixels"
        if self.macs_per_inference:
            prov["macs_per_inference"] = f"derived: {self.macs_source or 'static profile'}"
            prov["macs_per_s"] = "derived: throughput x macs_per_inference"
        if self.peak_macs_per_s:
            prov["mac_utilization"] = f"derived: macs_per_s / peak ({self.peak_source})"
        if self.measured_peak_macs_per_s:
            when = f", measured {self.measured_peak_at}" if self.measured_peak_at else ""
            prov["mac_utilization_measured_peak"] = (f"derived: macs_per_s / measured peak "
                                                     f"{self.measured_peak_macs_per_s:.4g} MAC/s "
                                                     f"({self.measured_peak_source}{when})")
        if self.power.power_w is not None:
            kind = "measured" if self.power.measured else "estimated"
            prov["power_w"] = f"{kind}: {self.power.detail or self.power.power_source}"
            prov["energy_per_inference_j"] = f"{'derived' if self.power.measured else 'estimated'}: net power / throughput"
        if self.peak_rss_bytes is not None:
            prov["peak_rss_bytes"] = "measured: process peak resident set (ru_maxrss)"
        if self.price_usd or self.price_per_hour_usd:
            prov["cost"] = f"derived: throughput and price ({self.price_source})"
        return prov

    # -- serialisation -----------------------------------------------------------------------
    STORED = ("schema_version", "record_id", "run_id", "timestamp", "status", "error", "failure_kind",
              "run_info", "latency_ns", "samples_per_query", "warmup_queries", "measure_wall_ns", "target_met",
              "stop_reason", "loadgen_throughput_per_s", "pixels_per_inference", "macs_per_inference",
              "macs_source", "unknown_layers", "peak_macs_per_s", "peak_source", "measured_peak_macs_per_s",
              "measured_peak_source", "measured_peak_at", "peak_rss_bytes", "device_memory_bytes", "price_usd",
              "price_per_hour_usd", "price_source", "deviation", "environment", "loadgen", "notes")

    def to_dict(self, *, include_samples: bool = True) -> dict[str, Any]:
        """Stored fields + derived figures, JSON-ready. Derived keys are ignored by from_dict."""
        data: dict[str, Any] = {name: getattr(self, name) for name in self.STORED}
        data["config"] = self.config.to_dict()
        data["latency_ns"] = list(self.latency_ns) if include_samples else None
        data["notes"] = list(self.notes)
        data["unknown_layers"] = self.unknown_layers.to_dict() if self.unknown_layers else None
        data.update(self.power.to_dict())
        info = self.run_info or {}
        stats = self.stats
        stab = self.stability
        data.update({
            "backend": info.get("runtime", self.config.backend),
            "device": info.get("device", self.config.device),
            "precision_requested": self.config.precision,
            "precision_executed": self.precision_executed,
            "queries": len(self.latency_ns),
            "latency_p50_ns": stats.p50_ns if stats else None,
            "latency_p90_ns": stats.p90_ns if stats else None,
            "latency_p99_ns": stats.p99_ns if stats else None,
            "latency_p999_ns": stats.p999_ns if stats else None,
            "latency_mean_ns": stats.mean_ns if stats else None,
            "latency_stats": stats.to_dict() if stats else None,
            "throughput_per_s": self.throughput_per_s,
            "throughput_ci_per_s": list(self.throughput_ci_per_s) if self.throughput_ci_per_s else None,
            "megapixels_per_s": self.megapixels_per_s,
            "macs_per_s": self.macs_per_s,
            "mac_utilization": self.mac_utilization,
            "mac_utilization_measured_peak": self.mac_utilization_measured_peak,
            "energy_per_inference_j": self.energy_per_inference_j,
            "inferences_per_s_per_w": self.inferences_per_s_per_w,
            "inferences_per_s_per_usd": self.inferences_per_s_per_usd,
            "usd_per_million_inferences": self.usd_per_million_inferences,
            "stability": stab.to_dict() if stab else None,
            "provenance": self.provenance,
        })
        return _json_safe(data)

    @classmethod
    def from_dict(cls, data: dict) -> "BenchRecord":
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise UserError(
                f"record: schema version {version!r} is not readable by this accelbench (reads {SCHEMA_VERSION})"
            )
        kwargs = {name: data.get(name) for name in cls.STORED if name in data}
        kwargs["latency_ns"] = tuple(int(x) for x in (data.get("latency_ns") or ()))
        kwargs["notes"] = tuple(data.get("notes") or ())
        kwargs["environment"] = data.get("environment") or {}
        kwargs["warmup_queries"] = data.get("warmup_queries") or 0
        kwargs["power"] = PowerRecord.from_dict(data)
        return cls(config=BenchConfig.from_dict(data["config"]), **kwargs)


def _json_safe(value):
    """NaN/inf -> None so that the JSON is strict (json.dumps would write NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value
