"""Turn a MODEL argument (zoo name, .onnx path or torch: spec) into an ONNX graph with every input dim fixed."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import onnx

from accelbench.errors import ModelError, UserError, one_line
from accelbench.files import escapes_folder
from accelbench.models.onnx_reader import load_weightless
from accelbench.models.registry import find_zoo_model, zoo_models
from accelbench.models.torch_export import export_torch_spec
from accelbench.onnxgraph import Reshaped, fix_input_shapes, fmt_dims, graph_inputs, skeleton_copy, static_dims
from accelbench.profile.graph import infer_graph_shapes, light_copy, shape_conflicts
from accelbench.shapes import Resolution, parse_resolution
from accelbench.sources import MODEL_SOURCES, is_torch_spec


@dataclass
class LoadedModel:
    """A model ready to profile or run: every graph input has a static shape."""

    name: str
    proto: onnx.ModelProto
    input_shapes: dict[str, tuple[int, ...]]
    source: str  # one of MODEL_SOURCES
    batch: int
    resolution: Resolution | None = None
    path: str | None = None
    task: str = "unknown"
    notes: list[str] = field(default_factory=list)
    # The torch: spec the user typed (source "torch" only): the one thing the torch backend runs.
    torch_spec: str | None = None


def model_source(model) -> str:
    """The MODEL_SOURCES entry of what a backend is handed: a LoadedModel says it; a torch: spec is
    "torch"; any graph or path counts as "file", whatever its metadata names (a model file never
    selects code to run)."""
    source = getattr(model, "source", None)
    if source in MODEL_SOURCES:
        return source
    return "torch" if is_torch_spec(model) else "file"


def load_model(
    spec: str,
    *,
    resolution: str | Resolution | None = None,
    batch: int | None = None,
    input_shapes: dict[str, tuple[int, ...]] | None = None,
    with_weights: bool = True,
    seed: int = 0,
) -> LoadedModel:
    """Load a zoo model by name or a user's ONNX file, with dynamic dims fixed.

    ``with_weights=False`` skips weight data (zoo: not materialized; files: external data not read and
    large initializers keep dims and dtype only, see models/onnx_reader.py), all the static profiler needs.
    """
    if is_torch_spec(spec):
        # A user's torch.nn.Module (torch:package.module:factory[@state_dict.pt]), exported to ONNX.
        exported = export_torch_spec(spec, resolution=resolution, batch=batch, input_shapes=input_shapes)
        return LoadedModel(exported.name, exported.proto, exported.input_shapes, "torch", exported.batch,
                           task=exported.task, notes=list(exported.notes), torch_spec=exported.spec)
    zoo = find_zoo_model(spec)
    if zoo is not None and not os.path.exists(spec):
        if input_shapes:
            raise UserError("input-shape: applies to ONNX files only; for zoo models use --resolution and --batch")
        res = parse_resolution(resolution if resolution is not None else zoo.default_resolution)
        proto = zoo.build(res, batch or 1, with_weights=with_weights, seed=seed)
        shapes = {i.name: static_dims(i) for i in graph_inputs(proto)}
        return LoadedModel(zoo.name, proto, shapes, "zoo", batch or 1, res, task=zoo.task)
    return _load_file(spec, resolution, batch, input_shapes or {}, with_weights)


def _load_file(spec, resolution, batch, input_shapes, with_weights) -> LoadedModel:
    path = Path(spec)
    if not path.exists():
        names = ", ".join(m.name for m in zoo_models())
        raise ModelError(f"model: {spec!r} is neither a zoo model ({names}) nor an existing file")
    if path.is_dir():
        raise ModelError(f"model: {spec!r} is a directory; give an .onnx file or a zoo model name")
    if path.stat().st_size == 0:
        raise ModelError(f"model: {spec!r} is an empty file, not an ONNX model")
    try:
        # Profiling needs no weight bytes: skip them in the file instead of parsing 250 MB.
        proto = onnx.load(str(path), load_external_data=False) if with_weights else load_weightless(path)
    except Exception as exc:  # protobuf DecodeError, truncated file
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise ModelError(f"model: {spec!r} {_unreadable_kind(path)} ({detail[:160]})") from None
    check_external_data(proto, path.parent, spec)  # before any external file is opened
    if with_weights:
        try:
            onnx.external_data_helper.load_external_data_for_model(proto, str(path.parent))
        except Exception as exc:  # a missing or short external data file
            raise ModelError(f"model: {spec!r}: its external data cannot be read ({one_line(exc, 160)})") from None
    if not proto.graph.node:
        raise ModelError(f"model: {spec!r} is not an ONNX model (no graph nodes found)")
    try:
        onnx.checker.check_model(structure_copy(proto), full_check=False)
    except Exception as exc:
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise ModelError(f"model: {spec!r} fails the ONNX checker: {detail[:200]}") from None
    res = parse_resolution(resolution) if resolution is not None else None
    shapes, notes, reshaped = fix_input_shapes(proto, res, batch, input_shapes)
    if notes:  # a dim changed: the graph must run at the new shapes
        _check_graph_fits(proto, shapes, reshaped)
    name = path.stem
    return LoadedModel(name, proto, shapes, "file", batch or _batch_of(shapes), res, str(path), notes=notes,
                       task=file_task(proto))


def file_task(proto: onnx.ModelProto) -> str:
    """What a user's ONNX file does, as far as its outputs tell: "classification" for one output of
    shape [batch, classes] (logits or scores, classes > 1; top-1 agreement is then computed), else
    "unknown"."""
    outputs = list(proto.graph.output)
    if len(outputs) != 1:
        return "unknown"
    dims = outputs[0].type.tensor_type.shape.dim
    if len(dims) == 2 and dims[1].HasField("dim_value") and dims[1].dim_value > 1:
        return "classification"
    return "unknown"


def _tensors(graph: onnx.GraphProto):
    """Every tensor of ``graph``: initializers and attribute tensors, in subgraphs too."""
    yield from graph.initializer
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            if attr.HasField("g"):
                yield from _tensors(attr.g)
            for sub in attr.graphs:
                yield from _tensors(sub)


def check_external_data(proto: onnx.ModelProto, folder: Path, spec: str) -> None:
    """ModelError when a tensor's external data lies outside the model's folder (absolute, ``..``,
    a symlink or hard link on the way): a model file never makes accelbench read another file. onnx
    (>= 1.21) refuses these too; this check names the tensor and comes before any file is opened."""
    for tensor in _tensors(proto.graph):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        location = next((e.value for e in tensor.external_data if e.key == "location"), "")
        why = escapes_folder(folder, location)
        if why:
            raise ModelError(f"model: {spec!r}: external data outside the model folder: tensor {tensor.name[:80]!r} "
                             f"names {location[:120]!r} ({why}); keep external data files beside the model")


# Initializers above this many elements are left out of the checker's copy (see structure_copy).
_CHECK_DATA_ELEMENTS = 4096


def structure_copy(proto: onnx.ModelProto) -> onnx.ModelProto:
    """The model for onnx's checker without bulky weight data: large initializers become typed graph
    inputs (valid ONNX), so checking a 250 MB model neither copies nor serializes its weights. The
    checker still checks every node, attribute, type and the topological order; weight bytes themselves
    are not re-validated (a cut file already fails to parse)."""
    light = skeleton_copy(proto)
    src, dst = proto.graph, light.graph
    declared = {vi.name for vi in src.input}
    for tensor in src.initializer:
        # External data not loaded (with_weights=False) is not checked either: its file is found relative
        # to the model, which the in-memory checker does not know.
        if math.prod(tensor.dims) <= _CHECK_DATA_ELEMENTS and tensor.data_location != onnx.TensorProto.EXTERNAL:
            dst.initializer.append(tensor)
        elif tensor.name not in declared:
            dst.input.append(onnx.helper.make_tensor_value_info(tensor.name, tensor.data_type, list(tensor.dims)))
    return light


def _unreadable_kind(path: Path) -> str:
    """Why onnx.load failed, in words: a text file, or a binary file that is cut short or corrupt."""
    with open(path, "rb") as f:
        head = f.read(512)
    try:
        text = head.decode("utf-8")
        if text and all(c.isprintable() or c in "\r\n\t" for c in text):
            return "is not an ONNX file (it looks like text)"
    except UnicodeDecodeError:
        pass
    # A serialized ModelProto starts with field 1 (ir_version, varint): byte 0x08.
    if head[:1] == b"\x08":
        return "is a truncated or corrupt ONNX file"
    return "is not a readable ONNX file"


def _batch_of(shapes: dict[str, tuple[int, ...]]) -> int:
    first = next(iter(shapes.values()), ())
    return int(first[0]) if first else 1


def _check_graph_fits(proto: onnx.ModelProto, shapes: dict[str, tuple[int, ...]], reshaped: list[Reshaped]) -> None:
    """Refuse input shapes the graph cannot run at (onnxgraph.fix_input_shapes changed them): a size
    fixed inside the graph (a Reshape constant, a Linear layer's width) is a UserError naming the node,
    never a profile or a measurement labelled with a size it did not run at."""
    conflicts = shape_conflicts(infer_graph_shapes(light_copy(proto)))
    if not conflicts:
        return
    more = f" (and {len(conflicts) - 1} more)" if len(conflicts) > 1 else ""
    if reshaped:
        name, old, new = reshaped[0]
        raise UserError(
            f"input-shape: input {name!r} has fixed dims {fmt_dims(old)} and the graph does not allow {fmt_dims(new)}: "
            f"{conflicts[0]}{more}; use its own size or re-export the model with dynamic axes")
    at = ", ".join(f"{k}={'x'.join(map(str, v))}" for k, v in shapes.items())
    raise UserError(
        f"input-shape: the graph cannot run at {at}: {conflicts[0]}{more}; the exporter wrote a size into the "
        "graph (e.g. torch's legacy exporter fixes nn.MultiheadAttention's key length): use the input shape it "
        "was exported at, or re-export it")
