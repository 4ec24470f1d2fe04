"""Precision: numeric deviation (hand-derived), synthetic inputs, ORT static QDQ INT8, fp16 conversion,
and refusals of precisions a backend cannot do."""

from __future__ import annotations

import math

import numpy as np
import onnx
import pytest

from accelbench.backends.base import BackendConfig, backend_class
from accelbench.errors import UserError
from accelbench.models.builder import GraphBuilder
from accelbench.precision import parse_precision
from accelbench.precision.calibration import calibration_inputs, input_specs, synthetic_inputs
from accelbench.precision.deviation import NumericDeviation, numeric_deviation


def prepare_model(proto: onnx.ModelProto, backend: str, device: str, precision: str):
    """What ``backend`` would load for ``precision`` on ``device``: its prepare hook."""
    return backend_class(backend)(BackendConfig(device=device, precision=precision)).prepare(proto)


def tiny_cnn(batch: int = 2, size: int = 32) -> onnx.ModelProto:
    b = GraphBuilder("tiny_cnn", with_weights=True, seed=0)
    x = b.input("input", [batch, 3, size, size])
    y = b.relu(b.batch_norm(b.conv(x, 3, 16, 3, name="c1"), 16, name="bn1"), name="r1")
    y = b.relu(b.conv(y, 16, 32, 3, stride=2, name="c2"), name="r2")
    y = b.flatten(b.global_avg_pool(y))
    b.linear(y, 32, 10, name="logits")
    b.output("logits", [batch, 10])
    return b.build()


# -- numeric deviation: figures derived by hand ------------------------------------------------
def test_deviation_hand_derived():
    ref = [np.array([[3.0, 0.0, 4.0]])]
    out = [np.array([[3.0, 1.0, 4.0]])]
    dev = numeric_deviation(ref, out, "regression")
    # <r,y> = 25, |r| = 5, |y| = sqrt(26)
    assert dev.cosine_similarity == pytest.approx(25 / (5 * math.sqrt(26)))
    assert dev.max_abs_error == pytest.approx(1.0)
    assert dev.max_relative_error == pytest.approx(1.0 / 4.0)  # relative to max |r| = 4
    assert dev.relative_l2_error == pytest.approx(1.0 / 5.0)
    assert dev.top1_agreement is None
    assert dev.values_compared == 3


def test_deviation_top1_over_runs():
    ref_runs = [[np.array([[0.0, 1.0], [1.0, 0.0]])], [np.array([[5.0, 1.0]])]]
    out_runs = [[np.array([[0.0, 1.0], [0.0, 1.0]])], [np.array([[5.0, 1.0]])]]
    dev = numeric_deviation(ref_runs, out_runs, "image-classification")
    assert dev.rows_compared == 3
    assert dev.top1_agreement == pytest.approx(2 / 3)
    same = numeric_deviation(ref_runs, ref_runs, "image-classification")
    assert same.cosine_similarity == pytest.approx(1.0)
    assert same.max_abs_error == 0.0 and same.top1_agreement == 1.0
    assert NumericDeviation.from_dict(dev.to_dict()) == dev


def test_deviation_shape_mismatch_is_user_error():
    with pytest.raises(UserError, match="sizes differ"):
        numeric_deviation([np.zeros(3)], [np.zeros(4)])


# -- synthetic inputs --------------------------------------------------------------------------
def test_synthetic_inputs_seeded_and_typed():
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["input_ids"], ["out"])], "g",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, 8]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, [1, 8]),
         helper.make_tensor_value_info("pixels", TensorProto.FLOAT, [1, 3, 4, 4])],
        [helper.make_tensor_value_info("out", TensorProto.INT64, [1, 8])])
    specs = input_specs(helper.make_model(graph))
    a, b, c = synthetic_inputs(specs, 1), synthetic_inputs(specs, 1), synthetic_inputs(specs, 2)
    assert np.array_equal(a["pixels"], b["pixels"]) and not np.array_equal(a["pixels"], c["pixels"])
    assert a["input_ids"].dtype == np.int64 and 0 <= a["input_ids"].min() and a["input_ids"].max() < 1000
    assert np.all(a["attention_mask"] == 1)
    assert a["pixels"].dtype == np.float32 and a["pixels"].shape == (1, 3, 4, 4)


# -- ONNX Runtime static QDQ INT8 --------------------------------------------------------------
def test_ort_static_qdq_int8_graph_and_deviation():
    ort = pytest.importorskip("onnxruntime")
    proto = tiny_cnn()
    prepared = prepare_model(proto, "onnxruntime", "cpu", "int8")
    assert prepared.method == "ort-static-qdq" and prepared.calibration_count == 8
    q = prepared.proto
    ops = [n.op_type for n in q.graph.node]
    assert ops.count("QuantizeLinear") >= 3 and ops.count("DequantizeLinear") >= 5
    assert "ConvInteger" not in ops  # not the dynamic-quantization path
    inits = {t.name: t for t in q.graph.initializer}
    # activations quantized to uint8 (U8S8), weights per output channel (one scale per channel)
    act_zp = [inits[n.input[2]] for n in q.graph.node if n.op_type == "QuantizeLinear" and len(n.input) > 2]
    assert act_zp and all(t.data_type == onnx.TensorProto.UINT8 for t in act_zp)
    weight_dq = [n for n in q.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in inits
                 and inits[n.input[0]].data_type == onnx.TensorProto.INT8 and len(inits[n.input[0]].dims) == 4]
    assert weight_dq and max(int(np.prod(inits[n.input[1]].dims)) for n in weight_dq) == 32
    x = synthetic_inputs(input_specs(proto), 2000)
    ref = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, x)
    out = ort.InferenceSession(q.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, x)
    dev = numeric_deviation(ref, out, "image-classification")
    assert 0.98 < dev.cosine_similarity <= 1.0 + 1e-9
    assert 0.0 < dev.max_relative_error < 0.2  # int8 differs, but not wildly


def test_prepare_refuses_what_backend_cannot_do():
    proto = tiny_cnn()
    with pytest.raises(UserError) as info:
        prepare_model(proto, "onnxruntime", "cpu", "fp16")
    assert "it can run: fp32" in str(info.value) and "int8" in str(info.value)
    with pytest.raises(UserError, match="bf16"):
        prepare_model(proto, "onnxruntime", "cpu", "bf16")
    with pytest.raises(UserError, match="choose one of: fp32, fp16, bf16"):
        parse_precision("fp8")


def test_fp16_conversion_for_gpu():
    pytest.importorskip("onnxruntime")
    from accelbench.precision.convert import fp16_initializer_fraction, to_fp16

    proto = tiny_cnn()
    half = to_fp16(proto)
    assert fp16_initializer_fraction(proto) == 0.0
    assert fp16_initializer_fraction(half) == 1.0
    # graph inputs/outputs stay float32 so the same arrays feed every precision
    assert half.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert half.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    prepared = prepare_model(proto, "onnxruntime", "cuda", "fp16")
    assert prepared.method == "onnx-fp16" and fp16_initializer_fraction(prepared.proto) == 1.0


def test_calibration_inputs_differ_from_deviation_inputs():
    proto = tiny_cnn()
    cal = calibration_inputs(proto, 3)
    assert len(cal) == 3 and not np.array_equal(cal[0]["input"], cal[1]["input"])
    dev_in = synthetic_inputs(input_specs(proto), 2000)
    assert all(not np.array_equal(c["input"], dev_in["input"]) for c in cal)
