"""Helpers on an ONNX graph's inputs and structure that both models/ (loading) and profile/ (static
analysis) need: a leaf module (onnx, shapes and errors only), so neither imports the other for them."""

from __future__ import annotations

from typing import Sequence

import onnx

from accelbench.errors import UserError
from accelbench.shapes import Resolution


def graph_inputs(proto: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    """Real inputs: graph inputs that are not initializers (old exporters list weights as inputs)."""
    init_names = {t.name for t in proto.graph.initializer}
    return [i for i in proto.graph.input if i.name not in init_names]


def skeleton_copy(proto: onnx.ModelProto) -> onnx.ModelProto:
    """The model without its (dense) initializers: opsets, functions, nodes, inputs, outputs,
    value infos and sparse initializers. Callers add back the initializers they need."""
    light = onnx.ModelProto()
    light.ir_version = proto.ir_version
    light.opset_import.extend(proto.opset_import)
    light.functions.extend(proto.functions)
    src, dst = proto.graph, light.graph
    dst.name = src.name
    dst.node.extend(src.node)
    dst.input.extend(src.input)
    dst.output.extend(src.output)
    dst.value_info.extend(src.value_info)
    dst.sparse_initializer.extend(src.sparse_initializer)
    return light


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


def static_dims(value_info: onnx.ValueInfoProto) -> tuple[int, ...]:
    """The dims of an input whose shape is fully static (after fix_input_shapes)."""
    return tuple(int(d) for d in _dims(value_info))


def set_input_dims(value_info: onnx.ValueInfoProto, dims: Sequence[int]) -> None:
    """Write static ``dims`` into a graph input (in place), replacing whatever shape it had."""
    shape = value_info.type.tensor_type.shape
    del shape.dim[:]
    for d in dims:
        shape.dim.add().dim_value = int(d)


Reshaped = tuple[str, list, list]  # an input whose fixed dims changed: (name, old dims, new dims)


def fix_input_shapes(
    proto: onnx.ModelProto,
    resolution: Resolution | None,
    batch: int | None,
    explicit: dict[str, tuple[int, ...]],
) -> tuple[dict[str, tuple[int, ...]], list[str], list[Reshaped]]:
    """Write static dims into the graph inputs (in place); return them, notes on what was fixed, and
    the inputs whose fixed dims were reshaped.

    Rules: an explicit ``--input-shape name=...`` wins, also over dims the file fixes (the model is
    reshaped, as ``benchmark_app -shape`` and ``trtexec --shapes`` do); otherwise a dynamic first dim
    is the batch, height and width of a rank-4 input come from ``--resolution`` (a fixed-size image
    input is reshaped to it), and the second dim of a rank-2 input is the sequence length
    (``--resolution`` as an integer). A fixed batch is not changed by ``--batch`` (batch sizes are
    often written into Reshape constants): ``--input-shape`` reshapes it deliberately. A
    ``--resolution`` that no input takes is refused: never a size label the model did not run at.

    After a reshape the shapes the file recorded inside the graph are dropped (they are the old
    size's). Whether the graph can run at the new shapes is the caller's check (models/loader.py
    checks it with profile.graph.shape_conflicts; this leaf module cannot import the profiler).
    """
    inputs = graph_inputs(proto)
    known = {i.name for i in inputs}
    for name in explicit:
        if name not in known:
            raise UserError(f"input-shape: model has no input {name!r}; its inputs are: {', '.join(sorted(known))}")
    shapes: dict[str, tuple[int, ...]] = {}
    notes: list[str] = []
    reshaped: list[Reshaped] = []
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
                    f"input-shape: input {value_info.name!r} has rank {len(dims)} ({fmt_dims(dims)}); got {len(new)} dims"
                )
        else:
            new = list(dims)
            if new and not isinstance(new[0], int):
                new[0] = batch or 1
            elif new and batch is not None and new[0] != batch:
                reshape = "x".join(str(batch if i == 0 else d) for i, d in enumerate(dims))
                raise UserError(
                    f"batch: input {value_info.name!r} has a fixed batch of {new[0]}; got --batch {batch}"
                    f" (reshape it with --input-shape {value_info.name}={reshape}"
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
                    f"input-shape: input {value_info.name!r} {fmt_dims(dims)} has dynamic dims {names} that"
                    f" --resolution/--batch cannot fix; pass {hint}--input-shape {value_info.name}="
                    + "x".join(str(d) if isinstance(d, int) else f"<{dims[i] or '?'}>" for i, d in enumerate(new))
                )
        if any(isinstance(old, int) and old != want for old, want in zip(dims, new)):
            reshaped.append((value_info.name, dims, new))
            notes.append(f"input {value_info.name}: fixed size {fmt_dims(dims)} reshaped to {fmt_dims(new)}")
        elif new != dims:
            notes.append(f"input {value_info.name}: {fmt_dims(dims)} -> {fmt_dims(new)}")
        set_input_dims(value_info, new)
        shapes[value_info.name] = tuple(int(d) for d in new)
    if resolution is not None and not took_resolution and len(explicit) < len(inputs):
        # Never a measurement labelled with a size it did not run at.
        listed = ", ".join(f"{i.name} {fmt_dims(_dims(i))}" for i in inputs)
        raise UserError(f"resolution: {resolution.spec} fits none of the model's inputs ({listed}): it sets H and W of a "
                        "rank-4 image input or the length of a rank-2 sequence; give --input-shape NAME=DIMS instead")
    if reshaped:
        _forget_stale_shapes(proto)
    return shapes, notes, reshaped


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


def fmt_dims(dims) -> str:
    """Dims for messages: "[1, 3, ?, ?]"."""
    return "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]"
