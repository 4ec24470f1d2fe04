"""models/onnx_reader.load_weightless: a saved model without its bulk weight bytes, profiled identically."""

import math

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from accelbench.errors import ModelError
from accelbench.models.loader import load_model
from accelbench.models.onnx_reader import KEEP_DATA_ELEMENTS, load_weightless
from accelbench.profile import profile_model

DATA_FIELDS = ("raw_data", "float_data", "int32_data", "int64_data", "double_data", "uint64_data", "string_data")
INDEX_TYPES = {TensorProto.INT64, TensorProto.INT32, TensorProto.UINT64, TensorProto.UINT32, TensorProto.STRING}


def slimmed(tensor) -> bool:
    return tensor.data_type not in INDEX_TYPES and math.prod(tensor.dims) > KEEP_DATA_ELEMENTS


def expected_weightless(path) -> onnx.ModelProto:
    """What load_weightless must return: onnx.load's model with the data fields of large weights cleared."""
    model = onnx.load(str(path), load_external_data=False)
    for tensor in model.graph.initializer:
        if slimmed(tensor):
            for name in DATA_FIELDS:
                tensor.ClearField(name)
    return model


@pytest.mark.parametrize("name, resolution", [
    ("mobilenet_v2", "64"), ("resnet50", "64"), ("yolov3", "96"), ("bert_base", "8"),
])
def test_zoo_file_profiles_identically(tmp_path, name, resolution):
    path = tmp_path / f"{name}.onnx"
    onnx.save(load_model(name, resolution=resolution, with_weights=True, seed=3).proto, str(path))
    light = load_weightless(path)
    assert light == expected_weightless(path)
    # A 14..438 MB file comes back as well under 1 MB of graph, dims and small constants.
    assert light.ByteSize() < 1_000_000 < path.stat().st_size
    large = [t for t in light.graph.initializer if slimmed(t)]
    assert large and all(not t.HasField("raw_data") and not len(t.float_data) for t in large)

    weightless = load_model(str(path), with_weights=False)
    full = load_model(str(path), with_weights=True)
    assert (weightless.input_shapes, weightless.notes, weightless.batch) == (full.input_shapes, full.notes, full.batch)
    for precision in ("fp32", "int8"):
        # ModelProfile and LayerProfile are dataclasses: == compares every layer field and every total.
        assert profile_model(weightless, precision) == profile_model(full, precision)
    assert profile_model(weightless).params == {"mobilenet_v2": 3_504_872, "resnet50": 25_557_032,
                                                "yolov3": 61_949_149, "bert_base": 109_482_240}[name]
    path.unlink()


def handmade(tmp_path, subgraph=True, **save_kwargs):
    """Reshape shape (int64, 2 elements), a 5000-element int64 table, float weights stored as raw_data and as
    float_data (typed), a small float bias, a large int8 tensor, and an If with a subgraph initializer."""
    rng = np.random.default_rng(0)
    w_raw = numpy_helper.from_array(rng.standard_normal((64, 80)).astype(np.float32), "w_raw")
    w_typed = helper.make_tensor("w_typed", TensorProto.FLOAT, [80, 64], rng.standard_normal(80 * 64).tolist())
    bias = numpy_helper.from_array(rng.standard_normal(64).astype(np.float32), "bias")
    shape = numpy_helper.from_array(np.array([1, 64], dtype=np.int64), "shape")
    table = numpy_helper.from_array(np.arange(5000, dtype=np.int64), "table")
    q8 = numpy_helper.from_array(rng.integers(-100, 100, (100, 100), dtype=np.int8), "q8")
    then_w = numpy_helper.from_array(np.ones((64, 64), np.float32), "then_w")
    branch = helper.make_graph([helper.make_node("MatMul", ["y", "then_w"], ["z_then"])], "then", [],
                               [helper.make_tensor_value_info("z_then", TensorProto.FLOAT, [1, 64])], [then_w])
    other = helper.make_graph([helper.make_node("Identity", ["y"], ["z_else"])], "else", [],
                              [helper.make_tensor_value_info("z_else", TensorProto.FLOAT, [1, 64])])
    nodes = [
        helper.make_node("MatMul", ["x", "w_raw"], ["h"]),
        helper.make_node("MatMul", ["h", "w_typed"], ["h2"]),
        helper.make_node("Add", ["h2", "bias"], ["h3"]),
        helper.make_node("Reshape", ["h3", "shape"], ["y"]),
        helper.make_node("If", ["flag"], ["out"], then_branch=branch, else_branch=other) if subgraph
        else helper.make_node("Identity", ["y"], ["out"]),
        helper.make_node("Gather", ["table", "ids"], ["picked"]),
        helper.make_node("Identity", ["q8"], ["q8_out"]),
    ]
    graph = helper.make_graph(
        nodes, "handmade",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64]),
         helper.make_tensor_value_info("flag", TensorProto.BOOL, []),
         helper.make_tensor_value_info("ids", TensorProto.INT64, [3])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 64]),
         helper.make_tensor_value_info("picked", TensorProto.INT64, [3]),
         helper.make_tensor_value_info("q8_out", TensorProto.INT8, [100, 100])],
        [w_raw, w_typed, bias, shape, table, q8])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="test")
    model.ir_version = 8
    helper.set_model_props(model, {"author": "accelbench"})
    path = tmp_path / "handmade.onnx"
    onnx.save(model, str(path), **save_kwargs)
    return path


