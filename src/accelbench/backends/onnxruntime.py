"""ONNX Runtime backend: CPU execution provider always; CUDA and TensorRT with onnxruntime-gpu.

Devices: ``cpu`` (CPUExecutionProvider), ``cuda`` (CUDAExecutionProvider), ``tensorrt``
(TensorrtExecutionProvider, with CUDA as fallback for nodes TensorRT does not take).
``onnxruntime-gpu`` replaces the plain ``onnxruntime`` wheel (they share the module name):
``pip uninstall -y onnxruntime && pip install 'accelbench[gpu]'``.

Session: graph optimizations ORT_ENABLE_ALL, intra-op threads = config.threads or the physical
cores (psutil.cpu_count(logical=False)), inter-op threads 1, sequential execution.

Several requests in flight (``BackendConfig.streams`` = N > 1, CPU provider): N sessions of the
prepared model, each with 1/N of the intra-op threads; request i runs on session i
(``request_runners``). Each session holds its own copy of the weights.

Options (``OnnxRuntimeOptions``): ``device_id`` (GPU index), ``trt_engine_cache_path`` (TensorRT
engine cache), ``calibration_count`` (INT8 calibration input sets, default 8).

Precisions (``prepare``):

* cpu: fp32; int8 as a static QDQ graph (per-channel weights, calibrated on seeded synthetic
  inputs; a graph that already has QDQ nodes is taken as it is). fp16 is refused: the CPU
  provider has few fp16 kernels and inserts casts, so it would compute in fp32 and report fp16.
* cuda: fp32; fp16 as a graph converted to fp16. (No int8: CUDA EP has no int8 conv kernels;
  a QDQ graph there runs dequantized.)
* tensorrt: fp32; fp16 via ``trt_fp16_enable``; int8 via the QDQ graph + ``trt_int8_enable``.

What ran: ORT cannot report per-kernel precision, so ``describe()`` inspects the *optimized*
graph ORT writes out (``SessionOptions.optimized_model_filepath`` to a temp file):
precision_executed is "int8" when every MAC op (Conv/MatMul/Gemm family) became an integer
kernel (QLinearConv, ConvInteger, MatMulInteger, QLinearMatMul, QGemm, ...), "fp32" when none
did, and "int8+fp32" when some did (counts in ``extra``). For float graphs on the CPU provider
precision_executed is "fp32" (provider-implied). On GPU providers the optimized graph is not
written (compiled TensorRT nodes cannot be serialized); the precision is the one the provider
was configured for ("provider-configured"). Fused layers: op-type counts of the optimized graph
(e.g. "FusedConv x53").
"""

from __future__ import annotations

import importlib.util
import json
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
    PreparedModel,
    cycling,
    physical_cores,
    register_backend,
)
from accelbench.errors import ModelError, UserError, one_line
from accelbench.precision.calibration import InputSpec, calibration_inputs, synthetic_inputs
from accelbench.precision.convert import to_fp16
from accelbench.precision.quantize import DEFAULT_ORT_ACTIVATION_TYPE, quantize_onnx_static
from accelbench.results.layers import RuntimeNodeTime, RuntimeProfile
from accelbench.results.records import RunInfo
from accelbench.shapes import parse_whole_number

DEVICE_PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}
INT8_MAC_OPS = frozenset({"QLinearConv", "ConvInteger", "MatMulInteger", "QLinearMatMul", "QGemm",
                          "QAttention", "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "QLinearConvTranspose",
                          "NhwcQLinearConv"})
FLOAT_MAC_OPS = frozenset({"Conv", "FusedConv", "NchwcConv", "MatMul", "Gemm", "FusedMatMul", "FusedGemm",
                           "ConvTranspose", "Attention", "MultiHeadAttention"})
# Skip writing the optimized graph for models this large: protobuf cannot hold > 2 GB in one file.
INSPECT_MAX_BYTES = 1_500_000_000


