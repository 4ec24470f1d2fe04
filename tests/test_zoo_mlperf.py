"""Zoo models retinanet and bert_large: the MLPerf Inference reference networks (docs/models.md).

Reference figures (docs/references.md):
- retinanet: 37,060,652 parameters as torch counts them for mlcommons' ``retinanet_from_backbone(
  "resnext50_32x4d", 264, image_size=[800, 800])`` (FrozenBatchNorm2d holds buffers, not
  parameters); conv MACs 201,208,394,752 at 800x800; 120,087 anchors.
- bert_large: 334,094,338 parameters, HF BertForQuestionAnswering with MLPerf's bert_config.json.
Both figures were checked against torchvision 0.29 / transformers 4.57 instances, and the built
graphs reproduce those models' outputs with the same weights (docs/models.md); the tests below
stand alone (no torchvision or transformers).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import onnx
import pytest
from onnx import TensorProto, shape_inference

from accelbench.errors import UserError
from accelbench.models.loader import load_model
from accelbench.models.registry import get_zoo_model
from accelbench.profile import profile_model
from accelbench.shapes import parse_resolution

RETINANET_TORCH_PARAMS = 37_060_652
RETINANET_FROZEN_BN_AFFINE = 68_224  # FrozenBatchNorm2d weight + bias over 34,112 channels
RETINANET_MACS_800 = 201_208_394_752
RETINANET_ANCHORS_800 = 120_087
BERT_LARGE_PARAMS = 334_094_338


def _float_initializers(model: onnx.ModelProto) -> dict[str, int]:
    return {t.name: int(np.prod(t.dims)) for t in model.graph.initializer
            if t.data_type == TensorProto.FLOAT and len(t.dims) > 0}


def _frozen_bn_tensors(model: onnx.ModelProto) -> set[str]:
    return {name for node in model.graph.node if node.op_type == "BatchNormalization" for name in node.input[1:]}


def _session(model: onnx.ModelProto):
    ort = pytest.importorskip("onnxruntime")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # shared CI cores
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _profile(name: str, resolution: str, precision: str = "int8"):
    return profile_model(load_model(name, resolution=resolution, with_weights=False), precision)


# -- retinanet --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def retinanet_800():
    return get_zoo_model("retinanet").build("800", with_weights=False)


def test_retinanet_parameters_match_the_reference(retinanet_800):
    tensors = _float_initializers(retinanet_800)
    frozen = _frozen_bn_tensors(retinanet_800)
    assert sum(n for name, n in tensors.items() if name not in frozen) == RETINANET_TORCH_PARAMS
    affine = sum(n for name, n in tensors.items() if name in frozen and not name.endswith(("_mean", "_var")))
    assert affine == RETINANET_FROZEN_BN_AFFINE
    # the shared heads: one weight per conv, however many levels use it
    cls_logits = [name for name in tensors if name.startswith("head.classification_head.cls_logits")]
    assert sorted(cls_logits) == ["head.classification_head.cls_logits.bias",
                                  "head.classification_head.cls_logits.weight"]
    assert tensors["head.classification_head.cls_logits.weight"] == 9 * 264 * 256 * 9


def test_retinanet_profiles_every_mac_at_800(retinanet_800):
    p = _profile("retinanet", "800")
    assert p.macs == RETINANET_MACS_800
    assert p.params == RETINANET_TORCH_PARAMS + RETINANET_FROZEN_BN_AFFINE  # the profiler counts BN scale/shift
    assert not p.unknown_ops and not p.warnings
    convs = [layer for layer in p.layers if layer.op == "Conv"]
    # 53 backbone convs + 6 FPN + 2 extra + 5 levels x 2 heads x 5 convs
    assert len(convs) == 53 + 6 + 2 + 50
    grouped = [layer for layer in convs if layer.gemm is not None and layer.gemm.groups == 32]
    assert len(grouped) == 16  # the grouped 3x3 conv of every ResNeXt block


def test_retinanet_outputs_and_levels(retinanet_800):
    from accelbench.models.zoo.retinanet import anchor_count, level_sizes

    assert level_sizes(800, 800) == [(100, 100), (50, 50), (25, 25), (13, 13), (7, 7)]
    assert anchor_count(800, 800) == RETINANET_ANCHORS_800
    inferred = shape_inference.infer_shapes(retinanet_800, strict_mode=True)
    outputs = {o.name: [d.dim_value for d in o.type.tensor_type.shape.dim] for o in inferred.graph.output}
    assert outputs == {"cls_logits": [1, RETINANET_ANCHORS_800, 264], "bbox_regression": [1, RETINANET_ANCHORS_800, 4]}
    names = {n.name for n in retinanet_800.graph.node}
    assert {"backbone.body.layer3.5.conv2", "backbone.fpn.inner_blocks.2", "backbone.fpn.extra_blocks.p7",
            "head.classification_head.conv.6.p7", "head.regression_head.bbox_reg.p3"} <= names
    zoo = get_zoo_model("retinanet")
    assert (zoo.task, zoo.default_resolution) == ("object-detection", "800") and zoo.stands_for


def test_retinanet_macs_scale_with_pixels():
    # every layer is a conv: MACs at 400x400 are a quarter of 800x800's up to the odd-sized P6/P7 levels
    small = _profile("retinanet", "400").macs
    assert small == pytest.approx(RETINANET_MACS_800 / 4, rel=0.02)
    assert small != RETINANET_MACS_800 // 4


def test_retinanet_runs_in_onnxruntime_at_128():
    model = get_zoo_model("retinanet").build("128", with_weights=True, seed=0)
    onnx.checker.check_model(model)
    images = np.random.default_rng(1).standard_normal((1, 3, 128, 128), dtype=np.float32)
    cls, reg = _session(model).run(None, {"images": images})
    from accelbench.models.zoo.retinanet import anchor_count

    assert cls.shape == (1, anchor_count(128, 128), 264) and reg.shape == (1, anchor_count(128, 128), 4)
    assert np.isfinite(cls).all() and np.isfinite(reg).all() and np.abs(cls).max() > 0


def test_retinanet_rejects_tiny_images():
    with pytest.raises(UserError, match="retinanet") as err:
        load_model("retinanet", resolution="16", with_weights=False)
    assert err.value.exit_code == 2 and "\n" not in str(err.value)


# -- bert_large -------------------------------------------------------------------------------------
def test_bert_large_parameters_match_the_reference():
    model = get_zoo_model("bert_large").build("384", with_weights=False)
    assert sum(_float_initializers(model).values()) == BERT_LARGE_PARAMS
    assert model.ByteSize() < 300_000  # weightless: 1.3 GB if materialized


def test_bert_large_profiles_every_mac_at_384():
    s, h, f, layers = 384, 1024, 4096, 24
    expected = layers * (4 * s * h * h + 2 * s * h * f + 2 * s * s * h) + s * h * 2
    assert expected == 123_212_660_736
    p = _profile("bert_large", "384")
    assert p.macs == expected and p.params == BERT_LARGE_PARAMS
    assert not p.unknown_ops and not p.warnings
    zoo = get_zoo_model("bert_large")
    assert (zoo.task, zoo.default_resolution) == ("language", "384") and zoo.stands_for


def test_bert_large_graph_outputs():
    loaded = load_model("bert_large", resolution="384", batch=2, with_weights=False)
    assert loaded.input_shapes == {n: (2, 384) for n in ("input_ids", "attention_mask", "token_type_ids")}
    inferred = shape_inference.infer_shapes(loaded.proto, strict_mode=True)
    outputs = {o.name: [d.dim_value for d in o.type.tensor_type.shape.dim] for o in inferred.graph.output}
    assert outputs == {"start_logits": [2, 384], "end_logits": [2, 384]}
    ops = [n.op_type for n in loaded.proto.graph.node]
    assert ops.count("LayerNormalization") == 49 and ops.count("Softmax") == 24 and "Gelu" not in ops


@pytest.mark.parametrize("spec", ["800x800", "513"])
def test_bert_large_needs_a_sequence_length(spec):
    with pytest.raises(UserError, match="bert_large") as err:
        load_model("bert_large", resolution=spec, with_weights=False)
    assert err.value.exit_code == 2 and "\n" not in str(err.value)


def test_bert_large_layer_runs_in_onnxruntime():
    # The full model with weights is 1.3 GB (too much for a shared test machine): run the same builder
    # at bert_large's full width with one encoder layer; the 24-layer graph is checked above.
    from accelbench.models.zoo.bert_large import BERT_LARGE, build_bert_qa

    model = build_bert_qa(replace(BERT_LARGE, layers=1), parse_resolution("16"), 2, True, 0)
    onnx.checker.check_model(model)
    rng = np.random.default_rng(3)
    ids = rng.integers(0, 30522, (2, 16)).astype(np.int64)
    mask = np.ones((2, 16), np.int64)
    mask[1, 12:] = 0
    session = _session(model)
    start, end = session.run(None, {"input_ids": ids, "attention_mask": mask,
                                    "token_type_ids": np.zeros((2, 16), np.int64)})
    assert start.shape == end.shape == (2, 16)
    assert np.isfinite(start).all() and not np.allclose(start, end)
    # padded tokens are masked: changing one leaves the attended positions' logits unchanged
    changed = ids.copy()
    changed[1, 14] = (changed[1, 14] + 1) % 30522
    start2, _ = session.run(None, {"input_ids": changed, "attention_mask": mask,
                                   "token_type_ids": np.zeros((2, 16), np.int64)})
    np.testing.assert_allclose(start2[1, :12], start[1, :12], atol=1e-5)
