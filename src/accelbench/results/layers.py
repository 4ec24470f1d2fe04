"""Per-layer times measured by a runtime's own profiler, mapped onto the static profile's fused layers.

Pure data (stdlib only). A backend's ``profile_layers`` returns a ``RuntimeProfile``: every node
(kernel) its profiler reports with its mean time per profiled run. accelbench.measure.layers maps
those nodes onto the profile's fused layers and keeps the result with the record as ``LayerTimes``:
one ``MeasuredLayer`` per profile layer, and the runtime nodes that map to no layer (layout
reorders, input quantization, ...) kept as the **unmapped remainder** with their times, never dropped.

The profiled runs are a separate pass after the timed measurement: their latencies
(``profiled_latency_ns``) only say how much the profiler slows a run down (the overhead); a
record's latency figures never come from them.

Units: ns (times are means per profiled run, floats; latencies raw integers).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any, Mapping

# How a runtime node was tied to a layer (measure/layers.py has the rules, in this order):
MAPPINGS = (
    "original",  # the runtime lists the ONNX nodes it fused (OpenVINO originalLayersNames, torch module scope)
    "name",  # its name is an ONNX node's name, perhaps with the runtime's suffix (_nchwc, _token_12)
    "output",  # it writes a tensor an ONNX node of the layer writes (ORT's fused nodes keep the last output)
    "tensor",  # it is named after a tensor (QDQ: <tensor>_QuantizeLinear): the layer writing or first reading it
    "reorder",  # a layout conversion OpenVINO inserted before a node: that node's layer
    "folded",  # torch: a module the ONNX export folded away (BatchNorm into its Conv): the layer run before it
    "order",  # a rebuilt op (LSTMSequence, ConvolutionBackpropData) paired in order with a layer of its family
)


@dataclass(frozen=True)
class RuntimeNodeTime:
    """One node (kernel) as a runtime's profiler reports it; ``time_ns`` is its mean per profiled run."""

    name: str
    op_type: str  # the runtime's own op or kernel type (FusedConv, QLinearConv, Convolution, aten::conv2d ...)
    time_ns: float
    originals: tuple[str, ...] = ()  # ONNX node names the runtime says this node stands for
    outputs: tuple[str, ...] = ()  # tensors it writes, where the runtime says
    folded: bool = False  # torch: a module without ONNX nodes of its own (folded away at export)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "op_type": self.op_type, "time_ns": self.time_ns}
        if self.originals:
            out["originals"] = list(self.originals)
        if self.outputs:
            out["outputs"] = list(self.outputs)
        if self.folded:
            out["folded"] = True
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RuntimeNodeTime:
        return cls(str(data["name"]), str(data.get("op_type", "")), float(data.get("time_ns") or 0.0),
                   tuple(data.get("originals") or ()), tuple(data.get("outputs") or ()), bool(data.get("folded")))


@dataclass(frozen=True)
class RuntimeProfile:
    """What one profiling pass of a backend gives (``Backend.profile_layers``)."""

    profiler: str  # e.g. "onnxruntime session profiling (SessionOptions.enable_profiling)"
    runs: int  # profiled runs the node times average over (warm-up runs excluded)
    nodes: tuple[RuntimeNodeTime, ...]  # in execution order
    latency_ns: tuple[int, ...]  # wall time of each profiled run (perf_counter_ns): the overhead, not a result
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class MeasuredLayer:
    """One fused layer of the static profile with the time its runtime nodes took (mean per run)."""

    index: int  # position in the profile's layers (execution order)
    name: str
    op: str  # the profile's anchor op
    family: str | None  # op family of its MACs (profile/kind.py); None for a layer without MACs
    macs: int  # per invocation (the whole batch)
    time_ns: float  # sum of its runtime nodes' times; 0 where the runtime reported none (fused elsewhere)
    runtime_nodes: tuple[str, ...] = ()
    mappings: tuple[str, ...] = ()  # how those nodes were tied to it (MAPPINGS), one per node

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "name": self.name, "op": self.op, "family": self.family, "macs": self.macs,
                "time_ns": self.time_ns, "runtime_nodes": list(self.runtime_nodes), "mappings": list(self.mappings)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MeasuredLayer:
        return cls(int(data["index"]), str(data["name"]), str(data.get("op", "")), data.get("family"),
                   int(data.get("macs") or 0), float(data.get("time_ns") or 0.0),
                   tuple(data.get("runtime_nodes") or ()), tuple(data.get("mappings") or ()))


