"""Issue 10, class 3: sizes too large for memory are refused before anything allocates, with the
estimate (from the static profile) and the memory available."""

from __future__ import annotations

import onnx
import pytest

from accelbench.errors import UserError
from accelbench.measure.memory import (
    DEFAULT_CALIBRATION_COUNT,
    available_memory_bytes,
    check_fits,
    check_profile_fits,
    estimate_memory,
)
from accelbench.measure.runner import validate_config
from accelbench.models.loader import load_model
from accelbench.profile import profile_model
from accelbench.results.records import BenchConfig
from cli_helpers import cli_exit_code
from test_bad_inputs import corpus

GIB = 2**30


def _profile(model="resnet50", resolution="224", batch=1):
    return profile_model(load_model(model, resolution=resolution, batch=batch, with_weights=False), "fp32")


def test_the_estimate_adds_up_the_profile():
    p = _profile()
    fp32 = estimate_memory(p, "fp32")
    # resnet50: 25,557,032 parameters x 4 bytes, twice (the graph and the runtime's copy)
    assert fp32.weights_bytes == 2 * 4 * 25_557_032
    assert fp32.activation_bytes == p.peak_live_activation_bytes
    assert fp32.io_bytes == 2 * (3 * 224 * 224 * 4 + 1000 * 4)
    assert fp32.calibration_bytes == 0 and fp32.total_bytes == fp32.weights_bytes + fp32.activation_bytes + fp32.io_bytes
    every_output = sum(layer.output_bytes for layer in p.layers)
    int8 = estimate_memory(p, "int8")
    assert int8.weights_bytes == 3 * 4 * 25_557_032
    assert int8.calibration_bytes == DEFAULT_CALIBRATION_COUNT * 3 * 224 * 224 * 4 + every_output
    kept = estimate_memory(p, "int8", calibration_keeps_every_run=True)
    assert kept.calibration_bytes == DEFAULT_CALIBRATION_COUNT * (3 * 224 * 224 * 4 + every_output)


def test_batch_and_size_scale_the_activations():
    base = estimate_memory(_profile(), "fp32")
    assert estimate_memory(_profile(batch=8), "fp32").activation_bytes == 8 * base.activation_bytes
    assert estimate_memory(_profile(resolution="448"), "fp32").activation_bytes == 4 * base.activation_bytes


def test_requests_in_flight_each_hold_their_activations_and_inputs():
    p = _profile()
    one, four = estimate_memory(p, "fp32"), estimate_memory(p, "fp32", streams=4)
    assert four.weights_bytes == one.weights_bytes  # a lower bound: OpenVINO's streams share the weights
    assert (four.activation_bytes, four.io_bytes) == (4 * one.activation_bytes, 4 * one.io_bytes)
    exactly_one = one.total_bytes
    check_profile_fits(p, "fp32", "resnet50", available_bytes=exactly_one, streams="auto")  # auto starts at 1
    with pytest.raises(UserError, match=r"^memory: resnet50 needs at least"):
        check_profile_fits(p, "fp32", "resnet50", available_bytes=exactly_one, streams=4)


def test_check_fits_names_the_estimate_and_the_available_memory():
    estimate = estimate_memory(_profile(), "fp32")
    check_fits(estimate, "resnet50", available_bytes=estimate.total_bytes)  # exactly enough: fine
    with pytest.raises(UserError, match=r"^memory: resnet50 needs at least 0\.2 GiB \(weights 0\.2 GiB, activations "
                                        r".*\), more than the 0\.1 GiB available here; use a smaller --resolution"):
        check_fits(estimate, "resnet50", available_bytes=GIB // 10)
    assert 0 < available_memory_bytes()


def test_onnxruntime_int8_keeps_every_calibration_run():
    p = _profile(resolution="1024")
    ort = estimate_memory(p, "int8", calibration_keeps_every_run=True).total_bytes
    with pytest.raises(UserError, match="INT8 calibration"):
        check_profile_fits(p, "int8", "x", backend="onnxruntime", available_bytes=ort - 1)
    check_profile_fits(p, "int8", "x", backend="openvino", available_bytes=ort - 1)  # one run at a time
    check_profile_fits(p, "int8", "x", backend="auto", available_bytes=ort - 1)  # the least any would hold


@pytest.mark.parametrize("config", [
    BenchConfig(model="resnet50", resolution="65536"),
    BenchConfig(model="resnet50", resolution="224", batch=65536, scenario="offline"),
])
def test_validate_refuses_what_cannot_fit_before_anything_runs(config):
    with pytest.raises(UserError, match=r"^memory: resnet50 @ .* needs at least [\d,.]+ GiB .* available here"):
        validate_config(config)


def test_bench_refuses_with_one_line_and_measures_nothing(tmp_path, capsys):
    db = tmp_path / "r.db"
    assert cli_exit_code(["bench", "resnet50", "-r", "65536", "--db", str(db)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: memory: resnet50 @ 65536, batch 1, fp32 needs at least")
    assert not db.exists()  # refused while the options were checked: no store created, nothing measured


def test_bench_input_shape_too_large_for_memory(tmp_path, capsys):
    path = tmp_path / "dynamic.onnx"
    model = corpus.tiny_model()
    for dim in model.graph.input[0].type.tensor_type.shape.dim[2:]:
        dim.dim_param = "side"
    del model.graph.output[0].type.tensor_type.shape.dim[:]
    onnx.save(model, path)
    assert cli_exit_code(["profile", str(path), "--input-shape", "x=1x3x64x64"]) == 0
    code = cli_exit_code(["bench", str(path), "--input-shape", "x=1x3x65536x65536", "--no-save"])
    err = capsys.readouterr().err
    assert code == 2 and "error: memory:" in err, err
