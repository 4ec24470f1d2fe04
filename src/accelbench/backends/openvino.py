"""OpenVINO backend: CPU, and GPU/NPU where ``openvino.Core().available_devices`` lists them.

Precision is always set explicitly with INFERENCE_PRECISION_HINT: on CPUs with BF16 support
(AVX512_BF16 or AMX) OpenVINO otherwise runs FP32 models in BF16 without saying so.
- fp32 -> hint f32; bf16 -> hint bf16 (only where the device lists BF16 in
  OPTIMIZATION_CAPABILITIES); fp16 -> hint f16 (only where it lists FP16; most CPUs do not);
- int8 -> the model quantized with NNCF (accelbench.precision.quantize), compiled with hint f32 so
  the layers NNCF leaves unquantized run in FP32 and the deviation reflects INT8 alone.

Threads: INFERENCE_NUM_THREADS = config.threads or the physical cores. PERFORMANCE_HINT LATENCY
by default: ``run()`` is one synchronous request, and under THROUGHPUT a single request gets only
one stream's share of the cores. ``OpenVinoOptions(performance_hint="THROUGHPUT")`` is accepted
for callers that drive several requests themselves; ``calibration_count`` (default 8) sets the
INT8 calibration input sets.

Several requests in flight (``BackendConfig.streams`` = N > 1, as ``benchmark_app -nstreams N
-nireq N``): compiled with NUM_STREAMS = N (the threads split between the streams by OpenVINO), and
N infer requests; request i runs on infer request i (``request_runners``; ``infer`` releases the GIL).

``gemm_kernel``: the host GEMM peak at fp32/bf16/int8 through the CPU plugin (measure/gemm_peak.py).

What ran is read back from the compiled model: the precision from the runtime (execution) graph's
``runtimePrecision`` of its compute layers, and fused layers from ``originalLayersNames``.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx

from accelbench.backends.base import (
    Backend,
    BackendConfig,
    GemmKernel,
    PreparedModel,
    cycling,
    physical_cores,
    register_backend,
)
from accelbench.errors import ModelError, UserError, choice_error, one_line
from accelbench.precision.calibration import calibration_inputs, input_specs, synthetic_inputs
from accelbench.precision.quantize import quantize_openvino_nncf
from accelbench.results.layers import RuntimeNodeTime, RuntimeProfile
from accelbench.results.records import RunInfo
from accelbench.shapes import parse_whole_number

# accelbench precision -> INFERENCE_PRECISION_HINT value
_HINTS = {"fp32": "f32", "bf16": "bf16", "fp16": "f16", "int8": "f32"}
# OpenVINO element types in runtimePrecision -> accelbench precision names
_OV_TO_PRECISION = {"f32": "fp32", "bf16": "bf16", "f16": "fp16", "u8": "int8", "i8": "int8", "i32": "int32"}
# Layers that do the multiply-accumulate work; their precision is the precision that ran.
COMPUTE_LAYER_TYPES = ("Convolution", "FullyConnected", "MatMul", "Deconvolution", "GroupConvolution",
                       "ScaledDotProductAttention", "BinaryConvolution")
PERFORMANCE_HINTS = ("LATENCY", "THROUGHPUT")
DEVICE_NAMES = {"cpu": "CPU", "gpu": "GPU", "npu": "NPU"}


@functools.lru_cache(maxsize=1)
def _core():
    import openvino as ov

    return ov.Core()


def read_onnx(model) -> Any:
    """An ``openvino.Model`` from an onnx.ModelProto or a path."""
    core = _core()
    if isinstance(model, (str, os.PathLike)):
        return core.read_model(str(model))
    try:
        return core.read_model(model.SerializeToString())
    except Exception:
        # Models with external data (> 2 GB) cannot go through bytes; a file can.
        with tempfile.TemporaryDirectory(prefix="accelbench-ov-") as tmp:
            path = os.path.join(tmp, "model.onnx")
            onnx.save(model, path, save_as_external_data=True)
            return core.read_model(path)


# GEMM precision asked -> the runtimePrecision values that count as that precision having run
GEMM_PRECISIONS = {"fp32": ("f32",), "bf16": ("bf16",), "int8": ("u8", "i8")}


def _gemm_model(n: int, precision: str):
    import openvino as ov
    import openvino.opset13 as ops

    rng = np.random.default_rng(0)
    a = ops.parameter([n, n], np.float32, name="a")
    weights = ops.constant(rng.standard_normal((n, n)).astype(np.float32))
    if precision == "int8":
        def fake_quantize(node, low, high, levels):
            lo, hi = ops.constant(np.float32(low)), ops.constant(np.float32(high))
            return ops.fake_quantize(node, lo, hi, lo, hi, levels)
        # u8 activations x i8 weights: what OpenVINO's low-precision transformations turn into an int8 GEMM
        product = ops.matmul(fake_quantize(a, 0.0, 1.0, 256), fake_quantize(weights, -4.0, 4.0, 255), False, False)
    else:
        product = ops.matmul(a, weights, False, False)
    return ov.Model([product], [a], f"gemm_{precision}_{n}")


def _gemm_precision(compiled) -> str:
    """runtimePrecision of the GEMM node in the compiled (runtime) graph, e.g. 'bf16' or 'u8'."""
    for op in compiled.get_runtime_model().get_ops():
        info = op.get_rt_info()
        layer = info["layerType"].astype(str) if "layerType" in info else ""
        if layer in ("FullyConnected", "MatMul", "Gemm"):
            return info["runtimePrecision"].astype(str)
    return "unknown"


def _compile(ov_model, ov_device: str, properties: dict):
    try:
        return _core().compile_model(ov_model, ov_device, properties)
    except RuntimeError as exc:
        raise ModelError(f"model: openvino could not compile it for {ov_device}: {one_line(exc, 200)}") from None


def _capabilities(ov_device: str) -> tuple[str, ...]:
    try:
        return tuple(_core().get_property(ov_device, "OPTIMIZATION_CAPABILITIES"))
    except Exception:
        return ()


@dataclass(frozen=True)
class OpenVinoOptions:
    """Settings of the openvino backend beyond BackendConfig."""

    performance_hint: str = "LATENCY"  # PERFORMANCE_HINTS, any case
    calibration_count: int = 8  # NNCF INT8 calibration input sets

    def __post_init__(self) -> None:
        hint = str(self.performance_hint).upper()
        if hint not in PERFORMANCE_HINTS:
            raise choice_error("performance_hint", self.performance_hint, PERFORMANCE_HINTS)
        object.__setattr__(self, "performance_hint", hint)
        object.__setattr__(self, "calibration_count", parse_whole_number(
            self.calibration_count, field="calibration_count", minimum=1, examples="8"))


@register_backend
class OpenVINOBackend(Backend):
    name = "openvino"
    options_class = OpenVinoOptions
    accepts = ("zoo", "file", "torch")  # a torch module runs as its ONNX export
    packages = ("openvino", "nncf")
    extra = "openvino"
    options: OpenVinoOptions

    def __init__(self, config: BackendConfig, options: OpenVinoOptions | None = None):
        super().__init__(config, options)
        self._compiled = None
        self._request = None
        self._stream_requests: list = []  # infer requests 2..N when several are in flight
        self._input_specs = None
        self._prepared_method = "none"
        self._ov_model = None
        self._onnx_names: frozenset[str] = frozenset()
        self._ov_device = "CPU"
        self._properties: dict[str, Any] = {}

    # -- availability -------------------------------------------------------------------------
    @classmethod
    def is_available(cls) -> bool:
        return importlib.util.find_spec("openvino") is not None

    @classmethod
    @functools.lru_cache(maxsize=1)
    def supported(cls) -> dict[str, tuple[str, ...]]:
        if not cls.is_available():
            return {}
        out: dict[str, tuple[str, ...]] = {}
        has_nncf = importlib.util.find_spec("nncf") is not None
        for dev in _core().available_devices:
            family = dev.split(".")[0]
            key = family.lower()
            if key in out:
                continue
            caps = _capabilities(family)
            precisions = ["fp32"] if "FP32" in caps or family == "CPU" else []
            if "FP16" in caps:
                precisions.append("fp16")
            if "BF16" in caps:
                precisions.append("bf16")
            if has_nncf and ("INT8" in caps or family == "CPU"):
                precisions.append("int8")
            out[key] = tuple(precisions)
        return out

    @classmethod
    def gemm_kernel(cls, n: int, precision: str) -> GemmKernel | None:
        """An n x n x n MatMul on the CPU plugin: fp32 and bf16 by INFERENCE_PRECISION_HINT, int8 through
        FakeQuantize (u8 activations x i8 weights). Not runnable (``run`` None, with a note) when
        openvino is missing, refuses it, or runs another precision than asked."""
        if precision not in GEMM_PRECISIONS:
            return None
        if not cls.is_available():
            return GemmKernel(precision, n, "openvino", "none", "not run", None,
                              "not measured: openvino not installed (pip install accelbench[openvino])")
        import openvino as ov

        config = {"INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32"}
        try:
            compiled = _core().compile_model(_gemm_model(n, precision), "CPU", config)
        except RuntimeError as exc:
            return GemmKernel(precision, n, f"openvino {ov.__version__}", "none", "not run", None,
                              f"not measured: OpenVINO refused ({one_line(exc, 120)})")
        executed = _gemm_precision(compiled)
        runtime = f"openvino {ov.__version__.split('-')[0]} CPU"
        if executed not in GEMM_PRECISIONS[precision]:
            return GemmKernel(precision, n, runtime, executed, "runtime graph runtimePrecision", None,
                              f"not measured: OpenVINO ran the GEMM as {executed}, not {precision}")
        request = compiled.create_infer_request()
        x = np.random.default_rng(1).random((n, n), dtype=np.float32)
        return GemmKernel(precision, n, runtime, executed, "runtime graph runtimePrecision",
                          lambda: request.infer({0: x}))

    def prepare(self, model: onnx.ModelProto,
                calibration_data: list[dict[str, np.ndarray]] | None = None) -> PreparedModel:
        """fp32/fp16/bf16: the graph as it is, the precision set by INFERENCE_PRECISION_HINT when
        compiling; int8: the graph quantized with NNCF (an openvino.Model)."""
        precision, device = self.config.precision, self.config.device.lower()
        if precision == "fp32":
            return PreparedModel(model, self.name, device, precision, "none")
        if precision in ("fp16", "bf16"):
            return PreparedModel(model, self.name, device, precision, "runtime-hint",
                                 notes=(f"INFERENCE_PRECISION_HINT={_HINTS[precision]}",))
        if precision == "int8":
            cal = calibration_data if calibration_data is not None else \
                calibration_inputs(model, self.options.calibration_count)
            quantized = quantize_openvino_nncf(read_onnx(model), cal)
            return PreparedModel(quantized, self.name, device, precision, "nncf-ptq", len(cal),
                                 notes=("NNCF preset PERFORMANCE; non-quantized ops compiled with f32 hint",),
                                 original=model)
        raise self.precision_refusal(device, precision)

    # -- lifecycle ----------------------------------------------------------------------------
    def load(self, model) -> None:
        device = self.config.device.lower()
        self.check_runs(device, self.config.precision)
        ov_device = DEVICE_NAMES.get(device, device.upper())
        prepared = self.prepared(model)
        onnx_graph = prepared.original if prepared.original is not None else prepared.proto
        self._input_specs = input_specs(onnx_graph)
        self._onnx_names = frozenset(node.name for node in onnx_graph.graph.node if node.name)
        self._prepared_method = prepared.method
        ov_model = read_onnx(prepared.model) if prepared.proto is not None else prepared.model
        threads = self.config.threads or physical_cores()
        properties = {
            "INFERENCE_PRECISION_HINT": _HINTS[self.config.precision],
            "PERFORMANCE_HINT": self.options.performance_hint,
        }
        if ov_device == "CPU":
            properties["INFERENCE_NUM_THREADS"] = threads
        if self.config.streams > 1:
            properties["NUM_STREAMS"] = self.config.streams
        self._compiled = _compile(ov_model, ov_device, properties)
        self._request = self._compiled.create_infer_request()
        self._stream_requests = [self._compiled.create_infer_request() for _ in range(self.config.streams - 1)]
        self._ov_model, self._ov_device, self._properties = ov_model, ov_device, properties

    def prepare_inputs(self, seed: int = 0) -> dict[str, np.ndarray]:
        self._require_loaded()
        return synthetic_inputs(self._input_specs, seed)

    def request_runners(self, inputs: list[Any]) -> list:
        """One runner per infer request (module docstring); request i starts at input set i."""
        self._require_loaded()
        if self.config.streams == 1:
            return super().request_runners(inputs)
        outputs = self._compiled.outputs

        def runner(request):
            def run(arrays):
                result = request.infer(arrays, share_inputs=True)
                return [result[out] for out in outputs]
            return run

        requests = [self._request, *self._stream_requests]
        return [cycling(runner(request), inputs, i) for i, request in enumerate(requests)]

    def run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        # share_inputs avoids a copy per call; the arrays stay alive for the duration of the call.
        result = self._request.infer(inputs, share_inputs=True)
        return [result[out] for out in self._compiled.outputs]

    def outputs_as_numpy(self, outputs: Any) -> list[np.ndarray]:
        return [np.array(o, dtype=np.float32, copy=True) for o in outputs]

    def profile_layers(self, inputs: dict[str, np.ndarray], runs: int, warmup: int = 1) -> RuntimeProfile:
        """OpenVINO's performance counters (``PERF_COUNT``, ``get_profiling_info()``) of a second
        compilation of the same model with the same properties. Before compiling, each op's
        ``originalLayersNames`` is seeded with the ONNX node it comes from (``seed_original_names``):
        OpenVINO's transformations carry that list onto the nodes that replace and fuse ops
        (Conv+BatchNorm becomes a "Multiply_5040" convolution that still lists "conv1"), so every
        executed node says which ONNX nodes it stands for. ``real_time`` of the EXECUTED nodes, summed over the profiled runs."""
        self._require_loaded()
        model = self._ov_model.clone()
        seed_original_names(model, self._onnx_names)
        compiled = _compile(model, self._ov_device, {**self._properties, "PERF_COUNT": True})
        request = compiled.create_infer_request()
        originals = {}
        for op in compiled.get_runtime_model().get_ops():
            info = op.get_rt_info()
            names = info["originalLayersNames"].astype(str) if "originalLayersNames" in info else ""
            originals[op.get_friendly_name()] = tuple(n for n in names.split(",") if n)
        totals: dict[str, float] = {}
        kinds: dict[str, str] = {}
        latencies = []
        for i in range(warmup + runs):
            start = time.perf_counter_ns()
            request.infer(inputs, share_inputs=True)
            if i < warmup:
                continue
            latencies.append(time.perf_counter_ns() - start)
            for counter in request.get_profiling_info():  # the counters of the last inference
                if str(counter.status).endswith(".EXECUTED"):  # not NOT_RUN or OPTIMIZED_OUT
                    totals[counter.node_name] = (totals.get(counter.node_name, 0.0)
                                                 + counter.real_time.total_seconds() * 1e9)
                    kinds.setdefault(counter.node_name, f"{counter.node_type} ({counter.exec_type})")
        nodes = tuple(RuntimeNodeTime(name, kinds[name], total / runs, originals=originals.get(name, ()))
                      for name, total in totals.items())
        return RuntimeProfile(profiler="openvino performance counters (PERF_COUNT, get_profiling_info)", runs=runs,
                              nodes=nodes, latency_ns=tuple(latencies))

    def describe(self) -> RunInfo:
        import openvino as ov

        self._require_loaded()
        compiled = self._compiled
        hint = compiled.get_property("INFERENCE_PRECISION_HINT")
        hint_name = hint.get_type_name() if hasattr(hint, "get_type_name") else str(hint)
        graph = execution_graph_summary(compiled)
        executed = graph["precision_executed"] or _OV_TO_PRECISION.get(hint_name, hint_name)
        try:
            threads = int(compiled.get_property("INFERENCE_NUM_THREADS"))
        except Exception:
            threads = self.config.threads
        try:
            exec_devices = list(compiled.get_property("EXECUTION_DEVICES"))
        except Exception:
            exec_devices = []
        extra = {
            "inference_precision_hint": hint_name,
            "performance_hint": str(compiled.get_property("PERFORMANCE_HINT")),
            "num_streams": int(compiled.get_property("NUM_STREAMS")),
            "infer_requests": 1 + len(self._stream_requests),  # requests in flight (NUM_STREAMS may be fewer)
            "execution_devices": exec_devices,
            "compute_layer_precisions": graph["compute_layer_precisions"],
            "primitive_types": graph["primitive_types"],
            "runtime_graph_nodes": graph["nodes"],
            "model_preparation": self._prepared_method,
        }
        if self.config.device == "cpu":
            extra["device_name"] = _core().get_property("CPU", "FULL_DEVICE_NAME")
        return RunInfo(
            runtime="openvino",
            runtime_version=ov.__version__,
            device=exec_devices[0] if exec_devices else self.config.device.upper(),
            execution_provider=f"{(exec_devices[0] if exec_devices else 'CPU').split('.')[0]} plugin",
            threads=threads,
            precision_requested=self.config.precision,
            precision_executed=executed,
            precision_source="runtime-reported",
            fused_layers=tuple(graph["fused_layers"]),
            extra=extra,
        )

    def close(self) -> None:
        self._request = None
        self._stream_requests = []
        self._compiled = None
        self._ov_model = None

    def _require_loaded(self) -> None:
        if self._compiled is None:
            raise UserError("openvino backend: call load(model) first")


def seed_original_names(model, onnx_names: frozenset[str]) -> None:
    """Set every op's ``originalLayersNames`` to the ONNX node it comes from: its own name when that
    is an ONNX node's; else (the helper ops the ONNX frontend or NNCF adds: LayerNormalization's
    MVN, a Gemm's MatMul, a fake-quantize) the name its first consumer got, since those ops feed the
    op that carries the node's name."""
    seeds: dict[str, str] = {}
    for op in reversed(model.get_ordered_ops()):
        name = op.get_friendly_name()
        seed = name
        if name not in onnx_names:
            consumers = [target.get_node().get_friendly_name() for out in op.outputs()
                         for target in out.get_target_inputs()]
            seed = next((seeds[c] for c in consumers if c in seeds), name)
        seeds[name] = seed
        op.get_rt_info()["originalLayersNames"] = seed


