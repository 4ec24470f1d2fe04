"""The summary of one `accelbench run`: the four stages, their lessons, the ranking, projections.

Records (results/records.py) hold what was measured; a RunSummary holds what the four-stage run
*concluded* from them, with references to the records it used (record ids), so that reports can
show each stage in order. The results store keeps it beside the records, one per run
(results/store/).

Every part is a typed, frozen record with ``to_dict()`` / ``from_dict()``; the JSON layout
(schema version 1) is:
  stage 1 data: {"peaks": [PeakFigure], "rank_correlation"?, "rank_correlation_batch1"?}
  stage 2/3/4 data: {"model", "configs": [StageConfigRef], "activations": [ActivationRow],
                     "sram": [SramFigure], "layers": [LayerTime], "closest"?: [ClosestModel],
                     "closest_error"?, "layer_measurement"?: LayerMeasurement,
                     "closest_measured"?: ClosestMeasured, "unknown_layers"?: UnknownLayers}
                    (layers: the slowest layers, time measured or "projected:<device>", with the
                    projected time beside a measured one; "closest" on stage 4 only;
                    layer_measurement: the record whose per-layer times the stage shows, and the
                    projection's error per op kind; closest_measured: stage 3 of `run --model`,
                    the zoo model closest to the user's, measured, and why it was chosen;
                    unknown_layers: the layers the model's profile could not resolve, when any)
  ranking: [RankEntry]  (measured configurations and projected devices, best first; each with its
                        interval? and indistinguishable_from? / superseded_by? marks, and the
                        resolution?, batch? and bound? of the figure ranked; latency_p99_s?,
                        power_w? and price_usd? where known; excluded?: why an entry that fails the
                        run's constraints is not ranked)
  constraints?: Constraints  (run --max-latency-ms / --max-watts / --max-price; absent when none)
  status?: "interrupted" for a run that did not finish (stages so far, no ranking)
  projections: [ProjectionEntry]  (the projection module's to_dict(with_layers=False) per device,
                                   plus the model's resolution and label; unknown keys are kept;
                                   the interval keys? and provenance?)
Keys marked ? are left out when there is nothing to say, as the first version of this file did: a
summary written before intervals existed reads (and writes back) unchanged.
Units are base units: seconds, ops/s, bytes, W, USD.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Mapping

from accelbench.errors import UserError, choice_error
from accelbench.results.records import Environment
from accelbench.results.unknown_layers import UnknownLayers

SUMMARY_SCHEMA_VERSION = 1

PEAK_SOURCES = ("catalog", "theoretical", "measured")
RANK_KINDS = ("measured", "projected")
RUN_STATUSES = ("complete", "interrupted")


def _plain(value: Any) -> Any:
    """JSON-ready form of a record field: nested records as dicts, tuples as lists."""
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


class _Part:
    """Shared to_dict/from_dict of the summary's parts: keys in field order; the fields in
    ``OPTIONAL_KEYS`` are left out of the dict while None (their keys are optional in the JSON);
    the fields in ``NESTED`` hold tuples of that part; lists read back as tuples."""

    OPTIONAL_KEYS: ClassVar[frozenset[str]] = frozenset()
    NESTED: ClassVar[Mapping[str, type]] = {}

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None and f.name in self.OPTIONAL_KEYS:
                continue
            out[f.name] = _plain(value)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]):
        known = {f.name for f in fields(cls)}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known}
        for key, part in cls.NESTED.items():
            if key in values:
                values[key] = _many(part, values[key])
        try:
            return cls(**values)
        except TypeError as exc:  # a required key is missing
            raise UserError(f"run summary: a {cls.__name__} cannot be read from {sorted(data)}: {exc}") from None


def _many(part: type, items) -> tuple:
    return tuple(part.from_dict(item) for item in (items or ()))


@dataclass(frozen=True, kw_only=True)
class PeakFigure(_Part):
    """A dense peak of one device at one precision, in ops/s (2 ops per MAC)."""

    OPTIONAL_KEYS = frozenset({"arithmetic"})

    device: str  # "host" or a catalog id
    name: str
    kind: str  # CPU, GPU, NPU, ...
    precision: str
    peak_ops_per_s: float
    source: str  # catalog (datasheet) | theoretical (cores x lanes x clock) | measured (a timed GEMM)
    arithmetic: str | None = None  # how a host figure was obtained; catalog peaks have none

    def __post_init__(self) -> None:
        if self.source not in PEAK_SOURCES:
            raise choice_error("peak source", self.source, PEAK_SOURCES)


@dataclass(frozen=True, kw_only=True)
class StageConfigRef(_Part):
    """A configuration a stage measured, and the record that holds the measurement."""

    record_id: str
    label: str
    resolution: str | None
    batch: int
    precision: str  # as asked; the record says what ran
    scenario: str | None = None


@dataclass(frozen=True, kw_only=True)
class ActivationRow(_Part):
    """Activation memory of a model at one input size (static profile)."""

    resolution: str  # as given, or "default"
    pixels: int | None = None
    precision: str = ""
    macs: int | None = None  # per inference
    largest_activation_bytes: int | None = None
    peak_live_activation_bytes: int | None = None


@dataclass(frozen=True, kw_only=True)
class SramFigure(_Part):
    """On-chip memory of a catalog device."""

    device: str
    name: str
    onchip_sram_bytes: int


@dataclass(frozen=True, kw_only=True)
class LayerTime(_Part):
    """One of a model's slowest layers; time_s is None where no projection was possible (MACs only).
    A measured layer (time_source "measured") has its projected time beside it in ``projected_s``."""

    OPTIONAL_KEYS = frozenset({"bound", "projected_s", "family"})

    name: str
    op: str = ""
    macs: int = 0
    output_bytes: int = 0
    time_s: float | None = None
    time_source: str | None = None  # "measured" or "projected:<device>"
    bound: str | None = None  # what bounds the layer (projected, or the projection beside a measured one)
    projected_s: float | None = None  # measured layers: the projection onto the same device (host)
    family: str | None = None  # op family of its MACs (profile/kind.py)


@dataclass(frozen=True, kw_only=True)
class LayerKindError(_Part):
    """Measured vs projected time summed over one op kind's layers of a record."""

    kind: str  # an op family (conv, depthwise, linear, ...) or "other" (layers without MACs)
    layers: int
    measured_s: float
    projected_s: float

    @property
    def error(self) -> float | None:
        """projected / measured - 1 (negative: the projection is too fast)."""
        return self.projected_s / self.measured_s - 1.0 if self.measured_s > 0 else None


