"""The static profiler: an ONNX graph with static input shapes -> fused layers with MACs, parameters,
bytes, and model-level activation memory (largest tensor, peak live bytes over the execution order).

How a graph becomes layers (docs/profiling.md has the full rules):
1. Constant folding: initializers, Constant nodes, Shape/Size of known shapes, and every node whose
   inputs are all constant are folded away (no layer). Views (Reshape, Flatten, Squeeze, Unsqueeze,
   Identity, Dropout) alias their input buffer (no layer).
2. Fusion, in topological order: an anchor (Conv, ConvTranspose, Gemm, MatMul, Einsum, LSTM/GRU/RNN,
   and their quantized forms) absorbs the elementwise ops that follow it while the running output
   has a single consumer: BatchNormalization, Add/Mul/... with a constant operand (bias, scale),
   activations, Quantize/DequantizeLinear, one residual Add of a same-shaped activation, and closed
   elementwise patterns that read the output twice (SiLU x*sigmoid(x), Erf-GELU).
3. Every other node is a layer of its own (pooling, Concat, Resize, Softmax, LayerNormalization, ...).
"""

from __future__ import annotations

import math
from typing import Iterable

import onnx
from onnx import TensorProto

from accelbench.errors import UserError
from accelbench.onnxgraph import fix_input_shapes, graph_inputs, set_input_dims
from accelbench.precision import BYTES_PER_ELEMENT, parse_precision
from accelbench.profile.kind import network_kind
from accelbench.profile.graph import (
    DTYPE_BYTES,
    FLOAT_TYPES,
    GraphShapes,
    infer_graph_shapes,
    is_known_op,
    light_copy,
    op_label,
)
from accelbench.profile.ops import (
    ANCHORS,
    CONTROL_FLOW,
    ELEMENTWISE,
    NON_PARAM_SLOTS,
    RANDOM_OPS,
    RESIDUAL_OPS,
    RNN_OPS,
    STANDARD_DOMAINS,
    VIEWS,
    Cost,
    node_cost,
    numel,
)
from accelbench.profile.types import GemmDims, LayerProfile, ModelProfile

_NOT_PARAM_TYPES = frozenset({TensorProto.INT64, TensorProto.INT32, TensorProto.UINT64, TensorProto.UINT32,
                              TensorProto.BOOL, TensorProto.STRING})
_PATTERN_DEPTH = 6  # how far a closed elementwise pattern (GELU, SiLU) may reach past the anchor


def profile_model(model, precision: str = "fp32", *, name: str | None = None) -> ModelProfile:
    """Profile a LoadedModel (accelbench.models.loader) or an onnx.ModelProto.

    MACs: multiply-accumulates of Conv (N*Cout*Hout*Wout*Cin/groups*kH*kW), ConvTranspose (same over
    the input), Gemm/MatMul (batch dims included), Einsum with a contracted index, and LSTM/GRU/RNN gate
    matmuls over every time step; everything else is ``other_ops``. Bytes are at ``precision`` for
    float tensors; integer tensors (token ids, masks, quantized data) keep their own element size.
    A ModelProto with a dynamic batch dim is profiled at batch 1; other dynamic dims raise UserError.
    """
    prec = parse_precision(precision)
    if isinstance(model, onnx.ModelProto):
        proto, input_shapes, batch = model, None, None
        model_name = name or model.graph.name or "model"
    elif hasattr(model, "proto") and isinstance(model.proto, onnx.ModelProto):
        proto, input_shapes, batch = model.proto, dict(model.input_shapes), model.batch
        model_name = name or model.name
    else:
        raise TypeError(f"profile_model takes a LoadedModel or onnx.ModelProto, not {type(model).__name__}")
    light = light_copy(proto)
    input_shapes = _fix_inputs(light, input_shapes)
    if batch is None:
        first = next(iter(input_shapes.values()), ())
        batch = int(first[0]) if first else 1
    facts = infer_graph_shapes(light)
    return _Profiler(facts, prec, model_name, input_shapes, batch).run()


def _fix_inputs(light: onnx.ModelProto, input_shapes: dict | None) -> dict[str, tuple[int, ...]]:
    if input_shapes is None:
        return fix_input_shapes(light, None, None, {})[0]
    for vi in graph_inputs(light):
        if vi.name in input_shapes:
            set_input_dims(vi, input_shapes[vi.name])
    return {k: tuple(int(d) for d in v) for k, v in input_shapes.items()}


