"""INT8 post-training quantization, calibrated on a few seeded synthetic inputs.

- ONNX Runtime: static quantization (``quantize_static``), QDQ format, per-channel weights,
  symmetric INT8 weights and UINT8 activations (U8S8: the VNNI fast path of ONNX Runtime's x86
  kernels; see docs/precision.md for the measurement behind the choice). Dynamic quantization is
  not used for CNNs: its ConvInteger path is slower than FP32 on this CPU.
- OpenVINO: NNCF post-training quantization (``nncf.quantize``, preset PERFORMANCE = symmetric
  weights and activations).

Runtimes are imported inside the functions that use them.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
from typing import Iterable

import numpy as np
import onnx

from accelbench.errors import BackendUnavailable, choice_error

ORT_ACTIVATION_TYPES = ("uint8", "int8")
DEFAULT_ORT_ACTIVATION_TYPE = "uint8"


def quantize_onnx_static(
    proto: onnx.ModelProto,
    calibration_inputs: Iterable[dict[str, np.ndarray]],
    *,
    activation_type: str = DEFAULT_ORT_ACTIVATION_TYPE,
    per_channel: bool = True,
) -> onnx.ModelProto:
    """ONNX Runtime static INT8 quantization in QDQ format; returns the quantized graph.

    Weights: QInt8, symmetric, per output channel. Activations: ``activation_type`` (uint8 or
    int8), ranges from MinMax calibration over ``calibration_inputs``.
    """
    if activation_type not in ORT_ACTIVATION_TYPES:
        raise choice_error("activation_type", activation_type, ORT_ACTIVATION_TYPES)
    try:
        from onnxruntime.quantization import (
            CalibrationDataReader,
            CalibrationMethod,
            QuantFormat,
            QuantType,
            quantize_static,
        )
    except ImportError:
        raise BackendUnavailable(
            "precision int8 (ONNX Runtime static quantization) needs onnxruntime; pip install onnxruntime"
        ) from None

    data = list(calibration_inputs)

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(data)

        def get_next(self):
            return next(self._it, None)

        def rewind(self) -> None:
            self._it = iter(data)

    act = QuantType.QUInt8 if activation_type == "uint8" else QuantType.QInt8
    # quantize_static works on files; a temporary directory keeps the calibration artefacts away.
    with tempfile.TemporaryDirectory(prefix="accelbench-quant-") as tmp:
        src = os.path.join(tmp, "fp32.onnx")
        dst = os.path.join(tmp, "int8.onnx")
        _preprocess_for_quantization(proto, src, tmp)
        logging.getLogger("root").setLevel(logging.WARNING)
        quantize_static(
            src,
            dst,
            _Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=per_channel,
            activation_type=act,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            extra_options={"WeightSymmetric": True, "ActivationSymmetric": activation_type == "int8"},
        )
        quantized = onnx.load(dst)
    quantized.doc_string = (proto.doc_string + " | " if proto.doc_string else "") + (
        f"int8 static QDQ (onnxruntime quantize_static, per_channel={per_channel}, "
        f"weights int8, activations {activation_type}, {len(data)} synthetic calibration inputs)"
    )
    return quantized


def _preprocess_for_quantization(proto: onnx.ModelProto, dst: str, tmp: str) -> None:
    """Fold BatchNormalization into the convolutions (ONNX Runtime's pre-processing) before
    quantizing: an unfolded BN would stay a float op between integer convolutions."""
    raw = os.path.join(tmp, "raw.onnx")
    onnx.save(proto, raw)
    try:
        from onnxruntime.quantization.shape_inference import quant_pre_process

        quant_pre_process(raw, dst, skip_symbolic_shape=True)
    except Exception:  # pre-processing is an optimisation: quantize the plain graph rather than fail
        onnx.save(onnx.shape_inference.infer_shapes(proto), dst)


def qdq_node_counts(proto: onnx.ModelProto) -> dict[str, int]:
    """Counts of QuantizeLinear/DequantizeLinear nodes (a QDQ graph has both)."""
    counts = {"QuantizeLinear": 0, "DequantizeLinear": 0}
    for node in proto.graph.node:
        if node.op_type in counts:
            counts[node.op_type] += 1
    return counts


def quantize_openvino_nncf(ov_model, calibration_inputs: Iterable[dict[str, np.ndarray]]):
    """NNCF post-training INT8 quantization of an ``openvino.Model`` (preset PERFORMANCE)."""
    try:
        import nncf
    except ImportError:
        raise BackendUnavailable(
            "precision int8 on openvino needs NNCF; pip install 'accelbench[openvino]' (nncf)"
        ) from None
    data = list(calibration_inputs)
    # NNCF logs progress bars at INFO; a benchmark's output must stay clean.
    nncf.set_log_level(logging.ERROR)
    input_names = [p.get_any_name() for p in ov_model.inputs]

    def transform(sample: dict[str, np.ndarray]):
        return {name: sample[name] for name in input_names if name in sample}

    # NNCF draws rich progress bars on stdout whatever the log level; `--format json` output
    # must stay parseable, so they go to a buffer.
    with contextlib.redirect_stdout(io.StringIO()):
        return nncf.quantize(
            ov_model,
            nncf.Dataset(data, transform),
            preset=nncf.QuantizationPreset.PERFORMANCE,
            subset_size=len(data),
        )