def test_small_and_index_initializers_keep_data_large_weights_do_not(tmp_path):
    path = handmade(tmp_path)
    light = load_weightless(path)
    assert light == expected_weightless(path)
    full = onnx.load(str(path))
    by_name = {t.name: t for t in light.graph.initializer}
    kept = {t.name: numpy_helper.to_array(t) for t in full.graph.initializer}
    for name in ("shape", "table", "bias"):  # int64 of any size, float up to 4096 elements
        assert np.array_equal(numpy_helper.to_array(by_name[name]), kept[name])
    assert numpy_helper.to_array(by_name["shape"]).tolist() == [1, 64]
    for name, dims, dtype in (("w_raw", [64, 80], TensorProto.FLOAT), ("w_typed", [80, 64], TensorProto.FLOAT),
                              ("q8", [100, 100], TensorProto.INT8)):
        t = by_name[name]
        assert (list(t.dims), t.data_type) == (dims, dtype)
        assert not any(t.HasField(f) if f == "raw_data" else len(getattr(t, f)) for f in DATA_FIELDS)
    # Fields after the graph (opset_import, metadata) and the If's subgraph initializer come through whole.
    assert light.opset_import[0].version == 17 and light.metadata_props[0].value == "accelbench"
    then_w = next(a.g for a in light.graph.node[4].attribute if a.name == "then_branch").initializer[0]
    assert np.array_equal(numpy_helper.to_array(then_w), np.ones((64, 64), np.float32))
    # w_raw, w_typed (4 bytes each) and q8 (1 byte) are left out; everything else is there.
    assert light.ByteSize() < path.stat().st_size - (2 * 64 * 80 * 4 + 100 * 100) + 100
    loaded = load_model(str(path), with_weights=False)
    assert profile_model(loaded) == profile_model(load_model(str(path), with_weights=True))
    # Learned weights of the MatMul layers and the fused bias (index tables, shapes, the If body are not).
    assert profile_model(loaded).params == 64 * 80 * 2 + 64


def test_external_data_references_are_kept_and_not_read(tmp_path):
    # No If here: onnx's checker looks for a subgraph's external file relative to the working directory.
    path = handmade(tmp_path, subgraph=False, save_as_external_data=True, all_tensors_to_one_file=True, location="weights.bin",
                    size_threshold=256)
    light = load_weightless(path)
    # onnx moves raw_data to the external file; w_typed (float_data) stays inline and is slimmed here.
    assert light == expected_weightless(path)
    external = [t for t in light.graph.initializer if t.data_location == TensorProto.EXTERNAL]
    assert {t.name for t in external} == {"w_raw", "bias", "table", "q8"}
    assert all(e.key == "location" and e.value == "weights.bin" for t in external for e in t.external_data[:1])
    full_profile = profile_model(load_model(str(path), with_weights=True))
    (tmp_path / "weights.bin").unlink()  # the weightless path never opens it
    assert profile_model(load_model(str(path), with_weights=False)) == full_profile


def test_truncated_and_corrupt_files_give_one_line_model_error(tmp_path):
    path = handmade(tmp_path)
    data = path.read_bytes()
    cut = tmp_path / "cut.onnx"
    # Cuts in the header, inside node bytes, inside a weight's raw_data and just before the end.
    for size in (3, 40, len(data) // 3, len(data) // 2, len(data) - 30, len(data) - 1):
        cut.write_bytes(data[:size])
        with pytest.raises(ModelError) as exc:
            load_model(str(cut), with_weights=False)
        message = str(exc.value)
        assert "\n" not in message and ("truncated or corrupt" in message or "not an ONNX" in message), message
    # A length prefix that points past the end of the file (graph length byte overwritten).
    bad = bytearray(data)
    graph_at = bad.index(b"\x3a")  # ModelProto field 7 (graph), wire type 2
    bad[graph_at + 1:graph_at + 4] = b"\xff\xff\x7f"
    cut.write_bytes(bytes(bad))
    with pytest.raises(ModelError, match="truncated or corrupt"):
        load_model(str(cut), with_weights=False)
    text = tmp_path / "notes.onnx"
    text.write_text("this is a text file, not a protobuf\n" * 20)
    with pytest.raises(ModelError, match="looks like text"):
        load_model(str(text), with_weights=False)