@dataclass(frozen=True)
class LayerTimes:
    """Per-layer times of one record (``bench --layers``), from a profiling pass after the timed run."""

    profiler: str
    runs: int
    layers: tuple[MeasuredLayer, ...]  # every layer of the profile, in its order
    unmapped: tuple[RuntimeNodeTime, ...] = ()  # runtime nodes tied to no layer, with their times
    profiled_latency_ns: tuple[int, ...] = ()  # wall time of each profiled run (raw, ns)
    collect_wall_ns: int | None = None  # the whole pass: profiling session set-up, runs, reading the trace
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.runs < 1:
            raise ValueError(f"layer times: runs must be positive; got {self.runs!r}")

    @property
    def mapped_ns(self) -> float:
        return sum(layer.time_ns for layer in self.layers)

    @property
    def unmapped_ns(self) -> float:
        return sum(node.time_ns for node in self.unmapped)

    @property
    def kernel_ns(self) -> float:
        """All the time the profiler put on nodes, mapped or not (mean per run)."""
        return self.mapped_ns + self.unmapped_ns

    @property
    def mapped_share(self) -> float | None:
        """Share of the profiler's node time that maps to layers (0..1)."""
        total = self.kernel_ns
        return self.mapped_ns / total if total > 0 else None

    @property
    def profiled_p50_ns(self) -> float | None:
        return float(statistics.median(self.profiled_latency_ns)) if self.profiled_latency_ns else None

    @property
    def kernel_share_of_wall(self) -> float | None:
        """Node time over the profiled runs' median wall time: the rest is the runtime's own work
        between nodes (scheduling, allocation, Python), which no layer owns."""
        wall = self.profiled_p50_ns
        return self.kernel_ns / wall if wall else None

    def overhead_vs(self, timed_p50_ns: float | None) -> float | None:
        """How much slower a profiled run is than a timed one: profiled p50 / timed p50 - 1."""
        wall = self.profiled_p50_ns
        return wall / timed_p50_ns - 1.0 if wall and timed_p50_ns else None

    def slowest(self, limit: int) -> tuple[MeasuredLayer, ...]:
        return tuple(sorted((la for la in self.layers if la.time_ns > 0), key=lambda la: -la.time_ns)[:limit])

    def to_dict(self) -> dict[str, Any]:
        return {"profiler": self.profiler, "runs": self.runs, "layers": [la.to_dict() for la in self.layers],
                "unmapped": [n.to_dict() for n in self.unmapped],
                "profiled_latency_ns": list(self.profiled_latency_ns), "collect_wall_ns": self.collect_wall_ns,
                "notes": list(self.notes), "mapped_ns": self.mapped_ns, "unmapped_ns": self.unmapped_ns,
                "mapped_share": self.mapped_share, "kernel_share_of_wall": self.kernel_share_of_wall}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LayerTimes:
        """Reads what ``to_dict`` wrote (its derived keys are recomputed, not read)."""
        return cls(profiler=str(data.get("profiler", "")), runs=int(data.get("runs") or 1),
                   layers=tuple(MeasuredLayer.from_dict(la) for la in data.get("layers") or ()),
                   unmapped=tuple(RuntimeNodeTime.from_dict(n) for n in data.get("unmapped") or ()),
                   profiled_latency_ns=tuple(int(x) for x in data.get("profiled_latency_ns") or ()),
                   collect_wall_ns=data.get("collect_wall_ns"), notes=tuple(data.get("notes") or ()))
