"""torch backend: a user's nn.Module from torch:module:factory, ONNX export, eager run matching the
ONNX runtimes, BF16 where real, refusals (fp16 on CPU, int8, zoo models, pickled checkpoints)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from accelbench.backends.base import BackendConfig, get_backend  # noqa: E402
from accelbench.errors import ModelError, UserError  # noqa: E402
from accelbench.models.loader import load_model  # noqa: E402
from accelbench.precision.deviation import deviation_vs_fp32  # noqa: E402

SPEC = "torch:test_backend_torch:tiny_net"
TORCH = get_backend("torch")


class TinyNet(torch.nn.Module):
    accelbench_task = "image-classification"

    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 5))

    def forward(self, x):
        return self.body(x)


def tiny_net():
    return TinyNet()


@pytest.fixture(scope="module")
def loaded():
    return load_model(SPEC, resolution="16", batch=2)


def test_export_to_onnx(loaded):
    assert loaded.source == "torch" and loaded.input_shapes == {"input": (2, 3, 16, 16)}
    assert [n.op_type for n in loaded.proto.graph.node] == ["Conv", "Relu", "GlobalAveragePool", "Flatten", "Gemm"]
    assert {p.key: p.value for p in loaded.proto.metadata_props}["accelbench.torch_spec"] == SPEC
    assert loaded.proto.opset_import[0].version == 17 and loaded.task == "image-classification"


def test_eager_fp32_matches_onnxruntime_on_export(loaded):
    ort = pytest.importorskip("onnxruntime")
    backend = TORCH(BackendConfig(batch=2))
    backend.load(loaded)
    x = backend.prepare_inputs(7)
    out = backend.outputs_as_numpy(backend.run(x))[0]
    ref = ort.InferenceSession(loaded.proto.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"input": x[0].numpy()})[0]
    assert out.shape == (2, 5) and np.allclose(out, ref, atol=1e-5)
    info = backend.describe()
    assert (info.runtime, info.execution_provider, info.precision_executed) == ("torch", "eager", "fp32")
    assert info.extra["parameters"] == 3 * 8 * 9 + 8 + 8 * 5 + 5


def test_bf16_where_real(loaded):
    if "bf16" not in TORCH.supported()["cpu"]:
        with pytest.raises(UserError, match="it can run: fp32"):
            TORCH(BackendConfig(precision="bf16")).load(loaded)
        return
    backend = TORCH(BackendConfig(precision="bf16", batch=2))
    backend.load(loaded)
    assert backend.describe().precision_executed == "bf16"
    dev = deviation_vs_fp32(backend, loaded, loaded.task)
    assert 0.99 < dev.cosine_similarity <= 1.0 and dev.max_abs_error > 0


def test_refusals(loaded):
    if "fp16" not in TORCH.supported()["cpu"]:
        with pytest.raises(UserError, match="cannot run 'fp16'"):
            TORCH(BackendConfig(precision="fp16")).load(loaded)
    with pytest.raises(UserError, match="cannot run 'int8'.*it can run: fp32"):
        TORCH(BackendConfig(precision="int8")).load(loaded)
    with pytest.raises(UserError, match="zoo models and ONNX files are not supported on torch yet"):
        TORCH(BackendConfig()).load(load_model("mobilenet_v2", resolution="32"))
    with pytest.raises(ModelError, match="expected torch:package.module:factory"):
        load_model("torch:not a spec")
    with pytest.raises(ModelError, match="has no callable 'nope'"):
        load_model("torch:test_backend_torch:nope")


def test_pickled_checkpoint_refused_state_dict_loaded(tmp_path):
    module = tiny_net()
    torch.save(module, tmp_path / "whole.pt")  # a pickled module: needs arbitrary unpickling
    with pytest.raises(ModelError, match="refusing checkpoint .*weights_only=True"):
        load_model(f"{SPEC}@{tmp_path / 'whole.pt'}", resolution="16")
    with torch.no_grad():
        for p in module.parameters():
            p.fill_(0.5)
    torch.save(module.state_dict(), tmp_path / "sd.pt")
    spec = f"{SPEC}@{tmp_path / 'sd.pt'}"
    backend = TORCH(BackendConfig())
    backend.load(spec)
    out = backend.outputs_as_numpy(backend.run((torch.ones(1, 3, 224, 224),)))[0]
    # all weights 0.5: conv output per channel = 27*0.5 + 0.5 = 14 (interior; borders lower), so fc = 0.5*8*mean + 0.5
    assert np.allclose(out, out[0, 0]) and out[0, 0] > 0.5 * 8 * 13 + 0.5


def test_two_requests_in_flight_run_the_module_from_two_threads(loaded):
    from accelbench.measure.concurrency import time_streams
    from accelbench.measure.timing import TimingConfig

    backend = TORCH(BackendConfig(batch=2, streams=2, threads=2))
    backend.load(loaded)
    sets = [backend.prepare_inputs(seed) for seed in (1, 2)]
    runners = backend.request_runners(sets)
    assert len(runners) == 2
    # request i starts at set i, then cycles: the same outputs as one call on that set
    for i, runner in enumerate(runners):
        assert np.allclose(backend.outputs_as_numpy(runner())[0], backend.outputs_as_numpy(backend.run(sets[i]))[0])
    result = time_streams(runners, TimingConfig(time_limit_s=1.0, warmup_max_s=0.1, iterations=40))
    assert result.streams == 2 and result.queries >= 40 and result.stop_reason == "iterations"
    assert result.throughput_per_s(2) == pytest.approx(result.queries * 2 * 1e9 / result.measure_wall_ns)
