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


def fix_input_shapes(
    proto: onnx.ModelProto,
    resolution: Resolution | None,
    batch: int | None,
    explicit: dict[str, tuple[int, ...]],
) -> tuple[dict[str, tuple[int, ...]], list[str]]:
    """Write static dims into the graph inputs (in place); return them and notes on what was fixed.

    Rules: an explicit ``--input-shape name=...`` wins; otherwise a dynamic first dim is the batch,
    the last two dims of a rank-4 input are height and width from ``--resolution``, and the second
    dim of a rank-2 input is the sequence length (``--resolution`` as an integer).
    """
    inputs = graph_inputs(proto)
    known = {i.name for i in inputs}
    for name in explicit:
        if name not in known:
            raise UserError(f"input-shape: model has no input {name!r}; its inputs are: {', '.join(sorted(known))}")
    shapes: dict[str, tuple[int, ...]] = {}
    notes: list[str] = []
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
            for old, want in zip(dims, new):
                if isinstance(old, int) and old != want:
                    raise UserError(
                        f"input-shape: input {value_info.name!r} has fixed dims {_fmt(dims)}; {_fmt(new)} does not match"
                    )
        else:
            new = list(dims)
            if new and not isinstance(new[0], int):
                new[0] = batch or 1
            elif new and batch is not None and new[0] != batch:
                raise UserError(
                    f"batch: input {value_info.name!r} has a fixed batch of {new[0]}; got --batch {batch}"
                    " (re-export the model with a dynamic batch dimension)"
                )
            # NCHW: H, W at axes 2, 3; channels-last NHWC (fixed small last dim, dynamic 1 and 2): axes 1, 2.
            nhwc = (len(new) == 4 and isinstance(new[3], int) and new[3] <= 4
                    and not isinstance(new[1], int) and not isinstance(new[2], int))
            spatial = (1, 2) if nhwc else (2, 3)
            if resolution is not None and len(new) == 4:
                for axis, size in zip(spatial, (resolution.height, resolution.width)):
                    if not isinstance(new[axis], int):
                        new[axis] = size
                if all(isinstance(dims[a], int) for a in spatial) and \
                        (dims[spatial[0]], dims[spatial[1]]) != (resolution.height, resolution.width):
                    notes.append(
                        f"input {value_info.name}: fixed size {_fmt(dims)}; --resolution {resolution} not applied"
                    )
            if resolution is not None and len(new) == 2 and not isinstance(new[1], int):
                new[1] = resolution.width
            unresolved = [i for i, d in enumerate(new) if not isinstance(d, int)]
            if unresolved:
                names = ", ".join(f"{'?' if dims[i] is None else dims[i]} (axis {i})" for i in unresolved)
                hint = "--resolution WxH or " if len(new) == 4 and set(unresolved) <= set(spatial) else ""
                raise UserError(
                    f"input-shape: input {value_info.name!r} {_fmt(dims)} has dynamic dims {names} that"
                    f" --resolution/--batch cannot fix; pass {hint}--input-shape {value_info.name}="
                    + "x".join(str(d) if isinstance(d, int) else f"<{dims[i] or '?'}>" for i, d in enumerate(new))
                )
            if new != dims:
                notes.append(f"input {value_info.name}: {_fmt(dims)} -> {_fmt(new)}")
        set_input_dims(value_info, new)
        shapes[value_info.name] = tuple(int(d) for d in new)
    return shapes, notes


def _fmt(dims) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]"
