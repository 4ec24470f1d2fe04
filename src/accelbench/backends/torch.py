"""PyTorch eager backend (``torch.inference_mode()``), CPU and CUDA, when torch is installed.

Models: a user's ``torch.nn.Module`` given as MODEL ``torch:package.module:factory[@weights.pt]``
(loaded by accelbench.models.torch_export: factory called after ``torch.manual_seed(0)``,
checkpoints only with ``torch.load(weights_only=True)``). Handed the LoadedModel of such a spec
(``models.loader.load_model``, which keeps the spec the user typed in ``LoadedModel.torch_spec``),
this backend rebuilds the eager module from that spec. It never imports a module named inside a
model file: the ``accelbench.torch_spec`` metadata an export carries is provenance, not an
instruction, so a bare ONNX graph (or an ONNX file) is refused here whatever its metadata says.
Zoo models and plain ONNX files are not supported on torch yet (there is no offline ONNX->torch
converter); run them on onnxruntime or openvino (``accepts``).

Options (``TorchOptions``): ``resolution`` of the image input when a bare spec (not its ONNX
export) is loaded; default 224.

Precisions (``prepare``: the module and inputs are cast when loading): fp32; bf16 on CPUs with
AVX512_BF16 or AMX (real BF16 kernels); fp16 on CPU is refused unless the CPU has
AVX512_FP16/AMX_FP16 (elsewhere torch emulates it, slowly); on CUDA fp32, fp16 and bf16 (where the
GPU supports it). INT8 is not offered on torch eager.

Several requests in flight (``BackendConfig.streams`` = N > 1): N threads call the same module
(``torch.inference_mode`` is thread-safe and ops release the GIL), each with 1/N of the intra-op
threads, set in the request's own thread on its first query (OpenMP keeps the count per thread).
"""

from __future__ import annotations

import functools
import importlib.util
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx

from accelbench.backends.base import (
    Backend,
    BackendConfig,
    PreparedModel,
    backends_accepting,
    cycling,
    physical_cores,
    register_backend,
)
from accelbench.errors import UserError
from accelbench.models.torch_export import (
    build_module,
    default_input_shapes,
    import_torch,
    onnx_node_module,
)
from accelbench.results.layers import RuntimeNodeTime, RuntimeProfile
from accelbench.results.records import RunInfo
from accelbench.shapes import parse_resolution
from accelbench.sources import is_torch_spec

_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}
MODULE_RANGE = "accelbench.module::"  # the record_function name of a module's forward: prefix + qualified name


def module_self_times(ranges, duration) -> dict[str, float]:
    """Self time of each module (the name after MODULE_RANGE), summed over every call: its ranges'
    ``duration`` less that of the ranges nested directly inside them; in order of first call."""
    totals: dict[str, float] = {}
    stack: list[tuple[float, str]] = []  # (end, name) of the open ranges
    for event in sorted(ranges, key=lambda e: (e.time_range.start, -e.time_range.end)):
        while stack and stack[-1][0] <= event.time_range.start:
            stack.pop()
        name = event.name[len(MODULE_RANGE):]
        own = float(duration(event))
        totals[name] = totals.get(name, 0.0) + own
        if stack:
            parent = stack[-1][1]
            totals[parent] = totals.get(parent, 0.0) - own
        stack.append((event.time_range.end, name))
    return totals


