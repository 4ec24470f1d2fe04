"""Measured per-layer time (``bench --layers``): the runtime's own profiler in a separate pass after
the timed measurement, its nodes mapped back onto the static profile's fused layers.

``collect_layer_times`` runs the pass: the loaded backend profiles ``runs`` runs on a profiling
session of its own (``Backend.profile_layers``), and ``map_runtime_nodes`` ties each runtime node
to a layer of the FP32 graph's profile (profile/profiler.py: ``LayerProfile.nodes`` lists the ONNX
node names a layer stands for). The rules, tried in this order for each runtime node:

1. **original**: the ONNX node names the runtime says the node stands for (OpenVINO's
   ``originalLayersNames``; the ONNX nodes the torch export scoped to a module);
2. **name**: its own name, as it is or with a runtime's suffix removed (ORT ``_nchwc``,
   ``_token_12``, ``_new_reshape``; OpenVINO ``/WithoutBiases``, ``_original``; NNCF's ``/fq_output_0``), or
   failing that the part before a "/" (runtimes name what they split off a node "<node>/<what>");
3. **output**: a tensor it writes that a node of the layer writes (ORT's fused nodes keep the
   output name of the pattern they replace);
4. **tensor**: a name that is a tensor's, or QDQ's ``<tensor>_QuantizeLinear`` /
   ``<tensor>_DequantizeLinear``: the layer that writes the tensor, or for a graph input or a
   weight the layer that first reads it (quantizing the input feeds that layer; ORT dequantizes
   the weights of a ConvTranspose at every run, for that layer);
5. **reorder**: a layout or precision conversion OpenVINO inserted, named
   "<source>_<from>_<to>_<consumer>" (``input_abcd_acdb_conv1``): the layer of the node it feeds
   (an ONNX node, or a runtime node the other rules tied to a layer);
6. **folded**: a torch module the export folded away (BatchNorm into its Conv): the layer run before it;
7. **order**: a node still unmapped whose kernel type names an op family (LSTMSequence,
   ConvolutionBackpropData: a runtime rebuilt the op under a new name), paired in execution order
   with the layers of that family no other node was tied to.

ONNX nodes of no layer (a Reshape of a graph input) belong with the layer that reads what they write.

A node that several layers claim (a torch module whose own ops span layers) is split between them
in proportion to their work (MACs + other ops). A node no rule ties to a layer (layout reorders, a
transpose the runtime inserted, ...) is kept in ``LayerTimes.unmapped`` with its time.
"""

from __future__ import annotations

import re
import time
from dataclasses import replace

import onnx

from accelbench.profile import profile_model
from accelbench.profile.kind import op_family
from accelbench.profile.types import ModelProfile
from accelbench.results.layers import LayerTimes, MeasuredLayer, RuntimeNodeTime, RuntimeProfile

DEFAULT_LAYER_RUNS = 10
LAYER_WARMUP_RUNS = 1
# Suffixes runtimes add to an ONNX node's name: ORT's NCHWc and QDQ transformers, OpenVINO's Gemm
# split, NNCF's fake-quantize nodes.
_RUNTIME_SUFFIX = re.compile(
    r"(?:_nchwc|_token_\d+|_new_reshape|_original|/WithoutBiases|/sink_port_\d+|/fq_(?:weights|output)_\d+)$")
_QDQ_NAME = re.compile(r"^(?P<tensor>.+)_(?:Quantize|Dequantize)Linear(?:_\d+)?$")
# OpenVINO's reorders: "<source>_<from>_<to>_<consumer>", layouts like abcd, aBcd16b, or precisions
_REORDER_TOKEN = re.compile(r"[a-fA-F0-9]{3,}|f32|f16|bf16|i8|u8|i32|i64")
# Kernel types whose op family is unambiguous, for rule 7 (checked in this order)
_RUNTIME_FAMILIES = tuple((re.compile(pattern, re.IGNORECASE), family) for pattern, family in (
    (r"BackpropData|ConvTranspose|Deconvolution", "deconv"), (r"LSTM", "lstm"), (r"GRU", "gru"),
    (r"\bRNN", "rnn"), (r"GroupConv", "depthwise")))