def execution_graph_summary(compiled) -> dict[str, Any]:
    """What the compiled model's runtime graph says ran.

    precision_executed: the most common runtimePrecision among compute layers
    (COMPUTE_LAYER_TYPES), mapped to accelbench names (u8/i8 -> int8). fused_layers: one entry
    "LayerType: a+b+c" per runtime node that carries more than one original layer.
    """
    precisions: Counter[str] = Counter()
    primitives: Counter[str] = Counter()
    fused: list[str] = []
    nodes = 0
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()

        def get(key: str) -> str:
            return info[key].astype(str) if key in info else ""

        layer_type = get("layerType")
        if layer_type in ("Const", "Input", "Output", "Parameter", "Result"):
            continue
        nodes += 1
        originals = [n for n in get("originalLayersNames").split(",") if n]
        if len(originals) > 1:
            fused.append(f"{layer_type}: {'+'.join(originals)}")
        if layer_type in COMPUTE_LAYER_TYPES:
            precisions[_OV_TO_PRECISION.get(get("runtimePrecision"), get("runtimePrecision"))] += 1
            primitives[get("primitiveType")] += 1
    executed = precisions.most_common(1)[0][0] if precisions else None
    return {
        "precision_executed": executed,
        "compute_layer_precisions": dict(precisions),
        "primitive_types": dict(primitives),
        "fused_layers": fused,
        "nodes": nodes,
    }