@dataclass(frozen=True, kw_only=True)
class LayerPoint(_Part):
    """One measured layer against its projection (the per-layer chart)."""

    name: str
    kind: str
    measured_s: float
    projected_s: float


@dataclass(frozen=True, kw_only=True)
class LayerMeasurement(_Part):
    """Per-layer times of one record (``--layers``) against the projection onto the device it ran on."""

    record_id: str
    label: str
    device: str  # the projection's device ("host")
    profiler: str
    runs: int
    mapped_share: float | None = None  # of the profiler's node time, tied to layers
    unmapped_s: float = 0.0  # per run
    overhead: float | None = None  # profiled p50 / timed p50 - 1
    collect_s: float | None = None  # the whole profiling pass
    kinds: tuple[LayerKindError, ...] = ()  # largest measured time first
    points: tuple[LayerPoint, ...] = ()  # every layer with measured time, in model order

    NESTED = {"kinds": LayerKindError, "points": LayerPoint}


@dataclass(frozen=True, kw_only=True)
class ClosestMeasured(_Part):
    """The zoo model closest to the user's (models/similarity.py), measured in stage 3, and why."""

    model: str
    resolution: str | None = None
    distance: float | None = None
    why: str = ""  # the two or three features that differ most, in words
    size_note: str = ""  # set when it could not take the user's input size
    record_ids: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ClosestModel(_Part):
    """A zoo model close to the user's (models/similarity.py): distance and the main differences."""

    model: str
    resolution: str | None = None
    distance: float | None = None
    why: str = ""


@dataclass(frozen=True)
class RankCorrelation:
    """Spearman's rho between the catalog's peak TOPS and projected throughput; None: undefined."""

    best_batch: float | None
    batch1: float | None


@dataclass(frozen=True, kw_only=True)
class PeakStageData:
    """Stage 1: the host's theoretical and measured peaks beside the catalog's."""

    peaks: tuple[PeakFigure, ...] = ()
    rank_correlation: RankCorrelation | None = None  # None: too few devices to rank

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"peaks": [p.to_dict() for p in self.peaks]}
        if self.rank_correlation is not None:
            out["rank_correlation"] = self.rank_correlation.best_batch
            out["rank_correlation_batch1"] = self.rank_correlation.batch1
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "PeakStageData":
        correlation = None
        if "rank_correlation" in data:
            correlation = RankCorrelation(data["rank_correlation"], data.get("rank_correlation_batch1"))
        return cls(peaks=_many(PeakFigure, data.get("peaks")), rank_correlation=correlation)


