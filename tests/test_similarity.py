"""`models closest` / closest_zoo_models: which public model is most like the user's.

A "user file" here is a zoo model exported as a user would hand it over: built at a size other
than its default, every node and tensor renamed, saved to a .onnx file (weights as external data
in a sparse file of zeros: the values never matter to a static profile) and loaded back through
the user-file path.
"""

from __future__ import annotations

import io
import json
import math

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from accelbench.cli import main
from accelbench.models.builder import GraphBuilder
from accelbench.models.loader import load_model
from accelbench.models.registry import get_zoo_model, zoo_models
from accelbench.models.similarity import (
    InputSize,
    Similarity,
    closest_zoo_models,
    compare_features,
    input_size_of,
    profile_features,
)
from accelbench.profile import profile_model

USER_SIZES = {"image": "96x64", "sequence": "48"}  # none of them a zoo default
CNN_KINDS = {"cnn", "detector", "dense-prediction"}
_DATA_FIELDS = ("raw_data", "float_data", "int32_data", "int64_data", "double_data", "uint64_data")


def export_as_user_file(model: onnx.ModelProto, path) -> str:
    """Rename every node and tensor, move data-less (weightless) initializers to external data in a
    sparse zero-filled file, save. Returns the .onnx path."""
    names: dict[str, str] = {}

    def rename(tensor: str) -> str:
        if tensor and tensor not in names:
            names[tensor] = f"t{len(names)}"
        return names.get(tensor, tensor)

    graph = model.graph
    graph.name = "user_graph"
    for value in [*graph.input, *graph.output, *graph.value_info, *graph.initializer]:
        value.name = rename(value.name)
    for index, node in enumerate(graph.node):
        node.name = f"n{index}"
        inputs, outputs = [rename(t) for t in node.input], [rename(t) for t in node.output]
        del node.input[:], node.output[:]
        node.input.extend(inputs)
        node.output.extend(outputs)
    weights = path.with_suffix(".bin")
    offset = 0
    for tensor in graph.initializer:
        if any(len(getattr(tensor, field)) for field in _DATA_FIELDS):
            continue
        length = math.prod(tensor.dims) * helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
        tensor.data_location = TensorProto.EXTERNAL
        for key, value in (("location", weights.name), ("offset", str(offset)), ("length", str(length))):
            entry = tensor.external_data.add()
            entry.key, entry.value = key, value
        offset += length
    with open(weights, "wb") as f:
        f.truncate(offset)  # sparse: zeros without writing them
    onnx.save(model, str(path))
    return str(path)


def user_profile(name: str, tmp_path):
    zoo = get_zoo_model(name)
    path = export_as_user_file(zoo.build(USER_SIZES[zoo.size_kind], with_weights=False), tmp_path / f"mine_{name}.onnx")
    loaded = load_model(path, with_weights=False)
    assert loaded.source == "file" and loaded.name == f"mine_{name}"
    return profile_model(loaded)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Every zoo model as a renamed user file at a non-default size: name -> (profile, ranking)."""
    root = tmp_path_factory.mktemp("users")
    found = {}
    for zoo in zoo_models():
        profile = user_profile(zoo.name, root)
        found[zoo.name] = (profile, closest_zoo_models(profile, limit=100))
    return found


@pytest.mark.parametrize("name", [m.name for m in zoo_models()])
def test_every_zoo_model_exported_at_another_size_finds_itself_first(exported, name):
    profile, ranking = exported[name]
    assert not any(node_name.startswith(name) for node_name in (layer.name for layer in profile.layers))
    assert len(ranking) == len(zoo_models())
    first, second = ranking[0], ranking[1]
    assert first.model == name and first.distance < 1e-9 and first.why == "nearly identical profile"
    assert first.resolution == USER_SIZES[get_zoo_model(name).size_kind] and not first.size_note
    assert second.distance > 0.3  # a clear margin to the next model


def test_a_cnn_never_ranks_an_lstm_above_a_cnn_of_similar_size(exported):
    checked = 0
    for name, (profile, ranking) in exported.items():
        if profile.network_kind not in CNN_KINDS:
            continue
        position = {s.model: i for i, s in enumerate(ranking)}
        similar_cnns = [s.model for s in ranking if s.kind in CNN_KINDS
                        and abs(math.log10(exported[s.model][0].macs / profile.macs)) <= 1]
        assert len(similar_cnns) >= 3
        for recurrent in ("lstm", "gru"):
            assert all(position[recurrent] > position[cnn] for cnn in similar_cnns), (name, recurrent, ranking)
        checked += 1
    assert checked == sum(1 for profile, _ in exported.values() if profile.network_kind in CNN_KINDS) >= 9


def small_cnn(side=128):
    """A user's plain CNN sized like the zoo LSTM (~0.3 GMACs, ~3 M parameters), not from the zoo."""
    b = GraphBuilder("kws_cnn", with_weights=False)
    x = b.input("spectrogram", [1, 1, side, side])
    cin = 1
    for i, (cout, stride) in enumerate(((32, 1), (64, 2), (128, 2), (256, 2), (512, 2))):
        x = b.relu(b.batch_norm(b.conv(x, cin, cout, 3, stride=stride, name=f"c{i}"), cout, name=f"b{i}"))
        cin = cout
    x = b.flatten(b.global_avg_pool(x))
    b.output(b.linear(x, cin, 12, name="fc"), [1, 12])
    return b.build()


