"""Real inputs and calibration data when the user has them (--inputs, --calibration-data): the
formats, every check against the model (one-line errors naming the field), and what they change:
the timed queries run on them, the deviation is on them (inputs_source "user", top-1 agreement
meaningful with the user's own weights), INT8 calibrates on them."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from accelbench.errors import UserError
from accelbench.measure.runner import run_config
from accelbench.precision.calibration import InputSpec
from accelbench.precision.user_data import load_input_sets
from accelbench.results.records import BenchConfig
from cli_helpers import cli_exit_code

IMAGE = InputSpec("images", (2, 3, 4, 4), "float32")
TOKENS = InputSpec("input_ids", (1, 8), "int64")


def test_an_npz_holds_one_set_a_stack_or_samples_to_batch(tmp_path):
    rng = np.random.default_rng(0)
    one, stack, samples = (tmp_path / n for n in ("one.npz", "stack.npz", "samples.npz"))
    np.savez(one, images=rng.standard_normal((2, 3, 4, 4)).astype(np.float32),
             input_ids=np.arange(8).reshape(1, 8))
    np.savez(stack, images=rng.standard_normal((5, 2, 3, 4, 4)), input_ids=np.zeros((5, 1, 8), np.int32))
    np.savez(samples, images=rng.standard_normal((7, 3, 4, 4)).astype(np.float32))
    assert len(load_input_sets(one, [IMAGE, TOKENS])) == 1
    sets = load_input_sets(stack, [IMAGE, TOKENS])
    assert len(sets) == 5 and sets.sets[0]["images"].dtype == np.float32 and sets.sets[0]["input_ids"].dtype == np.int64
    assert "images cast from float64 to float32" in sets.notes and "input_ids cast from int32 to int64" in sets.notes
    # 7 images for a batch of 2: 3 sets, the last image left out (and said so)
    images = load_input_sets(samples, [IMAGE])
    assert len(images) == 3 and images.sets[2]["images"].shape == (2, 3, 4, 4)
    assert "the last 1 of 7 samples in samples.npz do not fill a batch of 2" in images.notes[0]
    with pytest.raises(UserError, match="one.npz has array\\(s\\) 'input_ids' that are not inputs of the model"):
        load_input_sets(one, [IMAGE])


def test_a_folder_and_npy_files_for_a_one_input_model(tmp_path):
    rng = np.random.default_rng(1)
    for i in range(3):
        np.save(tmp_path / f"img{i}.npy", rng.standard_normal((2, 3, 4, 4)).astype(np.float32))
    np.savez(tmp_path / "more.npz", arr_0=rng.standard_normal((2, 2, 3, 4, 4)).astype(np.float32))  # np.savez(path, x)
    sets = load_input_sets(tmp_path, [IMAGE])
    assert len(sets) == 5  # img0, img1, img2, then more.npz's two: in name order
    np.testing.assert_array_equal(sets.sets[0]["images"], np.load(tmp_path / "img0.npy"))
    assert sets.describe("inputs").startswith(f"inputs: 5 input set(s) from {tmp_path} (user data)")


@pytest.mark.parametrize("make, specs, message", [
    (lambda d: np.savez(d / "x.npz", images=np.zeros((2, 3, 5, 5), np.float32)), [IMAGE],
     "inputs: input 'images' is 2x3x4x4; x.npz has 2x3x5x5"),
    (lambda d: np.savez(d / "x.npz", input_ids=np.zeros((1, 8), np.float32)), [TOKENS],
     "inputs: input 'input_ids' takes int64; x.npz has float32"),
    (lambda d: np.savez(d / "x.npz", images=np.zeros((2, 3, 4, 4), np.float32)), [IMAGE, TOKENS],
     "inputs: x.npz has no array for input 'input_ids'; it has: images"),
    (lambda d: np.save(d / "x.npy", np.zeros((2, 3, 4, 4), np.float32)), [IMAGE, TOKENS],
     "inputs: x.npy is an .npy file, which feeds a model with one input; this model has 2 (images, input_ids)"),
    (lambda d: (d / "x.npz").write_bytes(b"not numpy"), [IMAGE], "inputs: "),
    (lambda d: np.savez(d / "x.npz", images=np.zeros((2, 2, 3, 4, 4)), input_ids=np.zeros((3, 1, 8), np.int64)),
     [IMAGE, TOKENS], "inputs: x.npz gives the inputs different numbers of sets: images 2, input_ids 3"),
])
def test_data_that_does_not_fit_the_model_is_a_one_line_error(tmp_path, make, specs, message):
    make(tmp_path)
    source = next(tmp_path.iterdir())
    with pytest.raises(UserError) as exc:
        load_input_sets(source, specs)
    assert str(exc.value).startswith(message) and "\n" not in str(exc.value)


def test_sources_that_are_not_data(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(UserError, match="holds no .npz or .npy file"):
        load_input_sets(tmp_path, [IMAGE], field="calibration-data")
    with pytest.raises(UserError, match="calibration-data: .*notes.txt' is not an .npz or .npy file"):
        load_input_sets(tmp_path / "notes.txt", [IMAGE], field="calibration-data")
    with pytest.raises(UserError, match="is neither a file nor a folder"):
        load_input_sets(tmp_path / "nope", [IMAGE])


def _classifier(path, *, hidden=32, classes=10, seed=0):
    """A small MLP classifier with its own (user) weights: x [1, 16] -> [1, classes] logits."""
    rng = np.random.default_rng(seed)
    w1 = helper.make_tensor("w1", TensorProto.FLOAT, [16, hidden], rng.standard_normal(16 * hidden).tolist())
    w2 = helper.make_tensor("w2", TensorProto.FLOAT, [hidden, classes], rng.standard_normal(hidden * classes).tolist())
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w1"], ["h"], name="fc1"),
                               helper.make_node("Relu", ["h"], ["r"], name="relu"),
                               helper.make_node("MatMul", ["r", "w2"], ["logits"], name="fc2")], "mlp",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, classes])], [w1, w2])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="my-trainer")
    onnx.save(model, path)
    return path


@pytest.fixture()
def user_files(tmp_path):
    model = _classifier(tmp_path / "mlp.onnx")
    rng = np.random.default_rng(3)
    # inputs whose classes are clear: scaled so the logits are far apart
    np.savez(tmp_path / "inputs.npz", x=(rng.standard_normal((40, 1, 16)) * 3).astype(np.float32))
    np.savez(tmp_path / "calibration.npz", x=(rng.standard_normal((16, 1, 16)) * 3).astype(np.float32))
    return model, tmp_path


def test_bench_on_the_users_inputs_makes_the_deviation_a_finding(user_files):
    pytest.importorskip("onnxruntime")
    model, folder = user_files
    cfg = BenchConfig(model=str(model), source="file", precision="int8", time_limit_s=0.5, threads=1,
                      inputs=str(folder / "inputs.npz"), calibration_data=str(folder / "calibration.npz"))
    record = run_config(cfg, run_id="u", isolate=False)
    assert record.ok and record.inputs_source == "user"
    dev = record.deviation
    # the user's weights (a file accelbench did not write) and the user's inputs: top-1 agreement means something
    assert dev.inputs_source == "user" and dev.weights_source == "user" and dev.top1_meaningful
    assert dev.rows_compared == 32 and dev.top1_agreement is not None  # the first 32 of the 40 sets
    assert any(n.startswith("inputs: 40 input set(s) from") for n in record.notes)
    assert any(n.startswith("calibration-data: 16 input set(s) from") for n in record.notes)
    data = record.to_dict()
    assert data["inputs_source"] == "user" and data["config"]["inputs_source"] == "user"
    assert data["deviation"]["top1_meaningful"] is True
    # random inputs stay the default, and say so
    plain = run_config(BenchConfig(model=str(model), source="file", precision="int8", time_limit_s=0.5, threads=1),
                       run_id="u", isolate=False)
    assert plain.inputs_source == "random" and plain.deviation.inputs_source == "random"
    assert not plain.deviation.top1_meaningful and "inputs" not in plain.to_dict()["config"]


def test_int8_calibrates_on_the_users_calibration_data(user_files):
    """Calibration data 1000x larger than the inputs sets the activation scales so coarse that the
    INT8 outputs drift: the data given is the data used."""
    pytest.importorskip("onnxruntime")
    model, folder = user_files
    rng = np.random.default_rng(4)
    np.savez(folder / "huge.npz", x=(rng.standard_normal((16, 1, 16)) * 1000).astype(np.float32))

    def deviation(calibration):
        cfg = BenchConfig(model=str(model), source="file", precision="int8", time_limit_s=0.3, threads=1,
                          inputs=str(folder / "inputs.npz"), calibration_data=str(folder / calibration))
        return run_config(cfg, run_id="c", isolate=False).deviation

    matched, mismatched = deviation("calibration.npz"), deviation("huge.npz")
    assert matched.relative_l2_error < 0.2 < mismatched.relative_l2_error


def test_bench_checks_the_data_against_the_model_before_anything_runs(user_files, capsys):
    model, folder = user_files
    np.savez(folder / "wrong.npz", x=np.zeros((1, 15), np.float32))
    code = cli_exit_code(["bench", str(model), "--inputs", str(folder / "wrong.npz"), "--no-save"])
    err = capsys.readouterr().err
    assert code == 2 and err.strip() == ("error: inputs: input 'x' is 1x16; wrong.npz has 1x15 (give 1x16, K sets as "
                                         "Kx1x16, or samples as Nx16)")
    assert cli_exit_code(["bench", str(model), "--calibration-data", str(folder / "calibration.npz"), "--no-save"]) == 2
    assert "calibration-data: only INT8 calibrates (--precision int8); got --precision fp32" in capsys.readouterr().err
    assert cli_exit_code(["bench", str(model), "--inputs", str(folder / "missing.npz"), "--no-save"]) == 2
    assert "inputs: " in capsys.readouterr().err


@pytest.mark.slow
def test_bench_inputs_through_the_cli_json(user_files):
    import subprocess
    import sys

    pytest.importorskip("onnxruntime")
    model, folder = user_files
    proc = subprocess.run([sys.executable, "-m", "accelbench", "bench", str(model), "--inputs", "inputs.npz",
                           "--time-limit", "0.5", "--no-save", "-f", "json"], capture_output=True, text=True,
                          timeout=300, cwd=folder)
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["inputs_source"] == "user" and record["config"]["inputs"] == str(folder / "inputs.npz")