@dataclass(frozen=True, kw_only=True)
class MeasuredStageData(_Part):
    """Stages 2-4: one model's measured configurations, its activation memory beside the catalog's
    on-chip memory, its slowest layers and (stage 4) the closest zoo models."""

    OPTIONAL_KEYS = frozenset({"closest", "closest_error", "layer_measurement", "closest_measured", "unknown_layers"})

    model: str
    configs: tuple[StageConfigRef, ...] = ()
    activations: tuple[ActivationRow, ...] = ()
    sram: tuple[SramFigure, ...] = ()
    layers: tuple[LayerTime, ...] = ()
    closest: tuple[ClosestModel, ...] | None = None  # stage 4: None when no finder ran
    closest_error: str | None = None  # why the finder gave nothing
    layer_measurement: LayerMeasurement | None = None  # None: no record of the stage has per-layer times
    closest_measured: ClosestMeasured | None = None  # stage 3 of `run --model`
    unknown_layers: UnknownLayers | None = None  # the model's profile left layers unknown (None: none)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "MeasuredStageData":
        closest = data.get("closest")
        measurement, stand_in = data.get("layer_measurement"), data.get("closest_measured")
        return cls(model=data.get("model") or "", configs=_many(StageConfigRef, data.get("configs")),
                   activations=_many(ActivationRow, data.get("activations")), sram=_many(SramFigure, data.get("sram")),
                   layers=_many(LayerTime, data.get("layers")),
                   closest=None if closest is None else _many(ClosestModel, closest),
                   closest_error=data.get("closest_error"),
                   layer_measurement=None if measurement is None else LayerMeasurement.from_dict(measurement),
                   closest_measured=None if stand_in is None else ClosestMeasured.from_dict(stand_in),
                   unknown_layers=UnknownLayers.from_dict(data.get("unknown_layers")))


StageData = PeakStageData | MeasuredStageData


def intervals_overlap(a: tuple[float | None, float | None], b: tuple[float | None, float | None]) -> bool:
    """Do two intervals (low, high) overlap? False when an end of either is unknown: no claim either way."""
    if None in a or None in b:
        return False
    return a[0] <= b[1] and b[0] <= a[1]


@dataclass(frozen=True, kw_only=True)
class Constraints(_Part):
    """What the answer must meet (``run``/``rank`` --max-latency-ms, --max-watts, --max-price): an
    entry that does not (or has no figure to show it does) is not ranked, and says why. Base units."""

    OPTIONAL_KEYS = frozenset({"max_latency_s", "max_watts", "max_price_usd"})

    max_latency_s: float | None = None  # measured: p99 latency; projected: the batch-1 latency
    max_watts: float | None = None  # measured: the power figure (measured or estimated); projected: TDP
    max_price_usd: float | None = None  # the device's price (user, or catalog list price)

    def __post_init__(self) -> None:
        for name in ("max_latency_s", "max_watts", "max_price_usd"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not math.isfinite(value) or value <= 0):
                raise UserError(f"{name}: must be a positive number; got {value!r}")

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.max_latency_s, self.max_watts, self.max_price_usd))


INTERVAL_KEYS = frozenset({"latency_s_low", "latency_s_high", "throughput_per_s_low", "throughput_per_s_high",
                           "interval_level"})


