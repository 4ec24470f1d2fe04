"""Per-op cost rules of the static profiler: which ops are MAC anchors, which fuse into them, and
how MACs, GemmDims and "other ops" are counted. Pure: shapes in, integers out (no onnx import).

Conventions (docs/profiling.md):
- One MAC = one multiply-accumulate. Only anchors (Conv, ConvTranspose, Gemm, MatMul, Einsum with a
  contracted index, LSTM/GRU/RNN and their quantized forms) have MACs.
- ``other_ops``: 1 op per output element for every elementwise op (BatchNormalization: 2, scale and
  shift); pooling: kernel-size ops per output element (global pooling: one per input element);
  Softmax/LogSoftmax: 5 per element (max, subtract, exp, sum, divide); LayerNormalization and the
  other normalisations: 7 per element (mean, subtract, square, sum, scale, multiply, shift);
  reductions: 1 per input element; Resize: 0 for nearest (a copy), 2**axes per output element for
  linear, 4**axes for cubic; bias of Conv/Gemm: 1 per output element; data movement: 0.
"""

from __future__ import annotations

import math
from typing import Sequence

Shape = tuple[int, ...]

# Ops that carry MACs and anchor a fused layer: op -> (data input, weight/second operand, bias input).
ANCHORS: dict[str, tuple[int, int, int | None]] = {
    "Conv": (0, 1, 2),
    "ConvTranspose": (0, 1, 2),
    "ConvInteger": (0, 1, None),
    "QLinearConv": (0, 3, 8),
    "Gemm": (0, 1, 2),
    "MatMul": (0, 1, None),
    "MatMulInteger": (0, 1, None),
    "QLinearMatMul": (0, 3, None),
    "Einsum": (0, 1, None),
    "LSTM": (0, 1, 3),
    "GRU": (0, 1, 3),
    "RNN": (0, 1, 3),
}
RNN_OPS = {"LSTM": 4, "GRU": 3, "RNN": 1}  # gates per hidden unit
# State-update ops per hidden unit and time step, after the gate activations.
RNN_STATE_OPS = {"LSTM": 5, "GRU": 4, "RNN": 0}

UNARY_ELEMENTWISE = frozenset({
    "Relu", "LeakyRelu", "PRelu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Elu", "Selu",
    "Celu", "Softplus", "Softsign", "Mish", "Gelu", "Erf", "Exp", "Log", "Sqrt", "Reciprocal", "Neg",
    "Abs", "Floor", "Ceil", "Round", "Sign", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh",
    "Cosh", "Asinh", "Acosh", "Atanh", "Not", "Cast", "CastLike", "ThresholdedRelu", "Shrink", "IsNaN",
    "IsInf", "BatchNormalization", "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear",
    "Swish",
})
BINARY_ELEMENTWISE = frozenset({
    "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Mod", "Sum", "Mean", "And", "Or", "Xor", "Equal",
    "Greater", "Less", "GreaterOrEqual", "LessOrEqual", "Where", "BitShift", "BitwiseAnd", "BitwiseOr",
    "BitwiseXor", "BitwiseNot",
})
ELEMENTWISE = UNARY_ELEMENTWISE | BINARY_ELEMENTWISE
# Elementwise ops that may take a second activation when fused: the residual add (conv+add+relu).
RESIDUAL_OPS = frozenset({"Add", "Sum"})