def test_a_cnn_sized_like_the_lstm_still_ranks_cnns_first(tmp_path):
    path = export_as_user_file(small_cnn(), tmp_path / "kws_cnn.onnx")
    profile = profile_model(load_model(path, with_weights=False))
    assert profile.network_kind == "cnn"
    lstm = profile_features(profile_model(load_model("lstm", with_weights=False)))
    assert abs(math.log10(profile.macs / lstm.macs)) < 0.5 and abs(math.log10(profile.params / lstm.params)) < 0.5
    ranking = closest_zoo_models(profile, limit=100)
    position = {s.model: i for i, s in enumerate(ranking)}
    cnns = [s.model for s in ranking if s.kind in CNN_KINDS]
    assert max(position[c] for c in cnns) < min(position["lstm"], position["gru"])


def _export_torch(module, example, path):
    torch = pytest.importorskip("torch")
    buffer = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(module.eval(), (example,), buffer, opset_version=17, dynamo=False,
                          input_names=["features"], output_names=["scores"])
    path.write_bytes(buffer.getvalue())
    return str(path)


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("cell, expected", [("LSTM", "lstm"), ("GRU", "gru")])
def test_a_users_recurrent_network_finds_its_cell(tmp_path, cell, expected):
    torch = pytest.importorskip("torch")

    class KeywordSpotter(torch.nn.Module):  # a user's network: 40 MFCCs, one bidirectional layer, classifier
        def __init__(self):
            super().__init__()
            self.rnn = getattr(torch.nn, cell)(40, 128, batch_first=True, bidirectional=True)
            self.fc = torch.nn.Linear(256, 12)

        def forward(self, x):
            y, _ = self.rnn(x)
            return self.fc(y[:, -1])

    path = _export_torch(KeywordSpotter(), torch.zeros(1, 60, 40), tmp_path / "kws.onnx")
    profile = profile_model(load_model(path, with_weights=False))
    assert profile.network_kind == "rnn" and input_size_of(profile) == InputSize("sequence", "60")
    ranking = closest_zoo_models(profile, limit=100)
    assert ranking[0].model == expected and ranking[0].resolution == "60"
    assert ranking[1].model == ({"lstm", "gru"} - {expected}).pop()


@pytest.mark.parametrize("shapes, first_op, expected", [
    ({"x": (1, 3, 720, 1280)}, "Conv", InputSize("image", "1280x720")),
    ({"x": (1, 720, 1280, 3)}, "Conv", InputSize("image", "1280x720")),  # NHWC
    ({"ids": (1, 384), "mask": (1, 384)}, "MatMul", InputSize("sequence", "384")),
    ({"mel": (1, 80, 3000)}, "Conv", InputSize("sequence", "3000")),  # Conv1d front end: [N, C, T]
    ({"x": (1, 100, 40)}, "LSTM", InputSize("sequence", "100")),  # batch first
    ({"x": (100, 1, 40)}, "LSTM", InputSize("sequence", "100")),  # time major
    ({"x": (1, 1000)}, "Gemm", InputSize("sequence", "1000")),
    ({"v": (1, 3, 8, 112, 112)}, "Conv", None),  # 5-D video: no zoo size
])
def test_input_size_of(shapes, first_op, expected):
    from accelbench.profile.types import GemmDims, LayerProfile, ModelProfile

    layer = LayerProfile("l", first_op, (first_op,), 10, 0, 1, 4, 4, 4, (1,), GemmDims(1, 1, 10))
    profile = ModelProfile("m", shapes, "fp32", 1, (layer,), 1, 4, 4)
    assert input_size_of(profile) == expected


def test_zoo_models_are_profiled_at_the_users_size_or_say_why_not():
    profile = profile_model(load_model("resnet18", resolution="300x300", with_weights=False))
    ranking = {s.model: s for s in closest_zoo_models(profile, exclude="resnet18", limit=100)}
    assert "resnet18" not in ranking
    assert ranking["resnet50"].resolution == "300x300" and not ranking["resnet50"].size_note
    assert ranking["yolov3"].resolution == "288x288" and "nearest size" in ranking["yolov3"].size_note
    assert ranking["bert_base"].resolution == "128" and "default size" in ranking["bert_base"].size_note
    assert "sequence" in ranking["lstm"].size_note

    seq = profile_model(load_model("bert_base", resolution="500", with_weights=False))
    by_name = {s.model: s for s in closest_zoo_models(seq, exclude=["bert_base"], limit=100)}
    assert by_name["lstm"].resolution == "500" and by_name["whisper_tiny_encoder"].resolution == "500"
    assert by_name["resnet50"].resolution == "224" and "image" in by_name["resnet50"].size_note