@dataclass(frozen=True, kw_only=True)
class RankEntry(_Part):
    """One line of the answer: a measured configuration of this host or a projected catalog device,
    with its rank by the run's objective (None: it has no figure for it, or it is a projection of a
    device that was measured: listed last).

    Intervals: a projection's band (``interval_level`` 0.8), a measurement's confidence interval of
    the median latency and of the mean throughput (0.95); ``value_low/high`` is the interval of the
    ranked figure. ``indistinguishable_from``: the rank of the next entry, when the two intervals
    overlap. ``superseded_by``: for a projection of a measured device, the rank of its best
    measurement (measured figures always outrank projections of the same device)."""

    OPTIONAL_KEYS = frozenset({"record_id", "resolution", "batch", "bound", "value_low", "value_high", "calibrated",
                               "indistinguishable_from", "superseded_by", "latency_p99_s", "power_w", "price_usd",
                               "excluded"}) | INTERVAL_KEYS

    label: str
    kind: str  # measured | projected
    record_id: str | None = None  # measured entries only
    device: str
    model: str | None = None
    resolution: str | None = None  # the model's input size, as given
    batch: int | None = None  # the batch of the figure ranked by (projected: latency or throughput batch)
    bound: str | None = None  # what bounds it, e.g. "compute (78%)" (a projection; measured: of this host)
    precision: str | None = None
    latency_s: float | None = None
    throughput_per_s: float | None = None
    per_w: float | None = None  # inferences/s per W
    per_w_source: str | None = None  # measured | estimated
    per_usd: float | None = None  # inferences/s per USD
    rank: int | None = None
    metric: str | None = None  # the field ranked by: latency_s, throughput_per_s, per_w or per_usd
    value: float | None = None  # that field's value
    latency_s_low: float | None = None
    latency_s_high: float | None = None
    throughput_per_s_low: float | None = None
    throughput_per_s_high: float | None = None
    interval_level: float | None = None  # 0.8 for a projection's band, the CI level for a measurement
    value_low: float | None = None  # the interval of `value`
    value_high: float | None = None
    calibrated: bool | None = None  # a projection whose figures were fitted on the device's measurements
    indistinguishable_from: int | None = None  # the next entry's rank, when the two intervals overlap
    superseded_by: int | None = None  # a measured device's projection: the rank of its best measurement
    latency_p99_s: float | None = None  # measured entries: the 99th percentile latency
    power_w: float | None = None  # measured: the record's power (measured or estimated); projected: TDP
    price_usd: float | None = None  # the device's price
    excluded: str | None = None  # why it is not ranked: the constraint it fails, with its figure

    def __post_init__(self) -> None:
        if self.kind not in RANK_KINDS:
            raise choice_error("rank entry kind", self.kind, RANK_KINDS)

    @property
    def provenance(self) -> str:
        """The report's badge: measured, projected, or calibrated (a calibrated projection)."""
        return "calibrated" if self.kind == "projected" and self.calibrated else self.kind


@dataclass(frozen=True, kw_only=True)
class BoundShares:
    """What bounds a projected model: a one-line summary and the share of time per bound."""

    summary: str | None = None
    shares: Mapping[str, float] = field(default_factory=dict)  # compute, sram, dram, overhead

    def to_dict(self) -> dict[str, Any]:
        return {"summary": self.summary, **self.shares}

    @classmethod
    def from_value(cls, value) -> "BoundShares":
        if isinstance(value, Mapping):
            return cls(summary=value.get("summary"), shares={k: v for k, v in value.items() if k != "summary"})
        return cls(summary=None if value is None else str(value))


@dataclass(frozen=True, kw_only=True)
class BatchThroughput(_Part):
    batch: int
    throughput_per_s: float


# The projection module's to_dict(with_layers=False) keys, in its order, then the run's own.
@dataclass(frozen=True, kw_only=True)
class ProjectionEntry(_Part):
    """A model projected onto one catalog device (every figure an estimate). Keys this version
    does not know are kept in ``extra`` and written back, so projections can grow fields.
    The interval fields are None in summaries written before intervals (and where no band could be
    made); ``provenance``: "projection" or "calibrated projection"."""

    OPTIONAL_KEYS = INTERVAL_KEYS | frozenset({"interval_source", "family", "provenance"})

    device: str
    device_name: str | None = None
    model: str | None = None
    precision: str | None = None
    scenario: str | None = None
    kind: str = "projected"
    calibrated: bool | None = None
    params_origin: str | None = None
    latency_s: float | None = None
    latency_batch: int | None = None
    throughput_per_s: float | None = None
    throughput_batch: int | None = None
    mac_utilization: float | None = None
    bound: BoundShares = field(default_factory=BoundShares)
    weights_resident: bool | None = None
    peak_ops_per_s: float | None = None
    energy_per_inference_j: float | None = None
    energy_source: str | None = None
    throughput_per_w: float | None = None
    throughput_per_usd: float | None = None
    batches: tuple[BatchThroughput, ...] = ()
    assumptions: tuple[str, ...] = ()
    latency_s_low: float | None = None
    latency_s_high: float | None = None
    throughput_per_s_low: float | None = None
    throughput_per_s_high: float | None = None
    interval_level: float | None = None
    interval_source: str | None = None
    family: str | None = None
    provenance: str | None = None
    resolution: str | None = None
    label: str | None = None  # the stage configuration it stands for
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        extra = out.pop("extra")
        return {**out, **extra}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ProjectionEntry":
        known = {f.name for f in fields(cls)} - {"extra"}
        values = {k: v for k, v in data.items() if k in known}
        values["bound"] = BoundShares.from_value(data.get("bound"))
        values["batches"] = _many(BatchThroughput, data.get("batches"))
        values["assumptions"] = tuple(str(a) for a in data.get("assumptions") or ())
        if "device" not in values:
            raise UserError(f"run summary: a projection entry has no device; keys: {sorted(data)}")
        return cls(**values, extra={k: v for k, v in data.items() if k not in known})

    @property
    def name(self) -> str:
        return self.device_name or self.device