@dataclass(frozen=True)
class TorchOptions:
    """Settings of the torch backend beyond BackendConfig."""

    resolution: str | None = None  # image input size for a bare torch: spec; None: 224

    def __post_init__(self) -> None:
        if self.resolution is not None:
            object.__setattr__(self, "resolution", parse_resolution(self.resolution).spec)


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
    options_class = TorchOptions
    accepts = ("torch",)
    packages = ("torch",)
    extra = "torch"
    options: TorchOptions

    def __init__(self, config: BackendConfig, options: TorchOptions | None = None):
        super().__init__(config, options)
        self._module = None
        self._shapes: dict[str, tuple[int, ...]] = {}
        self._spec: str = ""
        self._node_names: tuple[str, ...] = ()  # of the ONNX export it was loaded from

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
        torch = import_torch()
        if torch.cuda.is_available():
            cuda = ["fp32", "fp16"]
            if torch.cuda.is_bf16_supported():
                cuda.append("bf16")
            out["cuda"] = tuple(cuda)
        return out

    def prepare(self, model: onnx.ModelProto,
                calibration_data: list[dict[str, np.ndarray]] | None = None) -> PreparedModel:
        """The graph as it is (it names the module to rebuild); reduced precisions are a cast of the
        module and its inputs when loading."""
        precision, device = self.config.precision, self.config.device.lower()
        if precision == "fp32":
            return PreparedModel(model, self.name, device, precision, "none")
        if precision in _DTYPES:
            return PreparedModel(model, self.name, device, precision, "runtime-hint",
                                 notes=("module and inputs cast in the torch backend",))
        raise self.precision_refusal(device, precision)

    def load(self, model) -> None:
        torch = import_torch()
        device = self.config.device.lower()
        self.check_runs(device, self.config.precision)
        proto = None
        if is_torch_spec(model):
            spec, shapes = model, None
        else:  # the LoadedModel of a torch: spec the user typed; never a spec read from a model file
            spec = getattr(model, "torch_spec", None) if getattr(model, "source", None) == "torch" else None
            proto = getattr(model, "proto", None)
            shapes = dict(model.input_shapes) if spec else None
        if spec is None:
            raise UserError(
                "model: the torch backend runs user modules given as torch:package.module:factory; "
                "zoo models and ONNX files are not supported on torch yet (use one of these backends: "
                f"{', '.join(backends_accepting('file'))})"
            )
        module = build_module(spec)
        self._node_names = tuple(node.name for node in proto.graph.node) if proto is not None else ()
        if shapes is None:  # a bare spec: option resolution (default 224) and config.batch
            shapes = default_input_shapes(module, self.options.resolution, self.config.batch, None)
        self._spec, self._shapes = spec, shapes
        if device == "cpu":
            torch.set_num_threads(self.config.threads_per_stream(self.config.threads or physical_cores()))
        self._device = torch.device("cuda:0" if device == "cuda" else "cpu")
        self._dtype = getattr(torch, _DTYPES[self.config.precision])
        self._module = module.to(device=self._device, dtype=self._dtype)

    def prepare_inputs(self, seed: int = 0) -> tuple:
        torch = import_torch()
        self._require_loaded()
        rng = np.random.default_rng(seed)
        return tuple(
            torch.from_numpy(rng.standard_normal(shape, dtype=np.float32)).to(device=self._device, dtype=self._dtype)
            for shape in self._shapes.values()
        )

    def inputs_from_arrays(self, arrays: dict[str, np.ndarray]) -> tuple:
        """The user's arrays in the module's argument order; floating ones cast to the run's precision."""
        torch = import_torch()
        self._require_loaded()
        out = []
        for name in self._shapes:
            tensor = torch.from_numpy(np.ascontiguousarray(arrays[name])).to(device=self._device)
            out.append(tensor.to(self._dtype) if tensor.is_floating_point() else tensor)
        return tuple(out)

    def request_runners(self, inputs: list[Any]) -> list:
        """N runners of the same module (module docstring); request i starts at input set i."""
        self._require_loaded()
        if self.config.streams == 1:
            return super().request_runners(inputs)
        torch = import_torch()
        share = self.config.threads_per_stream(self.config.threads or physical_cores())
        local = threading.local()

        def run(arrays):
            if self._device.type == "cpu" and not getattr(local, "threads_set", False):
                torch.set_num_threads(share)
                local.threads_set = True
            return self.run(arrays)

        return [cycling(run, inputs, i) for i in range(self.config.streams)]

    def run(self, inputs: tuple) -> Any:
        torch = import_torch()
        with torch.inference_mode():
            out = self._module(*inputs)
        if self._device.type == "cuda":
            torch.cuda.synchronize()  # the timed call must include the kernels, not just their launch
        return out

    def profile_layers(self, inputs: tuple, runs: int, warmup: int = 1) -> RuntimeProfile:
        """``torch.profiler`` over the eager module with a ``record_function`` range around every
        module's forward (hooks, removed afterwards): each module's *self* time (its range minus its
        sub-modules' ranges; device time on CUDA) is one node, standing for the ONNX nodes the export
        scoped to that module. A leaf module without ONNX nodes was folded away at export (BatchNorm
        into its Conv)."""
        torch = import_torch()
        from torch.autograd.profiler import record_function
        from torch.profiler import ProfilerActivity, profile

        self._require_loaded()
        direct: dict[str, list[str]] = {}
        for node_name in self._node_names:
            owner = onnx_node_module(node_name)
            if owner is not None:
                direct.setdefault(owner, []).append(node_name)
        open_ranges: list = []

        def enter(name: str):
            def hook(module, args):
                scope = record_function(MODULE_RANGE + name)
                scope.__enter__()
                open_ranges.append(scope)
            return hook

        def leave(module, args, output):
            open_ranges.pop().__exit__(None, None, None)

        leaves = {}
        handles = []
        for name, module in self._module.named_modules():
            leaves[name] = not any(True for _ in module.children())
            handles.append(module.register_forward_pre_hook(enter(name)))
            handles.append(module.register_forward_hook(leave))
        cuda = self._device.type == "cuda"
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
        latencies = []
        try:
            for _ in range(warmup):
                self.run(inputs)
            with profile(activities=activities) as prof:
                for _ in range(runs):
                    start = time.perf_counter_ns()
                    self.run(inputs)
                    latencies.append(time.perf_counter_ns() - start)
        finally:
            for handle in handles:
                handle.remove()
        ranges = [e for e in prof.events() if e.name.startswith(MODULE_RANGE)]
        self_us = module_self_times(ranges, lambda e: e.device_time_total if cuda else
                                    e.time_range.end - e.time_range.start)
        nodes = tuple(RuntimeNodeTime(name or "(model)", type(self._module.get_submodule(name)).__name__,
                                      total * 1000.0 / runs, originals=tuple(direct.get(name, ())),
                                      folded=leaves[name] and not direct.get(name))
                      for name, total in self_us.items())
        return RuntimeProfile(profiler=f"torch.profiler ({'CUDA device' if cuda else 'CPU'} time per module"
                                       " forward, record_function ranges)",
                              runs=runs, nodes=nodes, latency_ns=tuple(latencies))

    def outputs_as_numpy(self, outputs: Any) -> list[np.ndarray]:
        torch = import_torch()
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
        torch = import_torch()
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
        if self.config.streams > 1:
            extra["streams"] = {"requests_in_flight": self.config.streams, "threads_per_request": torch.get_num_threads()}
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