class _Layer:
    __slots__ = ("nodes", "exit", "position")

    def __init__(self, nodes: list[int], exit_tensor: str | None):
        self.nodes = nodes
        self.exit = exit_tensor  # the one tensor a fused layer writes; None: all outputs of the node
        self.position = max(nodes)


class _Profiler:
    def __init__(self, facts: GraphShapes, precision: str, name: str, input_shapes: dict, batch: int):
        self.facts = facts
        self.graph = facts.graph
        self.precision = precision
        self.bpe = BYTES_PER_ELEMENT[precision]
        self.name = name
        self.input_shapes = input_shapes
        self.batch = batch
        self.warnings: list[str] = list(facts.warnings)
        self.nodes: list[onnx.NodeProto] = _topological(self.graph)
        self.attrs_cache: dict[int, dict] = {}

    # -- tensor facts -----------------------------------------------------------------------
    def shape(self, tensor: str):
        return self.facts.shapes.get(tensor)

    def tensor_bytes(self, tensor: str) -> int:
        shape = self.shape(tensor)
        if shape is None:
            return 0
        dtype = self.facts.dtypes.get(tensor, TensorProto.FLOAT)
        per = self.bpe if dtype in FLOAT_TYPES else DTYPE_BYTES.get(dtype, self.bpe)
        return numel(shape) * per

    def attrs(self, i: int) -> dict:
        if i not in self.attrs_cache:
            node = self.nodes[i]
            self.attrs_cache[i] = {
                a.name: onnx.helper.get_attribute_value(a) for a in node.attribute
                if a.type not in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS,
                                  onnx.AttributeProto.TENSOR)
            }
        return self.attrs_cache[i]

    # -- main -------------------------------------------------------------------------------
    def run(self) -> ModelProfile:
        self._classify()
        layers = self._fuse()
        return self._build(layers)

    def _classify(self) -> None:
        """Constants (with the initializers they derive from), views (aliases) and consumers."""
        g = self.graph
        self.graph_inputs = [vi.name for vi in g.input if vi.name not in self.facts.initializer_dims]
        self.graph_outputs = [vi.name for vi in g.output]
        self.const_sources: dict[str, frozenset[str]] = {n: frozenset({n}) for n in self.facts.initializer_dims}
        self.alias: dict[str, str] = {}
        self.producer: dict[str, int] = {}
        self.consumers: dict[str, list[int]] = {}
        self.skipped: set[int] = set()  # folded constants and views: no layer
        for i, node in enumerate(self.nodes):
            for t in node.output:
                if t:
                    self.producer[t] = i
            used = [t for t in node.input if t]
            used += _subgraph_inputs(node)
            for t in used:
                self.consumers.setdefault(t, []).append(i)
            standard = node.domain in STANDARD_DOMAINS
            op = node.op_type
            if standard and op == "Constant":
                self.skipped.add(i)
                continue
            inputs = [t for t in node.input if t]
            if standard and op in ("Shape", "Size") and inputs and self.shape(inputs[0]) is not None:
                for t in node.output:
                    self.const_sources[t] = frozenset()
                self.skipped.add(i)
                continue
            if (standard and inputs and op not in RANDOM_OPS and op not in CONTROL_FLOW
                    and all(t in self.const_sources for t in inputs)):
                excluded = NON_PARAM_SLOTS.get(op, frozenset())
                src = frozenset().union(*(self.const_sources[t] for s, t in enumerate(node.input)
                                          if t and s not in excluded))
                for t in node.output:
                    if t:
                        self.const_sources[t] = src
                self.skipped.add(i)
                continue
            if standard and op in VIEWS and inputs:
                self.alias[node.output[0]] = self.root(inputs[0])
                self.skipped.add(i)

    def root(self, tensor: str) -> str:
        while tensor in self.alias:
            tensor = self.alias[tensor]
        return tensor

    def is_const(self, tensor: str) -> bool:
        return tensor in self.const_sources

    # -- fusion -----------------------------------------------------------------------------
    def _fuse(self) -> list[_Layer]:
        self.assigned: set[int] = set()
        self.outputs_set = set(self.graph_outputs)
        layers = []
        for i, node in enumerate(self.nodes):
            if i in self.skipped or i in self.assigned:
                continue
            self.assigned.add(i)
            if node.domain in STANDARD_DOMAINS and node.op_type in ANCHORS and node.op_type not in RNN_OPS:
                layers.append(self._grow(i))
            else:
                layers.append(_Layer([i], None))
        layers.sort(key=lambda layer: layer.position)
        return layers

    def _consumer_nodes(self, tensor: str) -> list[int]:
        seen = []
        for c in self.consumers.get(tensor, ()):
            if c not in seen:
                seen.append(c)
        return seen

    def _same_shape(self, a: str, b: str) -> bool:
        sa, sb = self.shape(a), self.shape(b)
        return sa is None or sb is None or sa == sb

    def _elementwise(self, i: int) -> bool:
        node = self.nodes[i]
        return (node.domain in STANDARD_DOMAINS and node.op_type in ELEMENTWISE
                and i not in self.skipped and i not in self.assigned
                and sum(1 for t in node.output if t) == 1)

    def _grow(self, anchor: int) -> _Layer:
        nodes = [anchor]
        cur = self.nodes[anchor].output[0]
        residual_used = False
        while cur not in self.outputs_set:
            cons = self._consumer_nodes(cur)
            if len(cons) == 1 and self._elementwise(cons[0]):
                n = cons[0]
                node = self.nodes[n]
                others = [t for t in node.input if t and t != cur and not self.is_const(t)]
                out = node.output[0]
                if not self._same_shape(out, cur):
                    break
                if others:
                    if (residual_used or node.op_type not in RESIDUAL_OPS or len(others) != 1
                            or not self._same_shape(others[0], cur) or self.shape(others[0]) is None):
                        break
                    residual_used = True
                nodes.append(n)
                self.assigned.add(n)
                cur = out
                continue
            if len(cons) > 1:
                region = self._closed_pattern(cur, cons)
                if region:
                    nodes.extend(region)
                    self.assigned.update(region)
                    cur = self.nodes[region[-1]].output[0]
                    continue
            break
        return _Layer(nodes, cur)

    def _closed_pattern(self, cur: str, cons: list[int]) -> list[int] | None:
        """Elementwise nodes that read ``cur`` (and constants) and end in one tensor (GELU, SiLU)."""
        region: list[int] = []
        tensors = {cur}
        frontier = list(cons)
        best = None
        for _ in range(_PATTERN_DEPTH * 2):
            # Add, in topological order, every candidate whose activation inputs are all in the region.
            added = False
            for n in sorted(set(frontier)):
                if n in region or not self._elementwise(n):
                    continue
                node = self.nodes[n]
                if all(not t or t in tensors or self.is_const(t) for t in node.input) and \
                        self._same_shape(node.output[0], cur):
                    region.append(n)
                    tensors.add(node.output[0])
                    frontier.extend(self._consumer_nodes(node.output[0]))
                    added = True
                    if self._single_exit(cur, region) is not None:
                        best = sorted(region)
                    break
            if not added or len(region) > _PATTERN_DEPTH:
                break
        # Sorted: a closed region's topologically last node writes its exit tensor.
        return best

    def _single_exit(self, cur: str, region: list[int]) -> str | None:
        inside = set(region)
        if any(c not in inside for c in self.consumers.get(cur, ())):
            return None
        exits = []
        for n in region:
            t = self.nodes[n].output[0]
            if t in self.outputs_set or any(c not in inside for c in self.consumers.get(t, ())):
                exits.append(t)
            elif not self.consumers.get(t):
                return None  # a dead end inside the pattern: not a closed pattern
        if len(exits) == 1 and exits[0] == self.nodes[max(region)].output[0]:
            return exits[0]
        return None

    # -- records ----------------------------------------------------------------------------
    def _build(self, layers: list[_Layer]) -> ModelProfile:
        layer_of: dict[str, int] = {}  # root tensor -> index of the layer that writes it
        for li, layer in enumerate(layers):
            for n in layer.nodes:
                for t in self.nodes[n].output:
                    if t:
                        layer_of[t] = li
        claimed: set[str] = set()  # initializers already counted (a shared weight counts once)
        unknown_ops: list[str] = []
        records: list[LayerProfile] = []
        live_ranges: dict[str, list[int]] = {}  # materialized tensor -> [first step, last step]
        for t in self.graph_inputs:
            live_ranges[t] = [0, 0]
        views = self._views_by_layer(layer_of)
        for li, layer in enumerate(layers):
            record, inputs, outputs = self._layer_record(layer, li, layer_of, claimed, unknown_ops, views.get(li, ()))
            records.append(record)
            for t in inputs:
                if t in live_ranges:
                    live_ranges[t][1] = max(live_ranges[t][1], li)
            for t in outputs:
                live_ranges.setdefault(t, [li, li])
        last = max(len(layers) - 1, 0)
        for t in self.graph_outputs:
            r = self.root(t)
            if r in live_ranges:
                live_ranges[r][1] = last
        peak = _peak_live(((self.tensor_bytes(t), a, b) for t, (a, b) in live_ranges.items()), len(layers))
        largest = self._largest_activation()
        output_shapes = {}
        for t in self.graph_outputs:
            shape = self.shape(self.root(t))
            if shape is None:
                self._warn(f"output {t!r} has an unknown shape: it counts as 0 bytes")
            else:
                output_shapes[t] = tuple(int(d) for d in shape)
        return ModelProfile(
            model=self.name,
            input_shapes=dict(self.input_shapes),
            precision=self.precision,
            batch=self.batch,
            layers=tuple(records),
            largest_activation_elements=largest[0],
            largest_activation_bytes=largest[1],
            peak_live_activation_bytes=peak,
            input_bytes=sum(self.tensor_bytes(t) for t in self.graph_inputs),
            output_bytes=sum(self.tensor_bytes(self.root(t)) for t in dict.fromkeys(self.graph_outputs)),
            unknown_ops=tuple(dict.fromkeys(unknown_ops)),
            warnings=tuple(dict.fromkeys(self.warnings)),
            output_shapes=output_shapes,
            network_kind=network_kind(records, self.input_shapes, output_shapes),
        )

    def _warn(self, message: str) -> None:
        self.warnings.append(message)

    def _views_by_layer(self, layer_of: dict[str, int]) -> dict[int, list[str]]:
        """Names of the view nodes (no layer of their own) by the layer whose output they view: a
        runtime that executes a Reshape or Flatten spends that time on the viewed layer's output."""
        views: dict[int, list[str]] = {}
        for i in sorted(self.skipped):
            node = self.nodes[i]
            if node.name and node.output and node.output[0] in self.alias:
                li = layer_of.get(self.alias[node.output[0]])
                if li is not None:
                    views.setdefault(li, []).append(node.name)
        return views

    def _layer_record(self, layer: _Layer, li: int, layer_of: dict, claimed: set, unknown_ops: list,
                      views: Iterable[str] = ()):
        anchor = self.nodes[layer.nodes[0]]
        label = op_label(anchor)
        unknown = not is_known_op(anchor)
        layer_name = anchor.name or anchor.output[0] or f"{label}_{li}"
        macs = other = 0
        gemm = None
        shape_unknown = macs_unknown = False
        params = 0
        inputs: list[str] = []
        for pos, n in enumerate(layer.nodes):
            node = self.nodes[n]
            if unknown:
                cost = Cost()
            else:
                in_shapes = [self.shape(t) if t else None for t in node.input]
                out_shapes = [self.shape(t) if t else None for t in node.output]
                cost = node_cost(node.op_type, self.attrs(n), in_shapes, out_shapes, [bool(t) for t in node.input])
            macs += cost.macs
            other += cost.other_ops
            if pos == 0 and cost.gemm is not None:
                gemm = GemmDims(*cost.gemm)
            if cost.shape_unknown:
                shape_unknown = True
                if pos == 0 and node.op_type in ANCHORS:
                    macs_unknown = True
            excluded = NON_PARAM_SLOTS.get(node.op_type, frozenset())
            for slot, t in enumerate(node.input):
                if not t:
                    continue
                if self.is_const(t):
                    if slot in excluded:
                        continue
                    for src in self.const_sources[t]:
                        if src not in claimed:
                            claimed.add(src)
                            params += self._param_elements(src)
                    continue
                r = self.root(t)
                if layer_of.get(r) != li and r not in inputs:
                    inputs.append(r)
            for t in _subgraph_inputs(node):
                r = self.root(t)
                if not self.is_const(t) and layer_of.get(r) != li and r not in inputs:
                    inputs.append(r)
        if unknown:
            unknown_ops.append(label)
            self._warn(f"op {label} (node {layer_name!r}) is not known to the profiler: counted as 0 MACs")
        if anchor.op_type in CONTROL_FLOW and anchor.domain in STANDARD_DOMAINS:
            self._warn(f"node {layer_name!r} ({anchor.op_type}) has a subgraph that is not profiled (0 MACs)")
        if layer.exit is not None:
            outputs = [layer.exit]
        else:
            outputs = [t for t in anchor.output if t]
        for t in inputs + outputs:
            if self.shape(t) is None:
                shape_unknown = True
                self._warn(f"tensor {t!r} (layer {layer_name!r}) has an unknown shape: it counts as 0 bytes")
        for t in outputs:
            if t in self.facts.guessed:
                self._warn(f"tensor {t!r}: shape assumed equal to the input of unknown op {label}")
        main = self.shape(outputs[0]) if outputs else None
        record = LayerProfile(
            name=layer_name,
            op=label,
            fused_ops=tuple(op_label(self.nodes[n]) for n in layer.nodes),
            macs=int(macs),
            other_ops=int(other),
            params=int(params),
            weight_bytes=int(params) * self.bpe,
            input_bytes=sum(self.tensor_bytes(t) for t in inputs),
            output_bytes=sum(self.tensor_bytes(t) for t in outputs),
            output_shape=tuple(main) if main is not None else (),
            gemm=gemm if macs else None,
            unknown_op=unknown,
            shape_unknown=shape_unknown,
            macs_unknown=macs_unknown,
            nodes=tuple(self.nodes[n].name for n in layer.nodes if self.nodes[n].name) + tuple(views),
        )
        return record, inputs, outputs

    def _param_elements(self, tensor: str) -> int:
        dims = self.facts.initializer_dims.get(tensor)
        if dims is None or self.facts.dtypes.get(tensor) in _NOT_PARAM_TYPES:
            return 0
        n = math.prod(dims)
        return n if n > 1 else 0  # scalars are constants (0.5, sqrt(2), eps), not learned weights

    def _largest_activation(self) -> tuple[int, int]:
        best = (0, 0)
        names = list(self.graph_inputs)
        for i, node in enumerate(self.nodes):
            if i not in self.skipped:
                names.extend(t for t in node.output if t)
        for t in names:
            candidate = (numel(self.shape(t)), self.tensor_bytes(t))
            if (candidate[1], candidate[0]) > (best[1], best[0]):
                best = candidate
        return best


