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
        self._constants: dict[tuple, str] = {}

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
        'uniform' (U(-1/sqrt(fan_in), 1/sqrt(fan_in)), torch's RNN init), 'zeros', 'ones'.
        Without weights only dims are stored."""
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
        elif init in ("he", "uniform"):
            fan = fan_in if fan_in is not None else int(np.prod(shape[1:])) or 1
            if init == "he":
                data = self.rng.standard_normal(shape, dtype=np.float32) * math.sqrt(2.0 / fan)
            else:
                bound = 1.0 / math.sqrt(fan)
                data = self.rng.uniform(-bound, bound, shape).astype(np.float32)
            data = data.astype(np_dtype)
        else:
            raise ValueError(f"unknown init {init!r}")
        self.initializers.append(numpy_helper.from_array(data, name))
        return name

    def constant(self, hint: str, values: np.ndarray) -> str:
        """A small constant (shapes, axes, scales): always materialized, even without weights. The same
        hint with the same value gives the same tensor, so 24 attention layers share one split shape."""
        array = np.asarray(values)
        key = (hint, array.dtype.str, array.shape, array.tobytes())
        if key not in self._constants:
            name = self.unique(hint)
            self.initializers.append(numpy_helper.from_array(array, name))
            self._constants[key] = name
        return self._constants[key]

    def scalar(self, hint: str, value: float) -> str:
        """A float32 scalar constant (0.5, sqrt(2), eps): the profiler never counts it as a parameter."""
        return self.constant(hint, np.array(value, np.float32))

    # -- generic node -------------------------------------------------------------------------
    def node(self, op: str, inputs: Sequence[str], *, name: str | None = None, n_outputs: int = 1,
             **attrs) -> str | list[str]:
        node_name = self.unique(name or op.lower())
        # ".1", not ":1": some runtimes read "name:port" in tensor names as a port reference
        outs = [node_name if i == 0 else f"{node_name}.{i}" for i in range(n_outputs)]
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

    def conv1d(self, x: str, cin: int, cout: int, kernel: int, *, stride: int = 1, pad: int | None = None,
               bias: bool = True, name: str = "conv") -> str:
        """torch's Conv1d on [batch, channels, length] (bias by default, as nn.Conv1d)."""
        pad = (kernel - 1) // 2 if pad is None else pad
        inputs = [x, self.weight(f"{name}.weight", [cout, cin, kernel])]
        if bias:
            inputs.append(self.weight(f"{name}.bias", [cout], init="zeros"))
        return self.node("Conv", inputs, name=name, kernel_shape=[kernel], strides=[stride], pads=[pad, pad])

    def conv_transpose(self, x: str, cin: int, cout: int, kernel: int, *, stride: int, bias: bool = True,
                       name: str = "up") -> str:
        """torch's ConvTranspose2d without padding: weight [cin, cout, k, k], output side = stride x input side
        when kernel == stride (U-Net's 2x2/2 up-convolution)."""
        inputs = [x, self.weight(f"{name}.weight", [cin, cout, kernel, kernel], fan_in=cin)]
        if bias:
            inputs.append(self.weight(f"{name}.bias", [cout], init="zeros"))
        return self.node("ConvTranspose", inputs, name=name, kernel_shape=[kernel, kernel],
                         strides=[stride, stride])

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

    def silu(self, x: str, name: str = "silu") -> str:
        """SiLU / Swish as exporters emit it at opset 17: x * Sigmoid(x)."""
        return self.node("Mul", [x, self.node("Sigmoid", [x], name=f"{name}.sigmoid")], name=name)

    def gelu_erf(self, x: str, name: str = "gelu") -> str:
        """Exact GELU as exporters emit it at opset 17 (no Gelu op): x * 0.5 * (1 + erf(x / sqrt 2)),
        in HF's node order."""
        y = self.node("Div", [x, self.scalar("gelu.sqrt2", math.sqrt(2.0))], name=f"{name}.div")
        y = self.node("Erf", [y], name=f"{name}.erf")
        y = self.node("Add", [y, self.scalar("gelu.one", 1.0)], name=f"{name}.add")
        y = self.node("Mul", [x, y], name=f"{name}.mul")
        return self.node("Mul", [y, self.scalar("gelu.half", 0.5)], name=f"{name}.mul_half")

    def layer_norm(self, x: str, dim: int, *, eps: float, name: str = "ln") -> str:
        """LayerNormalization over the last axis with a learned scale and shift of ``dim`` elements."""
        scale = self.weight(f"{name}.weight", [dim], init="ones")
        bias = self.weight(f"{name}.bias", [dim], init="zeros")
        return self.node("LayerNormalization", [x, scale, bias], name=name, axis=-1, epsilon=eps)

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

    def split_heads(self, x: str, num_heads: int, head_dim: int, *, keys: bool = False, name: str) -> str:
        """[batch, seq, heads*head_dim] -> [batch, heads, seq, head_dim] by Reshape + Transpose; keys go
        straight to [batch, heads, head_dim, seq] so that QK^T is a plain MatMul, as exporters emit it.
        (0 in the Reshape target copies that input dim: the graph does not hard-code batch or seq.)"""
        split = self.constant("heads.split_shape", np.array([0, 0, num_heads, head_dim], np.int64))
        y = self.node("Reshape", [x, split], name=f"{name}.reshape")
        return self.node("Transpose", [y], name=f"{name}.transpose", perm=[0, 2, 3, 1] if keys else [0, 2, 1, 3])

    def attention(self, q: str, k: str, v: str, *, head_dim: int, width: int, name: str,
                  mask: str | None = None, scale_q_and_k: bool = False) -> str:
        """Scaled dot-product attention on heads from ``split_heads`` -> [batch, seq, width]: MatMul
        QK^T, scale, optional additive ``mask``, Softmax, MatMul with V, Transpose + Reshape back.

        Scale: Div of the scores by sqrt(head_dim) (BERT, torch MHA), or with ``scale_q_and_k`` Mul of
        Q and K by head_dim**-0.25 each before the product (openai/whisper's qkv_attention)."""
        if scale_q_and_k:
            factor = self.scalar("attention.qk_scale", head_dim ** -0.25)
            q = self.node("Mul", [q, factor], name=f"{name}.query.scale")
            k = self.node("Mul", [k, factor], name=f"{name}.key.scale")
        scores = self.node("MatMul", [q, k], name=f"{name}.scores")  # [b, h, s, s]
        if not scale_q_and_k:
            scores = self.node("Div", [scores, self.scalar("attention.scale", math.sqrt(head_dim))],
                               name=f"{name}.scale")
        if mask is not None:
            scores = self.node("Add", [scores, mask], name=f"{name}.mask_add")
        probs = self.node("Softmax", [scores], name=f"{name}.softmax", axis=-1)
        ctx = self.node("MatMul", [probs, v], name=f"{name}.context")  # [b, h, s, d]
        ctx = self.node("Transpose", [ctx], name=f"{name}.context.transpose", perm=[0, 2, 1, 3])
        merge = self.constant("heads.merge_shape", np.array([0, 0, width], np.int64))
        return self.node("Reshape", [ctx, merge], name=f"{name}.context.reshape")

    def recurrent(self, op: str, x: str, input_size: int, hidden: int, *, name: str) -> str:
        """One forward LSTM or GRU layer on [seq, batch, input] -> Y [seq, 1, batch, hidden].

        Weights follow ONNX (W [1, gates*hidden, input], R [1, gates*hidden, hidden], B [1, 2*gates*hidden]
        = input and recurrent biases): the same element counts as torch's weight_ih/weight_hh/bias_ih/
        bias_hh. GRU uses linear_before_reset=1, which is what torch's GRU computes."""
        gates = {"LSTM": 4, "GRU": 3}[op]
        w = self.weight(f"{name}.W", [1, gates * hidden, input_size], init="uniform", fan_in=hidden)
        r = self.weight(f"{name}.R", [1, gates * hidden, hidden], init="uniform", fan_in=hidden)
        bias = self.weight(f"{name}.B", [1, 2 * gates * hidden], init="uniform", fan_in=hidden)
        attrs = {"linear_before_reset": 1} if op == "GRU" else {}
        return self.node(op, [x, w, r, bias], name=name, hidden_size=hidden, direction="forward", **attrs)

    def feed_forward(self, x: str, width: int, hidden: int, *, names: tuple[str, str, str]) -> str:
        """A transformer's MLP: Linear(width, hidden), exact GELU, Linear(hidden, width), each Linear as
        MatMul + bias Add; ``names`` of the first Linear, the GELU and the second Linear."""
        h = self.gelu_erf(self.matmul_weight(x, width, hidden, name=names[0]), name=names[1])
        return self.matmul_weight(h, hidden, width, name=names[2])

    def mark_output(self, name: str, shape: Sequence[int | str]) -> str:
        """Make the last node's first output the graph output ``name``: the graph keeps a stable output
        name while the node keeps its reference name (torchvision's ``fc``)."""
        self.nodes[-1].output[0] = name
        return self.output(name, shape)

    def classifier_head(self, x: str, channels: int, classes: int, *, batch: int, name: str) -> str:
        """GlobalAveragePool, Flatten, Linear ``name`` -> graph output ``logits`` [batch, classes]."""
        x = self.flatten(self.global_avg_pool(x, name="avgpool"), name="flatten")
        self.linear(x, channels, classes, name=name)
        return self.mark_output("logits", [batch, classes])

    def build(self, doc: str = "") -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, self.name, self.inputs, self.outputs, initializer=self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="accelbench")
        model.ir_version = 8  # readable by every onnxruntime/openvino release we support
        if doc:
            model.doc_string = doc
        return model
