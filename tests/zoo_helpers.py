"""Test-local helpers for the zoo tests, independent of the profiler: parameter counts from the
initializers, conv/matmul MACs from onnx's own shape inference, one forward pass on a runtime."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, shape_inference


def trainable_params(model: onnx.ModelProto) -> int:
    """Float initializers that torch counts in ``parameters()``: BN running statistics are buffers;
    scalars (0.5, sqrt 2) and Resize scales are constants; integer tensors are shapes and axes."""
    return sum(
        int(np.prod(t.dims))
        for t in model.graph.initializer
        if t.data_type == TensorProto.FLOAT and len(t.dims) > 0
        and not t.name.endswith((".running_mean", ".running_var", ".scales"))
    )


def inferred_shapes(model: onnx.ModelProto) -> dict[str, list[int]]:
    g = shape_inference.infer_shapes(model, strict_mode=True).graph
    shapes = {vi.name: [d.dim_value for d in vi.type.tensor_type.shape.dim] for vi in [*g.value_info, *g.output, *g.input]}
    shapes.update({t.name: list(t.dims) for t in model.graph.initializer})
    return shapes


def conv_matmul_macs(model: onnx.ModelProto) -> int:
    """Conv: output elements x Cin/groups x kernel taps; ConvTranspose: input elements x Cout/groups x taps;
    MatMul/Gemm: output elements x K; LSTM/GRU: seq x gates*hidden x (input + hidden)."""
    shapes = inferred_shapes(model)
    macs = 0
    for node in model.graph.node:
        out = shapes.get(node.output[0])
        if node.op_type == "Conv":
            macs += int(np.prod(out)) * int(np.prod(shapes[node.input[1]][1:]))
        elif node.op_type == "ConvTranspose":
            macs += int(np.prod(shapes[node.input[0]])) * int(np.prod(shapes[node.input[1]][1:]))
        elif node.op_type in ("MatMul", "Gemm"):
            macs += int(np.prod(out)) * shapes[node.input[0]][-1]
        elif node.op_type in ("LSTM", "GRU"):
            seq, batch, features = shapes[node.input[0]]
            _, gate_width, hidden = shapes[node.input[2]]
            macs += seq * batch * gate_width * (features + hidden)
    return macs


def random_feeds(model: onnx.ModelProto, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    feeds = {}
    for value in model.graph.input:
        shape = [d.dim_value for d in value.type.tensor_type.shape.dim]
        if value.type.tensor_type.elem_type == TensorProto.INT64:
            feeds[value.name] = rng.integers(0, 2, shape).astype(np.int64)
        else:
            feeds[value.name] = rng.standard_normal(shape).astype(np.float32)
    return feeds