def name_unnamed_nodes(proto: onnx.ModelProto) -> onnx.ModelProto:
    """``proto`` with a unique name on every node (``<op_type>_<index>``) where it had none, so that
    runtime profilers can name what they ran; the graph itself is unchanged. The same proto when
    every node has a name."""
    if all(node.name for node in proto.graph.node):
        return proto
    named = onnx.ModelProto()
    named.CopyFrom(proto)
    taken = {node.name for node in named.graph.node if node.name}
    for index, node in enumerate(named.graph.node):
        if not node.name:
            name = f"{node.op_type}_{index}"
            while name in taken:
                name += "_"
            node.name = name
            taken.add(name)
    return named


class _LayerLookup:
    """ONNX node and tensor names -> index of the profile layer they belong to."""

    def __init__(self, profile: ModelProfile, proto: onnx.ModelProto):
        self.node_layer = {name: i for i, layer in enumerate(profile.layers) for name in layer.nodes}
        self.tensor_layer: dict[str, int] = {}
        nodes = list(proto.graph.node)
        for node in nodes:  # a tensor belongs to the layer that writes it ...
            layer = self.node_layer.get(node.name)
            if layer is not None:
                for tensor in node.output:
                    if tensor:
                        self.tensor_layer.setdefault(tensor, layer)
        for node in nodes:  # ... else (graph inputs, weights) to the layer that first reads it
            layer = self.node_layer.get(node.name)
            if layer is not None:
                for tensor in node.input:
                    if tensor:
                        self.tensor_layer.setdefault(tensor, layer)
        # Nodes of no layer (a view of a graph input, a constant the runtime did not fold) go with the
        # layer that reads what they write; latest first, so that chains of them resolve.
        for node in reversed(nodes):
            if node.name and node.name not in self.node_layer:
                layer = next((self.tensor_layer[t] for t in node.output if t in self.tensor_layer), None)
                if layer is not None:
                    self.node_layer[node.name] = layer
                    for tensor in node.input:
                        if tensor:
                            self.tensor_layer.setdefault(tensor, layer)

    def node(self, name: str) -> int | None:
        """The layer of the ONNX node ``name`` (a runtime's suffixes removed if need be), or else of
        the node named by what comes before a "/" ("conv_proj/WithoutBiases")."""
        while name:
            layer = self._exact(name)
            if layer is not None:
                return layer
            name = name.rsplit("/", 1)[0] if "/" in name else ""
        return None

    def _exact(self, name: str) -> int | None:
        while name not in self.node_layer:
            stripped = _RUNTIME_SUFFIX.sub("", name)
            if stripped == name:
                return None
            name = stripped
        return self.node_layer[name]

    def targets(self, node: RuntimeNodeTime) -> tuple[list[int], str]:
        """(layers, rule) for one runtime node by rules 1-4; ([], "") when none applies."""
        found = _unique(self.node(n) for n in node.originals)
        if found:
            return found, "original"
        layer = self.node(node.name)
        if layer is not None:
            return [layer], "name"
        found = _unique(self.tensor_layer.get(t) for t in node.outputs)
        if found:
            return found, "output"
        qdq = _QDQ_NAME.match(node.name)
        for tensor in (node.name, _RUNTIME_SUFFIX.sub("", node.name), *node.originals, qdq["tensor"] if qdq else None):
            if tensor is not None and tensor in self.tensor_layer:
                return [self.tensor_layer[tensor]], "tensor"
        return [], ""


def _unique(layers) -> list[int]:
    out: list[int] = []
    for layer in layers:
        if layer is not None and layer not in out:
            out.append(layer)
    return out


def _reorder_consumer(name: str, resolve) -> list[int]:
    """Rule 5: the layers of the node an OpenVINO reorder "<source>_<from>_<to>_<consumer>" feeds."""
    parts = name.split("_")
    for i in range(1, len(parts) - 2):
        if _REORDER_TOKEN.fullmatch(parts[i]) and _REORDER_TOKEN.fullmatch(parts[i + 1]):
            layers = resolve("_".join(parts[i + 2:]))
            if layers:
                return layers
    return []


def _runtime_family(op_type: str) -> str | None:
    """The op family (profile/kind.py) a runtime's kernel type names, where it names one."""
    return next((family for pattern, family in _RUNTIME_FAMILIES if pattern.search(op_type)), None)


