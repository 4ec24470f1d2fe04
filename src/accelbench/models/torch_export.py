"""A user's ``torch.nn.Module`` as a model: ``torch:package.module:factory[@weights.pt]`` specs,
safe checkpoint loading, and the export to ONNX that the profiler and the ONNX runtimes use.

torch is imported inside the functions that need it. The factory is called with no arguments
after ``torch.manual_seed(0)`` (random-init modules are the same in every process and for the FP32
reference) and must return the module. Checkpoints are read only with
``torch.load(weights_only=True)``: a pickled module or anything that needs arbitrary unpickling is
refused.

The exported graph records the spec in its metadata (``accelbench.torch_spec``) as provenance only:
nothing reads it back to decide what to import (an ONNX file could name any module there). The spec
the user typed travels in ``ExportedModule.spec`` / ``LoadedModel.torch_spec``.

Input shape: ``--input-shape NAME=...`` (positional order) > a module attribute
``example_input_shape`` (batch dim replaced by --batch) > an image [batch, 3, H, W] at
--resolution (default 224).

Where ``package.module`` is found, the same way in every command and in the measurement worker
(``import_spec_module``, the one resolver): first the directories of ``$ACCELBENCH_TORCH_PATH``
(os.pathsep-separated), else the working directory the command was started in (the user typed the
spec there), then the installed packages. Those directories are on ``sys.path`` only while the
spec's module is imported. A relative ``@weights.pt`` is found in the first of them. The worker
is handed the parent's directories in ``$ACCELBENCH_TORCH_PATH`` (measure.runner), so it resolves
the spec as the parent did, whatever its own working directory. This is the one place user code
runs: code named inside model files is never imported.
"""

from __future__ import annotations

import importlib
import io
import os
import re
import sys
import warnings
from dataclasses import dataclass

import onnx

from accelbench.errors import BackendUnavailable, ModelError, one_line
from accelbench.shapes import parse_resolution
from accelbench.sources import TORCH_SPEC_PREFIX

META_SPEC = "accelbench.torch_spec"
TORCH_PATH_ENV = "ACCELBENCH_TORCH_PATH"
ONNX_OPSET = 17
_SPEC_RE = re.compile(r"^torch:(?P<module>[A-Za-z_][\w.]*):(?P<factory>[A-Za-z_]\w*)(?:@(?P<weights>.+))?$")


@dataclass(frozen=True)
class TorchSpec:
    """``torch:package.module:factory[@weights.pt]`` parsed."""

    module: str
    factory: str
    weights: str | None = None

    @property
    def text(self) -> str:
        return f"{TORCH_SPEC_PREFIX}{self.module}:{self.factory}" + (f"@{self.weights}" if self.weights else "")


@dataclass(frozen=True)
class ExportedModule:
    """A torch module exported to ONNX: what models.loader turns into a LoadedModel."""

    name: str  # package.module:factory
    spec: str  # the torch: spec as typed (normalised), what the torch backend rebuilds
    proto: onnx.ModelProto
    input_shapes: dict[str, tuple[int, ...]]
    batch: int
    task: str
    notes: tuple[str, ...]


def parse_torch_spec(spec: str) -> TorchSpec:
    match = _SPEC_RE.match(spec.strip())
    if not match:
        raise ModelError(
            f"model: {spec!r} is not a torch module spec; expected torch:package.module:factory "
            "or torch:package.module:factory@state_dict.pt"
        )
    return TorchSpec(match["module"], match["factory"], match["weights"])


def import_torch():
    """The torch module, or a one-line BackendUnavailable when it is not installed."""
    try:
        import torch
    except ImportError:
        raise BackendUnavailable("backend: torch is not installed; install it with pip install 'accelbench[torch]'") from None
    return torch


def load_state_dict_safely(path: str) -> dict:
    """A state_dict read with ``torch.load(weights_only=True)``; anything needing pickle is refused."""
    torch = import_torch()
    if not os.path.isfile(path):
        raise ModelError(f"model: weights file {path!r} does not exist")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError and friends: the file needs arbitrary unpickling
        raise ModelError(
            f"model: refusing checkpoint {path!r}: it cannot be loaded with torch.load(weights_only=True) "
            f"(pickled objects are not loaded; save a state_dict instead) ({one_line(exc, 120)})"
        ) from None
    if isinstance(data, dict) and "state_dict" in data and isinstance(data["state_dict"], dict):
        data = data["state_dict"]
    if not isinstance(data, dict):
        raise ModelError(f"model: checkpoint {path!r} holds a {type(data).__name__}, not a state_dict")
    return data


def torch_search_dirs() -> list[str]:
    """Directories searched first for a torch: spec's module (see the module docstring)."""
    listed = [d for d in os.environ.get(TORCH_PATH_ENV, "").split(os.pathsep) if d]
    return [os.path.abspath(d) for d in listed] if listed else [os.getcwd()]


