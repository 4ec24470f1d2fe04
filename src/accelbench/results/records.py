"""Typed, versioned measurement records. Pure data: numpy + stdlib, no runtime imports.

A BenchRecord stores what was measured (raw per-query latencies in ns, energy, memory) and what
it ran on; every statistic (percentiles, CIs, throughput, MAC/s, utilization, energy per
inference, cost) is *derived* from the stored figures when asked, never stored rounded.
``to_dict`` writes stored and derived figures side by side; ``from_dict`` reads the stored
ones back and re-derives the rest. ``provenance`` says for each number whether it was
measured, derived or estimated, and from what.

Its parts are typed too, each with ``to_dict``/``from_dict`` writing the JSON keys records have
always had: ``RunInfo`` (what the backend says actually ran), ``Environment`` (the machine, filled
by measure/environment.py), ``PowerRecord`` (power and its source), ``NumericDeviation``
(precision/deviation.py: outputs vs FP32), ``LoadGenSummary`` (measure/loadgen's figures),
``UnknownLayers`` (results/unknown_layers.py: what the profile behind the MAC count could not see)
and ``LayerTimes`` (results/layers.py: per-layer times of ``bench --layers``, stored apart).

A record's ``status``: ok (measured, valid), failed (nothing measured), invalid (measured, but
LoadGen judged the run INVALID: its figures are kept, ``error`` says why and what to change).

Units: latency ns, power W, energy J, memory bytes, prices USD, throughput inferences/s (one
inference = one sample of a batch), MACs per inference (1 MAC = 1 multiply-accumulate).
"""

from __future__ import annotations

import math
import uuid
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any, Mapping

from accelbench.errors import UserError, check_stop_conventions, choice_error
from accelbench.precision import parse_precision
from accelbench.precision.deviation import NumericDeviation
from accelbench.results.layers import LayerTimes
from accelbench.results.stats import LatencyStats, Stability, stability, summarize
from accelbench.results.unknown_layers import UnknownLayers
from accelbench.shapes import parse_resolution
from accelbench.sources import SOURCE_NAMES

SCHEMA_VERSION = 1
SCENARIOS = ("single-stream", "multi-stream", "offline", "server")
MODES = ("quick", "mlperf")
# ok: measured and valid; failed: nothing measured (see failure_kind); invalid: measured, but the run
# broke its rules (LoadGen said INVALID): its figures stay in the record, the error says why.
STATUSES = ("ok", "failed", "invalid")
FAILURE_KINDS = ("crash", "oom", "timeout", "exception", "user-error", "killed")
POWER_SOURCES = ("nvml", "rapl", "estimated-tdp", "unavailable")
MEASURED_POWER_SOURCES = ("nvml", "rapl")


