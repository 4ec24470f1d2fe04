"""Shapes and dtypes of every tensor of an ONNX graph, by onnx's shape inference.

Inference runs on a light copy of the model: initializers larger than a few thousand elements keep
only their dims (shape inference never reads them), so a user's 250 MB model is not copied twice.
Order of attempts: plain inference (strict off); when a known op's output is still unknown, again
with onnx's data propagation; ops the profiler does not know get their first input's shape (a guess,
flagged) so that inference can continue behind them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import onnx
from onnx import TensorProto

from accelbench.onnxgraph import skeleton_copy
from accelbench.profile.ops import KNOWN_OPS, STANDARD_DOMAINS

Shape = tuple[int, ...]

# Initializers up to this many elements keep their data: shapes, axes, scales for inference.
_KEEP_DATA_ELEMENTS = 4096
_INDEX_TYPES = frozenset({TensorProto.INT64, TensorProto.INT32, TensorProto.UINT64, TensorProto.UINT32})

FLOAT_TYPES = frozenset({
    TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.BFLOAT16, TensorProto.DOUBLE,
    getattr(TensorProto, "FLOAT8E4M3FN", -1), getattr(TensorProto, "FLOAT8E4M3FNUZ", -1),
    getattr(TensorProto, "FLOAT8E5M2", -1), getattr(TensorProto, "FLOAT8E5M2FNUZ", -1),
    TensorProto.UNDEFINED,
})
# Storage bytes of non-float tensors (ids, masks, quantized data): they keep their own size.
DTYPE_BYTES = {
    TensorProto.INT64: 8, TensorProto.UINT64: 8, TensorProto.INT32: 4, TensorProto.UINT32: 4,
    TensorProto.INT16: 2, TensorProto.UINT16: 2, TensorProto.INT8: 1, TensorProto.UINT8: 1,
    TensorProto.BOOL: 1, TensorProto.COMPLEX64: 8, TensorProto.COMPLEX128: 16,
}


def is_known_op(node: onnx.NodeProto) -> bool:
    return node.domain in STANDARD_DOMAINS and node.op_type in KNOWN_OPS


def op_label(node: onnx.NodeProto) -> str:
    return node.op_type if node.domain in STANDARD_DOMAINS else f"{node.domain}.{node.op_type}"


@dataclass
class GraphShapes:
    """The graph that was profiled (possibly with local functions inlined) and its tensor facts."""

    graph: onnx.GraphProto
    shapes: dict[str, Shape | None]
    dtypes: dict[str, int]
    initializer_dims: dict[str, Shape]
    guessed: set[str] = field(default_factory=set)  # tensors whose shape was assumed (unknown op)
    warnings: list[str] = field(default_factory=list)


def light_copy(proto: onnx.ModelProto) -> onnx.ModelProto:
    """The model without bulky initializer data (dims kept): all shape inference needs."""
    light = skeleton_copy(proto)
    src, dst = proto.graph, light.graph
    for tensor in src.initializer:
        if tensor.data_type in _INDEX_TYPES or math.prod(tensor.dims) <= _KEEP_DATA_ELEMENTS:
            dst.initializer.append(tensor)
        else:
            slim = dst.initializer.add()
            slim.name = tensor.name
            slim.data_type = tensor.data_type
            slim.dims.extend(tensor.dims)
    return light


def value_shape(value_info: onnx.ValueInfoProto) -> Shape | None:
    """Static dims of a value, or None when the rank or any dim is unknown."""
    tensor_type = value_info.type.tensor_type
    if not value_info.type.HasField("tensor_type") or not tensor_type.HasField("shape"):
        return None
    dims = []
    for d in tensor_type.shape.dim:
        if not d.HasField("dim_value"):
            return None
        dims.append(int(d.dim_value))
    return tuple(dims)


def _infer(model: onnx.ModelProto, data_prop: bool) -> onnx.ModelProto:
    return onnx.shape_inference.infer_shapes(model, check_type=False, strict_mode=False, data_prop=data_prop)


def _collect(model: onnx.ModelProto, out: GraphShapes) -> None:
    g = model.graph
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        shape = value_shape(vi)
        if shape is not None or vi.name not in out.shapes:
            out.shapes[vi.name] = shape
        if vi.type.tensor_type.elem_type:
            out.dtypes[vi.name] = vi.type.tensor_type.elem_type


def _missing_outputs(graph: onnx.GraphProto, shapes: dict[str, Shape | None], known_only: bool) -> list:
    missing = []
    for node in graph.node:
        if known_only and not is_known_op(node):
            continue
        for name in node.output:
            if name and shapes.get(name) is None:
                missing.append((node, name))
    return missing


def infer_graph_shapes(light: onnx.ModelProto) -> GraphShapes:
    """Run shape inference on ``light`` (a light_copy with static inputs) and gather every tensor's facts."""
    if len(light.functions):
        try:  # onnx.inliner is newer than the oldest onnx accelbench accepts
            from onnx import inliner

            light = inliner.inline_local_functions(light)
        except Exception:  # an old onnx without the inliner: function calls stay unknown ops
            pass
    out = GraphShapes(light.graph, {}, {}, {})
    for t in light.graph.initializer:
        out.initializer_dims[t.name] = tuple(int(d) for d in t.dims)
        out.shapes[t.name] = tuple(int(d) for d in t.dims)
        out.dtypes[t.name] = t.data_type
    for node in light.graph.node:
        if node.op_type == "Constant" and node.domain in STANDARD_DOMAINS:
            dims, dtype = _constant_dims(node)
            out.initializer_dims[node.output[0]] = dims
            out.shapes[node.output[0]] = dims
            out.dtypes[node.output[0]] = dtype
    inferred = light
    try:
        inferred = _infer(light, data_prop=False)
        _collect(inferred, out)
        if _missing_outputs(inferred.graph, out.shapes, known_only=True):
            inferred = _infer(light, data_prop=True)
            _collect(inferred, out)
        # Ops unknown to onnx stop inference; assume they keep their first input's shape and retry.
        for _ in range(8):
            guesses = []
            for node, name in _missing_outputs(inferred.graph, out.shapes, known_only=False):
                if is_known_op(node) or name != node.output[0] or not node.input:
                    continue
                src = out.shapes.get(node.input[0])
                if src is not None:
                    guesses.append(onnx.helper.make_tensor_value_info(
                        name, out.dtypes.get(node.input[0], TensorProto.FLOAT), list(src)))
            if not guesses:
                break
            for vi in guesses:
                out.guessed.add(vi.name)
                out.shapes[vi.name] = value_shape(vi)
            light.graph.value_info.extend(guesses)
            inferred = _infer(light, data_prop=True)
            _collect(inferred, out)
    except Exception as exc:  # inconsistent graphs: keep what is known, flag the rest
        detail = " ".join(str(exc).split())[:160]
        out.warnings.append(f"shape inference stopped early ({detail}); unknown tensors count as 0 bytes")
    out.graph = light.graph
    return out


def _constant_dims(node: onnx.NodeProto) -> tuple[Shape, int]:
    for attr in node.attribute:
        if attr.name == "value":
            return tuple(int(d) for d in attr.t.dims), attr.t.data_type
        if attr.name == "sparse_value":
            return tuple(int(d) for d in attr.sparse_tensor.dims), attr.sparse_tensor.values.data_type
        if attr.name in ("value_floats", "value_ints", "value_strings"):
            n = len(attr.floats or attr.ints or attr.strings)
            dtype = {"value_floats": TensorProto.FLOAT, "value_ints": TensorProto.INT64}.get(
                attr.name, TensorProto.STRING)
            return (n,), dtype
        if attr.name in ("value_float", "value_int", "value_string"):
            dtype = {"value_float": TensorProto.FLOAT, "value_int": TensorProto.INT64}.get(
                attr.name, TensorProto.STRING)
            return (), dtype
    return (), TensorProto.UNDEFINED