@dataclass(frozen=True)
class OnnxRuntimeOptions:
    """Settings of the onnxruntime backend beyond BackendConfig."""

    device_id: int = 0  # GPU index for cuda/tensorrt
    trt_engine_cache_path: str | None = None  # TensorRT engine cache directory; None: no cache
    calibration_count: int = 8  # INT8 calibration input sets

    def __post_init__(self) -> None:
        object.__setattr__(self, "device_id", parse_whole_number(self.device_id, field="device_id", minimum=0,
                                                                 examples="0 or 1"))
        if self.trt_engine_cache_path is not None:
            object.__setattr__(self, "trt_engine_cache_path", os.fspath(self.trt_engine_cache_path))
        object.__setattr__(self, "calibration_count", parse_whole_number(
            self.calibration_count, field="calibration_count", minimum=1, examples="8"))


@register_backend
class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"
    options_class = OnnxRuntimeOptions
    accepts = ("zoo", "file", "torch")  # a torch module runs as its ONNX export
    packages = ("onnxruntime", "onnxruntime-gpu")
    extra = "onnxruntime"
    calibration_keeps_every_run = True  # quantize_static's MinMax calibrator keeps every run's outputs
    options: OnnxRuntimeOptions

    def __init__(self, config: BackendConfig, options: OnnxRuntimeOptions | None = None):
        super().__init__(config, options)
        self.device = config.device.lower()
        self._session = None
        self._inputs_meta: list[tuple[str, tuple[int, ...], str]] = []
        self._op_counts: Counter | None = None
        self._prepared_method = "none"
        self._prepared_notes: tuple[str, ...] = ()
        self._binding = None
        self._arrays: dict[str, np.ndarray] = {}
        self._prepared_proto: onnx.ModelProto | None = None
        self._stream_sessions: list = []  # sessions 2..N when several requests are in flight

    @classmethod
    def is_available(cls) -> bool:
        return importlib.util.find_spec("onnxruntime") is not None

    @classmethod
    def supported(cls) -> dict[str, tuple[str, ...]]:
        if not cls.is_available():
            return {}
        import onnxruntime as ort

        providers = set(ort.get_available_providers())
        out: dict[str, tuple[str, ...]] = {"cpu": ("fp32", "int8")}
        if "CUDAExecutionProvider" in providers:
            out["cuda"] = ("fp32", "fp16")
        if "TensorrtExecutionProvider" in providers:
            out["tensorrt"] = ("fp32", "fp16", "int8")
        return out

    @classmethod
    def refusal_hint(cls, device: str, precision: str | None) -> str:
        if precision is None and device in DEVICE_PROVIDERS:
            return " (install onnxruntime-gpu for cuda/tensorrt: see docs/measurement.md)"
        if device == "cpu" and precision == "fp16":
            return " (its CPU provider would insert casts and compute in fp32)"
        return ""

    def prepare(self, model: onnx.ModelProto,
                calibration_data: list[dict[str, np.ndarray]] | None = None) -> PreparedModel:
        precision, device = self.config.precision, self.device
        if precision == "fp32":
            return PreparedModel(model, self.name, device, precision, "none")
        if precision == "fp16":
            if device == "tensorrt":
                return PreparedModel(model, self.name, device, precision, "runtime-hint",
                                     notes=("TensorRT builds FP16 engines with trt_fp16_enable",))
            if device != "cpu":  # the CPU provider would insert casts and compute in fp32: refused below
                return PreparedModel(to_fp16(model), self.name, device, precision, "onnx-fp16")
        if precision == "int8":
            if _has_qdq(model):
                return PreparedModel(model, self.name, device, precision, "given-qdq")

            cal = calibration_data if calibration_data is not None else \
                calibration_inputs(model, self.options.calibration_count)
            quantized = quantize_onnx_static(model, cal, activation_type=DEFAULT_ORT_ACTIVATION_TYPE)
            return PreparedModel(quantized, self.name, device, precision, "ort-static-qdq", len(cal),
                                 notes=(f"QDQ, per-channel int8 weights, {DEFAULT_ORT_ACTIVATION_TYPE} activations",))
        raise self.precision_refusal(device, precision)

    @property
    def threads(self) -> int:
        return self.config.threads or physical_cores()

    def _providers(self) -> list:
        opts = self.options
        if self.device == "cpu":
            return ["CPUExecutionProvider"]
        cuda = ("CUDAExecutionProvider", {"device_id": opts.device_id})
        if self.device == "cuda":
            return [cuda]
        trt = {"device_id": opts.device_id,
               "trt_fp16_enable": self.config.precision == "fp16",
               "trt_int8_enable": self.config.precision == "int8",
               "trt_engine_cache_enable": bool(opts.trt_engine_cache_path),
               }
        if opts.trt_engine_cache_path:
            trt["trt_engine_cache_path"] = opts.trt_engine_cache_path
        return [("TensorrtExecutionProvider", trt), cuda]

    def load(self, model) -> None:
        self.check_runs(self.device, self.config.precision)
        if self.config.streams > 1 and self.device != "cpu":
            raise UserError(f"streams: onnxruntime keeps several requests in flight on cpu only; "
                            f"got --streams {self.config.streams} on {self.device}")
        prepared = self.prepared(model)
        self._prepared_proto, self._prepared_method = prepared.proto, prepared.method
        self._prepared_notes = tuple(prepared.notes)
        with tempfile.TemporaryDirectory(prefix="accelbench-ort-") as tmp:
            self._session, optimized = self._new_session(tmp)
            if optimized is not None:
                self._op_counts = Counter(node.op_type for node in optimized.graph.node)
        self._inputs_meta = [(i.name, tuple(int(d) for d in i.shape), i.type) for i in self._session.get_inputs()]
        for name, shape, _ in self._inputs_meta:
            if any(d < 1 for d in shape):
                raise ModelError(f"model: input {name!r} still has a dynamic dim {shape}; fix it with --input-shape")
        if self.device != "cpu":
            self._binding = self._session.io_binding()
        with tempfile.TemporaryDirectory(prefix="accelbench-ort-") as tmp:
            self._stream_sessions = [self._new_session(tmp, inspect=False)[0] for _ in range(self.config.streams - 1)]

    def request_runners(self, inputs: list[Any]) -> list:
        """One runner per session (module docstring); request i starts at input set i."""
        self._require_loaded()
        if self.config.streams == 1:
            return super().request_runners(inputs)
        sessions = [self._session, *self._stream_sessions]
        return [cycling(lambda arrays, s=session: s.run(None, arrays), inputs, i) for i, session in enumerate(sessions)]

    def _new_session(self, tmp: str, *, profile: bool = False, inspect: bool = True):
        """(session, optimized graph or None) for the prepared model: the optimized graph ORT writes
        is read back on the CPU provider (for what ran, and the profiler's node outputs) unless
        ``inspect`` is off."""
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # a request's share of the threads; the profiling pass runs one request, on all of them
        so.intra_op_num_threads = self.threads if profile else self.config.threads_per_stream(self.threads)
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.log_severity_level = 3
        if profile:
            so.enable_profiling = True
            so.profile_file_prefix = os.path.join(tmp, "profile")
        serialized = self._prepared_proto.SerializeToString()
        inspect = inspect and self.device == "cpu" and len(serialized) < INSPECT_MAX_BYTES
        optimized_path = os.path.join(tmp, "optimized.onnx")
        if inspect:
            so.optimized_model_filepath = optimized_path
        try:
            session = ort.InferenceSession(serialized, sess_options=so, providers=self._providers())
        except Exception as exc:
            raise ModelError(f"model: onnxruntime could not load it on {self.device}: {one_line(exc, 200)}") from None
        optimized = None
        if inspect and os.path.exists(optimized_path):
            optimized = onnx.load(optimized_path, load_external_data=False)
        return session, optimized

    def profile_layers(self, inputs: Any, runs: int, warmup: int = 1) -> RuntimeProfile:
        """ONNX Runtime's session profiling (``SessionOptions.enable_profiling``) on a second session
        of the same prepared model: each node's ``<name>_kernel_time`` events of the profiled runs
        (those inside the last ``runs`` ``model_run`` events), with the outputs the node writes in
        the optimized graph (CPU provider)."""
        self._require_loaded()
        arrays = self._arrays if self._binding is not None else inputs
        with tempfile.TemporaryDirectory(prefix="accelbench-ort-profile-") as tmp:
            session, optimized = self._new_session(tmp, profile=True)
            run = self._profiling_run(session, arrays)
            latencies = []
            for i in range(warmup + runs):
                start = time.perf_counter_ns()
                run()
                if i >= warmup:
                    latencies.append(time.perf_counter_ns() - start)
            with open(session.end_profiling(), encoding="utf-8") as fh:
                events = json.load(fh)
        outputs = {node.name: tuple(t for t in node.output if t) for node in optimized.graph.node} if optimized else {}
        return RuntimeProfile(
            profiler="onnxruntime session profiling (SessionOptions.enable_profiling)", runs=runs,
            nodes=ort_node_times(events, runs, outputs), latency_ns=tuple(latencies))

    def _profiling_run(self, session, arrays: dict[str, np.ndarray]):
        if self._binding is None:
            return lambda: session.run(None, arrays)
        import onnxruntime as ort

        binding = session.io_binding()
        for name, array in arrays.items():
            binding.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(array, "cuda", self.options.device_id))
        for out in session.get_outputs():
            binding.bind_output(out.name, "cuda", self.options.device_id)
        return lambda: session.run_with_iobinding(binding)

    def prepare_inputs(self, seed: int = 0) -> Any:
        """Seeded synthetic inputs (accelbench.precision.calibration conventions), name -> array.

        On GPU providers the inputs are copied to the device once here and bound, so the timed
        run() measures inference, not host-to-device copies of the inputs.
        """
        self._require_loaded()
        specs = [InputSpec(name, shape, _ORT_TYPES.get(type_, "float32")) for name, shape, type_ in self._inputs_meta]
        return self.inputs_from_arrays(synthetic_inputs(specs, seed))

    def inputs_from_arrays(self, arrays: dict[str, np.ndarray]) -> Any:
        """``arrays`` as ``run`` takes them: as they are on the CPU provider, bound on the device elsewhere."""
        self._require_loaded()
        self._arrays = arrays  # the host copies, for a profiling session's own binding
        if self._binding is None:
            return arrays
        import onnxruntime as ort

        binding = self._session.io_binding()
        device_id = self.options.device_id
        for name, array in arrays.items():
            binding.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(array, "cuda", device_id))
        for out in self._session.get_outputs():
            binding.bind_output(out.name, "cuda", device_id)
        return binding

    def run(self, inputs: Any) -> Any:
        if self._binding is not None and not isinstance(inputs, dict):
            self._session.run_with_iobinding(inputs)
            return inputs
        return self._session.run(None, inputs)

    def outputs_as_numpy(self, outputs: Any) -> list[np.ndarray]:
        if hasattr(outputs, "copy_outputs_to_cpu"):
            outputs = outputs.copy_outputs_to_cpu()
        return [np.asarray(o, dtype=np.float32) for o in outputs]

    def describe(self) -> RunInfo:
        import onnxruntime as ort

        self._require_loaded()
        providers = self._session.get_providers()
        extra: dict[str, Any] = {
            "providers": providers,
            "graph_optimization_level": "ORT_ENABLE_ALL",
            "inter_op_threads": 1,
            "execution_mode": "sequential",
            "model_preparation": self._prepared_method,
        }
        if self.config.streams > 1:
            extra["streams"] = {"requests_in_flight": self.config.streams, "sessions": self.config.streams,
                                "intra_op_threads_per_session": self.config.threads_per_stream(self.threads)}
        if self._prepared_notes:
            extra["preparation_notes"] = list(self._prepared_notes)
        fused = None
        if self._op_counts is not None:
            executed, source, detail = _precision_from_ops(self._op_counts, self.config.precision)
            extra.update(detail)
            extra["optimized_op_counts"] = dict(sorted(self._op_counts.items()))
            fused = tuple(f"{op} x{n}" for op, n in sorted(self._op_counts.items()) if op not in _PLAIN_OPS)
        else:
            executed, source = self.config.precision, "provider-configured"
        return RunInfo(
            runtime="onnxruntime",
            runtime_version=ort.__version__,
            device=self.device if self.device == "cpu" else f"{self.device}:{self.options.device_id}",
            execution_provider=providers[0],
            threads=self.threads if self.device == "cpu" else None,
            precision_requested=self.config.precision,
            precision_executed=executed,
            precision_source=source,
            fused_layers=fused,
            extra=extra,
        )

    def close(self) -> None:
        self._session = None
        self._stream_sessions = []
        self._binding = None
        self._prepared_proto = None

    def _require_loaded(self) -> None:
        if self._session is None:
            raise UserError("onnxruntime backend: call load(model) first")


