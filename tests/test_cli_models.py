"""`accelbench models` (list) and `accelbench models save` through the real CLI entry point."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from accelbench.cli import main
from accelbench.models.registry import zoo_models


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out, err = capsys.readouterr()
    return info.value.code, out, err


def test_models_json_lists_every_zoo_model_with_exact_figures(capsys):
    code, out, err = run_cli(capsys, "models", "--format", "json")
    assert code == 0, err
    rows = {row["name"]: row for row in json.loads(out)}
    assert set(rows) == {m.name for m in zoo_models()}
    assert {"resnet50", "mobilenet_v2"} <= set(rows)
    resnet = rows["resnet50"]
    assert (resnet["params"], resnet["macs"]) == (25_557_032, 4_089_184_256)
    assert resnet["input_shapes"] == {"input": [1, 3, 224, 224]}
    assert resnet["default_resolution"] == "224" and resnet["task"] == "image-classification"
    assert ">= 32" in resnet["accepts"]
    mobilenet = rows["mobilenet_v2"]
    assert (mobilenet["params"], mobilenet["macs"]) == (3_504_872, 300_774_272)
    for row in rows.values():
        assert row["params"] > 0 and row["macs"] > 0 and row["accepts"]
        assert row["stands_for"] and row["source"] and row["layers"] > 0 and row["network_kind"]


# issue 12: parameters, MACs and layers at the default size of every model added to the zoo
NEW_ZOO_FIGURES = {
    "resnet18": (11_689_512, 1_814_073_344, "cnn"),
    "resnet101": (44_549_160, 7_801_405_440, "cnn"),
    "efficientnet_b0": (5_288_548, 385_814_752, "cnn"),
    "unet": (31_037_698, 192_686_325_760, "dense-prediction"),
    "yolov5s": (7_235_389, 8_216_780_800, "detector"),
    "vit_b16": (86_567_656, 17_563_828_224, "transformer"),
    "lstm": (3_317_760, 330_956_800, "rnn"),
    "gru": (2_488_320, 248_217_600, "rnn"),
    "whisper_tiny_encoder": (7_632_384, 18_468_864_000, "transformer"),
}


def test_models_lists_the_new_zoo_with_stands_for_lines(capsys):
    code, out, err = run_cli(capsys, "models", "--format", "json")
    assert code == 0, err
    rows = {row["name"]: row for row in json.loads(out)}
    for name, (params, macs, kind) in NEW_ZOO_FIGURES.items():
        assert (rows[name]["params"], rows[name]["macs"], rows[name]["network_kind"]) == (params, macs, kind)
    assert rows["lstm"]["size_kind"] == "sequence" and rows["lstm"]["input_shapes"] == {"features": [1, 100, 80]}
    assert rows["unet"]["default_resolution"] == "512"
    code, table, err = run_cli(capsys, "models")
    assert code == 0, err
    flat = " ".join(table.split())
    for row in rows.values():
        assert " ".join(row["stands_for"].split()[:2]) in flat  # wrapped cells: the first words stay together


def test_models_table_lists_names_without_colour_codes(capsys):
    code, out, err = run_cli(capsys, "models")
    assert code == 0, err
    for model in zoo_models():
        assert model.name in out
    assert "25,557,032" in out and "4.09 G" in out
    assert "\x1b[" not in out  # not a TTY: plain text


def test_models_bad_format_is_exit_2(capsys):
    code, _, err = run_cli(capsys, "models", "--format", "xml")
    assert code == 2
    assert err.strip().count("\n") == 0
    assert "format" in err and "'xml'" in err and "json" in err


def test_save_writes_a_model_that_loads_and_runs(capsys, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    target = tmp_path / "mnv2.onnx"
    code, out, err = run_cli(capsys, "models", "save", "mobilenet_v2", "--resolution", "64x48", "--batch", "2",
                             "--seed", "5", "-o", str(target))
    assert code == 0, err
    assert str(target) in out and "input=2x3x48x64" in out
    model = onnx.load(str(target))
    onnx.checker.check_model(model, full_check=True)
    session = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {"input": np.ones((2, 3, 48, 64), np.float32)})
    assert logits.shape == (2, 1000) and np.isfinite(logits).all()

    # the saved file goes back through the user-model path with the same shapes
    from accelbench.models.loader import load_model

    loaded = load_model(str(target))
    assert loaded.source == "file" and loaded.input_shapes == {"input": (2, 3, 48, 64)}


def test_save_refuses_to_overwrite_without_force(capsys, tmp_path):
    target = tmp_path / "m.onnx"
    target.write_bytes(b"keep me")
    code, _, err = run_cli(capsys, "models", "save", "mobilenet_v2", "-r", "32", "-o", str(target))
    assert code == 2 and "--force" in err and err.strip().count("\n") == 0
    assert target.read_bytes() == b"keep me"
    code, _, err = run_cli(capsys, "models", "save", "mobilenet_v2", "-r", "32", "-o", str(target), "--force")
    assert code == 0, err
    assert onnx.load(str(target)).graph.output[0].name == "logits"


@pytest.mark.parametrize(
    "args, expected",
    [
        (("save", "resnet51", "-o", "{tmp}/x.onnx"), ["'resnet51'", "resnet50", "mobilenet_v2"]),
        (("save", "resnet50", "-r", "16", "-o", "{tmp}/x.onnx"), ["resolution", ">= 32", "16x16"]),
        (("save", "resnet50", "-r", "abc", "-o", "{tmp}/x.onnx"), ["resolution", "'abc'", "2mp"]),
        (("save", "resnet50", "-b", "0", "-o", "{tmp}/x.onnx"), ["batch", "'0'"]),
        (("save", "resnet50", "--seed", "x", "-o", "{tmp}/x.onnx"), ["seed", "'x'"]),
        (("save", "resnet50", "-o", "{tmp}/no/such/dir/x.onnx"), ["output", "does not exist"]),
        (("save", "resnet50", "-o", "{tmp}"), ["output", "directory"]),
    ],
)
def test_save_user_errors_are_one_line_exit_2(capsys, tmp_path, args, expected):
    code, out, err = run_cli(capsys, "models", *(a.format(tmp=tmp_path) for a in args))
    assert code == 2
    assert err.startswith("error: ") and err.strip().count("\n") == 0
    for text in expected:
        assert text in err
    assert "Traceback" not in err
    assert not (tmp_path / "x.onnx").exists()


def test_closest_ranks_the_same_architecture_first(tmp_path, capsys):
    import json

    from accelbench import cli

    path = tmp_path / "user.onnx"
    with pytest.raises(SystemExit) as info:
        cli.main(["models", "save", "mobilenet_v2", "-r", "96", "-o", str(path)])
    assert info.value.code == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        cli.main(["models", "closest", str(path), "-r", "96", "-f", "json"])
    assert info.value.code == 0
    found = json.loads(capsys.readouterr().out)["closest"]
    assert found[0]["model"] == "mobilenet_v2" and found[0]["distance"] < 1e-6
    # the zoo grew (issue 12): the other depthwise CNN comes next, every CNN (resnet50, yolov3 among
    # them) before every recurrent network and transformer, and bert_base and bert_large among the last
    assert found[1]["model"] == "efficientnet_b0"
    kinds = [f["kind"] for f in found]
    cnn_kinds = {"cnn", "detector", "dense-prediction"}
    last_cnn = max(i for i, kind in enumerate(kinds) if kind in cnn_kinds)
    assert all(kind not in cnn_kinds for kind in kinds[last_cnn + 1:]) and len(kinds) - last_cnn - 1 >= 5
    names = [f["model"] for f in found]
    assert {"resnet50", "yolov3"} <= set(names[:last_cnn + 1]) and {"bert_base", "bert_large"} <= set(names[-4:])