def new_run_id() -> str:
    """A run id groups the records of one invocation: UTC time + random suffix, sortable."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class PowerRecord:
    """Average power over the measured phase (measure/power.py measures it). Watts; ``measured``
    False for estimates."""

    power_w: float | None
    power_source: str  # one of POWER_SOURCES
    idle_power_w: float | None = None
    detail: str = ""

    def __post_init__(self) -> None:
        if self.power_source not in POWER_SOURCES:
            raise ValueError(f"power_source {self.power_source!r} not in {POWER_SOURCES}")
        if self.power_w is not None and self.power_w < 0:
            raise ValueError(f"power_w must not be negative; got {self.power_w}")

    @property
    def measured(self) -> bool:
        return self.power_source in MEASURED_POWER_SOURCES

    @property
    def net_power_w(self) -> float | None:
        """Power attributable to the work: power - idle where idle was measured."""
        if self.power_w is None:
            return None
        if self.idle_power_w is None:
            return self.power_w
        return max(self.power_w - self.idle_power_w, 0.0)

    def to_dict(self) -> dict:
        return {
            "power_w": self.power_w,
            "power_source": self.power_source,
            "power_measured": self.measured,
            "idle_power_w": self.idle_power_w,
            "net_power_w": self.net_power_w,
            "power_detail": self.detail,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "PowerRecord":
        return cls(data.get("power_w"), data.get("power_source", "unavailable"), data.get("idle_power_w"),
                   data.get("power_detail", ""))


@dataclass(frozen=True)
class RunInfo:
    """What actually ran (not what was asked for), as the backend's ``describe()`` reports it."""

    runtime: str  # "onnxruntime", "openvino", "torch"
    runtime_version: str
    device: str  # e.g. "cpu", "cuda:0", "CPU"
    execution_provider: str  # e.g. "CPUExecutionProvider", "CPU plugin", "eager"
    threads: int | None
    precision_requested: str
    precision_executed: str  # read back from the runtime where it can say
    precision_source: str  # how precision_executed is known: "runtime-reported", "graph-inspection", ...
    fused_layers: tuple[str, ...] | None = None  # kernel names the runtime reports, where it does
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["fused_layers"] = list(self.fused_layers) if self.fused_layers is not None else None
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RunInfo":
        layers = data.get("fused_layers")
        return cls(runtime=data["runtime"], runtime_version=data["runtime_version"], device=data["device"],
                   execution_provider=data["execution_provider"], threads=data["threads"],
                   precision_requested=data["precision_requested"], precision_executed=data["precision_executed"],
                   precision_source=data["precision_source"],
                   fused_layers=tuple(layers) if layers is not None else None, extra=dict(data.get("extra") or {}))


class _KnownFields:
    """A part whose figures are each optional: it writes the known ones (not None), in field order,
    and reads any subset of them."""

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]):
        return cls(**{f.name: data.get(f.name) for f in fields(cls)})


@dataclass(frozen=True)
class CpuClocks(_KnownFields):
    """CPU clocks as the kernel reports them, in MHz; each None when not readable."""

    cpuinfo_mhz: float | None = None
    scaling_cur_mhz: float | None = None
    max_mhz: float | None = None
    governor: str | None = None


@dataclass(frozen=True)
class GpuEnvironment(_KnownFields):
    """GPU 0 as NVML reports it (clocks MHz, memory bytes, power limit W), or why NVML could not say."""

    name: str | None = None
    driver: str | None = None
    memory_bytes: int | None = None
    sm_clock_mhz: float | None = None
    max_sm_clock_mhz: float | None = None
    power_limit_w: float | None = None
    error: str | None = None  # "NVML unavailable: ..." when nothing could be read


@dataclass(frozen=True)
class Environment:
    """The machine a measurement ran on (measure/environment.py fills it). Every figure None when
    unknown; an Environment with nothing known (a record that failed before looking) writes {}."""

    hostname: str | None = None
    os: str | None = None
    platform: str | None = None
    python: str | None = None
    cpu_model: str | None = None
    cpu_family_model: str | None = None
    cpu_flags: tuple[str, ...] = ()  # the ISA flags that decide which precisions are fast
    physical_cores: int | None = None
    logical_cores: int | None = None
    affinity_cores: int | None = None
    memory_bytes: int | None = None
    runtime_versions: dict[str, str] = field(default_factory=dict)  # pip distribution -> version
    accelbench: str | None = None  # accelbench's version
    cpu_clocks: CpuClocks = field(default_factory=CpuClocks)
    gpu: GpuEnvironment | None = None  # on GPU devices only
    extra: dict[str, Any] = field(default_factory=dict)  # keys this accelbench does not know, kept as read

    def __post_init__(self) -> None:
        object.__setattr__(self, "cpu_flags", tuple(self.cpu_flags))

    @property
    def known(self) -> bool:
        return self != Environment()

    def runtime_version(self, package: str) -> str | None:
        return self.runtime_versions.get(package)

    def to_dict(self) -> dict[str, Any]:
        if not self.known:
            return {}
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("gpu", "extra")}
        data["cpu_flags"] = list(self.cpu_flags)
        data["runtime_versions"] = dict(self.runtime_versions)
        data["cpu_clocks"] = self.cpu_clocks.to_dict()
        if self.gpu is not None:
            data["gpu"] = self.gpu.to_dict()
        data.update(self.extra)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Environment":
        names = {f.name for f in fields(cls)} - {"extra"}
        kwargs = {name: data[name] for name in names & set(data) if data[name] is not None}
        kwargs["cpu_flags"] = tuple(data.get("cpu_flags") or ())
        kwargs["runtime_versions"] = dict(data.get("runtime_versions") or {})
        kwargs["cpu_clocks"] = CpuClocks.from_dict(data.get("cpu_clocks") or {})
        if data.get("gpu") is not None:
            kwargs["gpu"] = GpuEnvironment.from_dict(data["gpu"])
        return cls(**kwargs, extra={k: v for k, v in data.items() if k not in names})