POOLING = frozenset({"MaxPool", "AveragePool", "LpPool"})
GLOBAL_POOLING = frozenset({"GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"})
NORMALISATION = frozenset({
    "LayerNormalization", "InstanceNormalization", "GroupNormalization", "LpNormalization",
    "MeanVarianceNormalization", "RMSNormalization", "LRN",
})
SOFTMAX = frozenset({"Softmax", "LogSoftmax", "Hardmax"})
REDUCE = frozenset({
    "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
    "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare", "ArgMax", "ArgMin", "CumSum", "TopK",
})
RESIZE = frozenset({"Resize", "Upsample"})
# Pure data movement: bytes in and out, no arithmetic.
MOVEMENT = frozenset({
    "Concat", "Split", "Slice", "Transpose", "Gather", "GatherElements", "GatherND", "ScatterND",
    "ScatterElements", "Scatter", "Pad", "Tile", "Expand", "DepthToSpace", "SpaceToDepth", "Compress",
    "ReverseSequence", "OneHot", "NonZero", "Trilu", "CenterCropPad", "SplitToSequence",
    "ConcatFromSequence", "SequenceAt", "SequenceConstruct", "SequenceEmpty", "SequenceInsert",
    "SequenceErase", "SequenceLength", "Unique", "Col2Im", "ImageDecoder",
})
# Views: the output is the input buffer reinterpreted (no kernel, no copy): not a layer.
VIEWS = frozenset({"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout"})
# Produce shape-like data; folded as constants when their inputs are known.
SHAPE_OPS = frozenset({"Shape", "Size", "Constant", "ConstantOfShape", "Range", "EyeLike"})
MISC_OTHER = frozenset({
    "NonMaxSuppression", "RoiAlign", "MaxRoiPool", "MaxUnpool", "GridSample", "AffineGrid", "Det",
    "Einsum", "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial",
    "Bernoulli", "DFT", "STFT", "HannWindow", "HammingWindow", "BlackmanWindow", "MelWeightMatrix",
    "StringNormalizer", "TfIdfVectorizer", "RegexFullMatch", "StringConcat", "StringSplit",
    "Optional", "OptionalGetElement", "OptionalHasElement", "Dropout",
})
CONTROL_FLOW = frozenset({"If", "Loop", "Scan"})
RANDOM_OPS = frozenset({"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
                        "Multinomial", "Bernoulli"})

KNOWN_OPS = (set(ANCHORS) | ELEMENTWISE | POOLING | GLOBAL_POOLING | NORMALISATION | SOFTMAX | REDUCE
             | RESIZE | MOVEMENT | VIEWS | SHAPE_OPS | MISC_OTHER | CONTROL_FLOW)
STANDARD_DOMAINS = frozenset({"", "ai.onnx"})

# Input slots that never hold parameters (shapes, axes, scales, running statistics, zero points, states).
NON_PARAM_SLOTS: dict[str, frozenset[int]] = {
    "BatchNormalization": frozenset({3, 4}),
    "Reshape": frozenset({1}),
    "Resize": frozenset({1, 2, 3}),
    "Upsample": frozenset({1}),
    "Clip": frozenset({1, 2}),
    "Pad": frozenset({1, 2, 3}),
    "Slice": frozenset({1, 2, 3, 4}),
    "Tile": frozenset({1}),
    "Expand": frozenset({1}),
    "Squeeze": frozenset({1}),
    "Unsqueeze": frozenset({1}),
    "Split": frozenset({1}),
    "TopK": frozenset({1}),
    "CumSum": frozenset({1}),
    "Gather": frozenset({1}),
    "GatherElements": frozenset({1}),
    "GatherND": frozenset({1}),
    "OneHot": frozenset({0, 1, 2}),
    "Where": frozenset({0}),
    "QuantizeLinear": frozenset({1, 2}),
    "DequantizeLinear": frozenset({1, 2}),
    "QLinearConv": frozenset({1, 2, 4, 5, 6, 7}),
    "QLinearMatMul": frozenset({1, 2, 4, 5, 6, 7}),
    "ConvInteger": frozenset({2, 3}),
    "MatMulInteger": frozenset({2, 3}),
    "LSTM": frozenset({4, 5, 6}),
    "GRU": frozenset({4, 5}),
    "RNN": frozenset({4, 5}),
    "ConstantOfShape": frozenset({0}),
    "Range": frozenset({0, 1, 2}),
    "NonMaxSuppression": frozenset({2, 3, 4}),
}
for _op in REDUCE:
    NON_PARAM_SLOTS.setdefault(_op, frozenset({1}))


class Cost:
    """What one node costs: MACs, GEMM view, other ops; ``shape_unknown`` when a needed shape is missing."""

    __slots__ = ("macs", "other_ops", "gemm", "shape_unknown")

    def __init__(self, macs: int = 0, other_ops: int = 0, gemm: tuple[int, int, int, int] | None = None,
                 shape_unknown: bool = False):
        self.macs = macs
        self.other_ops = other_ops
        self.gemm = gemm  # (m, n, k, groups)
        self.shape_unknown = shape_unknown


def numel(shape: Sequence[int] | None) -> int:
    return math.prod(shape) if shape is not None else 0


def _get(shapes: Sequence[Shape | None], i: int | None) -> Shape | None:
    if i is None or i >= len(shapes):
        return None
    return shapes[i]


