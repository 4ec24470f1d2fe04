"""OpenVINO backend on CPU: precision executed is read back (FP32 when asked FP32, not the silent BF16
default), BF16 where the CPU has it, NNCF INT8 with its deviation, refusals, threads, fused layers."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

pytest.importorskip("openvino")

from accelbench.backends.base import BackendConfig, get_backend  # noqa: E402
from accelbench.backends.openvino import OpenVinoOptions  # noqa: E402
from accelbench.errors import UserError  # noqa: E402
from accelbench.precision.deviation import deviation_vs_fp32  # noqa: E402
from test_precision import tiny_cnn  # noqa: E402

OV = get_backend("openvino")


def _cpu_flags() -> set[str]:
    with open("/proc/cpuinfo") as fh:
        return next((set(l.split(":", 1)[1].split()) for l in fh if l.startswith("flags")), set())


HAS_BF16 = bool(_cpu_flags() & {"avx512_bf16", "amx_bf16"})


def _loaded(precision: str, **kw):
    backend = OV(BackendConfig(precision=precision, batch=2, **kw))
    backend.load(tiny_cnn())
    return backend


def test_is_installed_check():
    assert OV.is_available() is (importlib.util.find_spec("openvino") is not None)
    assert "fp32" in OV.supported()["cpu"]
    assert ("bf16" in OV.supported()["cpu"]) is HAS_BF16


def test_fp32_executes_fp32_and_matches_onnxruntime():
    backend = _loaded("fp32")
    info = backend.describe()
    assert info.precision_executed == "fp32" and info.precision_source == "runtime-reported"
    assert info.extra["inference_precision_hint"] == "f32"
    assert set(info.extra["compute_layer_precisions"]) == {"fp32"}
    assert info.runtime == "openvino" and info.threads >= 1
    assert any(f.startswith("Convolution:") for f in info.fused_layers)  # conv+relu fused
    ort = pytest.importorskip("onnxruntime")
    x = backend.prepare_inputs(3)
    ref = ort.InferenceSession(tiny_cnn().SerializeToString(), providers=["CPUExecutionProvider"]).run(None, x)[0]
    out = backend.outputs_as_numpy(backend.run(x))[0]
    # f32 really ran: bf16 would be off by ~1e-2 relative
    assert np.max(np.abs(out - ref)) / np.max(np.abs(ref)) < 1e-4


@pytest.mark.skipif(not HAS_BF16, reason="CPU has no AVX512_BF16/AMX")
def test_bf16_executes_bf16_with_deviation():
    backend = _loaded("bf16")
    info = backend.describe()
    assert info.precision_executed == "bf16" and info.extra["inference_precision_hint"] == "bf16"
    dev = deviation_vs_fp32(backend, tiny_cnn(), "image-classification")
    assert 0.99 < dev.cosine_similarity < 1.0  # really reduced precision, but close
    assert dev.max_relative_error > 1e-5 and dev.reference.startswith("openvino")


def test_nncf_int8_runs_and_records_deviation():
    pytest.importorskip("nncf")
    backend = _loaded("int8")
    info = backend.describe()
    assert info.precision_executed == "int8" and info.extra["model_preparation"] == "nncf-ptq"
    assert info.extra["compute_layer_precisions"].get("int8", 0) >= 2
    assert info.extra["inference_precision_hint"] == "f32"  # unquantized remainder stays fp32
    dev = deviation_vs_fp32(backend, tiny_cnn(), "image-classification")
    assert 0.9 < dev.cosine_similarity < 1.0 and dev.top1_agreement is not None


def test_unsupported_precision_names_supported_ones():
    if "fp16" in OV.supported()["cpu"]:
        pytest.skip("this CPU computes in fp16")
    with pytest.raises(UserError) as info:
        _loaded("fp16")
    assert "cannot run 'fp16'" in str(info.value) and "it can run: fp32" in str(info.value)


def test_unknown_device_and_threads():
    with pytest.raises(UserError, match="no 'tpu' device here; available: cpu"):
        _loaded("fp32", device="tpu")
    assert _loaded("fp32", threads=1).describe().threads == 1
    with pytest.raises(UserError, match="performance_hint"):
        OV(BackendConfig(), OpenVinoOptions(performance_hint="fast"))