@dataclass(frozen=True)
class LoadGenSummary:
    """What a record keeps of a LoadGen run (measure/loadgen_logs.LoadGenResult without its raw
    per-sample lists, which become the record's latency_ns). Latencies are integer nanoseconds;
    see LoadGenResult for what each figure means."""

    scenario: str
    mode: str
    valid: bool
    result: str
    invalid_reasons: tuple[str, ...]
    min_duration_met: bool | None
    min_queries_met: bool | None
    early_stopping_met: bool | None
    perf_constraints_met: bool | None
    batch: int
    samples_per_query: int
    query_count: int | None
    overlatency_query_count: int | None
    samples_per_s: float | None
    scheduled_samples_per_s: float | None
    qps_with_loadgen_overhead: float | None
    qps_without_loadgen_overhead: float | None
    target_qps: float | None
    latency_bound_ns: int | None
    target_latency_percentile: float | None
    target_latency_ns: int | None
    latency_min_ns: int | None
    latency_max_ns: int | None
    latency_mean_ns: float | None
    latency_percentiles_ns: tuple[tuple[float, int], ...]
    early_stopping_ns: tuple[tuple[float, int], ...]
    min_duration_ms: int | None
    min_query_count: int | None
    calibration_latency_ns: int | None
    loadgen_version: str | None
    errors: tuple[str, ...]
    warnings: tuple[str, ...]
    log_dir: Path
    summary_path: Path
    detail_path: Path
    trace_path: Path | None
    latency_source: str = "loadgen trace (Sample.complete_ns)"
    search_trials: tuple[tuple[float, bool], ...] = ()
    advice: tuple[str, ...] = ()  # INVALID: what to change (LoadGen's recommendations, then accelbench's)

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIOS:
            raise choice_error("scenario", self.scenario, SCENARIOS)
        if self.mode not in MODES:
            raise choice_error("mode", self.mode, MODES)
        if self.batch < 1 or self.samples_per_query < 1:
            raise ValueError(f"batch and samples_per_query must be >= 1, got "
                             f"{self.batch} and {self.samples_per_query}")

    def percentile_ns(self, percentile: float) -> int | None:
        """LoadGen's figure for ``percentile`` (e.g. 90 or 99.9), or None when it printed none."""
        for p, ns in self.latency_percentiles_ns:
            if abs(p - percentile) < 1e-9:
                return ns
        return None

    @property
    def latency_p50_ns(self) -> int | None:
        return self.percentile_ns(50.0)

    @property
    def latency_p90_ns(self) -> int | None:
        return self.percentile_ns(90.0)

    @property
    def latency_p99_ns(self) -> int | None:
        return self.percentile_ns(99.0)

    @property
    def latency_p999_ns(self) -> int | None:
        return self.percentile_ns(99.9)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (paths as strings, (percentile, ns) pairs as {"90.0": ns})."""
        out = {f.name: getattr(self, f.name) for f in fields(LoadGenSummary)}
        for key, value in out.items():
            if isinstance(value, Path):
                out[key] = str(value)
        out["latency_percentiles_ns"] = {str(p): ns for p, ns in self.latency_percentiles_ns}
        out["early_stopping_ns"] = {str(p): ns for p, ns in self.early_stopping_ns}
        if not self.advice:
            del out["advice"]  # written only when there is some: summaries of earlier versions read back unchanged
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "LoadGenSummary":
        kwargs = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        for name in ("invalid_reasons", "errors", "warnings", "advice"):
            kwargs[name] = tuple(data.get(name) or ())
        for name in ("latency_percentiles_ns", "early_stopping_ns"):
            kwargs[name] = tuple((float(p), int(ns)) for p, ns in (data.get(name) or {}).items())
        kwargs["search_trials"] = tuple((float(qps), bool(valid)) for qps, valid in data.get("search_trials") or ())
        for name in ("log_dir", "summary_path", "detail_path", "trace_path"):
            kwargs[name] = Path(data[name]) if data.get(name) is not None else None
        return cls(**kwargs)


@dataclass(frozen=True)
class BenchConfig:
    """Exactly what was asked for. Validated when built, before any model loads."""

    model: str
    source: str = "zoo"  # one of SOURCE_NAMES: "zoo", "file" (an ONNX path), "torch" (torch:package.module:factory)
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
    # The conventions users bring from benchmark_app/trtexec (written to the JSON only when set):
    streams: int | str = 1  # inference requests in flight, or "auto" (the count with the best throughput)
    iterations: int | None = None  # exactly this many timed queries (benchmark_app -niter)
    min_duration_s: float | None = None  # measure at least this long (trtexec --duration)
    inputs: str | None = None  # the user's input data (.npz/.npy or a folder); None: seeded random inputs
    calibration_data: str | None = None  # the user's INT8 calibration data; None: seeded random inputs

    # Fields written to the JSON only when they differ from their default: records of earlier
    # versions read back, and write back, unchanged.
    WRITTEN_WHEN_SET = ("tiny", "streams", "iterations", "min_duration_s", "inputs", "calibration_data")

    def __post_init__(self) -> None:
        if not self.model:
            raise UserError("model: empty; give a zoo model name or an .onnx file")
        if self.source not in SOURCE_NAMES:
            raise choice_error("source", self.source, SOURCE_NAMES)
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
        # Finite everywhere: an inf or nan from an API caller or a config file must not reach a timer.
        if not (isinstance(self.time_limit_s, (int, float)) and 0 < self.time_limit_s < math.inf):
            raise UserError(f"time-limit: must be a positive number of seconds; got {self.time_limit_s!r}")
        if not 0 < self.target_rel_ci < 1:
            raise UserError(f"target CI: must be a fraction in (0, 1) such as 0.02; got {self.target_rel_ci!r}")
        for name in ("price_usd", "price_per_hour_usd", "target_qps", "tdp_w"):
            value = getattr(self, name)
            if value is not None and not 0 < value < math.inf:
                raise UserError(f"{name.replace('_', '-')}: must be a positive number; got {value!r}")
        if self.tdp_cores is not None and (not isinstance(self.tdp_cores, int) or self.tdp_cores < 1):
            raise UserError(f"tdp-cores: must be a positive integer; got {self.tdp_cores!r}")
        if self.latency_bound_ns is not None and self.latency_bound_ns < 1:
            raise UserError(f"latency bound: must be a positive number of ns; got {self.latency_bound_ns!r}")
        if isinstance(self.streams, str) and self.streams.strip().lower() == "auto":
            object.__setattr__(self, "streams", "auto")
        elif isinstance(self.streams, bool) or not isinstance(self.streams, int) or self.streams < 1:
            raise UserError(f"streams: must be a positive integer or 'auto'; got {self.streams!r}")
        check_stop_conventions(self.iterations, self.min_duration_s)
        for name in ("inputs", "calibration_data"):
            value = getattr(self, name)
            if value is not None:
                if not str(value).strip():
                    raise UserError(f"{name.replace('_', '-')}: empty; give an .npz/.npy file or a folder of them")
                object.__setattr__(self, name, str(value))

    @property
    def inputs_source(self) -> str:
        """Where the measured inputs come from: "user" (--inputs) or "random" (seeded)."""
        return "user" if self.inputs is not None else "random"

    def to_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["input_shapes"] = {k: list(v) for k, v in self.input_shapes}
        defaults = {f.name: f.default for f in fields(self)}
        for name in self.WRITTEN_WHEN_SET:
            if data[name] == defaults[name]:
                del data[name]
        if self.inputs is not None:
            data["inputs_source"] = self.inputs_source
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
    run_info: RunInfo | None = None  # Backend.describe(): what actually ran
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
    deviation: NumericDeviation | None = None  # outputs vs the FP32 reference (reduced precisions)
    environment: Environment = field(default_factory=Environment)
    loadgen: LoadGenSummary | None = None  # LoadGen's figures and log paths when it drove the run
    notes: tuple[str, ...] = ()
    schema_version: int = SCHEMA_VERSION
    # per-layer times from a separate profiling pass (bench --layers); the latencies above never come from it
    layer_times: LayerTimes | None = None
    streams: int | None = None  # requests in flight when several were (throughput = queries / wall time)

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
        # The typed parts may be given as the mappings a record stores (from_dict builds them so).
        for name, part in (("power", PowerRecord), ("run_info", RunInfo), ("environment", Environment),
                           ("deviation", NumericDeviation), ("loadgen", LoadGenSummary),
                           ("layer_times", LayerTimes), ("unknown_layers", UnknownLayers)):
            value = getattr(self, name)
            if isinstance(value, Mapping):
                object.__setattr__(self, name, part.from_dict(value))

    @classmethod
    def failed(cls, config: BenchConfig, run_id: str, error: str, kind: str, *,
               environment: Environment | None = None, notes: tuple[str, ...] = ()) -> "BenchRecord":
        return cls(config=config, run_id=run_id, status="failed", error=error, failure_kind=kind,
                   environment=environment or Environment(), notes=notes)

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
        return self.run_info.precision_executed if self.run_info is not None else None

    @property
    def runtime(self) -> str:
        """The runtime that ran; the configured backend when nothing ran (a failed record)."""
        return self.run_info.runtime if self.run_info is not None else self.config.backend

    @property
    def runtime_device(self) -> str:
        """The device as the runtime named it; the configured device when nothing ran."""
        return self.run_info.device if self.run_info is not None else self.config.device

    @cached_property
    def stats(self) -> LatencyStats | None:
        return summarize(self.latency_ns) if self.latency_ns else None

    @cached_property
    def stability(self) -> Stability | None:
        return stability(self.stats, self.config.target_rel_ci) if self.stats else None

    @property
    def concurrent(self) -> bool:
        """Several requests were in flight: throughput is completed queries over wall time."""
        return (self.streams or 1) > 1

    @property
    def inputs_source(self) -> str:
        """Where the measured inputs came from: "user" (--inputs) or "random" (seeded)."""
        return self.config.inputs_source

    @property
    def throughput_per_s(self) -> float | None:
        """LoadGen's samples/s when it drove the run; with several requests in flight, inferences per
        query x queries / wall time of the measured phase; else inferences per query / mean latency."""
        if self.loadgen_throughput_per_s is not None:
            return self.loadgen_throughput_per_s
        if not self.latency_ns:
            return None
        if self.concurrent and self.measure_wall_ns:
            return len(self.latency_ns) * self.inferences_per_query * 1e9 / self.measure_wall_ns
        total = sum(self.latency_ns)
        return len(self.latency_ns) * self.inferences_per_query * 1e9 / total if total else None

    @property
    def throughput_ci_per_s(self) -> tuple[float, float] | None:
        """CI of throughput from the CI of the mean latency (throughput = per-query inferences / mean);
        None with several requests in flight (there throughput is not a function of one latency)."""
        if (self.loadgen_throughput_per_s is not None or self.concurrent or self.stats is None
                or self.stats.mean_ci_ns is None):
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
    def layer_profiling_overhead(self) -> float | None:
        """How much slower the profiled runs of the layer pass were than the timed runs (p50 / p50 - 1)."""
        if self.layer_times is None or self.stats is None:
            return None
        return self.layer_times.overhead_vs(self.stats.p50_ns)

    @property
    def provenance(self) -> dict[str, str]:
        """Where each headline number came from: measured / derived / estimated, and from what."""
        prov = {
            "latency_ns": "measured: per-query wall time (perf_counter_ns) around one run() call"
            if self.loadgen is None else "measured: per-query latency in the LoadGen run",
            "latency_percentiles": "derived: from latency_ns (linear interpolation)",
            "throughput_per_s": "measured: LoadGen samples per second" if self.loadgen_throughput_per_s
            is not None else (f"derived: completed inferences / wall time of the measured phase, {self.streams} "
                              "requests in flight" if self.concurrent and self.measure_wall_ns
                              else "derived: inferences per query / mean of latency_ns"),
        }
        if self.concurrent:
            prov["latency_ns"] += f" (each of {self.streams} requests in flight timed on its own)"
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
        if self.layer_times is not None:
            prov["layer_times"] = (f"measured: {self.layer_times.profiler}, mean of {self.layer_times.runs} profiled"
                                   " runs in a separate pass after the timed ones (never used for latency)")
        return prov

    # -- serialisation -----------------------------------------------------------------------
    # Stored fields that records gained later: left out of the JSON while None.
    NEWER_OPTIONAL = ("unknown_layers", "measured_peak_at", "streams")
    STORED = ("schema_version", "record_id", "run_id", "timestamp", "status", "error", "failure_kind",
              "run_info", "latency_ns", "samples_per_query", "warmup_queries", "measure_wall_ns", "target_met",
              "stop_reason", "loadgen_throughput_per_s", "pixels_per_inference", "macs_per_inference",
              "macs_source", "unknown_layers", "peak_macs_per_s", "peak_source", "measured_peak_macs_per_s",
              "measured_peak_source", "measured_peak_at", "peak_rss_bytes", "device_memory_bytes", "price_usd",
              "price_per_hour_usd", "price_source", "deviation", "environment", "loadgen", "notes", "streams")

    def to_dict(self, *, include_samples: bool = True) -> dict[str, Any]:
        """Stored fields + derived figures, JSON-ready. Derived keys are ignored by from_dict."""
        data: dict[str, Any] = {name: getattr(self, name) for name in self.STORED}
        data["config"] = self.config.to_dict()
        data["latency_ns"] = list(self.latency_ns) if include_samples else None
        data["notes"] = list(self.notes)
        for name in ("run_info", "deviation", "loadgen", "unknown_layers"):
            part = getattr(self, name)
            data[name] = part.to_dict() if part is not None else None
        data["environment"] = self.environment.to_dict()
        for name in self.NEWER_OPTIONAL:
            if data[name] is None:
                del data[name]  # written only when known: records of earlier versions read back unchanged
        data.update(self.power.to_dict())
        stats = self.stats
        stab = self.stability
        data.update({
            "backend": self.runtime,
            "device": self.runtime_device,
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
            "layer_times": self.layer_times.to_dict() if self.layer_times is not None else None,
            "layer_profiling_overhead": self.layer_profiling_overhead,
            "inputs_source": self.inputs_source,
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
        kwargs["warmup_queries"] = data.get("warmup_queries") or 0
        kwargs["environment"] = data.get("environment") or {}  # the parts' mappings are read in __post_init__
        kwargs["power"] = PowerRecord.from_dict(data)
        kwargs["layer_times"] = data.get("layer_times") or None
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