def test_differences_are_ranked_and_worded():
    mobilenet = profile_features(profile_model(load_model("mobilenet_v2", resolution="96x64", with_weights=False)))
    resnet = profile_features(profile_model(load_model("resnet50", resolution="96x64", with_weights=False)))
    distance, diffs = compare_features(mobilenet, resnet, "resnet50")
    assert distance == pytest.approx(math.sqrt(sum(d.contribution for d in diffs)))
    assert [d.contribution for d in diffs] == sorted((d.contribution for d in diffs), reverse=True)
    by_feature = {d.feature: d for d in diffs}
    assert by_feature["macs"].text.startswith("yours has") and "fewer MACs" in by_feature["macs"].text
    assert by_feature["share:depthwise"].yours > 0 and by_feature["share:depthwise"].theirs == 0
    assert "depthwise/grouped convolution, resnet50 none" in by_feature["share:depthwise"].text
    assert by_feature["kind"].contribution == 0
    same, _ = compare_features(mobilenet, mobilenet, "mobilenet_v2")
    assert same == 0


def test_swapped_recurrent_families_read_as_one_difference():
    lstm = profile_features(profile_model(load_model("lstm", resolution="48", with_weights=False)))
    gru = profile_features(profile_model(load_model("gru", resolution="48", with_weights=False)))
    distance, diffs = compare_features(lstm, gru, "gru")
    assert diffs[0].feature == "share:lstm+gru" and diffs[0].contribution == pytest.approx(4.0)
    assert diffs[0].text == "yours spends 100% of its MACs on LSTM, gru 100% on GRU"
    assert distance > 2


def test_closest_keeps_its_stage_4_interface():
    profile = profile_model(load_model("mobilenet_v2", resolution="64", with_weights=False))
    found = closest_zoo_models(profile, resolution=None, exclude="mobilenet_v2")
    assert len(found) == 3 and all(isinstance(s, Similarity) for s in found)
    assert found[0].model == "efficientnet_b0"
    data = found[0].to_dict()
    assert {"model", "resolution", "distance", "why", "kind", "differences", "size_note"} <= set(data)
    assert 1 <= len(data["differences"]) <= 3 and data["why"] == "; ".join(d["text"] for d in data["differences"])


def _closest_cli(capsys, *args):
    with pytest.raises(SystemExit) as info:
        main(["models", "closest", *args])
    out, err = capsys.readouterr()
    return info.value.code, out, err


def test_closest_cli_json_has_the_ranking_and_the_users_features(capsys, tmp_path):
    path = export_as_user_file(get_zoo_model("efficientnet_b0").build("128", with_weights=False), tmp_path / "net.onnx")
    code, out, err = _closest_cli(capsys, path, "--format", "json", "--limit", "4")
    assert code == 0, err
    data = json.loads(out)
    assert data["model"] == "net" and data["input_size"] == {"kind": "image", "spec": "128x128"}
    assert data["features"]["kind"] == "cnn" and data["features"]["mac_share"]["depthwise"] > 0
    assert [c["model"] for c in data["closest"]][:2] == ["efficientnet_b0", "mobilenet_v2"]
    assert len(data["closest"]) == 4 and data["closest"][0]["distance"] < 1e-9
    assert all(c["differences"] or c["distance"] < 1e-9 for c in data["closest"])


def test_closest_cli_table_ranks_with_reasons(capsys):
    code, out, err = _closest_cli(capsys, "lstm", "--resolution", "30")
    assert code == 0, err
    assert "zoo models closest to lstm (rnn), profiled at sequence size 30" in out
    rows = [line for line in out.splitlines() if line.startswith("│ 1 ")]
    assert len(rows) == 1 and "│ gru " in rows[0] and "│ rnn " in rows[0] and "on LSTM, gru 100% on GRU" in rows[0]
    assert "* not at your size:" in out and "\x1b[" not in out


def test_closest_cli_bad_limit_is_exit_2(capsys):
    code, _, err = _closest_cli(capsys, "lstm", "--limit", "0")
    assert code == 2 and "limit" in err and err.strip().count("\n") == 0


def test_tiny_numbers_do_not_break_the_features():
    b = GraphBuilder("tiny", with_weights=False)
    b.output(b.linear(b.input("x", [1, 1]), 1, 1), [1, 1])
    profile = profile_model(b.build())
    features = profile_features(profile)
    assert features.kind == "mlp" and all(np.isfinite(features.intensity_quartiles))
    assert closest_zoo_models(profile, limit=1)[0].distance > 0
