"""ONNX Runtime backend on CPU: fp32 and static QDQ int8 run, describe() is honest, fp16 is refused."""

import numpy as np
import pytest

from accelbench.backends.base import BackendConfig, get_backend
from accelbench.errors import BackendUnavailable
from accelbench.models.builder import GraphBuilder

pytest.importorskip("onnxruntime")


def tiny_cnn(batch=1, side=16):
    g = GraphBuilder("tiny", with_weights=True, seed=0)
    x = g.input("input", [batch, 3, side, side])
    y = g.relu(g.conv(x, 3, 16, 3, bias=True))
    y = g.relu(g.conv(y, 16, 16, 3, bias=True, name="conv2"))
    y = g.flatten(g.global_avg_pool(y))
    g.output(g.linear(y, 16, 10), [batch, 10])
    return g.build()


def test_fp32_cpu_runs_and_describes_itself():
    cls = get_backend("onnxruntime")
    assert cls.is_available() and cls.supported()["cpu"] == ("fp32", "int8")
    backend = cls(BackendConfig(device="cpu", precision="fp32", threads=1))
    backend.load(tiny_cnn(batch=2))
    inputs = backend.prepare_inputs(seed=3)
    assert inputs["input"].shape == (2, 3, 16, 16) and inputs["input"].dtype == np.float32
    np.testing.assert_array_equal(inputs["input"], backend.prepare_inputs(seed=3)["input"])  # seeded
    (out,) = backend.outputs_as_numpy(backend.run(inputs))
    assert out.shape == (2, 10) and np.isfinite(out).all()
    info = backend.describe()
    assert info.runtime == "onnxruntime" and info.execution_provider == "CPUExecutionProvider"
    assert info.threads == 1 and info.precision_executed == "fp32"
    assert info.extra["graph_optimization_level"] == "ORT_ENABLE_ALL"
    assert info.extra["float_mac_ops"] == 3 and info.extra["int8_mac_ops"] == 0  # 2 conv + 1 gemm


def test_int8_static_qdq_executes_integer_kernels():
    backend = get_backend("onnxruntime")(BackendConfig(precision="int8", threads=1))
    backend.load(tiny_cnn())
    backend.run(backend.prepare_inputs(0))
    info = backend.describe()
    # Read from the optimized graph: the QDQ convs became QLinearConv (integer kernels).
    assert info.precision_executed == "int8" and info.precision_source == "graph-inspection"
    assert info.extra["optimized_op_counts"].get("QLinearConv") == 2
    assert info.extra["int8_mac_ops"] == 3 and info.extra["float_mac_ops"] == 0


def test_fp16_on_cpu_is_refused_naming_what_it_can_do():
    backend = get_backend("onnxruntime")(BackendConfig(precision="fp16"))
    with pytest.raises(BackendUnavailable, match=r"cannot run 'fp16'.*it can run: fp32, int8"):
        backend.load(tiny_cnn())


def test_unknown_device_is_refused():
    backend = get_backend("onnxruntime")(BackendConfig(device="npu"))
    with pytest.raises(BackendUnavailable, match="device: onnxruntime cannot run on 'npu'"):
        backend.load(tiny_cnn())
