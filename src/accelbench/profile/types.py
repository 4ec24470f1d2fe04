"""Typed results of static profiling. Pure data: no onnx, no runtime.

Conventions (docs/profiling.md): one MAC = one multiply-accumulate = 2 ops. MACs count only
Conv, ConvTranspose, Gemm, MatMul, Einsum-as-matmul, attention matmuls and RNN gate matmuls;
elementwise, normalisation and pooling work is counted separately as ``other_ops``.
Bytes are at the profile's precision (activations and weights alike).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from accelbench.errors import UserError
from accelbench.profile.ops import ANCHORS
from accelbench.results.unknown_layers import UnknownLayers


@dataclass(frozen=True)
class GemmDims:
    """A layer seen as ``groups`` independent matrix products of (M x K) @ (K x N).

    Conv: M = batch*H_out*W_out, K = C_in/groups*kH*kW, N = C_out/groups. Projection uses these to
    compute how well a layer fills a MAC array (a depthwise conv has K = kH*kW and N = 1).
    """

    m: int
    n: int
    k: int
    groups: int = 1

    @property
    def macs(self) -> int:
        return self.m * self.n * self.k * self.groups


@dataclass(frozen=True)
class LayerProfile:
    """One fused layer: what a runtime executes as one kernel (e.g. Conv+BatchNorm+ReLU)."""

    name: str
    op: str  # the anchor op: Conv, Gemm, MatMul, ... or the op itself for a stand-alone layer
    fused_ops: tuple[str, ...]  # every ONNX op folded into this layer, anchor first
    macs: int
    other_ops: int  # elementwise/pooling/normalisation ops (not MACs)
    params: int
    weight_bytes: int
    input_bytes: int  # activation bytes read (graph weights excluded)
    output_bytes: int  # activation bytes written
    output_shape: tuple[int, ...]
    gemm: GemmDims | None = None  # None for layers with no MACs
    unknown_op: bool = False  # True when the profiler does not know the op: counted as 0 MACs
    shape_unknown: bool = False  # True when a tensor shape could not be inferred: its bytes count as 0
    macs_unknown: bool = False  # a MAC op whose operand shapes stayed unknown: its MACs count as 0
    # ONNX node names this layer stands for at run time (runtime profilers report these): the fused
    # nodes in order, then the views (Reshape, Flatten, ...) of its output; unnamed nodes are left out.
    nodes: tuple[str, ...] = ()

    @property
    def is_mac_layer(self) -> bool:
        return self.op in ANCHORS

    @property
    def unknown(self) -> bool:
        return self.shape_unknown or self.unknown_op or self.macs_unknown

    @property
    def bytes_moved(self) -> int:
        """Bytes moved if nothing is cached: weights + input + output activations."""
        return self.weight_bytes + self.input_bytes + self.output_bytes

    @property
    def arithmetic_intensity(self) -> float:
        """MACs per byte moved if nothing is cached."""
        moved = self.bytes_moved
        return self.macs / moved if moved else 0.0

    def to_dict(self) -> dict:
        data = asdict(self)
        data["fused_ops"] = list(self.fused_ops)
        data["nodes"] = list(self.nodes)
        data["output_shape"] = list(self.output_shape)
        data["arithmetic_intensity"] = self.arithmetic_intensity
        return data


@dataclass(frozen=True)
class ModelProfile:
    """Whole-model figures derived from the layers, plus liveness over the execution order."""

    model: str
    input_shapes: dict[str, tuple[int, ...]]
    precision: str
    batch: int
    layers: tuple[LayerProfile, ...]
    largest_activation_elements: int
    largest_activation_bytes: int
    peak_live_activation_bytes: int
    input_bytes: int = 0  # the graph inputs, at the profile's precision
    output_bytes: int = 0  # the graph outputs
    unknown_ops: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())
    output_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)  # graph outputs with a known shape
    network_kind: str = ""  # cnn, detector, dense-prediction, rnn, transformer, ... (profile/kind.py)

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def other_ops(self) -> int:
        return sum(layer.other_ops for layer in self.layers)

    @property
    def params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @property
    def weight_bytes(self) -> int:
        return sum(layer.weight_bytes for layer in self.layers)

    @property
    def layer_count(self) -> int:
        return len(self.layers)

    @property
    def unknown_layers(self) -> UnknownLayers:
        """How many layers (and MAC layers) kept an unknown shape or op: the profile's blind spots."""
        return UnknownLayers(
            layers=sum(1 for layer in self.layers if layer.unknown), total_layers=len(self.layers),
            mac_layers=sum(1 for layer in self.layers if layer.is_mac_layer and layer.macs_unknown),
            total_mac_layers=sum(1 for layer in self.layers if layer.is_mac_layer),
            unknown_ops=self.unknown_ops, macs=self.macs)

    def require_counted_macs(self, purpose: str) -> None:
        """Refuse (UserError) a profile with no MAC counted: ``purpose`` (projections, utilization)
        would be made of nothing. A partly counted profile passes; callers say so loudly."""
        unknown = self.unknown_layers
        if unknown.macs_counted:
            return
        why = (f"{unknown.mac_layers} of {unknown.total_mac_layers} MAC layers have unknown shapes"
               if unknown.mac_layers else "it has no Conv/MatMul/Gemm layer the profiler can count")
        raise UserError(f"model: {self.model!r} profiles at 0 MACs ({why}; {unknown.layers} of "
                        f"{unknown.total_layers} layers unknown), so {purpose} would mean nothing; fix its "
                        "dynamic dims with --input-shape NAME=DIMS and check `accelbench profile` first")

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "input_shapes": {k: list(v) for k, v in self.input_shapes.items()},
            "output_shapes": {k: list(v) for k, v in self.output_shapes.items()},
            "network_kind": self.network_kind,
            "precision": self.precision,
            "batch": self.batch,
            "macs": self.macs,
            "other_ops": self.other_ops,
            "params": self.params,
            "weight_bytes": self.weight_bytes,
            "layer_count": self.layer_count,
            "largest_activation_elements": self.largest_activation_elements,
            "largest_activation_bytes": self.largest_activation_bytes,
            "peak_live_activation_bytes": self.peak_live_activation_bytes,
            "input_bytes": self.input_bytes,
            "output_bytes": self.output_bytes,
            "unknown_ops": list(self.unknown_ops),
            "unknown_layers": self.unknown_layers.to_dict(),
            "warnings": list(self.warnings),
            "layers": [layer.to_dict() for layer in self.layers],
        }
