"""A small ONNX graph builder for the zoo (opset 17, no torch).

``GraphBuilder(with_weights=False)`` makes initializers that carry only dims and data type:
shape inference and the profiler need nothing more, so no weight memory is allocated.
With ``with_weights=True`` weights are random from a fixed seed (He-normal for conv/linear,
identity statistics for BatchNorm), so activations stay finite at any depth.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


class GraphBuilder:
    def __init__(self, name: str, *, with_weights: bool, seed: int = 0):
        self.name = name
        self.with_weights = with_weights
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._counts: dict[str, int] = {}

    # -- naming -------------------------------------------------------------------------------
    def unique(self, hint: str) -> str:
        n = self._counts.get(hint, 0)
        self._counts[hint] = n + 1
        return hint if n == 0 else f"{hint}_{n}"

    # -- graph inputs/outputs -----------------------------------------------------------------
    def input(self, name: str, shape: Sequence[int | str], dtype: int = TensorProto.FLOAT) -> str:
        self.inputs.append(helper.make_tensor_value_info(name, dtype, list(shape)))
        return name

    def output(self, name: str, shape: Sequence[int | str] | None = None, dtype: int = TensorProto.FLOAT) -> str:
        self.outputs.append(helper.make_tensor_value_info(name, dtype, list(shape) if shape is not None else None))
        return name

    # -- initializers -------------------------------------------------------------------------
    def weight(self, hint: str, shape: Sequence[int], *, init: str = "he", fan_in: int | None = None,
               dtype: int = TensorProto.FLOAT) -> str:
        """A parameter tensor. init: 'he' (normal, std sqrt(2/fan_in)), 'normal' (std 0.02),
        'zeros', 'ones'. Without weights only dims are stored."""
        name = self.unique(hint)
        shape = [int(d) for d in shape]
        if not self.with_weights:
            tensor = TensorProto()
            tensor.name = name
            tensor.data_type = dtype
            tensor.dims.extend(shape)
            self.initializers.append(tensor)
            return name
        np_dtype = helper.tensor_dtype_to_np_dtype(dtype)
        if init == "zeros":
            data = np.zeros(shape, np_dtype)
        elif init == "ones":
            data = np.ones(shape, np_dtype)
        elif init == "normal":
            data = (self.rng.standard_normal(shape, dtype=np.float32) * 0.02).astype(np_dtype)
        elif init == "he":
            fan = fan_in if fan_in is not None else int(np.prod(shape[1:])) or 1
            data = (self.rng.standard_normal(shape, dtype=np.float32) * math.sqrt(2.0 / fan)).astype(np_dtype)
        else:
            raise ValueError(f"unknown init {init!r}")
        self.initializers.append(numpy_helper.from_array(data, name))
        return name

    def constant(self, hint: str, values: np.ndarray) -> str:
        """A small constant (shapes, axes, scales): always materialized, even without weights."""
        name = self.unique(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(values), name))
        return name

    # -- generic node -------------------------------------------------------------------------
    def node(self, op: str, inputs: Sequence[str], *, name: str | None = None, n_outputs: int = 1,
             **attrs) -> str | list[str]:
        node_name = self.unique(name or op.lower())
        outs = [node_name if i == 0 else f"{node_name}:{i}" for i in range(n_outputs)]
        self.nodes.append(helper.make_node(op, list(inputs), outs, name=node_name, **attrs))
        return outs[0] if n_outputs == 1 else outs

    # -- layers -------------------------------------------------------------------------------
    def conv(self, x: str, cin: int, cout: int, kernel: int | tuple[int, int], *, stride: int = 1,
             pad: int | None = None, groups: int = 1, bias: bool = False, dilation: int = 1,
             name: str = "conv") -> str:
        kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
        if pad is None:
            pad = (kh - 1) // 2 * dilation
        w = self.weight(f"{name}.weight", [cout, cin // groups, kh, kw])
        inputs = [x, w]
        if bias:
            inputs.append(self.weight(f"{name}.bias", [cout], init="zeros"))
        return self.node("Conv", inputs, name=name, kernel_shape=[kh, kw], strides=[stride, stride],
                         pads=[pad, pad, pad, pad], group=groups, dilations=[dilation, dilation])

    def batch_norm(self, x: str, channels: int, *, eps: float = 1e-5, name: str = "bn") -> str:
        scale = self.weight(f"{name}.weight", [channels], init="ones")
        b = self.weight(f"{name}.bias", [channels], init="zeros")
        mean = self.weight(f"{name}.running_mean", [channels], init="zeros")
        var = self.weight(f"{name}.running_var", [channels], init="ones")
        return self.node("BatchNormalization", [x, scale, b, mean, var], name=name, epsilon=eps)

    def relu(self, x: str, name: str = "relu") -> str:
        return self.node("Relu", [x], name=name)

    def relu6(self, x: str, name: str = "relu6") -> str:
        lo = self.constant("relu6.min", np.array(0.0, np.float32))
        hi = self.constant("relu6.max", np.array(6.0, np.float32))
        return self.node("Clip", [x, lo, hi], name=name)

    def leaky_relu(self, x: str, alpha: float = 0.1, name: str = "leaky") -> str:
        return self.node("LeakyRelu", [x], name=name, alpha=alpha)

    def add(self, a: str, b: str, name: str = "add") -> str:
        return self.node("Add", [a, b], name=name)

    def mul(self, a: str, b: str, name: str = "mul") -> str:
        return self.node("Mul", [a, b], name=name)

    def concat(self, xs: Sequence[str], axis: int = 1, name: str = "concat") -> str:
        return self.node("Concat", list(xs), name=name, axis=axis)

    def max_pool(self, x: str, kernel: int, stride: int, pad: int = 0, name: str = "maxpool") -> str:
        return self.node("MaxPool", [x], name=name, kernel_shape=[kernel, kernel], strides=[stride, stride],
                         pads=[pad, pad, pad, pad])

    def global_avg_pool(self, x: str, name: str = "gap") -> str:
        return self.node("GlobalAveragePool", [x], name=name)

    def flatten(self, x: str, axis: int = 1, name: str = "flatten") -> str:
        return self.node("Flatten", [x], name=name, axis=axis)

    def upsample_nearest(self, x: str, scale: int = 2, name: str = "upsample") -> str:
        scales = self.constant(f"{name}.scales", np.array([1, 1, scale, scale], np.float32))
        return self.node("Resize", [x, "", scales], name=name, mode="nearest")

    def linear(self, x: str, fin: int, fout: int, *, bias: bool = True, name: str = "fc") -> str:
        """y = x @ W^T + b on a 2-D input (Gemm, transB=1, torch's Linear layout)."""
        w = self.weight(f"{name}.weight", [fout, fin], fan_in=fin)
        inputs = [x, w]
        if bias:
            inputs.append(self.weight(f"{name}.bias", [fout], init="zeros"))
        return self.node("Gemm", inputs, name=name, transB=1)

    def matmul_weight(self, x: str, fin: int, fout: int, *, bias: bool = True, name: str = "dense") -> str:
        """y = x @ W + b for N-D inputs (MatMul + Add), as exporters emit for transformer layers."""
        w = self.weight(f"{name}.weight", [fin, fout], init="normal")
        y = self.node("MatMul", [x, w], name=f"{name}.matmul")
        if bias:
            y = self.node("Add", [y, self.weight(f"{name}.bias", [fout], init="zeros")], name=f"{name}.bias_add")
        return y

    def build(self, doc: str = "") -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, self.name, self.inputs, self.outputs, initializer=self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="accelbench")
        model.ir_version = 8  # readable by every onnxruntime/openvino release we support
        if doc:
            model.doc_string = doc
        return model