@dataclass(frozen=True)
class StageSummary:
    stage: int  # 1..4
    title: str
    lesson: str  # one line that states the lesson in numbers
    record_ids: tuple[str, ...] = ()
    data: StageData | None = None  # PeakStageData for stage 1, MeasuredStageData for 2-4
    skipped: str | None = None  # why a stage did not run (e.g. no --model given)

    def __post_init__(self) -> None:
        if self.data is not None and not isinstance(self.data, (PeakStageData, MeasuredStageData)):
            raise TypeError(f"stage {self.stage}: stage data must be PeakStageData or MeasuredStageData, "
                            f"not {type(self.data).__name__}")

    @property
    def peak_data(self) -> PeakStageData | None:
        return self.data if isinstance(self.data, PeakStageData) else None

    @property
    def measured_data(self) -> MeasuredStageData | None:
        return self.data if isinstance(self.data, MeasuredStageData) else None

    def to_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, "title": self.title, "lesson": self.lesson, "record_ids": list(self.record_ids),
                "data": {} if self.data is None else self.data.to_dict(), "skipped": self.skipped}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "StageSummary":
        raw = data.get("data") or {}
        kind = PeakStageData if data["stage"] == 1 else MeasuredStageData
        return cls(int(data["stage"]), data.get("title", ""), data.get("lesson", ""),
                   tuple(data.get("record_ids") or ()), kind.from_dict(raw) if raw else None, data.get("skipped"))


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    created: str
    command: str
    objective: str  # latency | throughput | per-watt | per-dollar
    stages: tuple[StageSummary, ...]
    ranking: tuple[RankEntry, ...] = ()
    projections: tuple[ProjectionEntry, ...] = ()
    duration_s: float | None = None
    environment: Environment = field(default_factory=Environment)  # where the run ran
    notes: tuple[str, ...] = ()
    schema_version: int = SUMMARY_SCHEMA_VERSION
    constraints: Constraints | None = None  # what the answer must meet (None: nothing asked)
    # "interrupted": written as the run goes (after stage 1 and after each configuration) and replaced by
    # the "complete" one at the end; a run killed on the way keeps it, with the stages that finished.
    status: str = "complete"

    def __post_init__(self) -> None:
        if self.status not in RUN_STATUSES:
            raise choice_error("run summary status", self.status, RUN_STATUSES)
        for name, part in (("ranking", RankEntry), ("projections", ProjectionEntry), ("stages", StageSummary)):
            if not all(isinstance(item, part) for item in getattr(self, name)):
                raise TypeError(f"run summary: every item of {name} must be a {part.__name__}")

    def stage(self, number: int) -> StageSummary | None:
        return next((s for s in self.stages if s.stage == number), None)

    @property
    def excluded(self) -> tuple[RankEntry, ...]:
        """The ranking's entries that fail the constraints (not ranked)."""
        return tuple(e for e in self.ranking if e.excluded)

    def to_dict(self) -> dict[str, Any]:
        out = {"run_id": self.run_id, "created": self.created, "command": self.command, "objective": self.objective,
               "stages": [s.to_dict() for s in self.stages], "ranking": [e.to_dict() for e in self.ranking],
               "projections": [p.to_dict() for p in self.projections], "duration_s": self.duration_s,
               "environment": _plain(self.environment), "notes": list(self.notes),
               "schema_version": self.schema_version}
        if self.constraints is not None and self.constraints.active:
            out["constraints"] = self.constraints.to_dict()  # written only when asked for
        if self.status != "complete":  # written only when the run did not finish: complete summaries keep their keys
            out["status"] = self.status
        return out

    @property
    def interrupted(self) -> bool:
        return self.status == "interrupted"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunSummary":
        if data.get("schema_version") != SUMMARY_SCHEMA_VERSION:
            raise UserError(
                f"run summary: schema version {data.get('schema_version')!r} is not readable"
                f" (this accelbench reads {SUMMARY_SCHEMA_VERSION})"
            )
        return cls(run_id=data["run_id"], created=data["created"], command=data.get("command", ""),
                   objective=data.get("objective", ""), stages=_many(StageSummary, data["stages"]),
                   ranking=_many(RankEntry, data.get("ranking")),
                   projections=_many(ProjectionEntry, data.get("projections")),
                   duration_s=data.get("duration_s"), environment=Environment.from_dict(data.get("environment") or {}),
                   notes=tuple(data.get("notes") or ()), schema_version=data["schema_version"],
                   constraints=Constraints.from_dict(data["constraints"]) if data.get("constraints") else None,
                   status=data.get("status", "complete"))