def _peak_live(ranges: Iterable[tuple[int, int, int]], steps: int) -> int:
    """Most bytes alive at one step; a tensor is alive at every step from its first to its last."""
    delta = [0] * (max(steps, 1) + 1)
    for nbytes, first, last in ranges:
        delta[first] += nbytes
        delta[last + 1] -= nbytes
    peak = running = 0
    for d in delta[:-1]:
        running += d
        peak = max(peak, running)
    return peak


def _subgraph_inputs(node: onnx.NodeProto) -> list[str]:
    """Outer-scope tensors a control-flow node reads from inside its subgraphs."""
    names: list[str] = []
    for attr in node.attribute:
        graphs = [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)
        for g in graphs:
            local = {t.name for t in g.initializer} | {vi.name for vi in g.input}
            for n in g.node:
                local.update(n.output)
            for n in g.node:
                names.extend(t for t in n.input if t and t not in local)
                names.extend(t for t in _subgraph_inputs(n) if t not in local)
    return list(dict.fromkeys(names))


def _topological(graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    """The graph's nodes in a valid execution order (ONNX requires one; repair when it is not)."""
    nodes = list(graph.node)
    available = {vi.name for vi in graph.input} | {t.name for t in graph.initializer} | {""}
    ordered = True
    for node in nodes:
        if any(t not in available for t in node.input):
            ordered = False
            break
        available.update(node.output)
    if ordered:
        return nodes
    produced_by = {t: i for i, n in enumerate(nodes) for t in n.output if t}
    deps = [{produced_by[t] for t in n.input if t in produced_by} for n in nodes]
    order, state = [], [0] * len(nodes)
    for start in range(len(nodes)):
        stack = [(start, iter(sorted(deps[start])))]
        if state[start]:
            continue
        state[start] = 1
        while stack:
            i, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                stack.pop()
                state[i] = 2
                order.append(i)
            elif state[nxt] == 0:
                state[nxt] = 1
                stack.append((nxt, iter(sorted(deps[nxt]))))
            elif state[nxt] == 1:
                raise UserError(f"model: graph {graph.name!r} has a cycle through node {nodes[nxt].name!r}")
    return [nodes[i] for i in order]
