"""FP16 conversion of ONNX graphs (for GPUs, where the runtime really computes in FP16).

Uses ``onnxruntime.transformers.float16``, which ships inside every onnxruntime and
onnxruntime-gpu wheel (onnxconverter-common is not needed). Graph inputs and outputs stay FP32
(``keep_io_types``), so callers feed the same arrays at every precision.
"""

from __future__ import annotations

import onnx

from accelbench.errors import BackendUnavailable


def to_fp16(proto: onnx.ModelProto, *, keep_io_types: bool = True) -> onnx.ModelProto:
    """A copy of ``proto`` with float32 weights and compute converted to float16."""
    try:
        from onnxruntime.transformers.float16 import convert_float_to_float16
    except ImportError:
        raise BackendUnavailable(
            "precision fp16 conversion needs onnxruntime (onnxruntime.transformers.float16); "
            "pip install onnxruntime or onnxruntime-gpu"
        ) from None
    copy = onnx.ModelProto()
    copy.CopyFrom(proto)
    converted = convert_float_to_float16(copy, keep_io_types=keep_io_types, disable_shape_infer=False)
    converted.doc_string = (proto.doc_string + " | " if proto.doc_string else "") + "fp16 (onnxruntime float16 converter)"
    return converted


def fp16_initializer_fraction(proto: onnx.ModelProto) -> float:
    """Fraction of float initializer elements stored as float16 (1.0 for a fully converted graph)."""
    total = half = 0
    for t in proto.graph.initializer:
        if t.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16):
            n = 1
            for d in t.dims:
                n *= d
            total += n
            if t.data_type == onnx.TensorProto.FLOAT16:
                half += n
    return half / total if total else 0.0