def node_cost(op: str, attrs: dict, in_shapes: Sequence[Shape | None], out_shapes: Sequence[Shape | None],
              present: Sequence[bool]) -> Cost:
    """Cost of one node. ``present[i]`` tells whether optional input i is given (non-empty name)."""
    if op in ANCHORS:
        return _anchor_cost(op, attrs, in_shapes, out_shapes, present)
    out = _get(out_shapes, 0)
    if op in ELEMENTWISE:
        if out is None:
            return Cost(shape_unknown=True)
        return Cost(other_ops=numel(out) * (2 if op == "BatchNormalization" else 1))
    if op in POOLING:
        kernel = attrs.get("kernel_shape") or ()
        if out is None:
            return Cost(shape_unknown=True)
        return Cost(other_ops=numel(out) * math.prod(kernel))
    if op in GLOBAL_POOLING or op in REDUCE:
        x = _get(in_shapes, 0)
        if x is None:
            return Cost(shape_unknown=True)
        return Cost(other_ops=numel(x))
    if op in SOFTMAX:
        return Cost(shape_unknown=True) if out is None else Cost(other_ops=5 * numel(out))
    if op in NORMALISATION:
        return Cost(shape_unknown=True) if out is None else Cost(other_ops=7 * numel(out))
    if op in RESIZE:
        if out is None:
            return Cost(shape_unknown=True)
        mode = attrs.get("mode", b"nearest")
        mode = mode.decode() if isinstance(mode, bytes) else str(mode)
        x = _get(in_shapes, 0)
        axes = sum(1 for a, b in zip(x, out) if a != b) if x is not None and len(x) == len(out) else 2
        per = {"nearest": 0, "linear": 2 ** axes, "cubic": 4 ** axes}.get(mode, 1)
        return Cost(other_ops=per * numel(out))
    if op in MOVEMENT or op in VIEWS or op in SHAPE_OPS or op in CONTROL_FLOW:
        return Cost()
    # Remaining known ops (NMS, RoiAlign, ...): one op per output element.
    return Cost() if out is None else Cost(other_ops=numel(out))


