"""prepare_model: turn an FP32 ONNX graph into what a backend should load for a precision.

| backend      | fp32   | fp16                              | bf16               | int8                          |
|--------------|--------|-----------------------------------|--------------------|-------------------------------|
| onnxruntime  | as is  | cuda: fp16 graph; tensorrt: as is + trt_fp16_enable; cpu: refused | refused | static QDQ (U8S8) |
| openvino     | as is  | as is + INFERENCE_PRECISION_HINT  | as is + hint       | NNCF-quantized openvino.Model |
| torch        | as is  | module cast in the backend        | module cast        | refused                       |

Whether a device can run a precision at all is the backend's ``supported()``; a combination it
cannot do is a UserError naming the precisions it can.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx

from accelbench.errors import BackendUnavailable, UserError
from accelbench.precision import parse_precision
from accelbench.precision.calibration import calibration_inputs as default_calibration_inputs

# What each backend can do in principle, used when the backend module cannot be asked.
_FALLBACK_SUPPORT: dict[str, dict[str, tuple[str, ...]]] = {
    "onnxruntime": {"cpu": ("fp32", "int8"), "cuda": ("fp32", "fp16", "int8"), "tensorrt": ("fp32", "fp16", "int8")},
    "openvino": {"cpu": ("fp32", "int8")},
    "torch": {"cpu": ("fp32",)},
}


@dataclass(frozen=True)
class PreparedModel:
    """What a backend should load, and how it was made.

    ``model`` is an onnx.ModelProto, except for openvino int8 where it is an openvino.Model.
    ``method``: "none" (the FP32 graph as given), "runtime-hint" (precision set when compiling),
    "onnx-fp16" (graph converted), "ort-static-qdq", "nncf-ptq".
    """

    model: Any
    backend: str
    device: str
    precision: str
    method: str
    calibration_count: int = 0
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "precision", parse_precision(self.precision))

    @property
    def proto(self) -> onnx.ModelProto | None:
        return self.model if isinstance(self.model, onnx.ModelProto) else None


def supported_precisions(backend: str, device: str) -> tuple[str, ...]:
    """The precisions ``backend`` can run on ``device`` here (asks the backend when it is installed)."""
    try:
        from accelbench.backends.base import _BACKENDS, _load_all

        _load_all()
        cls = _BACKENDS.get(backend)
        if cls is not None and cls.is_available():
            return tuple(cls.supported().get(device, ()))
    except ImportError:
        pass
    return _FALLBACK_SUPPORT.get(backend, {}).get(device, ())


def check_supported(backend: str, device: str, precision: str) -> None:
    """UserError when ``backend`` cannot run ``precision`` on ``device`` here."""
    can = supported_precisions(backend, device)
    if precision not in can:
        if not can:
            raise BackendUnavailable(f"device: {backend} cannot run on {device!r} on this machine")
        raise BackendUnavailable(
            f"precision: {backend} on {device} cannot run {precision!r} on this machine; "
            f"it can run: {', '.join(can)}"
        )


def prepare_model(
    proto: onnx.ModelProto,
    backend: str,
    device: str,
    precision: str,
    calibration_inputs: list[dict[str, np.ndarray]] | None = None,
    *,
    check: bool = True,
) -> PreparedModel:
    """What ``backend`` should load to run ``proto`` (FP32) at ``precision`` on ``device``.

    INT8 calibrates on ``calibration_inputs`` or, when None, on 8 seeded synthetic input sets.
    ``check=False`` skips the supported() check (the backend already did it).
    """
    precision = parse_precision(precision)
    device = device.lower()
    if check:
        check_supported(backend, device, precision)
    if precision == "fp32":
        return PreparedModel(proto, backend, device, precision, "none")

    if backend == "onnxruntime":
        if precision == "fp16":
            if device == "tensorrt":
                return PreparedModel(proto, backend, device, precision, "runtime-hint",
                                     notes=("TensorRT builds FP16 engines with trt_fp16_enable",))
            if device == "cpu":
                raise BackendUnavailable(
                    "precision: onnxruntime's CPU provider does not compute in fp16 (it inserts casts); "
                    "on cpu it can run: fp32, int8"
                )
            from accelbench.precision.convert import to_fp16

            return PreparedModel(to_fp16(proto), backend, device, precision, "onnx-fp16")
        if precision == "int8":
            from accelbench.precision.quantize import DEFAULT_ORT_ACTIVATION_TYPE, quantize_onnx_static

            cal = calibration_inputs if calibration_inputs is not None else default_calibration_inputs(proto)
            quantized = quantize_onnx_static(proto, cal, activation_type=DEFAULT_ORT_ACTIVATION_TYPE)
            return PreparedModel(quantized, backend, device, precision, "ort-static-qdq", len(cal),
                                 notes=(f"QDQ, per-channel int8 weights, {DEFAULT_ORT_ACTIVATION_TYPE} activations",))
    elif backend == "openvino":
        if precision in ("fp16", "bf16"):
            return PreparedModel(proto, backend, device, precision, "runtime-hint",
                                 notes=(f"INFERENCE_PRECISION_HINT={precision.replace('fp', 'f')}",))
        if precision == "int8":
            from accelbench.backends.openvino import read_onnx
            from accelbench.precision.quantize import quantize_openvino_nncf

            cal = calibration_inputs if calibration_inputs is not None else default_calibration_inputs(proto)
            quantized = quantize_openvino_nncf(read_onnx(proto), cal)
            return PreparedModel(quantized, backend, device, precision, "nncf-ptq", len(cal),
                                 notes=("NNCF preset PERFORMANCE; non-quantized ops compiled with f32 hint",))
    elif backend == "torch":
        if precision in ("fp16", "bf16"):
            return PreparedModel(proto, backend, device, precision, "runtime-hint",
                                 notes=("module and inputs cast in the torch backend",))
    raise UserError(
        f"precision: {backend} on {device} cannot run {precision!r}; "
        f"it can run: {', '.join(supported_precisions(backend, device)) or 'nothing here'}"
    )
