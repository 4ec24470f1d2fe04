"""The summary of one `accelbench run`: the four stages, their lessons, the ranking, projections.

Records (results/records.py) hold what was measured; a RunSummary holds what the four-stage run
*concluded* from them, with references to the records it used (record ids), so that reports can
show each stage in order. It is stored in the same SQLite file, table ``run_summaries``, one
transaction per summary.

Every part is a typed, frozen record with ``to_dict()`` / ``from_dict()``; the JSON layout
(schema version 1) is:
  stage 1 data: {"peaks": [PeakFigure], "rank_correlation"?, "rank_correlation_batch1"?}
  stage 2/3/4 data: {"model", "configs": [StageConfigRef], "activations": [ActivationRow],
                     "sram": [SramFigure], "layers": [LayerTime], "closest"?: [ClosestModel],
                     "closest_error"?, "unknown_layers"?: UnknownLayers}  (layers: the slowest layers, time measured or
                     "projected:<device>"; "closest" on stage 4 only)
  ranking: [RankEntry]  (measured configurations and projected devices, best first)
  projections: [ProjectionEntry]  (the projection module's to_dict(with_layers=False) per device,
                                   plus the model's resolution and label; unknown keys are kept)
Keys marked ? are left out when there is nothing to say, as the first version of this file did.
Units are base units: seconds, ops/s, bytes, W, USD.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Mapping

from accelbench.errors import UserError, choice_error
from accelbench.results.unknown_layers import UnknownLayers

SUMMARY_SCHEMA_VERSION = 1

PEAK_SOURCES = ("catalog", "theoretical", "measured")
RANK_KINDS = ("measured", "projected")


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
    """Shared to_dict/from_dict of the summary's flat parts: keys in field order; the fields in
    ``OPTIONAL_KEYS`` are left out of the dict while None (their keys are optional in the JSON)."""

    OPTIONAL_KEYS: ClassVar[frozenset[str]] = frozenset()

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
        try:
            return cls(**{k: v for k, v in data.items() if k in known})
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
    """One of a model's slowest layers; time_s is None where no projection was possible (MACs only)."""

    OPTIONAL_KEYS = frozenset({"bound"})

    name: str
    op: str = ""
    macs: int = 0
    output_bytes: int = 0
    time_s: float | None = None
    time_source: str | None = None  # "measured" or "projected:<device>"
    bound: str | None = None  # what bounds the layer (projected layers only)


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

    OPTIONAL_KEYS = frozenset({"closest", "closest_error", "unknown_layers"})

    model: str
    configs: tuple[StageConfigRef, ...] = ()
    activations: tuple[ActivationRow, ...] = ()
    sram: tuple[SramFigure, ...] = ()
    layers: tuple[LayerTime, ...] = ()
    closest: tuple[ClosestModel, ...] | None = None  # stage 4: None when no finder ran
    closest_error: str | None = None  # why the finder gave nothing
    unknown_layers: UnknownLayers | None = None  # the model's profile left layers unknown (None: none)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "MeasuredStageData":
        closest = data.get("closest")
        return cls(model=data.get("model") or "", configs=_many(StageConfigRef, data.get("configs")),
                   activations=_many(ActivationRow, data.get("activations")), sram=_many(SramFigure, data.get("sram")),
                   layers=_many(LayerTime, data.get("layers")),
                   closest=None if closest is None else _many(ClosestModel, closest),
                   closest_error=data.get("closest_error"),
                   unknown_layers=UnknownLayers.from_dict(data.get("unknown_layers")))


StageData = PeakStageData | MeasuredStageData


@dataclass(frozen=True, kw_only=True)
class RankEntry(_Part):
    """One line of the answer: a measured configuration of this host or a projected catalog device,
    with its rank by the run's objective (None: it has no figure for it, listed last)."""

    OPTIONAL_KEYS = frozenset({"record_id", "resolution", "batch", "bound"})

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

    def __post_init__(self) -> None:
        if self.kind not in RANK_KINDS:
            raise choice_error("rank entry kind", self.kind, RANK_KINDS)


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
    does not know are kept in ``extra`` and written back, so projections can grow fields."""

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
    environment: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    schema_version: int = SUMMARY_SCHEMA_VERSION

    def __post_init__(self) -> None:
        for name, part in (("ranking", RankEntry), ("projections", ProjectionEntry), ("stages", StageSummary)):
            if not all(isinstance(item, part) for item in getattr(self, name)):
                raise TypeError(f"run summary: every item of {name} must be a {part.__name__}")

    def stage(self, number: int) -> StageSummary | None:
        return next((s for s in self.stages if s.stage == number), None)

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "created": self.created, "command": self.command, "objective": self.objective,
                "stages": [s.to_dict() for s in self.stages], "ranking": [e.to_dict() for e in self.ranking],
                "projections": [p.to_dict() for p in self.projections], "duration_s": self.duration_s,
                "environment": _plain(self.environment), "notes": list(self.notes),
                "schema_version": self.schema_version}

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
                   duration_s=data.get("duration_s"), environment=dict(data.get("environment") or {}),
                   notes=tuple(data.get("notes") or ()), schema_version=data["schema_version"])


# Compatibility for the callers written before the store owned all SQL (the four-stage run):
# new code opens the store once (accelbench.results.store.open_store) and calls its methods.
# The store module imports this one, hence the imports inside the functions.


def save_run_summary(db_path: str, summary: RunSummary) -> None:
    """Insert or replace the summary of one run, in one transaction."""
    from accelbench.results.store import open_store

    with open_store(db_path) as store:
        store.save_summary(summary)


def load_run_summary(db_path: str, run_id: str) -> RunSummary | None:
    """The summary of ``run_id``, or None when that run was not a four-stage run."""
    from accelbench.results.store import open_store

    with open_store(db_path, read_only=True) as store:
        return store.load_summary(run_id)


def latest_run_summary_id(db_path: str) -> str | None:
    from accelbench.results.store import open_store

    with open_store(db_path, read_only=True) as store:
        newest = store.newest_summary()
    return newest[1] if newest else None