_ORT_TYPES = {
    "tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
    "tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(int8)": "int8", "tensor(uint8)": "uint8",
    "tensor(bool)": "bool",
}
# Ops that are not interesting as "fused layers" (kept in op counts).
_PLAIN_OPS = frozenset({"Reshape", "Flatten", "Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Identity",
                        "Transpose", "Constant"})


KERNEL_SUFFIX = "_kernel_time"


def ort_node_times(events: list[dict], runs: int, outputs: dict[str, tuple[str, ...]]) -> tuple[RuntimeNodeTime, ...]:
    """Mean time per run of every node in ORT's profile trace (``dur`` is in µs), counting only the
    node events inside the last ``runs`` ``model_run`` events (earlier runs are warm-up), in the
    order the nodes first ran."""
    run_windows = sorted((e["ts"], e["ts"] + e["dur"]) for e in events
                         if e.get("cat") == "Session" and e.get("name") == "model_run")[-runs:]
    first = run_windows[0][0] if run_windows else 0
    totals: dict[str, float] = {}
    op_types: dict[str, str] = {}
    for event in sorted((e for e in events if e.get("cat") == "Node"), key=lambda e: e["ts"]):
        name = event.get("name", "")
        if not name.endswith(KERNEL_SUFFIX) or event["ts"] < first:
            continue
        node = name[: -len(KERNEL_SUFFIX)]
        totals[node] = totals.get(node, 0.0) + float(event.get("dur", 0)) * 1000.0
        op_types.setdefault(node, str((event.get("args") or {}).get("op_name", "")))
    per_run = max(len(run_windows), 1)
    return tuple(RuntimeNodeTime(node, op_types[node], total / per_run, outputs=outputs.get(node, ()))
                 for node, total in totals.items())


def _has_qdq(proto: onnx.ModelProto) -> bool:
    return any(node.op_type in ("QuantizeLinear", "DequantizeLinear") for node in proto.graph.node)


def _precision_from_ops(op_counts: Counter, requested: str) -> tuple[str, str, dict]:
    """(precision_executed, precision_source, detail) from the optimized graph's op counts."""
    int8_ops = sum(n for op, n in op_counts.items() if op in INT8_MAC_OPS)
    float_ops = sum(n for op, n in op_counts.items() if op in FLOAT_MAC_OPS)
    detail = {"int8_mac_ops": int8_ops, "float_mac_ops": float_ops}
    if int8_ops and not float_ops:
        return "int8", "graph-inspection", detail
    if int8_ops:
        return "int8+fp32", "graph-inspection", detail
    # A float graph on the CPU provider computes in fp32 (the only float precision it runs).
    return "fp32", "graph-inspection" if requested == "int8" else "provider-implied", detail