def _match_in_order(profile: ModelProfile, leftovers: list[RuntimeNodeTime], times: list[float]) -> dict[int, int]:
    """Rule 7: {position in ``leftovers``: layer} for the nodes whose kernel type names an op family,
    paired in execution order with that family's layers that no runtime node was tied to."""
    free: dict[str, list[int]] = {}
    for i, layer in enumerate(profile.layers):
        family = op_family(layer)
        if family is not None and not times[i]:
            free.setdefault(family, []).append(i)
    pairs = {}
    for position, node in enumerate(leftovers):
        family = _runtime_family(node.op_type)
        if family is not None and free.get(family):
            pairs[position] = free[family].pop(0)
    return pairs


def map_runtime_nodes(profile: ModelProfile, proto: onnx.ModelProto, runtime: RuntimeProfile, *,
                      collect_wall_ns: int | None = None) -> LayerTimes:
    """Tie every node of ``runtime`` to the layers of ``profile`` (the profile of ``proto``); see the
    module docstring for the rules. Every layer of the profile is listed (time 0 where no runtime
    node was tied to it); the nodes tied to none are the unmapped remainder."""
    lookup = _LayerLookup(profile, proto)
    found = [lookup.targets(node) for node in runtime.nodes]
    by_runtime_name = {node.name: layers for node, (layers, _) in zip(runtime.nodes, found) if layers}
    count = len(profile.layers)
    times = [0.0] * count
    names: list[list[str]] = [[] for _ in range(count)]
    rules: list[list[str]] = [[] for _ in range(count)]

    def tie(node: RuntimeNodeTime, layers: list[int], rule: str) -> None:
        work = [profile.layers[i].macs + profile.layers[i].other_ops for i in layers]
        total = sum(work)
        for i, w in zip(layers, work):
            times[i] += node.time_ns * (w / total if total else 1.0 / len(layers))
            names[i].append(node.name)
            rules[i].append(rule)

    def resolve(name: str) -> list[int]:
        layer = lookup.node(name)
        if layer is None:
            layer = lookup.tensor_layer.get(_RUNTIME_SUFFIX.sub("", name))
        return [layer] if layer is not None else by_runtime_name.get(name, [])

    leftovers: list[RuntimeNodeTime] = []
    previous: list[int] = []
    for node, (layers, rule) in zip(runtime.nodes, found):
        if not layers:
            layers, rule = _reorder_consumer(node.name, resolve), "reorder"
        if not layers and node.folded and previous:
            layers, rule = previous[-1:], "folded"
        if layers:
            tie(node, layers, rule)
            previous = layers
        else:
            leftovers.append(node)
    paired = _match_in_order(profile, leftovers, times)
    unmapped = []
    for position, node in enumerate(leftovers):
        if position in paired:
            tie(node, [paired[position]], "order")
        else:
            unmapped.append(node)
    measured = tuple(
        MeasuredLayer(index=i, name=layer.name, op=layer.op, family=op_family(layer), macs=layer.macs,
                      time_ns=times[i], runtime_nodes=tuple(names[i]), mappings=tuple(rules[i]))
        for i, layer in enumerate(profile.layers))
    return LayerTimes(profiler=runtime.profiler, runs=runtime.runs, layers=measured, unmapped=tuple(unmapped),
                      profiled_latency_ns=runtime.latency_ns, collect_wall_ns=collect_wall_ns,
                      notes=runtime.notes)


def collect_layer_times(backend, loaded, inputs, *, runs: int = DEFAULT_LAYER_RUNS,
                        warmup: int = LAYER_WARMUP_RUNS) -> LayerTimes:
    """The profiling pass on a loaded ``backend`` (after the timed runs, never instead of them):
    ``runs`` profiled runs of ``inputs``, mapped onto the profile of ``loaded``'s FP32 graph.
    ``collect_wall_ns`` is the whole pass: profiling session set-up, runs, trace reading, mapping."""
    start = time.perf_counter_ns()
    runtime = backend.resolved().profile_layers(inputs, runs, warmup)
    profile = profile_model(loaded, "fp32")
    result = map_runtime_nodes(profile, loaded.proto, runtime)
    return replace(result, collect_wall_ns=time.perf_counter_ns() - start)
