"""PyTorch eager backend (``torch.inference_mode()``), CPU and CUDA, when torch is installed.

Models: a user's ``torch.nn.Module`` given as MODEL ``torch:package.module:factory`` (the factory
is called with no arguments after ``torch.manual_seed(0)`` and returns the module), optionally with
a state_dict: ``torch:package.module:factory@weights.pt``. Checkpoints are read only with
``torch.load(weights_only=True)``: a pickled module or anything else that needs arbitrary
unpickling is refused. Zoo models and plain ONNX files are not supported on torch yet (there is no
offline ONNX->torch converter); run them on onnxruntime or openvino.

``load_torch_model`` exports the module to ONNX (opset 17) so the profiler and the other backends
can use it; the ONNX graph records the spec in its metadata (``accelbench.torch_spec``), and this
backend rebuilds the eager module from that spec when it is handed the exported graph.

Input shape: ``--input-shape NAME=...`` (positional order) > a module attribute
``example_input_shape`` (batch dim replaced by --batch) > an image [batch, 3, H, W] at
--resolution (default 224).

Precisions: fp32; bf16 on CPUs with AVX512_BF16 or AMX (real BF16 kernels); fp16 on CPU is
refused unless the CPU has AVX512_FP16/AMX_FP16 (elsewhere torch emulates it, slowly); on CUDA
fp32, fp16 and bf16 (where the GPU supports it). INT8 is not offered on torch eager.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import io
import os
import re
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx

from accelbench.backends.base import Backend, BackendConfig, RunInfo, register_backend
from accelbench.errors import BackendUnavailable, ModelError, UserError

SPEC_PREFIX = "torch:"
META_SPEC = "accelbench.torch_spec"
ONNX_OPSET = 17
_SPEC_RE = re.compile(r"^torch:(?P<module>[A-Za-z_][\w.]*):(?P<factory>[A-Za-z_]\w*)(?:@(?P<weights>.+))?$")
_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


@dataclass(frozen=True)
class TorchSpec:
    """``torch:package.module:factory[@weights.pt]`` parsed."""

    module: str
    factory: str
    weights: str | None = None

    @property
    def text(self) -> str:
        return f"{SPEC_PREFIX}{self.module}:{self.factory}" + (f"@{self.weights}" if self.weights else "")


def is_torch_spec(spec: object) -> bool:
    return isinstance(spec, str) and spec.startswith(SPEC_PREFIX)


def parse_torch_spec(spec: str) -> TorchSpec:
    match = _SPEC_RE.match(spec.strip())
    if not match:
        raise ModelError(
            f"model: {spec!r} is not a torch module spec; expected torch:package.module:factory "
            "or torch:package.module:factory@state_dict.pt"
        )
    return TorchSpec(match["module"], match["factory"], match["weights"])


def _torch():
    try:
        import torch
    except ImportError:
        raise BackendUnavailable("backend: torch is not installed; install it with pip install 'accelbench[torch]'") from None
    return torch


def load_state_dict_safely(path: str) -> dict:
    """A state_dict read with ``torch.load(weights_only=True)``; anything needing pickle is refused."""
    torch = _torch()
    if not os.path.isfile(path):
        raise ModelError(f"model: weights file {path!r} does not exist")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError and friends: the file needs arbitrary unpickling
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError(
            f"model: refusing checkpoint {path!r}: it cannot be loaded with torch.load(weights_only=True) "
            f"(pickled objects are not loaded; save a state_dict instead) ({first[:120]})"
        ) from None
    if isinstance(data, dict) and "state_dict" in data and isinstance(data["state_dict"], dict):
        data = data["state_dict"]
    if not isinstance(data, dict):
        raise ModelError(f"model: checkpoint {path!r} holds a {type(data).__name__}, not a state_dict")
    return data


def build_module(spec: TorchSpec | str):
    """Import the factory, call it (after torch.manual_seed(0)), load weights; returns an eval() module."""
    torch = _torch()
    spec = parse_torch_spec(spec) if isinstance(spec, str) else spec
    try:
        mod = importlib.import_module(spec.module)
    except ImportError as exc:
        raise ModelError(f"model: cannot import {spec.module!r} for {spec.text!r} ({exc})") from None
    factory = getattr(mod, spec.factory, None)
    if not callable(factory):
        raise ModelError(f"model: {spec.module!r} has no callable {spec.factory!r}")
    torch.manual_seed(0)  # random-init modules are the same in every process and for the reference run
    module = factory()
    if not isinstance(module, torch.nn.Module):
        raise ModelError(f"model: {spec.text!r} returned {type(module).__name__}, not a torch.nn.Module")
    if spec.weights:
        state = load_state_dict_safely(spec.weights)
        try:
            module.load_state_dict(state)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0]
            raise ModelError(f"model: state_dict {spec.weights!r} does not fit {spec.text!r}: {first[:160]}") from None
    return module.eval()


def export_onnx(module, input_shapes: dict[str, tuple[int, ...]], *, spec_text: str = "") -> onnx.ModelProto:
    """Export ``module`` to ONNX (opset 17) with fixed ``input_shapes`` (positional order)."""
    torch = _torch()
    args = tuple(torch.randn(*shape) for shape in input_shapes.values())
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notices
        try:
            with torch.inference_mode(False), torch.no_grad():
                torch.onnx.export(module, args, buf, opset_version=ONNX_OPSET, dynamo=False,
                                  input_names=list(input_shapes), do_constant_folding=True)
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ModelError(f"model: torch.onnx.export failed for {spec_text or type(module).__name__}: {first[:200]}") from None
    proto = onnx.load_from_string(buf.getvalue())
    if spec_text:
        entry = proto.metadata_props.add()
        entry.key, entry.value = META_SPEC, spec_text
    proto.doc_string = f"exported from torch module {spec_text or type(module).__name__}"
    return proto


def _default_shapes(module, resolution, batch, input_shapes) -> dict[str, tuple[int, ...]]:
    from accelbench.shapes import parse_resolution

    if input_shapes:
        return {name: tuple(int(d) for d in shape) for name, shape in input_shapes.items()}
    example = getattr(module, "example_input_shape", None)
    if example is not None:
        shape = tuple(int(d) for d in example)
        return {"input": ((batch or shape[0]),) + shape[1:]}
    res = parse_resolution(resolution if resolution is not None else "224")
    height, width = _hw(res)
    return {"input": (batch or 1, 3, height, width)}


def _hw(res) -> tuple[int, int]:
    for h_attr, w_attr in (("height", "width"), ("h", "w")):
        if hasattr(res, h_attr) and hasattr(res, w_attr):
            return int(getattr(res, h_attr)), int(getattr(res, w_attr))
    raise ModelError(f"resolution: {res} has no height/width for an image input")


def load_torch_model(spec: str, *, resolution=None, batch=None, input_shapes=None, seed: int = 0):
    """A LoadedModel for ``torch:package.module:factory[@weights]``: the module exported to ONNX."""
    from accelbench.models.loader import LoadedModel

    parsed = parse_torch_spec(spec)
    module = build_module(parsed)
    shapes = _default_shapes(module, resolution, batch, input_shapes)
    proto = export_onnx(module, shapes, spec_text=parsed.text)
    task = str(getattr(module, "accelbench_task", "unknown"))
    first = next(iter(shapes.values()))
    return LoadedModel(f"{parsed.module}:{parsed.factory}", proto, shapes, "torch", int(first[0]) if first else 1,
                       task=task, notes=[f"exported to ONNX opset {ONNX_OPSET} from {parsed.text}"])


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


@register_backend
class TorchBackend(Backend):
    name = "torch"

    def __init__(self, config: BackendConfig):
        super().__init__(config)
        self._module = None
        self._shapes: dict[str, tuple[int, ...]] = {}
        self._spec: str = ""

    @classmethod
    def is_available(cls) -> bool:
        return importlib.util.find_spec("torch") is not None

    @classmethod
    @functools.lru_cache(maxsize=1)
    def supported(cls) -> dict[str, tuple[str, ...]]:
        if not cls.is_available():
            return {}
        flags = _cpu_flags()
        cpu = ["fp32"]
        if flags & {"avx512_fp16", "amx_fp16"}:
            cpu.append("fp16")
        if flags & {"avx512_bf16", "amx_bf16"}:
            cpu.append("bf16")
        out = {"cpu": tuple(cpu)}
        torch = _torch()
        if torch.cuda.is_available():
            cuda = ["fp32", "fp16"]
            if torch.cuda.is_bf16_supported():
                cuda.append("bf16")
            out["cuda"] = tuple(cuda)
        return out

    def _check_device(self) -> str:
        device = self.config.device.lower()
        supported = self.supported()
        if device not in supported:
            raise BackendUnavailable(
                f"device: torch has no {device!r} device here; available: {', '.join(sorted(supported))}"
            )
        if self.config.precision not in supported[device]:
            raise BackendUnavailable(
                f"precision: torch on {device} cannot run {self.config.precision!r} on this machine; "
                f"it can run: {', '.join(supported[device])}"
            )
        return device

    def load(self, model) -> None:
        from accelbench.precision.calibration import input_specs

        torch = _torch()
        device = self._check_device()
        spec, shapes = None, None
        if is_torch_spec(model):
            spec = model
        else:
            proto = model if isinstance(model, onnx.ModelProto) else getattr(model, "proto", None)
            if isinstance(proto, onnx.ModelProto):
                meta = {p.key: p.value for p in proto.metadata_props}
                spec = meta.get(META_SPEC)
                shapes = {s.name: s.shape for s in input_specs(proto)}
        if spec is None:
            raise UserError(
                "model: the torch backend runs user modules given as torch:package.module:factory; "
                "zoo models and ONNX files are not supported on torch yet (use --backend onnxruntime or openvino)"
            )
        module = build_module(spec)
        if shapes is None:  # a bare spec: option "resolution" (default 224) and config.batch
            shapes = _default_shapes(module, dict(self.config.options).get("resolution"), self.config.batch, None)
        self._spec, self._shapes = spec, shapes
        if device == "cpu":
            torch.set_num_threads(self.config.threads or _physical_cores())
        self._device = torch.device("cuda:0" if device == "cuda" else "cpu")
        self._dtype = getattr(torch, _DTYPES[self.config.precision])
        self._module = module.to(device=self._device, dtype=self._dtype)

    def prepare_inputs(self, seed: int = 0) -> tuple:
        torch = _torch()
        self._require_loaded()
        rng = np.random.default_rng(seed)
        return tuple(
            torch.from_numpy(rng.standard_normal(shape, dtype=np.float32)).to(device=self._device, dtype=self._dtype)
            for shape in self._shapes.values()
        )

    def run(self, inputs: tuple) -> Any:
        torch = _torch()
        with torch.inference_mode():
            out = self._module(*inputs)
        if self._device.type == "cuda":
            torch.cuda.synchronize()  # the timed call must include the kernels, not just their launch
        return out

    def outputs_as_numpy(self, outputs: Any) -> list[np.ndarray]:
        torch = _torch()
        flat: list[np.ndarray] = []

        def walk(o):
            if isinstance(o, torch.Tensor):
                flat.append(o.detach().to("cpu", torch.float32).numpy())
            elif isinstance(o, dict):
                for v in o.values():
                    walk(v)
            elif isinstance(o, (list, tuple)):
                for v in o:
                    walk(v)

        walk(outputs)
        return flat

    def describe(self) -> RunInfo:
        torch = _torch()
        self._require_loaded()
        param = next((p for p in self._module.parameters() if p.is_floating_point()), None)
        dtype = param.dtype if param is not None else self._dtype
        executed = {v: k for k, v in _DTYPES.items()}.get(str(dtype).replace("torch.", ""), str(dtype))
        extra: dict[str, Any] = {
            "module": type(self._module).__name__,
            "spec": self._spec,
            "parameters": int(sum(p.numel() for p in self._module.parameters())),
            "inference_mode": True,
            "input_shapes": {k: list(v) for k, v in self._shapes.items()},
        }
        if self._device.type == "cuda":
            extra["device_name"] = torch.cuda.get_device_name(0)
            extra["cuda_version"] = torch.version.cuda
            device = "cuda:0"
        else:
            extra["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
            device = "cpu"
        return RunInfo(
            runtime="torch",
            runtime_version=torch.__version__,
            device=device,
            execution_provider="eager",
            threads=torch.get_num_threads() if device == "cpu" else None,
            precision_requested=self.config.precision,
            precision_executed=executed,
            precision_source="parameter-dtype",  # eager torch runs each op in its inputs' dtype
            fused_layers=None,  # eager mode fuses nothing
            extra=extra,
        )

    def close(self) -> None:
        self._module = None

    def _require_loaded(self) -> None:
        if self._module is None:
            raise UserError("torch backend: call load(model) first")


def _physical_cores() -> int:
    try:
        import psutil

        return psutil.cpu_count(logical=False) or os.cpu_count() or 1
    except ImportError:
        return os.cpu_count() or 1