def _anchor_cost(op, attrs, in_shapes, out_shapes, present) -> Cost:
    data_i, weight_i, bias_i = ANCHORS[op]
    x = _get(in_shapes, data_i)
    w = _get(in_shapes, weight_i)
    out = _get(out_shapes, 0)
    has_bias = bias_i is not None and bias_i < len(present) and present[bias_i]
    if op in ("Conv", "ConvInteger", "QLinearConv"):
        if w is None or out is None or len(w) < 3 or len(out) != len(w):
            return Cost(shape_unknown=True)
        groups = int(attrs.get("group", 1))
        if groups < 1:  # an invalid graph (group 0 or negative): no MACs to count
            return Cost(shape_unknown=True)
        batch, cout = out[0], out[1]
        spatial = math.prod(out[2:])
        k = w[1] * math.prod(w[2:])
        gemm = (batch * spatial, cout // groups, k, groups)
        macs = batch * cout * spatial * k
        return Cost(macs, numel(out) if has_bias else 0, gemm)
    if op == "ConvTranspose":
        if w is None or x is None or out is None or len(w) < 3 or len(x) != len(w):
            return Cost(shape_unknown=True)
        groups = int(attrs.get("group", 1))
        if groups < 1:
            return Cost(shape_unknown=True)
        batch, cin = x[0], x[1]
        spatial = math.prod(x[2:])
        n = w[1] * math.prod(w[2:])  # output channels per group times kernel taps
        gemm = (batch * spatial, n, cin // groups, groups)
        macs = batch * spatial * cin * n
        return Cost(macs, numel(out) if has_bias else 0, gemm)
    if op == "Gemm":
        if x is None or w is None or len(x) != 2 or len(w) != 2:
            return Cost(shape_unknown=True)
        m, k = (x[1], x[0]) if attrs.get("transA", 0) else (x[0], x[1])
        n = w[0] if attrs.get("transB", 0) else w[1]
        return Cost(m * n * k, m * n if has_bias else 0, (m, n, k, 1))
    if op in ("MatMul", "MatMulInteger", "QLinearMatMul"):
        return _matmul_cost(x, w)
    if op == "Einsum":
        eq = attrs.get("equation", b"")
        eq = eq.decode() if isinstance(eq, bytes) else str(eq)
        return einsum_cost(eq, list(in_shapes), out)
    if op in RNN_OPS:
        r = _get(in_shapes, 2)
        if x is None or w is None or r is None or len(x) != 3 or len(w) != 3 or len(r) != 3:
            return Cost(shape_unknown=True)
        if attrs.get("layout", 0):
            batch, seq, feat = x
        else:
            seq, batch, feat = x
        directions, gate_width, hidden = w[0], w[1], r[2]
        steps = directions * seq
        macs = steps * batch * gate_width * (feat + hidden)
        per_step = gate_width * (1 + (2 if has_bias else 0)) + RNN_STATE_OPS[op] * hidden
        return Cost(macs, steps * batch * per_step, (batch, gate_width, feat + hidden, steps))
    return Cost(shape_unknown=True)


def _matmul_cost(a: Shape | None, b: Shape | None) -> Cost:
    if a is None or b is None or not a or not b:
        return Cost(shape_unknown=True)
    a2 = (1, a[0]) if len(a) == 1 else a
    b2 = (b[0], 1) if len(b) == 1 else b
    m, k = a2[-2], a2[-1]
    n = b2[-1]
    batch_a, batch_b = a2[:-2], b2[:-2]
    batch = _broadcast(batch_a, batch_b)
    if batch is None:
        return Cost(shape_unknown=True)
    groups = math.prod(batch)
    macs = groups * m * n * k
    if math.prod(batch_b) == 1:
        # The second operand is shared across the batch (a weight): one tall GEMM.
        return Cost(macs, 0, (groups * m, n, k, 1))
    return Cost(macs, 0, (m, n, k, groups))


def _broadcast(a: Shape, b: Shape) -> Shape | None:
    out = []
    for i in range(max(len(a), len(b))):
        da = a[len(a) - 1 - i] if i < len(a) else 1
        db = b[len(b) - 1 - i] if i < len(b) else 1
        if da != db and 1 not in (da, db):
            return None
        out.append(max(da, db))
    return tuple(reversed(out))


def einsum_cost(equation: str, in_shapes: list[Shape | None], out: Shape | None) -> Cost:
    """Einsum as a (batched) matmul: MACs = product of the sizes of every index, when two operands
    share a contracted index (one summed away). Other equations (transposes, reductions, outer
    products) have no MACs: one op per output element."""
    eq = equation.replace(" ", "")
    if "->" in eq:
        lhs, rhs = eq.split("->")
    else:
        lhs = eq
        letters = [c for c in lhs.replace(",", "").replace(".", "") if c.isalpha()]
        rhs = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
        if "..." in lhs:
            rhs = "..." + rhs
    terms = lhs.split(",")
    if len(terms) != len(in_shapes) or any(s is None for s in in_shapes):
        return Cost(shape_unknown=True)
    # Ellipsis dims get private letters, right-aligned across operands as numpy broadcasting does.
    ranks = [len(shape) - (len(term) - 3) if "..." in term else 0 for term, shape in zip(terms, in_shapes)]
    max_ell = max(ranks + [0])
    ell = [chr(0x100 + i) for i in range(max_ell)]
    sizes: dict[str, int] = {}
    expanded = []
    for term, shape, n_ell in zip(terms, in_shapes, ranks):
        if n_ell < 0:
            return Cost(shape_unknown=True)
        term = term.replace("...", "".join(ell[max_ell - n_ell:]))
        if len(term) != len(shape):
            return Cost(shape_unknown=True)
        for c, d in zip(term, shape):
            sizes[c] = max(sizes.get(c, 1), d)
        expanded.append(term)
    out_letters = set(rhs.replace("...", "".join(ell)))
    if len(expanded) != 2:
        return Cost(other_ops=numel(out)) if out is not None else Cost(shape_unknown=True)
    a, b = set(expanded[0]), set(expanded[1])
    contracted = (a & b) - out_letters
    if not contracted:
        return Cost(other_ops=numel(out)) if out is not None else Cost(shape_unknown=True)
    batch = (a & b) & out_letters
    m_letters = a - b
    n_letters = b - a
    size = lambda letters: math.prod(sizes[c] for c in letters)  # noqa: E731
    # Indices summed away on one side only count into K (naive evaluation multiplies them too).
    m = size(m_letters & out_letters)
    n = size(n_letters & out_letters)
    k = size(contracted) * size(m_letters - out_letters) * size(n_letters - out_letters)
    groups = size(batch)
    return Cost(m * n * k * groups, 0, (m, n, k, groups))