def import_spec_module(spec: TorchSpec):
    """The spec's module, resolved the same way by every command and the worker: the search
    directories first, on sys.path only while it is imported."""
    dirs = [d for d in torch_search_dirs() if d not in sys.path]
    sys.path[:0] = dirs
    try:
        importlib.invalidate_caches()
        return importlib.import_module(spec.module)
    except ImportError as exc:
        where = ", ".join(torch_search_dirs())
        raise ModelError(f"model: cannot import {spec.module!r} for {spec.text!r} ({exc}); looked in {where} "
                         f"(${TORCH_PATH_ENV} or the working directory) and the installed packages") from None
    finally:
        for d in dirs:
            if d in sys.path:
                sys.path.remove(d)


def weights_path(spec: TorchSpec) -> str | None:
    """The spec's ``@weights`` file; a relative path is taken from the first search directory."""
    if not spec.weights:
        return None
    return spec.weights if os.path.isabs(spec.weights) else os.path.join(torch_search_dirs()[0], spec.weights)


def build_module(spec: TorchSpec | str):
    """Import the factory, call it (after torch.manual_seed(0)), load weights; returns an eval() module."""
    torch = import_torch()
    spec = parse_torch_spec(spec) if isinstance(spec, str) else spec
    mod = import_spec_module(spec)
    factory = getattr(mod, spec.factory, None)
    if not callable(factory):
        raise ModelError(f"model: {spec.module!r} has no callable {spec.factory!r}")
    torch.manual_seed(0)  # random-init modules are the same in every process and for the reference run
    module = factory()
    if not isinstance(module, torch.nn.Module):
        raise ModelError(f"model: {spec.text!r} returned {type(module).__name__}, not a torch.nn.Module")
    if spec.weights:
        state = load_state_dict_safely(weights_path(spec))
        try:
            module.load_state_dict(state)
        except RuntimeError as exc:
            raise ModelError(f"model: state_dict {spec.weights!r} does not fit {spec.text!r}: {one_line(exc, 160)}") from None
    return module.eval()


def export_onnx(module, input_shapes: dict[str, tuple[int, ...]], *, spec_text: str = "") -> onnx.ModelProto:
    """Export ``module`` to ONNX (opset 17) with fixed ``input_shapes`` (positional order)."""
    torch = import_torch()
    args = tuple(torch.randn(*shape) for shape in input_shapes.values())
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notices
        try:
            with torch.inference_mode(False), torch.no_grad():
                torch.onnx.export(module, args, buf, opset_version=ONNX_OPSET, dynamo=False,
                                  input_names=list(input_shapes), do_constant_folding=True)
        except Exception as exc:
            raise ModelError(f"model: torch.onnx.export failed for {spec_text or type(module).__name__}: "
                             f"{one_line(exc, 200)}") from None
    proto = onnx.load_from_string(buf.getvalue())
    if spec_text:
        entry = proto.metadata_props.add()
        entry.key, entry.value = META_SPEC, spec_text
    proto.doc_string = f"exported from torch module {spec_text or type(module).__name__}"
    return proto


def onnx_node_module(node_name: str) -> str | None:
    """The qualified name (as ``named_modules()`` gives it) of the module that exported an ONNX node,
    from the exporter's scoped node name: "/layer1/layer1.0/conv1/Conv" -> "layer1.0.conv1",
    "/ReduceMean" -> "" (the root module). None for a name without a scope."""
    if not node_name.startswith("/"):
        return None
    qualified = ""
    for segment in node_name.split("/")[1:-1]:
        # the exporter writes either a child's own name ("conv1") or its qualified one ("layer1.0")
        if qualified and not segment.startswith(qualified + "."):
            segment = f"{qualified}.{segment}"
        qualified = segment
    return qualified


def default_input_shapes(module, resolution, batch, input_shapes) -> dict[str, tuple[int, ...]]:
    """Input shapes by precedence: explicit ``input_shapes`` > ``module.example_input_shape`` > an image."""
    if input_shapes:
        return {name: tuple(int(d) for d in shape) for name, shape in input_shapes.items()}
    example = getattr(module, "example_input_shape", None)
    if example is not None:
        shape = tuple(int(d) for d in example)
        return {"input": ((batch or shape[0]),) + shape[1:]}
    res = parse_resolution(resolution if resolution is not None else "224")
    return {"input": (batch or 1, 3, res.height, res.width)}


def export_torch_spec(spec: str, *, resolution=None, batch=None, input_shapes=None) -> ExportedModule:
    """``torch:package.module:factory[@weights]``: the module built and exported to ONNX."""
    parsed = parse_torch_spec(spec)
    module = build_module(parsed)
    shapes = default_input_shapes(module, resolution, batch, input_shapes)
    proto = export_onnx(module, shapes, spec_text=parsed.text)
    first = next(iter(shapes.values()))
    return ExportedModule(f"{parsed.module}:{parsed.factory}", parsed.text, proto, shapes,
                          int(first[0]) if first else 1,
                          str(getattr(module, "accelbench_task", "unknown")),
                          (f"exported to ONNX opset {ONNX_OPSET} from {parsed.text}",))
