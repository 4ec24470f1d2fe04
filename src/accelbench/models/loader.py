"""Turn a MODEL argument (zoo name, .onnx path or torch: spec) into an ONNX graph with every input dim fixed."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import onnx

from accelbench.errors import ModelError, UserError
from accelbench.models.onnx_reader import load_weightless
from accelbench.models.registry import find_zoo_model, zoo_models
from accelbench.models.torch_export import export_torch_spec, is_torch_spec, torch_spec_of
from accelbench.shapes import Resolution, parse_resolution

# Where a model comes from (LoadedModel.source, BenchConfig.source) -> what to call such models in messages.
MODEL_SOURCES: dict[str, str] = {
    "zoo": "zoo models",
    "file": "ONNX files",
    "torch": "torch modules given as torch:package.module:factory",
}


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


def model_source(model) -> str:
    """The MODEL_SOURCES entry of what a backend is handed: a LoadedModel says it; a torch: spec or a
    graph exported from one is "torch"; any other graph or path counts as "file"."""
    source = getattr(model, "source", None)
    if source in MODEL_SOURCES:
        return source
    if is_torch_spec(model):
        return "torch"
    if isinstance(model, onnx.ModelProto) and torch_spec_of(model) is not None:
        return "torch"
    return "file"


def graph_inputs(proto: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    """Real inputs: graph inputs that are not initializers (old exporters list weights as inputs)."""
    init_names = {t.name for t in proto.graph.initializer}
    return [i for i in proto.graph.input if i.name not in init_names]


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
                           task=exported.task, notes=list(exported.notes))
    zoo = find_zoo_model(spec)
    if zoo is not None and not os.path.exists(spec):
        if input_shapes:
            raise UserError("input-shape: applies to ONNX files only; for zoo models use --resolution and --batch")
        res = parse_resolution(resolution if resolution is not None else zoo.default_resolution)
        proto = zoo.build(res, batch or 1, with_weights=with_weights, seed=seed)
        shapes = {i.name: _static_dims(i) for i in graph_inputs(proto)}
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
        if with_weights:
            proto = onnx.load(str(path), load_external_data=True)
        else:
            # Profiling needs no weight bytes: skip them in the file instead of parsing 250 MB.
            proto = load_weightless(path)
    except Exception as exc:  # protobuf DecodeError, truncated file, missing external data
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise ModelError(f"model: {spec!r} {_unreadable_kind(path)} ({detail[:160]})") from None
    if not proto.graph.node:
        raise ModelError(f"model: {spec!r} is not an ONNX model (no graph nodes found)")
    try:
        onnx.checker.check_model(structure_copy(proto), full_check=False)
    except Exception as exc:
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise ModelError(f"model: {spec!r} fails the ONNX checker: {detail[:200]}") from None
    res = parse_resolution(resolution) if resolution is not None else None
    shapes, notes = fix_input_shapes(proto, res, batch, input_shapes)
    name = path.stem
    return LoadedModel(name, proto, shapes, "file", batch or _batch_of(shapes), res, str(path), notes=notes)


# Initializers above this many elements are left out of the checker's copy (see structure_copy).
_CHECK_DATA_ELEMENTS = 4096


def structure_copy(proto: onnx.ModelProto) -> onnx.ModelProto:
    """The model for onnx's checker without bulky weight data: large initializers become typed graph
    inputs (valid ONNX), so checking a 250 MB model neither copies nor serializes its weights. The
    checker still checks every node, attribute, type and the topological order; weight bytes themselves
    are not re-validated (a cut file already fails to parse)."""
    from accelbench.profile.graph import skeleton_copy

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


def _dims(value_info: onnx.ValueInfoProto) -> list[int | str | None]:
    dims = []
    for d in value_info.type.tensor_type.shape.dim:
        if d.HasField("dim_value") and d.dim_value > 0:
            dims.append(d.dim_value)
        elif d.HasField("dim_param") and d.dim_param:
            dims.append(d.dim_param)
        else:
            dims.append(None)
    return dims


def _static_dims(value_info: onnx.ValueInfoProto) -> tuple[int, ...]:
    return tuple(int(d) for d in _dims(value_info))


def _batch_of(shapes: dict[str, tuple[int, ...]]) -> int:
    first = next(iter(shapes.values()), ())
    return int(first[0]) if first else 1


def fix_input_shapes(
    proto: onnx.ModelProto,
    resolution: Resolution | None,
    batch: int | None,
    explicit: dict[str, tuple[int, ...]],
) -> tuple[dict[str, tuple[int, ...]], list[str]]:
    """Write static dims into the graph inputs (in place); return them and notes on what was fixed.

    Rules: an explicit ``--input-shape name=...`` wins, also over dims the file fixes (the model is
    reshaped, as ``benchmark_app -shape`` and ``trtexec --shapes`` do); otherwise a dynamic first dim
    is the batch, height and width of a rank-4 input come from ``--resolution`` (a fixed-size image
    input is reshaped to it), and the second dim of a rank-2 input is the sequence length
    (``--resolution`` as an integer). A fixed batch is not changed by ``--batch`` (batch sizes are
    often written into Reshape constants): ``--input-shape`` reshapes it deliberately.

    When any dim changed, the graph is checked at the new shapes (profile.graph.shape_conflicts): a
    size fixed inside the graph (a Reshape constant, a Linear layer's width) is a UserError naming
    the node, never a profile or a measurement labelled with a size it did not run at.
    """
    inputs = graph_inputs(proto)
    known = {i.name for i in inputs}
    for name in explicit:
        if name not in known:
            raise UserError(f"input-shape: model has no input {name!r}; its inputs are: {', '.join(sorted(known))}")
    shapes: dict[str, tuple[int, ...]] = {}
    notes: list[str] = []
    reshaped: list[tuple[str, list, list]] = []  # inputs whose fixed dims changed: (name, old, new)
    image_model = any(len(_dims(i)) == 4 for i in inputs if i.type.tensor_type.HasField("shape"))
    took_resolution = False
    for value_info in inputs:
        if not value_info.type.HasField("tensor_type"):
            raise UserError(
                f"model: input {value_info.name!r} is not a tensor (sequence/map/optional inputs are not supported)"
            )
        if not value_info.type.tensor_type.HasField("shape") and value_info.name not in explicit:
            raise UserError(
                f"input-shape: input {value_info.name!r} has no shape (unknown rank); pass"
                f" --input-shape {value_info.name}=1x3x224x224 (its full shape)"
            )
        dims = _dims(value_info)
        if value_info.name in explicit:
            if not value_info.type.tensor_type.HasField("shape"):
                dims = [None] * len(explicit[value_info.name])
            new = list(explicit[value_info.name])
            if len(new) != len(dims):
                raise UserError(
                    f"input-shape: input {value_info.name!r} has rank {len(dims)} ({_fmt(dims)}); got {len(new)} dims"
                )
        else:
            new = list(dims)
            if new and not isinstance(new[0], int):
                new[0] = batch or 1
            elif new and batch is not None and new[0] != batch:
                raise UserError(
                    f"batch: input {value_info.name!r} has a fixed batch of {new[0]}; got --batch {batch}"
                    f" (reshape it with --input-shape {value_info.name}={'x'.join(str(batch if i == 0 else d) for i, d in enumerate(dims))}"
                    " where the graph allows, or re-export the model with a dynamic batch dimension)"
                )
            spatial = _spatial_axes(new)
            if resolution is not None and len(new) == 4:
                for axis, size in zip(spatial, (resolution.height, resolution.width)):
                    new[axis] = size
                took_resolution = True
            # A sequence length: the second dim of rank-2 inputs, unless an image input takes --resolution.
            if resolution is not None and len(new) == 2 and not image_model:
                new[1] = resolution.width
                took_resolution = True
            unresolved = [i for i, d in enumerate(new) if not isinstance(d, int)]
            if unresolved:
                names = ", ".join(f"{'?' if dims[i] is None else dims[i]} (axis {i})" for i in unresolved)
                hint = "--resolution WxH or " if len(new) == 4 and set(unresolved) <= set(spatial) else ""
                raise UserError(
                    f"input-shape: input {value_info.name!r} {_fmt(dims)} has dynamic dims {names} that"
                    f" --resolution/--batch cannot fix; pass {hint}--input-shape {value_info.name}="
                    + "x".join(str(d) if isinstance(d, int) else f"<{dims[i] or '?'}>" for i, d in enumerate(new))
                )
        if any(isinstance(old, int) and old != want for old, want in zip(dims, new)):
            reshaped.append((value_info.name, dims, new))
            notes.append(f"input {value_info.name}: fixed size {_fmt(dims)} reshaped to {_fmt(new)}")
        elif new != dims:
            notes.append(f"input {value_info.name}: {_fmt(dims)} -> {_fmt(new)}")
        shape = value_info.type.tensor_type.shape
        del shape.dim[:]
        for d in new:
            shape.dim.add().dim_value = int(d)
        shapes[value_info.name] = tuple(int(d) for d in new)
    if resolution is not None and not took_resolution and len(explicit) < len(inputs):
        # Never a measurement labelled with a size it did not run at.
        listed = ", ".join(f"{i.name} {_fmt(_dims(i))}" for i in inputs)
        raise UserError(f"resolution: {resolution.spec} fits none of the model's inputs ({listed}): it sets H and W of a "
                        "rank-4 image input or the length of a rank-2 sequence; give --input-shape NAME=DIMS instead")
    if reshaped:
        _forget_stale_shapes(proto)
    if notes:
        _check_graph_fits(proto, shapes, reshaped)
    return shapes, notes


def _spatial_axes(dims: list) -> tuple[int, int]:
    """Height and width axes of a rank-4 input: NCHW (2, 3), or channels-last NHWC (1, 2) when the
    last dim is a small fixed channel count and axis 1 is not."""
    if len(dims) != 4:
        return 2, 3
    channels_last = isinstance(dims[3], int) and dims[3] <= 4 and not (isinstance(dims[1], int) and dims[1] <= 4)
    return (1, 2) if channels_last else (2, 3)


def _forget_stale_shapes(proto: onnx.ModelProto) -> None:
    """After a reshape, the shapes the file records inside the graph and at its outputs are the old
    size's: drop them (runtimes and the profiler infer them again)."""
    del proto.graph.value_info[:]
    for output in proto.graph.output:
        if output.type.HasField("tensor_type") and output.type.tensor_type.HasField("shape"):
            for dim in output.type.tensor_type.shape.dim:
                dim.Clear()


def _check_graph_fits(proto: onnx.ModelProto, shapes: dict[str, tuple[int, ...]],
                      reshaped: list[tuple[str, list, list]]) -> None:
    """Refuse input shapes the graph cannot run at (see fix_input_shapes)."""
    from accelbench.profile.graph import infer_graph_shapes, light_copy, shape_conflicts

    conflicts = shape_conflicts(infer_graph_shapes(light_copy(proto)))
    if not conflicts:
        return
    more = f" (and {len(conflicts) - 1} more)" if len(conflicts) > 1 else ""
    if reshaped:
        name, old, new = reshaped[0]
        raise UserError(
            f"input-shape: input {name!r} has fixed dims {_fmt(old)} and the graph does not allow {_fmt(new)}: "
            f"{conflicts[0]}{more}; use its own size or re-export the model with dynamic axes")
    at = ", ".join(f"{k}={'x'.join(map(str, v))}" for k, v in shapes.items())
    raise UserError(
        f"input-shape: the graph cannot run at {at}: {conflicts[0]}{more}; the exporter wrote a size into the "
        "graph (e.g. torch's legacy exporter fixes nn.MultiheadAttention's key length): use the input shape it "
        "was exported at, or re-export it")


def _fmt(dims) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]"
