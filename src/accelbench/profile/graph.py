"""Shapes and dtypes of every tensor of an ONNX graph, by onnx's shape inference.

Inference runs on a light copy of the model: initializers larger than a few thousand elements keep
only their dims (shape inference never reads them), so a user's 250 MB model is not copied twice.
Order of attempts: plain inference (strict off); when a known op's output is still unknown, again
with onnx's data propagation; then, with the input shapes fixed, the graph's shape arithmetic is
*evaluated* (Shape -> Gather -> Concat -> Reshape chains, as torch exports with dynamic axes write
them): every small tensor computable from constants and known shapes gets its concrete value from
onnx's reference operators (pure numpy, no onnxruntime needed) and inference runs again with those
values as constants, until nothing new is learned. Ops the profiler does not know get their first
input's shape (a guess, flagged) so that inference can continue behind them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

from accelbench.onnxgraph import skeleton_copy
from accelbench.profile.ops import CONTROL_FLOW, KNOWN_OPS, RANDOM_OPS, STANDARD_DOMAINS

Shape = tuple[int, ...]

# Initializers up to this many elements keep their data: shapes, axes, scales for inference.
_KEEP_DATA_ELEMENTS = 4096
# Shape arithmetic is evaluated only on tensors this small (shapes, indices, scales; never activations).
_FOLD_MAX_ELEMENTS = 4096
# Rounds of "evaluate what became computable, infer again"; each round resolves at least one more tensor.
_MAX_ROUNDS = 16
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
    """Static dims of a value, or None when the rank or any dim is unknown. A negative dim (shape
    inference's arithmetic on a kernel or dilation larger than its input) is unknown too, never a
    negative MAC count."""
    tensor_type = value_info.type.tensor_type
    if not value_info.type.HasField("tensor_type") or not tensor_type.HasField("shape"):
        return None
    dims = []
    for d in tensor_type.shape.dim:
        if not d.HasField("dim_value") or d.dim_value < 0:
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
    try:
        inferred = _infer(light, data_prop=False)
        _collect(inferred, out)
        if _missing_outputs(inferred.graph, out.shapes, known_only=True):
            inferred = _infer(light, data_prop=True)
            _collect(inferred, out)
        _resolve_rest(light, inferred, out)
    except Exception as exc:  # inconsistent graphs: keep what is known, flag the rest
        detail = " ".join(str(exc).split())[:160]
        out.warnings.append(f"shape inference stopped early ({detail}); unknown tensors count as 0 bytes")
    out.graph = light.graph
    return out


def _resolve_rest(light: onnx.ModelProto, inferred: onnx.ModelProto, out: GraphShapes) -> None:
    """Rounds of: evaluate the shape arithmetic that became computable, guess the shapes behind
    unknown ops; infer again on a working copy holding those values and guesses, until a round
    learns nothing. The profiled graph (``light``) keeps its nodes."""
    folder = _ShapeFolder(light)
    guesses: list[onnx.ValueInfoProto] = []
    for _ in range(_MAX_ROUNDS):
        if not _missing_outputs(inferred.graph, out.shapes, known_only=False):
            return
        learned = folder.fold(out.shapes)
        new_guesses = [] if learned else _guess_unknown_ops(inferred.graph, out)
        if not learned and not new_guesses:
            return
        for vi in new_guesses:
            out.guessed.add(vi.name)
            out.shapes[vi.name] = value_shape(vi)
        guesses.extend(new_guesses)
        working = folder.working_model(guesses)
        inferred = _infer(working, data_prop=True)
        _collect(inferred, out)


def _guess_unknown_ops(graph: onnx.GraphProto, out: GraphShapes) -> list[onnx.ValueInfoProto]:
    """Ops unknown to onnx stop inference: assume they keep their first input's shape."""
    guesses = []
    for node, name in _missing_outputs(graph, out.shapes, known_only=False):
        if is_known_op(node) or name != node.output[0] or not node.input:
            continue
        src = out.shapes.get(node.input[0])
        if src is not None:
            guesses.append(onnx.helper.make_tensor_value_info(
                name, out.dtypes.get(node.input[0], TensorProto.FLOAT), list(src)))
    return guesses


class _ShapeFolder:
    """Concrete values of a graph's small tensors: constants, shapes of tensors whose shape is known,
    and every node computed from those alone (onnx's reference operators evaluate it)."""

    def __init__(self, light: onnx.ModelProto):
        self.model = light
        self.opset = next((o.version for o in light.opset_import if o.domain in STANDARD_DOMAINS), 17)
        self.values: dict[str, np.ndarray] = {}
        self.failed: set[int] = set()  # nodes the reference operators could not evaluate
        self._ops: dict[str, type | None] = {}
        for t in light.graph.initializer:
            if 0 < math.prod(t.dims) <= _FOLD_MAX_ELEMENTS and _has_data(t):
                self.values[t.name] = numpy_helper.to_array(t)
        for node in light.graph.node:
            if node.op_type == "Constant" and node.domain in STANDARD_DOMAINS:
                value = _constant_value(node)
                if value is not None and value.size <= _FOLD_MAX_ELEMENTS:
                    self.values[node.output[0]] = value

    def fold(self, shapes: dict[str, Shape | None]) -> int:
        """Evaluate every node now computable (graph order); returns how many tensors got a value."""
        learned = 0
        for i, node in enumerate(self.model.graph.node):
            outputs = [t for t in node.output if t]
            if (i in self.failed or not outputs or all(t in self.values for t in outputs)
                    or node.domain not in STANDARD_DOMAINS or node.op_type in RANDOM_OPS
                    or node.op_type in CONTROL_FLOW or node.op_type == "Constant"):
                continue
            results = self._evaluate(i, node, shapes)
            if results is None:
                continue
            for name, value in zip(node.output, results):
                if name and value is not None and value.size <= _FOLD_MAX_ELEMENTS:
                    self.values[name] = value
                    learned += 1
        return learned

    def _evaluate(self, i: int, node: onnx.NodeProto, shapes) -> list | None:
        inputs = list(node.input)
        if node.op_type in ("Shape", "Size"):
            shape = shapes.get(inputs[0]) if inputs else None
            if shape is None:
                return None
            if node.op_type == "Size":
                return [np.array(math.prod(shape), dtype=np.int64)]
            attrs = {a.name: a.i for a in node.attribute}
            start, end = attrs.get("start", 0), attrs.get("end", len(shape))
            return [np.array(shape[slice(start, end)], dtype=np.int64)]
        present = [t for t in inputs if t]
        if not present or any(t not in self.values for t in present) or self._too_large(node, shapes):
            return None
        op = self._op_class(node)
        if op is None:
            self.failed.add(i)
            return None
        try:
            params = {"opsets": {"": self.opset}, "new_ops": None, "log": lambda *args: None, "verbose": 0}
            results = op(node, params).run(*[self.values[t] if t else None for t in inputs])
        except Exception:  # an op the reference cannot run on these values: leave it to inference
            self.failed.add(i)
            return None
        return [np.asarray(r) if r is not None else None for r in results]

    def _too_large(self, node: onnx.NodeProto, shapes) -> bool:
        """Whether the node would make a tensor too big to fold (an activation, not shape arithmetic):
        known from inference, or for the ops that generate tensors, from their input values."""
        limit = _FOLD_MAX_ELEMENTS
        if any(shapes.get(t) is not None and math.prod(shapes[t]) > limit for t in node.output if t):
            return True
        values = [self.values.get(t) for t in node.input]
        try:
            if node.op_type == "ConstantOfShape":
                return math.prod(int(d) for d in values[0].ravel()) > limit
            if node.op_type == "Range":
                start, stop, step = (float(v) for v in values[:3])
                return step == 0 or (stop - start) / step > limit
            if node.op_type == "Expand":
                target = tuple(int(d) for d in values[1].ravel())
                return math.prod(np.broadcast_shapes(values[0].shape, target)) > limit
            if node.op_type == "Tile":
                return math.prod(int(a) * int(b) for a, b in zip(values[0].shape, values[1].ravel())) > limit
        except (TypeError, ValueError):  # values that do not fit the op: leave it to inference
            return True
        return False

    def _op_class(self, node: onnx.NodeProto):
        if node.op_type not in self._ops:
            # onnx's reference operators take ~0.4 s to import; only graphs with shape arithmetic need them
            from onnx.reference.ops import load_op

            try:
                self._ops[node.op_type] = load_op("", node.op_type, self.opset)
            except Exception:  # no reference implementation
                self._ops[node.op_type] = None
        return self._ops[node.op_type]

    def working_model(self, guesses: list[onnx.ValueInfoProto]) -> onnx.ModelProto:
        """``light`` with every evaluated node replaced by Constants holding its values, plus the guesses."""
        working = onnx.ModelProto()
        working.CopyFrom(self.model)
        del working.graph.node[:]
        for node in self.model.graph.node:
            outputs = [t for t in node.output if t]
            if node.op_type != "Constant" and outputs and all(t in self.values for t in outputs):
                for t in outputs:
                    working.graph.node.append(onnx.helper.make_node(
                        "Constant", [], [t], value=numpy_helper.from_array(self.values[t], name=t)))
            else:
                working.graph.node.append(node)
        working.graph.value_info.extend(guesses)
        return working


def _has_data(tensor: onnx.TensorProto) -> bool:
    if tensor.data_location == TensorProto.EXTERNAL:
        return False
    return bool(tensor.raw_data or tensor.float_data or tensor.int32_data or tensor.int64_data
                or tensor.double_data or tensor.uint64_data or tensor.string_data)


def _constant_value(node: onnx.NodeProto) -> np.ndarray | None:
    for attr in node.attribute:
        if attr.name == "value":
            return numpy_helper.to_array(attr.t) if _has_data(attr.t) or not math.prod(attr.t.dims) else None
        if attr.name == "value_ints":
            return np.array(list(attr.ints), dtype=np.int64)
        if attr.name == "value_int":
            return np.array(attr.i, dtype=np.int64)
        if attr.name == "value_floats":
            return np.array(list(attr.floats), dtype=np.float32)
        if attr.name == "value_float":
            return np.array(attr.f, dtype=np.float32)
    return None


_BROADCAST_OPS = frozenset({"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Equal", "Greater", "Less",
                            "Where", "And", "Or", "PRelu"})


def shape_conflicts(facts: GraphShapes) -> list[str]:
    """Nodes whose known input shapes cannot go together, in words: at these input shapes the graph
    cannot run (typically a size written into the graph when it was exported). Checked: Reshape keeps
    the element count; MatMul and Gemm inner dims agree; Conv gets the channels its weight expects;
    Concat's other dims agree; binary elementwise ops broadcast."""
    found = []
    for node in facts.graph.node:
        # Shapes guessed behind an unknown op prove nothing.
        if node.domain not in STANDARD_DOMAINS or any(t in facts.guessed for t in node.input):
            continue
        shapes = [facts.shapes.get(t) if t else None for t in node.input]
        problem = _node_conflict(node, shapes, facts.shapes.get(node.output[0]) if node.output else None)
        if problem:
            found.append(f"{node.op_type} node {node.name or node.output[0]!r} {problem}")
    return found


def _dims_text(shape) -> str:
    return "x".join(str(d) for d in shape) if shape else "a scalar"


def _node_conflict(node: onnx.NodeProto, shapes: list, out: Shape | None) -> str | None:
    op = node.op_type
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute
             if a.type in (onnx.AttributeProto.INT, onnx.AttributeProto.INTS)}
    first = shapes[0] if shapes else None
    second = shapes[1] if len(shapes) > 1 else None
    if op == "Reshape" and first is not None and out is not None and math.prod(first) != math.prod(out):
        return (f"turns {_dims_text(first)} ({math.prod(first):,} elements) into {_dims_text(out)} "
                f"({math.prod(out):,}): a size fixed in the graph")
    if op == "MatMul" and first and second:
        k_a = first[-1]
        k_b = second[-2] if len(second) > 1 else second[0]
        if k_a != k_b:
            return f"multiplies {_dims_text(first)} by {_dims_text(second)}: inner dims {k_a} and {k_b} differ"
    if op == "Gemm" and first is not None and second is not None and len(first) == 2 and len(second) == 2:
        k_a = first[0] if attrs.get("transA") else first[1]
        k_b = second[1] if attrs.get("transB") else second[0]
        if k_a != k_b:
            return f"multiplies {_dims_text(first)} by {_dims_text(second)}: inner dims {k_a} and {k_b} differ"
    if op == "Conv" and first is not None and second is not None and len(first) >= 2 and len(second) >= 2:
        expected = second[1] * int(attrs.get("group", 1))
        if first[1] != expected:
            return f"gets {first[1]} input channels ({_dims_text(first)}); its weight expects {expected}"
    if op == "Concat" and all(s is not None for s in shapes) and len({len(s) for s in shapes}) == 1 and shapes:
        axis = int(attrs.get("axis", 0)) % len(shapes[0]) if shapes[0] else 0
        others = {tuple(d for i, d in enumerate(s) if i != axis) for s in shapes}
        if len(others) > 1:
            return f"joins {', '.join(_dims_text(s) for s in shapes)} along axis {axis}: the other dims differ"
    if op in _BROADCAST_OPS and len(shapes) >= 2 and all(s is not None for s in shapes):
        for i in range(1, max(len(s) for s in shapes) + 1):
            dims = {s[-i] for s in shapes if len(s) >= i} - {1}
            if len(dims) > 1:
                return f"cannot broadcast {' and '.join(_dims_text(s) for s in shapes)}"
    return None


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
