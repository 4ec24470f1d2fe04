"""OpenVINO backend: CPU, and GPU/NPU where ``openvino.Core().available_devices`` lists them.

Precision is always set explicitly with INFERENCE_PRECISION_HINT: on CPUs with BF16 support
(AVX512_BF16 or AMX) OpenVINO otherwise runs FP32 models in BF16 without saying so.
- fp32 -> hint f32; bf16 -> hint bf16 (only where the device lists BF16 in
  OPTIMIZATION_CAPABILITIES); fp16 -> hint f16 (only where it lists FP16; most CPUs do not);
- int8 -> the model quantized with NNCF (accelbench.precision.quantize), compiled with hint f32 so
  the layers NNCF leaves unquantized run in FP32 and the deviation reflects INT8 alone.

Threads: INFERENCE_NUM_THREADS = config.threads or the physical cores. PERFORMANCE_HINT LATENCY
by default: ``run()`` is one synchronous request, and under THROUGHPUT a single request gets only
one stream's share of the cores. Option ``performance_hint=THROUGHPUT`` is accepted for callers
that drive several requests themselves.

What ran is read back from the compiled model: the precision from the runtime (execution) graph's
``runtimePrecision`` of its compute layers, and fused layers from ``originalLayersNames``.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import tempfile
from collections import Counter
from typing import Any

import numpy as np
import onnx

from accelbench.backends.base import Backend, BackendConfig, RunInfo, register_backend
from accelbench.errors import BackendUnavailable, ModelError, UserError, choice_error

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


def _capabilities(ov_device: str) -> tuple[str, ...]:
    try:
        return tuple(_core().get_property(ov_device, "OPTIMIZATION_CAPABILITIES"))
    except Exception:
        return ()


@register_backend
class OpenVINOBackend(Backend):
    name = "openvino"

    def __init__(self, config: BackendConfig):
        super().__init__(config)
        opts = dict(config.options)
        hint = str(opts.get("performance_hint", "LATENCY")).upper()
        if hint not in PERFORMANCE_HINTS:
            raise choice_error("performance_hint", opts.get("performance_hint"), PERFORMANCE_HINTS)
        self.performance_hint = hint
        self.calibration_count = int(opts.get("calibration_count", 8))
        self._compiled = None
        self._request = None
        self._input_specs = None
        self._prepared_method = "none"

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

    def _ov_device(self) -> str:
        device = self.config.device.lower()
        supported = self.supported()
        if device not in supported:
            allowed = sorted(supported) or ["(none: openvino lists no devices)"]
            raise BackendUnavailable(
                f"device: openvino has no {device!r} device here; available: {', '.join(allowed)}"
            )
        precision = self.config.precision
        if precision not in supported[device]:
            raise BackendUnavailable(
                f"precision: openvino on {device} cannot run {precision!r} on this machine; "
                f"it can run: {', '.join(supported[device])}"
            )
        return DEVICE_NAMES.get(device, device.upper())

    # -- lifecycle ----------------------------------------------------------------------------
    def load(self, model) -> None:
        from accelbench.precision.calibration import calibration_inputs, input_specs
        from accelbench.precision.prepare import prepare_model

        ov_device = self._ov_device()
        proto = _as_proto(model)
        self._input_specs = input_specs(proto)
        cal = calibration_inputs(proto, self.calibration_count) if self.config.precision == "int8" else None
        prepared = prepare_model(proto, "openvino", self.config.device, self.config.precision, cal, check=False)
        self._prepared_method = prepared.method
        ov_model = prepared.model if not isinstance(prepared.model, onnx.ModelProto) else read_onnx(prepared.model)
        threads = self.config.threads or _physical_cores()
        properties = {
            "INFERENCE_PRECISION_HINT": _HINTS[self.config.precision],
            "PERFORMANCE_HINT": self.performance_hint,
        }
        if ov_device == "CPU":
            properties["INFERENCE_NUM_THREADS"] = threads
        try:
            self._compiled = _core().compile_model(ov_model, ov_device, properties)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"model: openvino could not compile it for {ov_device}: {first[:200]}") from None
        self._request = self._compiled.create_infer_request()

    def prepare_inputs(self, seed: int = 0) -> dict[str, np.ndarray]:
        from accelbench.precision.calibration import synthetic_inputs

        self._require_loaded()
        return synthetic_inputs(self._input_specs, seed)

    def run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        # share_inputs avoids a copy per call; the arrays stay alive for the duration of the call.
        result = self._request.infer(inputs, share_inputs=True)
        return [result[out] for out in self._compiled.outputs]

    def outputs_as_numpy(self, outputs: Any) -> list[np.ndarray]:
        return [np.array(o, dtype=np.float32, copy=True) for o in outputs]

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
        self._compiled = None

    def _require_loaded(self) -> None:
        if self._compiled is None:
            raise UserError("openvino backend: call load(model) first")


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


def _as_proto(model) -> onnx.ModelProto:
    """An onnx.ModelProto from a ModelProto, a LoadedModel (``.proto``) or a path."""
    if isinstance(model, onnx.ModelProto):
        return model
    proto = getattr(model, "proto", None)
    if isinstance(proto, onnx.ModelProto):
        return proto
    if isinstance(model, (str, os.PathLike)) and os.path.isfile(model):
        return onnx.load(str(model))
    raise ModelError(f"model: openvino backend takes an ONNX model or file, got {type(model).__name__}")


def _physical_cores() -> int:
    try:
        import psutil

        return psutil.cpu_count(logical=False) or os.cpu_count() or 1
    except ImportError:
        return os.cpu_count() or 1
